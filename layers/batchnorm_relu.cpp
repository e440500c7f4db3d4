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
// y = relu(y + residual) in T, in place: the add and the ReLU of the unfused ops, same rounding.
template <class T>
void add_relu(T* y, const T* residual, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
        const T v = residual ? y[i] + residual[i] : y[i];
        y[i] = v > T(0) ? v : T(0);
    }
}

// dy [y > 0], as the ReLU's backward computes it (dy * 0 or dy * 1: a NaN dy stays NaN).
template <class T>
T masked(const T* dy, const T* y, int64_t at) {
    return dy[at] * (y[at] > T(0) ? T(1) : T(0));
}
}  // namespace

template <class T>
void batchnorm_relu_forward_training(const T* x, const T* residual, const T* gamma, const T* beta,
                                     T* y, T* running_mean, T* running_var, T* save_mean,
                                     T* save_invstd, int64_t N, int64_t C, int64_t H, int64_t W,
                                     double momentum, double eps) {
    batchnorm2d_forward_training(x, gamma, beta, y, running_mean, running_var, save_mean,
                                 save_invstd, N, C, H, W, momentum, eps);
    add_relu(y, residual, N * C * H * W);
}

template <class T>
void batchnorm_relu_forward_inference(const T* x, const T* residual, const T* gamma, const T* beta,
                                      const T* running_mean, const T* running_var, T* y, int64_t N,
                                      int64_t C, int64_t H, int64_t W, double eps) {
    batchnorm2d_forward_inference(x, gamma, beta, running_mean, running_var, y, N, C, H, W, eps);
    add_relu(y, residual, N * C * H * W);
}

template <class T>
void batchnorm_relu_backward(const T* x, const T* y, const T* dy, const T* gamma,
                             const T* save_mean, const T* save_invstd, T* dx, T* dgamma, T* dbeta,
                             T* dresidual, int64_t N, int64_t C, int64_t H, int64_t W) {
    batchnorm2d_backward_from(
        x, [dy, y](int64_t at) { return masked(dy, y, at); }, gamma, save_mean, save_invstd, dx,
        dgamma, dbeta, N, C, H * W);
    if (dresidual)
        for (int64_t i = 0; i < N * C * H * W; ++i) dresidual[i] = masked(dy, y, i);
}

#define CBNN_INSTANTIATE_BATCHNORM_RELU(T)                                                        \
    template void batchnorm_relu_forward_training<T>(const T*, const T*, const T*, const T*, T*,  \
                                                     T*, T*, T*, T*, int64_t, int64_t, int64_t,   \
                                                     int64_t, double, double);                    \
    template void batchnorm_relu_forward_inference<T>(const T*, const T*, const T*, const T*,     \
                                                      const T*, const T*, T*, int64_t, int64_t,   \
                                                      int64_t, int64_t, double);                  \
    template void batchnorm_relu_backward<T>(const T*, const T*, const T*, const T*, const T*,    \
                                             const T*, T*, T*, T*, T*, int64_t, int64_t, int64_t, \
                                             int64_t);
CBNN_INSTANTIATE_BATCHNORM_RELU(float)
CBNN_INSTANTIATE_BATCHNORM_RELU(double)
#undef CBNN_INSTANTIATE_BATCHNORM_RELU

}  // namespace cpu

