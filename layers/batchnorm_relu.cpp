// Batch norm + ReLU (+ residual): CPU reference, op functions, autograd node (math and layout in
// layers/batchnorm_relu.h; cbnn's CUDA kernels are in layers/batchnorm2d_cuda.cu).
#include "layers/batchnorm_relu.h"

#include <memory>
#include <vector>

#include "autograd/node.h"
#include "layers/batchnorm2d_common.h"
#include "layers/batchnorm2d_reference.h"
#include "tensor/binary.h"
#include "tensor/copy.h"
#include "tensor/dispatch.h"
#include "tensor/unary.h"

namespace cbnn {

namespace cpu {

namespace {
// y = relu(bn + residual): bn (a double) rounded to P = compute_t<T> as the plain op rounds it,
// the residual added in P and the ReLU applied as the unfused add and relu ops do, then one
// rounding to T (none for f32/f64). For f32/f64 this is bitwise relu(batch_norm2d(x) + residual)
// of the unfused ops; for bf16 it is that f32 result rounded once.
template <class T>
auto add_relu_store(T* y, const T* residual) {
    return [y, residual](int64_t at, double bn) {
        using P = compute_t<T>;
        P v = static_cast<P>(bn);
        if (residual) v = v + convert<P>(residual[at]);
        y[at] = convert<T>(v > P(0) ? v : P(0));
    };
}

// dy [y > 0] in compute_t<T>, as the ReLU's backward computes it (dy * 0 or dy * 1: a NaN dy
// stays NaN); exact for bf16.
template <class T>
compute_t<T> masked(const T* dy, const T* y, int64_t at) {
    using P = compute_t<T>;
    return convert<P>(dy[at]) * (convert<P>(y[at]) > P(0) ? P(1) : P(0));
}
}  // namespace

template <class T>
void batchnorm_relu_forward_training(const T* x, const T* residual, const compute_t<T>* gamma,
                                     const compute_t<T>* beta, T* y, compute_t<T>* running_mean,
                                     compute_t<T>* running_var, compute_t<T>* save_mean,
                                     compute_t<T>* save_invstd, int64_t N, int64_t C, int64_t H,
                                     int64_t W, double momentum, double eps) {
    batchnorm2d_forward_training_to(x, gamma, beta, add_relu_store(y, residual), running_mean,
                                    running_var, save_mean, save_invstd, N, C, H * W, momentum,
                                    eps);
}

template <class T>
void batchnorm_relu_forward_inference(const T* x, const T* residual, const compute_t<T>* gamma,
                                      const compute_t<T>* beta, const compute_t<T>* running_mean,
                                      const compute_t<T>* running_var, T* y, int64_t N, int64_t C,
                                      int64_t H, int64_t W, double eps) {
    batchnorm2d_forward_inference_to(x, gamma, beta, running_mean, running_var,
                                     add_relu_store(y, residual), N, C, H * W, eps);
}

template <class T>
void batchnorm_relu_backward(const T* x, const T* y, const T* dy, const compute_t<T>* gamma,
                             const compute_t<T>* save_mean, const compute_t<T>* save_invstd, T* dx,
                             compute_t<T>* dgamma, compute_t<T>* dbeta, T* dresidual, int64_t N,
                             int64_t C, int64_t H, int64_t W) {
    batchnorm2d_backward_from(
        x, [dy, y](int64_t at) { return masked(dy, y, at); }, gamma, save_mean, save_invstd, dx,
        dgamma, dbeta, N, C, H * W);
    if (dresidual)
        for (int64_t i = 0; i < N * C * H * W; ++i) dresidual[i] = convert<T>(masked(dy, y, i));
}

#define CBNN_INSTANTIATE_BATCHNORM_RELU(T, P)                                                     \
    template void batchnorm_relu_forward_training<T>(const T*, const T*, const P*, const P*, T*,  \
                                                     P*, P*, P*, P*, int64_t, int64_t, int64_t,   \
                                                     int64_t, double, double);                    \
    template void batchnorm_relu_forward_inference<T>(const T*, const T*, const P*, const P*,     \
                                                      const P*, const P*, T*, int64_t, int64_t,   \
                                                      int64_t, int64_t, double);                  \
    template void batchnorm_relu_backward<T>(const T*, const T*, const T*, const P*, const P*,    \
                                             const P*, T*, P*, P*, T*, int64_t, int64_t, int64_t, \
                                             int64_t);
CBNN_INSTANTIATE_BATCHNORM_RELU(float, float)
CBNN_INSTANTIATE_BATCHNORM_RELU(double, double)
CBNN_INSTANTIATE_BATCHNORM_RELU(bfloat16, float)
#undef CBNN_INSTANTIATE_BATCHNORM_RELU

}  // namespace cpu

namespace {

using namespace batchnorm_detail;
using ops::dense;

// cuDNN's batch norm composed with the add and relu ops, for f32 on CUDA under
// BatchNormKernels::cudnn. bf16 always takes cbnn's fused kernels: the composition would round
// bn(x) to bf16 before the add (two roundings, where the op's definition has one) and cost two
// more passes over the activations.
bool use_cudnn(const Tensor& x) {
    return x.is_cuda() && x.dtype() == DType::f32 && batchnorm_kernels() == BatchNormKernels::cudnn;
}

// relu(y + residual) with the unfused ops: the cuDNN path's epilogue. The residual is brought to
// y's format (x's), so that the add and the relu write that format.
Tensor add_relu_ops(const Tensor& y, const Tensor& residual) {
    return ops::unary(UnaryOp::relu,
                      residual.defined() ? ops::add(y, dense(residual, y.memory_format())) : y);
}

// The ReLU's backward with the ops: dy [y > 0] (y stands in for the pre-ReLU sum: same sign), in
// x's format (the relu backward writes dy's).
Tensor mask_ops(const Tensor& x, const Tensor& y, const Tensor& dy) {
    const MemoryFormat format = x.memory_format();
    return ops::unary_backward(UnaryOp::relu, y, y, dense(dy, format));
}

// The data of an optional tensor (residual, dresidual), nullptr when there is none.
template <class T>
T* data_or_null(const Tensor& t) {
    return t.defined() ? t.data<T>() : nullptr;
}

}  // namespace

namespace ops {

BatchNormForward batch_norm_relu_training(const Tensor& x_in, const Tensor& residual_in,
                                          const Tensor& gamma_in, const Tensor& beta_in,
                                          const Tensor& running_mean, const Tensor& running_var,
                                          double momentum, double eps) {
    constexpr const char* op = "batch_norm_relu";
    check_training_inputs(x_in, gamma_in, beta_in, running_mean, running_var, momentum, eps, op);
    if (residual_in.defined()) check_like_x(x_in, residual_in, "residual", op);
    if (use_cudnn(x_in)) {
        BatchNormForward r = batch_norm2d_training(x_in, gamma_in, beta_in, running_mean,
                                                   running_var, momentum, eps);
        r.y = add_relu_ops(r.y, residual_in);
        return r;
    }
    const int64_t N = x_in.size(0), C = x_in.size(1), H = x_in.size(2), W = x_in.size(3);
    const MemoryFormat format = kernel_format(x_in);
    const Tensor x = dense(x_in, format), gamma = dense(gamma_in), beta = dense(beta_in);
    const Tensor residual = residual_in.defined() ? dense(residual_in, format) : Tensor();
    BatchNormForward r;
    r.y = Tensor::empty(x.shape(), x.dtype(), x.device(), format);
    r.save_mean = Tensor::empty({C}, param_dtype(x.dtype()), x.device());
    r.save_invstd = Tensor::empty({C}, param_dtype(x.dtype()), x.device());
    if (x.is_cuda()) {
        CBNN_ON_CUDA(dispatch_cuda_float_bf16(x.dtype(), op, [&]<class A>() {
            const Tensor scratch = cuda_scratch(x, format);
            const auto training = format == MemoryFormat::channels_last
                                      ? cuda::batchnorm_relu_nhwc_forward_training<A>
                                      : cuda::batchnorm_relu_forward_training<A>;
            training(x.data<A>(), data_or_null<A>(residual), gamma.data<float>(),
                     beta.data<float>(), r.y.data<A>(), running_mean.data<float>(),
                     running_var.data<float>(), r.save_mean.data<float>(),
                     r.save_invstd.data<float>(), N, C, H, W, momentum, eps, scratch.data<float>());
        }));
    } else {
        dispatch_floating_bf16(x.dtype(), op, [&]<class T>() {
            using P = compute_t<T>;
            cpu::batchnorm_relu_forward_training<T>(
                x.data<T>(), data_or_null<T>(residual), gamma.data<P>(), beta.data<P>(),
                r.y.data<T>(), running_mean.data<P>(), running_var.data<P>(), r.save_mean.data<P>(),
                r.save_invstd.data<P>(), N, C, H, W, momentum, eps);
        });
    }
    running_mean.bump_version();
    running_var.bump_version();
    r.y = dense(r.y, x_in.memory_format());
    return r;
}

Tensor batch_norm_relu_inference(const Tensor& x_in, const Tensor& residual_in,
                                 const Tensor& gamma_in, const Tensor& beta_in,
                                 const Tensor& running_mean_in, const Tensor& running_var_in,
                                 double eps) {
    constexpr const char* op = "batch_norm_relu";
    check_inference_inputs(x_in, gamma_in, beta_in, running_mean_in, running_var_in, eps, op);
    if (residual_in.defined()) check_like_x(x_in, residual_in, "residual", op);
    if (use_cudnn(x_in)) {
        return add_relu_ops(
            batch_norm2d_inference(x_in, gamma_in, beta_in, running_mean_in, running_var_in, eps),
            residual_in);
    }
    const int64_t N = x_in.size(0), C = x_in.size(1), H = x_in.size(2), W = x_in.size(3);
    const MemoryFormat format = kernel_format(x_in);
    const Tensor x = dense(x_in, format), gamma = dense(gamma_in), beta = dense(beta_in);
    const Tensor residual = residual_in.defined() ? dense(residual_in, format) : Tensor();
    const Tensor running_mean = dense(running_mean_in), running_var = dense(running_var_in);
    Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device(), format);
    if (x.is_cuda()) {
        CBNN_ON_CUDA(dispatch_cuda_float_bf16(x.dtype(), op, [&]<class A>() {
            const auto inference = format == MemoryFormat::channels_last
                                       ? cuda::batchnorm_relu_nhwc_forward_inference<A>
                                       : cuda::batchnorm_relu_forward_inference<A>;
            inference(x.data<A>(), data_or_null<A>(residual), gamma.data<float>(),
                      beta.data<float>(), running_mean.data<float>(), running_var.data<float>(),
                      y.data<A>(), N, C, H, W, eps);
        }));
    } else {
        dispatch_floating_bf16(x.dtype(), op, [&]<class T>() {
            using P = compute_t<T>;
            cpu::batchnorm_relu_forward_inference<T>(
                x.data<T>(), data_or_null<T>(residual), gamma.data<P>(), beta.data<P>(),
                running_mean.data<P>(), running_var.data<P>(), y.data<T>(), N, C, H, W, eps);
        });
    }
    return dense(y, x_in.memory_format());
}

BatchNormReluGrads batch_norm_relu_backward(const Tensor& x_in, const Tensor& y_in,
                                            const Tensor& dy_in, const Tensor& gamma_in,
                                            const Tensor& save_mean_in,
                                            const Tensor& save_invstd_in, double eps,
                                            bool residual_grad) {
    constexpr const char* op = "batch_norm_relu_backward";
    check_backward_inputs(x_in, dy_in, gamma_in, save_mean_in, save_invstd_in, op);
    check_like_x(x_in, y_in, "y", op);
    BatchNormReluGrads g;
    if (use_cudnn(x_in)) {
        const Tensor masked = mask_ops(x_in, y_in, dy_in);
        BatchNormGrads b =
            batch_norm2d_backward(x_in, masked, gamma_in, save_mean_in, save_invstd_in, eps);
        return {b.dx, b.dgamma, b.dbeta, residual_grad ? masked : Tensor()};
    }
    const int64_t N = x_in.size(0), C = x_in.size(1), H = x_in.size(2), W = x_in.size(3);
    const MemoryFormat format = kernel_format(x_in);
    const Tensor x = dense(x_in, format), y = dense(y_in, format), dy = dense(dy_in, format);
    const Tensor gamma = dense(gamma_in), save_mean = dense(save_mean_in);
    const Tensor save_invstd = dense(save_invstd_in);
    g.dx = Tensor::empty(x.shape(), x.dtype(), x.device(), format);
    g.dgamma = Tensor::empty({C}, param_dtype(x.dtype()), x.device());
    g.dbeta = Tensor::empty({C}, param_dtype(x.dtype()), x.device());
    if (residual_grad) g.dresidual = Tensor::empty(x.shape(), x.dtype(), x.device(), format);
    if (x.is_cuda()) {
        CBNN_ON_CUDA(dispatch_cuda_float_bf16(x.dtype(), op, [&]<class A>() {
            const Tensor scratch = cuda_scratch(x, format);
            const auto backward = format == MemoryFormat::channels_last
                                      ? cuda::batchnorm_relu_nhwc_backward<A>
                                      : cuda::batchnorm_relu_backward<A>;
            backward(x.data<A>(), y.data<A>(), dy.data<A>(), gamma.data<float>(),
                     save_mean.data<float>(), save_invstd.data<float>(), g.dx.data<A>(),
                     g.dgamma.data<float>(), g.dbeta.data<float>(), data_or_null<A>(g.dresidual), N,
                     C, H, W, scratch.data<float>());
        }));
    } else {
        dispatch_floating_bf16(x.dtype(), op, [&]<class T>() {
            using P = compute_t<T>;
            cpu::batchnorm_relu_backward<T>(x.data<T>(), y.data<T>(), dy.data<T>(), gamma.data<P>(),
                                            save_mean.data<P>(), save_invstd.data<P>(),
                                            g.dx.data<T>(), g.dgamma.data<P>(), g.dbeta.data<P>(),
                                            data_or_null<T>(g.dresidual), N, C, H, W);
        });
    }
    g.dx = dense(g.dx, x_in.memory_format());
    if (residual_grad) g.dresidual = dense(g.dresidual, x_in.memory_format());
    return g;
}

BatchNormReluGrads batch_norm_relu_backward_inference(const Tensor& x, const Tensor& y,
                                                      const Tensor& dy, const Tensor& gamma,
                                                      const Tensor& mean, const Tensor& invstd,
                                                      bool param_grads, bool residual_grad) {
    constexpr const char* op = "batch_norm_relu_backward";
    check_backward_inputs(x, dy, gamma, mean, invstd, op);
    check_like_x(x, y, "y", op);
    const Tensor masked = mask_ops(x, y, dy);
    BatchNormGrads b = batch_norm2d_backward_inference(x, masked, gamma, mean, invstd, param_grads);
    return {b.dx, b.dgamma, b.dbeta, residual_grad ? masked : Tensor()};
}

}  // namespace ops

