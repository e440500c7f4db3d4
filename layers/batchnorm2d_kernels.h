#pragma once
// The CUDA kernels of batch norm (layers/batchnorm2d.h) and of the fused batch norm + ReLU
// (+ residual) (layers/batchnorm_relu.h). Declared apart from the op headers so that the .cu files
// that define them compile without the Tensor headers (nvcc is slow).
// Math and shapes: in the op headers; the CPU references take the same parameters (less the
// scratch). Layout: the plain names read and write NCHW contiguous activations; the *_nhwc_*
// twins take the same parameters (N, C, H, W are the logical sizes) and read and write
// channels-last activations (strides H W C, 1, W C, C: an (N H W) x C row-major matrix).
//
// A is the activation type (x, y, dy, dx, residual, dresidual): float or bfloat16, instantiated
// for both. gamma, beta, the running and saved statistics, dgamma and dbeta are float in both
// (compute_t<A>): FP32 parameters and statistics under bf16 activations. bf16 values are widened
// on load, everything is computed as for float, and each bf16 output is rounded once.

#include <cstdint>

#include "tensor/bfloat16.h"

namespace cbnn::cuda {

// cuDNN's CUDNN_BATCHNORM_SPATIAL (layers/batchnorm2d_cudnn.cpp); bf16 as CUDNN_DATA_BFLOAT16
// data tensors with CUDNN_DATA_FLOAT per-channel tensors. NCHW, then the NHWC twins.
template <class A>
void cudnn_batchnorm2d_forward_training(const A* x, const float* gamma, const float* beta, A* y,
                                        float* running_mean, float* running_var, float* save_mean,
                                        float* save_invstd, int64_t N, int64_t C, int64_t H,
                                        int64_t W, double momentum, double eps);
template <class A>
void cudnn_batchnorm2d_forward_inference(const A* x, const float* gamma, const float* beta,
                                         const float* running_mean, const float* running_var, A* y,
                                         int64_t N, int64_t C, int64_t H, int64_t W, double eps);
template <class A>
void cudnn_batchnorm2d_backward(const A* x, const A* dy, const float* gamma, const float* save_mean,
                                const float* save_invstd, A* dx, float* dgamma, float* dbeta,
                                int64_t N, int64_t C, int64_t H, int64_t W, double eps);
template <class A>
void cudnn_batchnorm2d_nhwc_forward_training(const A* x, const float* gamma, const float* beta,
                                             A* y, float* running_mean, float* running_var,
                                             float* save_mean, float* save_invstd, int64_t N,
                                             int64_t C, int64_t H, int64_t W, double momentum,
                                             double eps);
template <class A>
void cudnn_batchnorm2d_nhwc_forward_inference(const A* x, const float* gamma, const float* beta,
                                              const float* running_mean, const float* running_var,
                                              A* y, int64_t N, int64_t C, int64_t H, int64_t W,
                                              double eps);
template <class A>
void cudnn_batchnorm2d_nhwc_backward(const A* x, const A* dy, const float* gamma,
                                     const float* save_mean, const float* save_invstd, A* dx,
                                     float* dgamma, float* dbeta, int64_t N, int64_t C, int64_t H,
                                     int64_t W, double eps);

// cbnn's own deterministic kernels (layers/batchnorm2d_cuda.cu); the training forward and the
// backward need device scratch of batchnorm2d_scratch_floats(N, C) floats.
int64_t batchnorm2d_scratch_floats(int64_t N, int64_t C);
template <class A>
void batchnorm2d_forward_training(const A* x, const float* gamma, const float* beta, A* y,
                                  float* running_mean, float* running_var, float* save_mean,
                                  float* save_invstd, int64_t N, int64_t C, int64_t H, int64_t W,
                                  double momentum, double eps, float* scratch);
template <class A>
void batchnorm2d_forward_inference(const A* x, const float* gamma, const float* beta,
                                   const float* running_mean, const float* running_var, A* y,
                                   int64_t N, int64_t C, int64_t H, int64_t W, double eps);
template <class A>
void batchnorm2d_backward(const A* x, const A* dy, const float* gamma, const float* save_mean,
                          const float* save_invstd, A* dx, float* dgamma, float* dbeta, int64_t N,
                          int64_t C, int64_t H, int64_t W, float* scratch);

// The same kernels with the ReLU and the optional residual (nullptr: none) fused in:
// y = relu(bn(x) + residual); the backward masks dy with y > 0 and writes dresidual (nullptr:
// not wanted) = the masked dy.
template <class A>
void batchnorm_relu_forward_training(const A* x, const A* residual, const float* gamma,
                                     const float* beta, A* y, float* running_mean,
                                     float* running_var, float* save_mean, float* save_invstd,
                                     int64_t N, int64_t C, int64_t H, int64_t W, double momentum,
                                     double eps, float* scratch);
template <class A>
void batchnorm_relu_forward_inference(const A* x, const A* residual, const float* gamma,
                                      const float* beta, const float* running_mean,
                                      const float* running_var, A* y, int64_t N, int64_t C,
                                      int64_t H, int64_t W, double eps);
template <class A>
void batchnorm_relu_backward(const A* x, const A* y, const A* dy, const float* gamma,
                             const float* save_mean, const float* save_invstd, A* dx, float* dgamma,
                             float* dbeta, A* dresidual, int64_t N, int64_t C, int64_t H, int64_t W,
                             float* scratch);

// cbnn's own NHWC kernels (layers/batchnorm2d_nhwc_cuda.cu), plain and fused, with the parameters
// of the NCHW ones above; the training forward and the backward need device scratch of
// batchnorm2d_nhwc_scratch_floats(N, C, H, W) floats.
int64_t batchnorm2d_nhwc_scratch_floats(int64_t N, int64_t C, int64_t H, int64_t W);
template <class A>
void batchnorm2d_nhwc_forward_training(const A* x, const float* gamma, const float* beta, A* y,
                                       float* running_mean, float* running_var, float* save_mean,
                                       float* save_invstd, int64_t N, int64_t C, int64_t H,
                                       int64_t W, double momentum, double eps, float* scratch);
template <class A>
void batchnorm2d_nhwc_forward_inference(const A* x, const float* gamma, const float* beta,
                                        const float* running_mean, const float* running_var, A* y,
                                        int64_t N, int64_t C, int64_t H, int64_t W, double eps);
template <class A>
void batchnorm2d_nhwc_backward(const A* x, const A* dy, const float* gamma, const float* save_mean,
                               const float* save_invstd, A* dx, float* dgamma, float* dbeta,
                               int64_t N, int64_t C, int64_t H, int64_t W, float* scratch);
template <class A>
void batchnorm_relu_nhwc_forward_training(const A* x, const A* residual, const float* gamma,
                                          const float* beta, A* y, float* running_mean,
                                          float* running_var, float* save_mean, float* save_invstd,
                                          int64_t N, int64_t C, int64_t H, int64_t W,
                                          double momentum, double eps, float* scratch);
template <class A>
void batchnorm_relu_nhwc_forward_inference(const A* x, const A* residual, const float* gamma,
                                           const float* beta, const float* running_mean,
                                           const float* running_var, A* y, int64_t N, int64_t C,
                                           int64_t H, int64_t W, double eps);
template <class A>
void batchnorm_relu_nhwc_backward(const A* x, const A* y, const A* dy, const float* gamma,
                                  const float* save_mean, const float* save_invstd, A* dx,
                                  float* dgamma, float* dbeta, A* dresidual, int64_t N, int64_t C,
                                  int64_t H, int64_t W, float* scratch);

}  // namespace cbnn::cuda