namespace {

using namespace batchnorm_detail;
using ops::dense;

bool use_cudnn() { return batchnorm_kernels() == BatchNormKernels::cudnn; }

// relu(y + residual) with the unfused ops: the cuDNN path's epilogue.
Tensor add_relu_ops(const Tensor& y, const Tensor& residual) {
    return ops::unary(UnaryOp::relu, residual.defined() ? ops::add(y, residual) : y);
}

// The ReLU's backward with the ops: dy [y > 0] (y stands in for the pre-ReLU sum: same sign).
Tensor mask_ops(const Tensor& y, const Tensor& dy) {
    return ops::unary_backward(UnaryOp::relu, y, y, dy);
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
    if (x_in.is_cuda() && use_cudnn()) {
        BatchNormForward r = batch_norm2d_training(x_in, gamma_in, beta_in, running_mean,
                                                   running_var, momentum, eps);
        r.y = add_relu_ops(r.y, residual_in);
        return r;
    }
    const int64_t N = x_in.size(0), C = x_in.size(1), H = x_in.size(2), W = x_in.size(3);
    const Tensor x = dense(x_in), gamma = dense(gamma_in), beta = dense(beta_in);
    const Tensor residual = residual_in.defined() ? dense(residual_in) : Tensor();
    BatchNormForward r;
    r.y = Tensor::empty(x.shape(), x.dtype(), x.device());
    r.save_mean = Tensor::empty({C}, x.dtype(), x.device());
    r.save_invstd = Tensor::empty({C}, x.dtype(), x.device());
    if (x.is_cuda()) {
        CBNN_ON_CUDA({
            const Tensor scratch = cuda_scratch(N, C, x.device());
            cuda::batchnorm_relu_forward_training(
                x.data<float>(), data_or_null<float>(residual), gamma.data<float>(),
                beta.data<float>(), r.y.data<float>(), running_mean.data<float>(),
                running_var.data<float>(), r.save_mean.data<float>(), r.save_invstd.data<float>(),
                N, C, H, W, momentum, eps, scratch.data<float>());
        });
    } else {
        dispatch_floating(x.dtype(), op, [&]<class T>() {
            cpu::batchnorm_relu_forward_training<T>(
                x.data<T>(), data_or_null<T>(residual), gamma.data<T>(), beta.data<T>(),
                r.y.data<T>(), running_mean.data<T>(), running_var.data<T>(), r.save_mean.data<T>(),
                r.save_invstd.data<T>(), N, C, H, W, momentum, eps);
        });
    }
    running_mean.bump_version();
    running_var.bump_version();
    return r;
}

Tensor batch_norm_relu_inference(const Tensor& x_in, const Tensor& residual_in,
                                 const Tensor& gamma_in, const Tensor& beta_in,
                                 const Tensor& running_mean_in, const Tensor& running_var_in,
                                 double eps) {
    constexpr const char* op = "batch_norm_relu";
    check_inference_inputs(x_in, gamma_in, beta_in, running_mean_in, running_var_in, eps, op);
    if (residual_in.defined()) check_like_x(x_in, residual_in, "residual", op);
    if (x_in.is_cuda() && use_cudnn()) {
        return add_relu_ops(
            batch_norm2d_inference(x_in, gamma_in, beta_in, running_mean_in, running_var_in, eps),
            residual_in);
    }
    const int64_t N = x_in.size(0), C = x_in.size(1), H = x_in.size(2), W = x_in.size(3);
    const Tensor x = dense(x_in), gamma = dense(gamma_in), beta = dense(beta_in);
    const Tensor residual = residual_in.defined() ? dense(residual_in) : Tensor();
    const Tensor running_mean = dense(running_mean_in), running_var = dense(running_var_in);
    Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
    if (x.is_cuda()) {
        CBNN_ON_CUDA(cuda::batchnorm_relu_forward_inference(
            x.data<float>(), data_or_null<float>(residual), gamma.data<float>(), beta.data<float>(),
            running_mean.data<float>(), running_var.data<float>(), y.data<float>(), N, C, H, W,
            eps));
    } else {
        dispatch_floating(x.dtype(), op, [&]<class T>() {
            cpu::batchnorm_relu_forward_inference<T>(
                x.data<T>(), data_or_null<T>(residual), gamma.data<T>(), beta.data<T>(),
                running_mean.data<T>(), running_var.data<T>(), y.data<T>(), N, C, H, W, eps);
        });
    }
    return y;
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
    if (x_in.is_cuda() && use_cudnn()) {
        const Tensor masked = mask_ops(y_in, dy_in);
        BatchNormGrads b =
            batch_norm2d_backward(x_in, masked, gamma_in, save_mean_in, save_invstd_in, eps);
        return {b.dx, b.dgamma, b.dbeta, residual_grad ? masked : Tensor()};
    }
    const int64_t N = x_in.size(0), C = x_in.size(1), H = x_in.size(2), W = x_in.size(3);
    const Tensor x = dense(x_in), y = dense(y_in), dy = dense(dy_in), gamma = dense(gamma_in);
    const Tensor save_mean = dense(save_mean_in), save_invstd = dense(save_invstd_in);
    g.dx = Tensor::empty(x.shape(), x.dtype(), x.device());
    g.dgamma = Tensor::empty({C}, x.dtype(), x.device());
    g.dbeta = Tensor::empty({C}, x.dtype(), x.device());
    if (residual_grad) g.dresidual = Tensor::empty(x.shape(), x.dtype(), x.device());
    if (x.is_cuda()) {
        CBNN_ON_CUDA({
            const Tensor scratch = cuda_scratch(N, C, x.device());
            cuda::batchnorm_relu_backward(
                x.data<float>(), y.data<float>(), dy.data<float>(), gamma.data<float>(),
                save_mean.data<float>(), save_invstd.data<float>(), g.dx.data<float>(),
                g.dgamma.data<float>(), g.dbeta.data<float>(), data_or_null<float>(g.dresidual), N,
                C, H, W, scratch.data<float>());
        });
    } else {
        dispatch_floating(x.dtype(), op, [&]<class T>() {
            cpu::batchnorm_relu_backward<T>(x.data<T>(), y.data<T>(), dy.data<T>(), gamma.data<T>(),
                                            save_mean.data<T>(), save_invstd.data<T>(),
                                            g.dx.data<T>(), g.dgamma.data<T>(), g.dbeta.data<T>(),
                                            data_or_null<T>(g.dresidual), N, C, H, W);
        });
    }
    return g;
}

BatchNormReluGrads batch_norm_relu_backward_inference(const Tensor& x, const Tensor& y,
                                                      const Tensor& dy, const Tensor& gamma,
                                                      const Tensor& mean, const Tensor& invstd,
                                                      bool param_grads, bool residual_grad) {
    constexpr const char* op = "batch_norm_relu_backward";
    check_backward_inputs(x, dy, gamma, mean, invstd, op);
    check_like_x(x, y, "y", op);
    const Tensor masked = mask_ops(y, dy);
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
        if (!x.defined()) x = dy;  // shape and dtype only: dx does not read x
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