namespace {

// Inputs x, gamma, beta, residual. Saves y for the mask, never the pre-ReLU sum.
class BatchNormReluNode : public autograd::Node {
  public:
    // x is needed by every backward but the inference one without parameter gradients.
    BatchNormReluNode(bool training, bool param_grads, double eps, const Tensor& x, const Tensor& y,
                      const Tensor& gamma, const Tensor& mean, const Tensor& invstd)
        : training_(training),
          param_grads_(param_grads),
          eps_(eps),
          x_format_(x.memory_format()),
          y_(y, "y"),
          gamma_(gamma, "gamma"),
          mean_(mean, "mean"),
          invstd_(invstd, "invstd") {
        if (training || param_grads) x_ = autograd::SavedTensor(x, "x");
    }
    const char* name() const override { return "batch_norm_relu"; }
    std::vector<Tensor> apply(std::vector<Tensor> grads) override {
        const Tensor& dy = grads[0];
        if (!dy.defined()) return {Tensor(), Tensor(), Tensor(), Tensor()};
        Tensor x = x_.unpack(name());
        const Tensor y = y_.unpack(name()), gamma = gamma_.unpack(name());
        const Tensor mean = mean_.unpack(name()), invstd = invstd_.unpack(name());
        if (!x.defined()) x = batchnorm_detail::unsaved_x_like(dy, x_format_);
        const bool residual_grad = needs_input_grad(3);
        ops::BatchNormReluGrads g =
            training_
                ? ops::batch_norm_relu_backward(x, y, dy, gamma, mean, invstd, eps_, residual_grad)
                : ops::batch_norm_relu_backward_inference(x, y, dy, gamma, mean, invstd,
                                                          param_grads_, residual_grad);
        return {needs_input_grad(0) ? g.dx : Tensor(), needs_input_grad(1) ? g.dgamma : Tensor(),
                needs_input_grad(2) ? g.dbeta : Tensor(), g.dresidual};
    }
    void release_saved() override {
        x_.release();
        y_.release();
        gamma_.release();
        mean_.release();
        invstd_.release();
    }

