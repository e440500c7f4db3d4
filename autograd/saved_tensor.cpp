#include "autograd/saved_tensor.h"

namespace cbnn::autograd {

SavedTensor::SavedTensor(const Tensor& tensor, const char* name) : name_(name) {
    if (tensor.defined()) {
        data_ = tensor.detach();
        version_ = tensor.version();
    }
}

Tensor SavedTensor::unpack(const char* node) const {
    CBNN_CHECK(!released_, node,
               ": backward through a part of the graph whose saved tensors were "
               "already freed; call backward(grad, /*retain_graph=*/true) the first time");
    if (data_.defined()) {
        CBNN_CHECK(data_.version() == version_, node, ": tensor '", name_,
                   "' saved for backward was modified in place after it was saved (version ",
                   version_, " when saved, ", data_.version(), " now); modify a clone instead");
    }
    return data_;
}

void SavedTensor::release() {
    data_ = Tensor();
    released_ = true;
}

}  // namespace cbnn::autograd
