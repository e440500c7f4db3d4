// BatchNorm2d: CPU reference, op functions, autograd node and module (math and layout in
// layers/batchnorm2d.h; the cuDNN twins are in layers/batchnorm2d_cudnn.cpp).
#include "layers/batchnorm2d.h"

#include <atomic>
#include <climits>
#include <cmath>
#include <initializer_list>
#include <memory>
#include <string>
#include <utility>

#include "autograd/node.h"
#include "layers/batchnorm2d_common.h"
#include "layers/batchnorm2d_reference.h"
#include "layers/batchnorm_relu.h"
#include "layers/cudnn_fallback.h"
#include "tensor/binary.h"
#include "tensor/copy.h"
#include "tensor/dispatch.h"
#include "tensor/reduce.h"
#include "tensor/unary.h"

namespace cbnn {

namespace cpu {

template <class T>
void batchnorm2d_forward_training(const T* x, const compute_t<T>* gamma, const compute_t<T>* beta,
                                  T* y, compute_t<T>* running_mean, compute_t<T>* running_var,
                                  compute_t<T>* save_mean, compute_t<T>* save_invstd, int64_t N,
                                  int64_t C, int64_t H, int64_t W, double momentum, double eps) {
    batchnorm2d_forward_training_to(
        x, gamma, beta, [y](int64_t at, double v) { y[at] = narrow<T>(v); }, running_mean,
        running_var, save_mean, save_invstd, N, C, H * W, momentum, eps);
}

template <class T>
void batchnorm2d_forward_inference(const T* x, const compute_t<T>* gamma, const compute_t<T>* beta,
                                   const compute_t<T>* running_mean,
                                   const compute_t<T>* running_var, T* y, int64_t N, int64_t C,
                                   int64_t H, int64_t W, double eps) {
    batchnorm2d_forward_inference_to(
        x, gamma, beta, running_mean, running_var,
        [y](int64_t at, double v) { y[at] = narrow<T>(v); }, N, C, H * W, eps);
}

template <class T>
void batchnorm2d_backward(const T* x, const T* dy, const compute_t<T>* gamma,
                          const compute_t<T>* save_mean, const compute_t<T>* save_invstd, T* dx,
                          compute_t<T>* dgamma, compute_t<T>* dbeta, int64_t N, int64_t C,
                          int64_t H, int64_t W, double /*eps: the saved invstd has it*/) {
    batchnorm2d_backward_from(
        x, [dy](int64_t at) { return convert<compute_t<T>>(dy[at]); }, gamma, save_mean,
        save_invstd, dx, dgamma, dbeta, N, C, H * W);
}

#define CBNN_INSTANTIATE_BATCHNORM2D(T, P)                                                        \
    template void batchnorm2d_forward_training<T>(const T*, const P*, const P*, T*, P*, P*, P*,   \
                                                  P*, int64_t, int64_t, int64_t, int64_t, double, \
                                                  double);                                        \
    template void batchnorm2d_forward_inference<T>(const T*, const P*, const P*, const P*,        \
                                                   const P*, T*, int64_t, int64_t, int64_t,       \
                                                   int64_t, double);                              \
    template void batchnorm2d_backward<T>(const T*, const T*, const P*, const P*, const P*, T*,   \
                                          P*, P*, int64_t, int64_t, int64_t, int64_t, double);
CBNN_INSTANTIATE_BATCHNORM2D(float, float)
CBNN_INSTANTIATE_BATCHNORM2D(double, double)
CBNN_INSTANTIATE_BATCHNORM2D(bfloat16, float)
#undef CBNN_INSTANTIATE_BATCHNORM2D

}  // namespace cpu

namespace {

using namespace batchnorm_detail;
using ops::dense;

// bf16 as f32 (exact), other dtypes unchanged.
Tensor widen_bf16(const Tensor& t) { return t.dtype() == DType::bf16 ? t.to(DType::f32) : t; }

std::atomic<BatchNormKernels> g_kernels{BatchNormKernels::cbnn};

// Whether x takes cuDNN's kernels. Under BatchNormKernels::cudnn, an x of 2^31 or more elements
// still takes cbnn's (int64-indexed) ones: cuDNN checks each dimension against int, not the
// element count, and some of its kernels index with 32 bits (PyTorch keeps such inputs away from
// cuDNN's batch norm for that reason), which would be silent garbage rather than an error.
bool use_cudnn(const Tensor& x) {
    return batchnorm_kernels() == BatchNormKernels::cudnn && x.numel() <= INT32_MAX;
}

// cuDNN's kernels when use_cudnn(x) and cuDNN has not refused x's dtype and layout (bf16 data
// and channels-last descriptors are untested corners of its legacy batch-norm API), else cbnn's.
CudnnFallback g_cudnn_fallback("batch_norm2d");

std::string fallback_key(DType dtype, MemoryFormat format) {
    return std::string(dtype_name(dtype)) + " " + memory_format_name(format);
}

template <class Cudnn, class Own>
void run_cudnn_or_own(const Tensor& x, MemoryFormat format, Cudnn&& cudnn, Own&& own) {
    if (!use_cudnn(x)) return own();
    g_cudnn_fallback.run(fallback_key(x.dtype(), format), std::forward<Cudnn>(cudnn),
                         std::forward<Own>(own));
}

}  // namespace

void set_batchnorm_kernels(BatchNormKernels kernels) { g_kernels = kernels; }
BatchNormKernels batchnorm_kernels() { return g_kernels; }

bool batchnorm_cudnn_refused(DType dtype, MemoryFormat format) {
    return g_cudnn_fallback.refused(fallback_key(dtype, format));
}

BatchNormKernels parse_batchnorm_kernels(const std::string& name) {
    if (name == "cudnn") return BatchNormKernels::cudnn;
    if (name == "cbnn") return BatchNormKernels::cbnn;
    CBNN_FAIL("batch-norm kernels '", name, "' are not one of cudnn, cbnn");
}

namespace ops {

BatchNormForward batch_norm2d_training(const Tensor& x_in, const Tensor& gamma_in,
                                       const Tensor& beta_in, const Tensor& running_mean,
                                       const Tensor& running_var, double momentum, double eps) {
    constexpr const char* op = "batch_norm2d";
    check_training_inputs(x_in, gamma_in, beta_in, running_mean, running_var, momentum, eps, op);
    const int64_t N = x_in.size(0), C = x_in.size(1), H = x_in.size(2), W = x_in.size(3);
    const MemoryFormat format = kernel_format(x_in);
    const Tensor x = dense(x_in, format), gamma = dense(gamma_in), beta = dense(beta_in);
    BatchNormForward r;
    r.y = Tensor::empty(x.shape(), x.dtype(), x.device(), format);
    r.save_mean = Tensor::empty({C}, param_dtype(x.dtype()), x.device());
    r.save_invstd = Tensor::empty({C}, param_dtype(x.dtype()), x.device());
    if (x.is_cuda()) {
        CBNN_ON_CUDA(dispatch_cuda_float_bf16(x.dtype(), op, [&]<class A>() {
            const bool nhwc = format == MemoryFormat::channels_last;
            run_cudnn_or_own(
                x, format,
                [&] {
                    const auto training = nhwc ? cuda::cudnn_batchnorm2d_nhwc_forward_training<A>
                                               : cuda::cudnn_batchnorm2d_forward_training<A>;
                    training(x.data<A>(), gamma.data<float>(), beta.data<float>(), r.y.data<A>(),
                             running_mean.data<float>(), running_var.data<float>(),
                             r.save_mean.data<float>(), r.save_invstd.data<float>(), N, C, H, W,
                             momentum, eps);
                },
                [&] {
                    const Tensor scratch = cuda_scratch(x, format);
                    const auto training = nhwc ? cuda::batchnorm2d_nhwc_forward_training<A>
                                               : cuda::batchnorm2d_forward_training<A>;
                    training(x.data<A>(), gamma.data<float>(), beta.data<float>(), r.y.data<A>(),
                             running_mean.data<float>(), running_var.data<float>(),
                             r.save_mean.data<float>(), r.save_invstd.data<float>(), N, C, H, W,
                             momentum, eps, scratch.data<float>());
                });
        }));
    } else {
        dispatch_floating_bf16(x.dtype(), op, [&]<class T>() {
            using P = compute_t<T>;
            cpu::batchnorm2d_forward_training<T>(
                x.data<T>(), gamma.data<P>(), beta.data<P>(), r.y.data<T>(), running_mean.data<P>(),
                running_var.data<P>(), r.save_mean.data<P>(), r.save_invstd.data<P>(), N, C, H, W,
                momentum, eps);
        });
    }
    running_mean.bump_version();
    running_var.bump_version();
    r.y = dense(r.y, x_in.memory_format());
    return r;
}

Tensor batch_norm2d_inference(const Tensor& x_in, const Tensor& gamma_in, const Tensor& beta_in,
                              const Tensor& running_mean_in, const Tensor& running_var_in,
                              double eps) {
    constexpr const char* op = "batch_norm2d";
    check_inference_inputs(x_in, gamma_in, beta_in, running_mean_in, running_var_in, eps, op);
    const int64_t N = x_in.size(0), C = x_in.size(1), H = x_in.size(2), W = x_in.size(3);
    const MemoryFormat format = kernel_format(x_in);
    const Tensor x = dense(x_in, format), gamma = dense(gamma_in), beta = dense(beta_in);
    const Tensor running_mean = dense(running_mean_in), running_var = dense(running_var_in);
    Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device(), format);
    if (x.is_cuda()) {
        CBNN_ON_CUDA(dispatch_cuda_float_bf16(x.dtype(), op, [&]<class A>() {
            const bool nhwc = format == MemoryFormat::channels_last;
            const auto inference = [&](auto kernel) {
                kernel(x.data<A>(), gamma.data<float>(), beta.data<float>(),
                       running_mean.data<float>(), running_var.data<float>(), y.data<A>(), N, C, H,
                       W, eps);
            };
            run_cudnn_or_own(
                x, format,
                [&] {
                    inference(nhwc ? cuda::cudnn_batchnorm2d_nhwc_forward_inference<A>
                                   : cuda::cudnn_batchnorm2d_forward_inference<A>);
                },
                [&] {
                    inference(nhwc ? cuda::batchnorm2d_nhwc_forward_inference<A>
                                   : cuda::batchnorm2d_forward_inference<A>);
                });
        }));
    } else {
        dispatch_floating_bf16(x.dtype(), op, [&]<class T>() {
            using P = compute_t<T>;
            cpu::batchnorm2d_forward_inference<T>(x.data<T>(), gamma.data<P>(), beta.data<P>(),
                                                  running_mean.data<P>(), running_var.data<P>(),
                                                  y.data<T>(), N, C, H, W, eps);
        });
    }
    return dense(y, x_in.memory_format());
}

BatchNormGrads batch_norm2d_backward(const Tensor& x_in, const Tensor& dy_in,
                                     const Tensor& gamma_in, const Tensor& save_mean_in,
                                     const Tensor& save_invstd_in, double eps) {
    constexpr const char* op = "batch_norm2d_backward";
    check_backward_inputs(x_in, dy_in, gamma_in, save_mean_in, save_invstd_in, op);
    const int64_t N = x_in.size(0), C = x_in.size(1), H = x_in.size(2), W = x_in.size(3);
    const MemoryFormat format = kernel_format(x_in);
    const Tensor x = dense(x_in, format), dy = dense(dy_in, format), gamma = dense(gamma_in);
    const Tensor save_mean = dense(save_mean_in), save_invstd = dense(save_invstd_in);
    BatchNormGrads g;
    g.dx = Tensor::empty(x.shape(), x.dtype(), x.device(), format);
    g.dgamma = Tensor::empty({C}, param_dtype(x.dtype()), x.device());
    g.dbeta = Tensor::empty({C}, param_dtype(x.dtype()), x.device());
    if (x.is_cuda()) {
        CBNN_ON_CUDA(dispatch_cuda_float_bf16(x.dtype(), op, [&]<class A>() {
            const bool nhwc = format == MemoryFormat::channels_last;
            run_cudnn_or_own(
                x, format,
                [&] {
                    const auto backward = nhwc ? cuda::cudnn_batchnorm2d_nhwc_backward<A>
                                               : cuda::cudnn_batchnorm2d_backward<A>;
                    backward(x.data<A>(), dy.data<A>(), gamma.data<float>(),
                             save_mean.data<float>(), save_invstd.data<float>(), g.dx.data<A>(),
                             g.dgamma.data<float>(), g.dbeta.data<float>(), N, C, H, W, eps);
                },
                [&] {
                    const Tensor scratch = cuda_scratch(x, format);
                    const auto backward =
                        nhwc ? cuda::batchnorm2d_nhwc_backward<A> : cuda::batchnorm2d_backward<A>;
                    backward(x.data<A>(), dy.data<A>(), gamma.data<float>(),
                             save_mean.data<float>(), save_invstd.data<float>(), g.dx.data<A>(),
                             g.dgamma.data<float>(), g.dbeta.data<float>(), N, C, H, W,
                             scratch.data<float>());
                });
        }));
    } else {
        dispatch_floating_bf16(x.dtype(), op, [&]<class T>() {
            using P = compute_t<T>;
            cpu::batchnorm2d_backward<T>(x.data<T>(), dy.data<T>(), gamma.data<P>(),
                                         save_mean.data<P>(), save_invstd.data<P>(), g.dx.data<T>(),
                                         g.dgamma.data<P>(), g.dbeta.data<P>(), N, C, H, W, eps);
        });
    }
    g.dx = dense(g.dx, x_in.memory_format());
    return g;
}

BatchNormGrads batch_norm2d_backward_inference(const Tensor& x, const Tensor& dy,
                                               const Tensor& gamma, const Tensor& save_mean,
                                               const Tensor& save_invstd, bool param_grads) {
    check_backward_inputs(x, dy, gamma, save_mean, save_invstd, "batch_norm2d_backward");
    const Shape per_channel{1, x.size(1), 1, 1};
    const Tensor invstd = dense(save_invstd).view(per_channel);
    // bf16 activations are widened (exactly) to the f32 of the parameters, the f32 ops run, and dx
    // is rounded once: bitwise the f32 op on the same values, rounded.
    const Tensor dyw = widen_bf16(dy);
    BatchNormGrads g;
    // Broadcasting writes NCHW; dx takes x's format like every other output.
    g.dx = dense(ops::mul(dyw, ops::mul(dense(gamma).view(per_channel), invstd)).to(dy.dtype()),
                 x.memory_format());
    if (param_grads) {
        const Tensor xhat =
            ops::mul(ops::sub(widen_bf16(x), dense(save_mean).view(per_channel)), invstd);
        g.dgamma = ops::channel_sum(ops::mul(dyw, xhat));
        g.dbeta = ops::channel_sum(dyw);
    }
    return g;
}

BatchNormStats batch_norm2d_running_stats(const Tensor& running_mean, const Tensor& running_var,
                                          double eps) {
    // Copies, so a later training step that updates the buffers in place does not trip the
    // saved-tensor version check of the graph that keeps them.
    return {ops::contiguous_copy(running_mean),
            ops::unary(UnaryOp::rdiv_scalar,
                       ops::unary(UnaryOp::sqrt, ops::unary(UnaryOp::add_scalar, running_var, eps)),
                       1.0)};
}

}  // namespace ops

