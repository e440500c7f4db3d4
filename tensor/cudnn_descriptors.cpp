// The cuDNN descriptor wrappers (tensor/cudnn_descriptors.h).
#include "tensor/cudnn_descriptors.h"

#include <limits>

#include "tensor/cudnn_context.h"
#include "tensor/error.h"

namespace cbnn::cuda {

namespace {

int to_int(int64_t value, const char* what, const char* name) {
    CBNN_CHECK(value >= 0 && value <= std::numeric_limits<int>::max(), what, ": ", name, " = ",
               value, " is outside the 32-bit range cuDNN accepts");
    return static_cast<int>(value);
}

// Runs `set` on a created descriptor; on failure destroys it and throws naming `call`.
template <class Destroy>
void set_or_destroy(cudnnStatus_t status, const char* call, Destroy destroy) {
    if (status == CUDNN_STATUS_SUCCESS) return;
    destroy();
    throw_cudnn_error(status, call, __FILE__, __LINE__);
}

}  // namespace

CudnnTensorDescriptor::CudnnTensorDescriptor(const char* what, cudnnTensorFormat_t format,
                                             cudnnDataType_t type, int64_t n, int64_t c, int64_t h,
                                             int64_t w) {
    const int dims[4] = {to_int(n, what, "N"), to_int(c, what, "C"), to_int(h, what, "H"),
                         to_int(w, what, "W")};
    CBNN_CUDNN_CHECK(cudnnCreateTensorDescriptor(&desc_));
    set_or_destroy(
        cudnnSetTensor4dDescriptor(desc_, format, type, dims[0], dims[1], dims[2], dims[3]),
        "cudnnSetTensor4dDescriptor",
        [&] { CBNN_CUDNN_CHECK_NOTHROW(cudnnDestroyTensorDescriptor(desc_)); });
}

CudnnTensorDescriptor::~CudnnTensorDescriptor() {
    CBNN_CUDNN_CHECK_NOTHROW(cudnnDestroyTensorDescriptor(desc_));
}

CudnnFilterDescriptor::CudnnFilterDescriptor(const char* what, cudnnTensorFormat_t format,
                                             cudnnDataType_t type, int64_t k, int64_t c, int64_t r,
                                             int64_t s) {
    const int dims[4] = {to_int(k, what, "K"), to_int(c, what, "C"), to_int(r, what, "R"),
                         to_int(s, what, "S")};
    CBNN_CUDNN_CHECK(cudnnCreateFilterDescriptor(&desc_));
    set_or_destroy(
        cudnnSetFilter4dDescriptor(desc_, type, format, dims[0], dims[1], dims[2], dims[3]),
        "cudnnSetFilter4dDescriptor",
        [&] { CBNN_CUDNN_CHECK_NOTHROW(cudnnDestroyFilterDescriptor(desc_)); });
}

CudnnFilterDescriptor::~CudnnFilterDescriptor() {
    CBNN_CUDNN_CHECK_NOTHROW(cudnnDestroyFilterDescriptor(desc_));
}

CudnnConvolutionDescriptor::CudnnConvolutionDescriptor(const char* what, int64_t pad,
                                                       int64_t stride, cudnnMathType_t math) {
    const int p = to_int(pad, what, "padding"), st = to_int(stride, what, "stride");
    CBNN_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&desc_));
    const auto destroy = [&] {
        CBNN_CUDNN_CHECK_NOTHROW(cudnnDestroyConvolutionDescriptor(desc_));
    };
    set_or_destroy(cudnnSetConvolution2dDescriptor(desc_, p, p, st, st, 1, 1,
                                                   CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT),
                   "cudnnSetConvolution2dDescriptor", destroy);
    set_or_destroy(cudnnSetConvolutionMathType(desc_, math), "cudnnSetConvolutionMathType",
                   destroy);
}

CudnnConvolutionDescriptor::~CudnnConvolutionDescriptor() {
    CBNN_CUDNN_CHECK_NOTHROW(cudnnDestroyConvolutionDescriptor(desc_));
}

}  // namespace cbnn::cuda
