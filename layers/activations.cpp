#include "layers/activations.h"

#include "autograd/functions.h"

namespace cbnn {

Tensor ReLU::forward(const Tensor& x) {
    check_defined(x, "ReLU");
    return relu(x);
}

Tensor Flatten::forward(const Tensor& x) {
    check_defined(x, "Flatten");
    CBNN_CHECK(x.dim() >= 2, "Flatten: expected an input (N, ...) with at least 2 dimensions, got ",
               x.description());
    return x.flatten(1);
}

}  // namespace cbnn