namespace {

class BatchNorm2dNode : public autograd::Node {
  public:
    // x is needed by every backward but the inference one without parameter gradients.
    BatchNorm2dNode(bool training, bool param_grads, double eps, const Tensor& x,
                    const Tensor& gamma, const Tensor& mean, const Tensor& invstd)
        : training_(training),
          param_grads_(param_grads),
          eps_(eps),
          x_format_(x.memory_format()),
          gamma_(gamma, "gamma"),
          mean_(mean, "mean"),
          invstd_(invstd, "invstd") {
        if (training || param_grads) x_ = autograd::SavedTensor(x, "x");
    }
    const char* name() const override { return "batch_norm2d"; }
    std::vector<Tensor> apply(std::vector<Tensor> grads) override {
        const Tensor& dy = grads[0];
        if (!dy.defined()) return {Tensor(), Tensor(), Tensor()};
        Tensor x = x_.unpack(name());
        const Tensor gamma = gamma_.unpack(name());
        const Tensor mean = mean_.unpack(name()), invstd = invstd_.unpack(name());
        if (!x.defined()) x = batchnorm_detail::unsaved_x_like(dy, x_format_);
        ops::BatchNormGrads g =
            training_
                ? ops::batch_norm2d_backward(x, dy, gamma, mean, invstd, eps_)
                : ops::batch_norm2d_backward_inference(x, dy, gamma, mean, invstd, param_grads_);
        return {needs_input_grad(0) ? g.dx : Tensor(), needs_input_grad(1) ? g.dgamma : Tensor(),
                needs_input_grad(2) ? g.dbeta : Tensor()};
    }
    void release_saved() override {
        x_.release();
        gamma_.release();
        mean_.release();
        invstd_.release();
    }

