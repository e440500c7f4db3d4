// Checks and helpers shared by batch norm (layers/batchnorm2d.cpp) and the fused BN + ReLU op
// (layers/batchnorm_relu.cpp); declared in layers/batchnorm2d_common.h.
#include "layers/batchnorm2d_common.h"

#include <cmath>
#include <initializer_list>
#include <string>
#include <utility>

#include "layers/batchnorm2d_kernels.h"
#include "tensor/error.h"

namespace cbnn {

namespace batchnorm_detail {

DType param_dtype(DType x) { return x == DType::bf16 ? DType::f32 : x; }

void check_hyperparameters(double momentum, double eps, const std::string& who) {
    CBNN_CHECK(std::isfinite(momentum) && momentum >= 0.0 && momentum <= 1.0, who,
               ": momentum must be in [0, 1], got ", momentum);
    CBNN_CHECK(std::isfinite(eps) && eps > 0.0, who, ": eps must be a finite number > 0, got ",
               eps);
}

void check_inputs(const Tensor& x,
                  std::initializer_list<std::pair<const Tensor*, const char*>> per_channel,
                  const char* op) {
    check_defined(x, op);
    CBNN_CHECK(x.dim() == 4, op, ": expected an NCHW input (4 dimensions), got ", x.description());
    CBNN_CHECK(x.numel() > 0, op, ": expected a non-empty input, got ", x.description());
    CBNN_CHECK(is_floating(x.dtype()), op, ": expected an f32, f64 or bf16 input, got ",
               x.description());
    check_cuda_float_or_bf16(x, op);
    const int64_t C = x.size(1);
    const DType want = param_dtype(x.dtype());
    for (const auto& [t, name] : per_channel) {
        check_defined(*t, op);
        CBNN_CHECK(t->dim() == 1 && t->size(0) == C, op, ": expected ", name, " of shape [", C,
                   "] for input ", x.description(), ", got ", t->description());
        CBNN_CHECK(t->dtype() == want, op, ": expected ", name, " of dtype ", want, " for input ",
                   x.description(),
                   x.dtype() == DType::bf16 ? " (parameters and statistics stay f32 under bf16 "
                                              "activations)"
                                            : "",
                   ", got ", t->description());
        check_same_device(x, *t, op);
    }
}

void check_running_stat(const Tensor& t, const char* name, const char* op) {
    CBNN_CHECK(!t.requires_grad(), op, ": ", name, " is a buffer and must not require grad (",
               t.description(), ")");
    CBNN_CHECK(t.is_contiguous(), op, ": ", name,
               " must be contiguous (it is updated in place), got ", t.description());
}

void check_like_x(const Tensor& x, const Tensor& t, const char* name, const char* op) {
    check_defined(t, op);
    CBNN_CHECK(t.shape() == x.shape(), op, ": ", name, " ", t.description(), " does not match x ",
               x.description());
    check_dtype(t, x.dtype(), op, name);
    check_same_device(x, t, op);
}

void check_inference_inputs(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                            const Tensor& running_mean, const Tensor& running_var, double eps,
                            const char* op) {
    check_inputs(x,
                 {{&gamma, "gamma"},
                  {&beta, "beta"},
                  {&running_mean, "running_mean"},
                  {&running_var, "running_var"}},
                 op);
    check_hyperparameters(0.0, eps, op);
}

void check_training_inputs(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                           const Tensor& running_mean, const Tensor& running_var, double momentum,
                           double eps, const char* op) {
    check_inference_inputs(x, gamma, beta, running_mean, running_var, eps, op);
    check_hyperparameters(momentum, eps, op);
    check_running_stat(running_mean, "running_mean", op);
    check_running_stat(running_var, "running_var", op);
    CBNN_CHECK(x.size(0) * x.size(2) * x.size(3) > 1, op,
               ": training mode needs more than one value per channel to estimate a variance, "
               "got input ",
               x.description());
}

void check_backward_inputs(const Tensor& x, const Tensor& dy, const Tensor& gamma,
                           const Tensor& save_mean, const Tensor& save_invstd, const char* op) {
    check_inputs(x, {{&gamma, "gamma"}, {&save_mean, "save_mean"}, {&save_invstd, "save_invstd"}},
                 op);
    check_like_x(x, dy, "dy", op);
}

MemoryFormat kernel_format(const Tensor& x) {
    return x.is_cuda() ? x.memory_format() : MemoryFormat::contiguous;
}

Tensor cuda_scratch(const Tensor& x, MemoryFormat format) {
#ifdef CBNN_WITH_CUDA
    const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
    const int64_t floats = format == MemoryFormat::channels_last
                               ? cuda::batchnorm2d_nhwc_scratch_floats(N, C, H, W)
                               : cuda::batchnorm2d_scratch_floats(N, C);
    return Tensor::empty({floats}, DType::f32, x.device());
#else
    CBNN_FAIL("batch_norm2d: device scratch for ", x.description(), " (",
              memory_format_name(format), ") needs a CUDA build");
#endif
}

Tensor unsaved_x_like(const Tensor& dy, MemoryFormat x_format) {
    if (dy.is_contiguous(x_format)) return dy;
    return Tensor::empty(dy.shape(), dy.dtype(), dy.device(), x_format);
}

}  // namespace batchnorm_detail

}  // namespace cbnn
