#include "layers/linear.h"

#include "autograd/functions.h"
#include "layers/init.h"

namespace cbnn {

namespace {

void check_operand(const Tensor& t, const Tensor& x, const char* name) {
    CBNN_CHECK(t.dtype() == x.dtype(), "linear: ", name, " ", t.description(), " and input ",
               x.description(), " have different dtypes");
    CBNN_CHECK(t.device() == x.device(), "linear: ", name, " ", t.description(), " and input ",
               x.description(), " are on different devices");
}

}  // namespace

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
    check_defined(x, "linear");
    check_defined(weight, "linear");
    CBNN_CHECK(weight.dim() == 2, "linear: expected a 2-D weight (out_features, in_features), got ",
               weight.description());
    CBNN_CHECK(x.dim() == 2, "linear: expected a 2-D input (N, in_features), got ", x.description(),
               "; flatten the features first");
    CBNN_CHECK(is_floating(x.dtype()), "linear: expected a floating input, got ", x.description());
    CBNN_CHECK(x.size(1) == weight.size(1), "linear: input has ", x.size(1),
               " features, weight expects ", weight.size(1), " (input ", x.description(),
               ", weight ", weight.description(), ")");
    check_operand(weight, x, "weight");
    const Tensor y = matmul(x, weight.t());
    if (!bias.defined()) return y;
    CBNN_CHECK(bias.dim() == 1 && bias.size(0) == weight.size(0), "linear: expected a bias of [",
               weight.size(0), "] for weight ", weight.description(), ", got ", bias.description());
    check_operand(bias, x, "bias");
    return add(y, bias);
}

Linear::Linear(int64_t in_features, int64_t out_features, bool bias, Generator& gen, DType dtype)
    : in_features_(in_features), out_features_(out_features) {
    CBNN_CHECK(in_features > 0 && out_features > 0,
               "Linear: in_features and out_features must be positive, got ", in_features, " and ",
               out_features);
    CBNN_CHECK(is_floating(dtype), "Linear: parameters must be floating, got dtype ", dtype);
    weight_ = register_parameter("weight", Tensor::empty({out_features, in_features}, dtype));
    glorot_uniform_(weight_, gen);
    if (bias) bias_ = register_parameter("bias", Tensor::zeros({out_features}, dtype));
}

Tensor Linear::forward(const Tensor& x) { return linear(x, weight_, bias_); }

}  // namespace cbnn