  private:
    bool training_, param_grads_;
    double eps_;
    MemoryFormat x_format_;
    autograd::SavedTensor x_, gamma_, mean_, invstd_;
};

}  // namespace

Tensor batch_norm2d(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                    const Tensor& running_mean, const Tensor& running_var, bool training,
                    double momentum, double eps) {
    Tensor y, mean, invstd;
    if (training) {
        ops::BatchNormForward r =
            ops::batch_norm2d_training(x, gamma, beta, running_mean, running_var, momentum, eps);
        y = r.y;
        mean = r.save_mean;
        invstd = r.save_invstd;
    } else {
        check_hyperparameters(momentum, eps, "batch_norm2d");
        y = ops::batch_norm2d_inference(x, gamma, beta, running_mean, running_var, eps);
    }
    if (!autograd::any_requires_grad({x, gamma, beta})) return y;
    if (!training) {
        const ops::BatchNormStats stats =
            ops::batch_norm2d_running_stats(running_mean, running_var, eps);
        mean = stats.mean;
        invstd = stats.invstd;
    }
    const bool param_grads = gamma.requires_grad() || beta.requires_grad();
    autograd::connect(
        std::make_shared<BatchNorm2dNode>(training, param_grads, eps, x, gamma, mean, invstd),
        {x, gamma, beta}, {&y});
    return y;
}

