#pragma once
// Input checks and helpers shared by the batch-norm op functions (layers/batchnorm2d.cpp) and the
// fused batch norm + ReLU (layers/batchnorm_relu.cpp), so both reject bad input with the same
// messages. Defined in layers/batchnorm2d_common.cpp.

#include <initializer_list>
#include <string>
#include <utility>

#include "tensor/bfloat16.h"
#include "tensor/tensor.h"

namespace cbnn::batchnorm_detail {

// momentum in [0, 1], eps finite and > 0; messages start with `who`.
void check_hyperparameters(double momentum, double eps, const std::string& who);
// The dtype of gamma, beta, the statistics and their gradients for activations of dtype x: f32
// for bf16 (FP32 parameters and statistics under bf16 activations), x's own for f32 and f64.
DType param_dtype(DType x);
// x is (N, C, H, W) with every size >= 1, f32/f64/bf16; each per-channel tensor is (C) of
// param_dtype(x) on x's device.
void check_inputs(const Tensor& x,
                  std::initializer_list<std::pair<const Tensor*, const char*>> per_channel,
                  const char* op);
// A running statistic: contiguous (updated in place) and not requiring grad.
void check_running_stat(const Tensor& t, const char* name, const char* op);
// t has x's shape, dtype and device (dy, a residual, y).
void check_like_x(const Tensor& x, const Tensor& t, const char* name, const char* op);
// Everything the training forward, the inference forward and the backward check (the running
// statistics and hyperparameters included); messages start with op.
void check_training_inputs(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                           const Tensor& running_mean, const Tensor& running_var, double momentum,
                           double eps, const char* op);
void check_inference_inputs(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                            const Tensor& running_mean, const Tensor& running_var, double eps,
                            const char* op);
void check_backward_inputs(const Tensor& x, const Tensor& dy, const Tensor& gamma,
                           const Tensor& save_mean, const Tensor& save_invstd, const char* op);
// The layout the kernels of input x run in: channels_last for a channels-last x on CUDA (cuDNN's
// or cbnn's NHWC kernels), contiguous (NCHW) for everything else. A channels-last x on the CPU
// thus runs the NCHW reference on contiguous copies; the op converts its outputs back to x's
// format (x.memory_format()), so that both devices return the same formats.
MemoryFormat kernel_format(const Tensor& x);
// Device scratch for cbnn's own kernels of x (N, C, H, W) in `format` (CUDA builds), from the
// caching allocator; released when the op returns, which is safe because all cbnn work is queued
// on one stream.
Tensor cuda_scratch(const Tensor& x, MemoryFormat format);
// Stand-in for an x the autograd node did not save (inference backward without parameter
// gradients, which reads only x's shape, dtype, device and format): dy itself when it already has
// x's format, else an uninitialised tensor of it (an allocation from the cache, no copy kernel).
Tensor unsaved_x_like(const Tensor& dy, MemoryFormat x_format);

}  // namespace cbnn::batchnorm_detail
