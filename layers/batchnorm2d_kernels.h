#pragma once
// The CUDA kernels of batch norm (layers/batchnorm2d.h) and of the fused batch norm + ReLU
// (+ residual) (layers/batchnorm_relu.h), f32 NCHW contiguous. Declared apart from the op headers
// so that the .cu files that define them compile without the Tensor headers (nvcc is slow).
// Math, shapes and layout: in the op headers; the CPU references take the same parameters (less
// the scratch).

#include <cstdint>

namespace cbnn::cuda {

// cuDNN's CUDNN_BATCHNORM_SPATIAL (layers/batchnorm2d_cudnn.cpp).
void cudnn_batchnorm2d_forward_training(const float* x, const float* gamma, const float* beta,
                                        float* y, float* running_mean, float* running_var,
                                        float* save_mean, float* save_invstd, int64_t N, int64_t C,
                                        int64_t H, int64_t W, double momentum, double eps);
void cudnn_batchnorm2d_forward_inference(const float* x, const float* gamma, const float* beta,
                                         const float* running_mean, const float* running_var,
                                         float* y, int64_t N, int64_t C, int64_t H, int64_t W,
                                         double eps);
void cudnn_batchnorm2d_backward(const float* x, const float* dy, const float* gamma,
                                const float* save_mean, const float* save_invstd, float* dx,
                                float* dgamma, float* dbeta, int64_t N, int64_t C, int64_t H,
                                int64_t W, double eps);

// cbnn's own deterministic kernels (layers/batchnorm2d_cuda.cu); the training forward and the
// backward need device scratch of batchnorm2d_scratch_floats(N, C) floats.
int64_t batchnorm2d_scratch_floats(int64_t N, int64_t C);
void batchnorm2d_forward_training(const float* x, const float* gamma, const float* beta, float* y,
                                  float* running_mean, float* running_var, float* save_mean,
                                  float* save_invstd, int64_t N, int64_t C, int64_t H, int64_t W,
                                  double momentum, double eps, float* scratch);
void batchnorm2d_forward_inference(const float* x, const float* gamma, const float* beta,
                                   const float* running_mean, const float* running_var, float* y,
                                   int64_t N, int64_t C, int64_t H, int64_t W, double eps);
void batchnorm2d_backward(const float* x, const float* dy, const float* gamma,
                          const float* save_mean, const float* save_invstd, float* dx,
                          float* dgamma, float* dbeta, int64_t N, int64_t C, int64_t H, int64_t W,
                          float* scratch);

// The same kernels with the ReLU and the optional residual (nullptr: none) fused in:
// y = relu(bn(x) + residual); the backward masks dy with y > 0 and writes dresidual (nullptr:
// not wanted) = the masked dy.
void batchnorm_relu_forward_training(const float* x, const float* residual, const float* gamma,
                                     const float* beta, float* y, float* running_mean,
                                     float* running_var, float* save_mean, float* save_invstd,
                                     int64_t N, int64_t C, int64_t H, int64_t W, double momentum,
                                     double eps, float* scratch);
void batchnorm_relu_forward_inference(const float* x, const float* residual, const float* gamma,
                                      const float* beta, const float* running_mean,
                                      const float* running_var, float* y, int64_t N, int64_t C,
                                      int64_t H, int64_t W, double eps);
void batchnorm_relu_backward(const float* x, const float* y, const float* dy, const float* gamma,
                             const float* save_mean, const float* save_invstd, float* dx,
                             float* dgamma, float* dbeta, float* dresidual, int64_t N, int64_t C,
                             int64_t H, int64_t W, float* scratch);

}  // namespace cbnn::cuda
