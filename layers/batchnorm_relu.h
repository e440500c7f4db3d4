#pragma once
// Batch norm + ReLU (+ residual add) as one op, the tail of every ResNet conv unit:
//
//   y = relu(bn(x) + residual)        residual optional (then y = relu(bn(x)))
//
// bn exactly as in layers/batchnorm2d.h (training: batch statistics, running-stat update, saved
// mean and invstd; inference: running statistics). In the CPU reference bn(x) is rounded to T,
// then the residual is added in T, then the ReLU: bitwise the composition of the unfused ops
// relu(batch_norm2d(x) + residual), forward and backward.
// Backward, with the mask from the output (y > 0 exactly where bn(x) + residual > 0):
//   g = dy [y > 0],  dresidual = g,  (dx, dgamma, dbeta) = batch-norm backward of g
//   (training or inference form of layers/batchnorm2d.h).
// Saved for the backward: x, y, gamma and the statistics, not the pre-ReLU sum: the ResNet block's
// next conv keeps y anyway, so the fusion drops one full activation tensor per unit from the graph.
//
// Layout: x, residual, y, dy, dx, dresidual (N, C, H, W), NCHW or channels-last; y, dx and
// dresidual take x's format, residual, y and dy are brought to it, as in layers/batchnorm2d.h
// (CUDA: NHWC kernels for a channels-last x; CPU: the NCHW reference on NCHW copies, outputs
// converted back). gamma, beta, statistics (C).
// Dtypes as in layers/batchnorm2d.h (bf16 activations with f32 parameters and statistics). For
// bf16 the sum bn(x) + residual and the ReLU are computed in f32 and y is rounded once, so a bf16
// y is the f32 op's y rounded (CPU: bitwise), not relu(bf16(bf16(bn(x)) + residual)).
// CPU reference in f32/f64/bf16 (accumulating in double); CUDA f32 or bf16: bf16 always runs
// cbnn's fused kernels (one rounding, one pass), whatever set_batchnorm_kernels says. For f32,
// with BatchNormKernels::cbnn cbnn's own kernels do the ReLU and the add inside the normalisation
// pass and the mask inside the backward's passes (layers/batchnorm2d_cuda.cu, NHWC:
// layers/batchnorm2d_nhwc_cuda.cu); with
// BatchNormKernels::cudnn cuDNN's batch norm is composed with the relu and add ops, because
// cuDNN's fused BN-activation call (cudnnBatchNormalizationForwardTrainingEx, deprecated in
// cuDNN 9) accepts only NHWC fp16 in CUDNN_BATCHNORM_SPATIAL_PERSISTENT mode with C % 4 == 0
// (requirements as listed in tensorflow/tensorflow#50914), neither f32 nor bf16 in either layout.

#include <cstdint>

#include "layers/batchnorm2d.h"
#include "layers/batchnorm2d_kernels.h"
#include "tensor/tensor.h"

namespace cbnn {

namespace cpu {
// residual and dresidual may be nullptr (no residual / its gradient not wanted). T: f32, f64 or
// bf16 activations; gamma, beta and the statistics in compute_t<T> (f32 for bf16).
template <class T>
void batchnorm_relu_forward_training(const T* x, const T* residual, const compute_t<T>* gamma,
                                     const compute_t<T>* beta, T* y, compute_t<T>* running_mean,
                                     compute_t<T>* running_var, compute_t<T>* save_mean,
                                     compute_t<T>* save_invstd, int64_t N, int64_t C, int64_t H,
                                     int64_t W, double momentum, double eps);
template <class T>
void batchnorm_relu_forward_inference(const T* x, const T* residual, const compute_t<T>* gamma,
                                      const compute_t<T>* beta, const compute_t<T>* running_mean,
                                      const compute_t<T>* running_var, T* y, int64_t N, int64_t C,
                                      int64_t H, int64_t W, double eps);
template <class T>
void batchnorm_relu_backward(const T* x, const T* y, const T* dy, const compute_t<T>* gamma,
                             const compute_t<T>* save_mean, const compute_t<T>* save_invstd, T* dx,
                             compute_t<T>* dgamma, compute_t<T>* dbeta, T* dresidual, int64_t N,
                             int64_t C, int64_t H, int64_t W);
}  // namespace cpu

namespace ops {
struct BatchNormReluGrads {
    Tensor dx, dgamma, dbeta, dresidual;  // dresidual only when asked for
};
// An undefined residual means none. Updates running_mean and running_var in place.
BatchNormForward batch_norm_relu_training(const Tensor& x, const Tensor& residual,
                                          const Tensor& gamma, const Tensor& beta,
                                          const Tensor& running_mean, const Tensor& running_var,
                                          double momentum, double eps);
Tensor batch_norm_relu_inference(const Tensor& x, const Tensor& residual, const Tensor& gamma,
                                 const Tensor& beta, const Tensor& running_mean,
                                 const Tensor& running_var, double eps);
// Training-mode backward from y (the forward's output) and the saved batch statistics.
BatchNormReluGrads batch_norm_relu_backward(const Tensor& x, const Tensor& y, const Tensor& dy,
                                            const Tensor& gamma, const Tensor& save_mean,
                                            const Tensor& save_invstd, double eps,
                                            bool residual_grad);
// Inference-mode backward; mean and invstd from ops::batch_norm2d_running_stats. dgamma and dbeta
// only when param_grads; x is not read unless param_grads.
BatchNormReluGrads batch_norm_relu_backward_inference(const Tensor& x, const Tensor& y,
                                                      const Tensor& dy, const Tensor& gamma,
                                                      const Tensor& mean, const Tensor& invstd,
                                                      bool param_grads, bool residual_grad);
}  // namespace ops

// Differentiable in x, gamma, beta and residual (which may be undefined: no add).
Tensor batch_norm_relu(const Tensor& x, const Tensor& residual, const Tensor& gamma,
                       const Tensor& beta, const Tensor& running_mean, const Tensor& running_var,
                       bool training, double momentum, double eps);

}  // namespace cbnn