  private:
    bool training_, param_grads_;
    double eps_;
    MemoryFormat x_format_;
    autograd::SavedTensor x_, y_, gamma_, mean_, invstd_;
};

}  // namespace

Tensor batch_norm_relu(const Tensor& x, const Tensor& residual, const Tensor& gamma,
                       const Tensor& beta, const Tensor& running_mean, const Tensor& running_var,
                       bool training, double momentum, double eps) {
    Tensor y, mean, invstd;
    if (training) {
        ops::BatchNormForward r = ops::batch_norm_relu_training(
            x, residual, gamma, beta, running_mean, running_var, momentum, eps);
        y = r.y;
        mean = r.save_mean;
        invstd = r.save_invstd;
    } else {
        check_hyperparameters(momentum, eps, "batch_norm_relu");
        y = ops::batch_norm_relu_inference(x, residual, gamma, beta, running_mean, running_var,
                                           eps);
    }
    if (!autograd::any_requires_grad({x, gamma, beta, residual})) return y;
    if (!training) {
        const ops::BatchNormStats stats =
            ops::batch_norm2d_running_stats(running_mean, running_var, eps);
        mean = stats.mean;
        invstd = stats.invstd;
    }
    const bool param_grads = gamma.requires_grad() || beta.requires_grad();
    autograd::connect(
        std::make_shared<BatchNormReluNode>(training, param_grads, eps, x, y, gamma, mean, invstd),
        {x, gamma, beta, residual}, {&y});
    return y;
}

}  // namespace cbnn