BatchNorm2d::BatchNorm2d(int64_t channels, double momentum, double eps, DType dtype)
    : channels_(channels), momentum_(momentum), eps_(eps) {
    CBNN_CHECK(channels >= 1, type_name(), ": channels must be >= 1, got ", channels);
    check_hyperparameters(momentum, eps, type_name());
    CBNN_CHECK(is_floating(dtype), type_name(), ": parameters must be floating, got dtype ", dtype);
    CBNN_CHECK(dtype != DType::bf16, type_name(),
               ": parameters and running statistics stay f32 under bf16 activations (mixed "
               "precision): construct with f32 and pass bf16 inputs");
    weight_ = register_parameter("weight", Tensor::ones({channels}, dtype));
    bias_ = register_parameter("bias", Tensor::zeros({channels}, dtype));
    running_mean_ = register_buffer("running_mean", Tensor::zeros({channels}, dtype));
    running_var_ = register_buffer("running_var", Tensor::ones({channels}, dtype));
}

void BatchNorm2d::check_input(const Tensor& x) const {
    check_defined(x, "BatchNorm2d");
    CBNN_CHECK(x.dim() == 4 && x.size(1) == channels_, "BatchNorm2d(", channels_,
               "): expected an NCHW input with ", channels_, " channels, got ", x.description());
}

Tensor BatchNorm2d::forward(const Tensor& x) {
    check_input(x);
    return batch_norm2d(x, weight_, bias_, running_mean_, running_var_, is_training(), momentum_,
                        eps_);
}

Tensor BatchNorm2d::forward_relu(const Tensor& x, const Tensor& residual) {
    check_input(x);
    return batch_norm_relu(x, residual, weight_, bias_, running_mean_, running_var_, is_training(),
                           momentum_, eps_);
}

}  // namespace cbnn
