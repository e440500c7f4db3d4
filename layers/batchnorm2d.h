#pragma once
// Batch normalisation of NCHW activations, one set of statistics per channel (cuDNN's spatial
// mode). Sums and means below run over the n = N*H*W elements of a channel.
//
// training  mean = (1/n) sum x,  var = (1/n) sum (x - mean)^2   (biased, used to normalise)
//           invstd = 1/sqrt(var + eps),  xhat = (x - mean) invstd,  y = gamma xhat + beta
//           running_mean <- (1 - m) running_mean + m mean
//           running_var  <- (1 - m) running_var  + m var * n/(n - 1)   (unbiased: the PyTorch,
//           cuDNN and TF fused-batch-norm convention; TF's non-fused path keeps the biased var, a
//           factor n/(n-1) apart, 1.00012 for a ResNet-32 batch of 128 x 8 x 8)
//           m = momentum = 1 - decay (PAPER.md 3.1: decay 0.9, eps 1e-5). n = 1 is an error.
//           mean and invstd are saved for the backward:
//           dx = gamma invstd (dy - mean(dy) - xhat mean(dy xhat)),
//           dgamma = sum dy xhat,  dbeta = sum dy
// inference y = gamma (x - running_mean) / sqrt(running_var + eps) + beta  (no update);
//           an affine map of x, so dx = gamma invstd_running dy, dgamma = sum dy xhat_running,
//           dbeta = sum dy (composed from elementwise ops and sums in batchnorm2d.cpp)
//
// Layout: x, y, dy, dx (N, C, H, W), NCHW or channels-last (NHWC strides, tensor/memory_format.h);
// y and dx take x's format (x.memory_format()), dy is brought to it (ops::dense), any other
// layout is copied to NCHW first. A channels-last x on CUDA runs NHWC kernels (no transposes:
// cuDNN's with NHWC descriptors, or cbnn's layers/batchnorm2d_nhwc_cuda.cu); on the CPU the NCHW
// reference (the cpu:: functions below take NCHW contiguous data) runs on NCHW copies and the
// outputs are converted back, bitwise the NCHW results. gamma, beta, running and saved statistics
// (C), contiguous.
// Dtypes: x, y, dy, dx one dtype: f32, f64 (CPU only) or bf16. gamma, beta, the running and saved
// statistics, dgamma and dbeta: x's dtype for f32 and f64, f32 for bf16 (mixed precision: FP32
// parameters and statistics under bf16 activations); anything else is one error naming the
// tensor and both dtypes. bf16 values are widened; statistics and sums accumulate in double (CPU)
// or f32 (CUDA); each bf16 output is the f32 result rounded once (on the CPU bitwise the f32
// reference's result on the same values, rounded: layers/batchnorm2d_reference.h).
// The CPU reference accumulates in double. Two CUDA twins, f32 or bf16, chosen by
// set_batchnorm_kernels (below): cuDNN's CUDNN_BATCHNORM_SPATIAL API with exponentialAverageFactor
// = momentum (cuda::cudnn_batchnorm2d_*, batchnorm2d_cudnn.cpp) and cbnn's own deterministic
// kernels (cuda::batchnorm2d_*, batchnorm2d_cuda.cu; NHWC: batchnorm2d_nhwc_cuda.cu), which need
// device scratch; all declared in layers/batchnorm2d_kernels.h.
// BN followed by ReLU (and a residual add) has a fused op: layers/batchnorm_relu.h.

#include <cstdint>
#include <string>

#include "layers/batchnorm2d_kernels.h"
#include "layers/module.h"
#include "tensor/bfloat16.h"
#include "tensor/scoped_setting.h"
#include "tensor/tensor.h"

namespace cbnn {

namespace cpu {
// T: f32, f64 or bf16 activations; gamma, beta and the statistics in compute_t<T> (f32 for bf16).
template <class T>
void batchnorm2d_forward_training(const T* x, const compute_t<T>* gamma, const compute_t<T>* beta,
                                  T* y, compute_t<T>* running_mean, compute_t<T>* running_var,
                                  compute_t<T>* save_mean, compute_t<T>* save_invstd, int64_t N,
                                  int64_t C, int64_t H, int64_t W, double momentum, double eps);
template <class T>
void batchnorm2d_forward_inference(const T* x, const compute_t<T>* gamma, const compute_t<T>* beta,
                                   const compute_t<T>* running_mean,
                                   const compute_t<T>* running_var, T* y, int64_t N, int64_t C,
                                   int64_t H, int64_t W, double eps);
template <class T>
void batchnorm2d_backward(const T* x, const T* dy, const compute_t<T>* gamma,
                          const compute_t<T>* save_mean, const compute_t<T>* save_invstd, T* dx,
                          compute_t<T>* dgamma, compute_t<T>* dbeta, int64_t N, int64_t C,
                          int64_t H, int64_t W, double eps);
}  // namespace cpu

// Which CUDA kernels run batch norm (no effect on the CPU): cbnn's own (the default) or cuDNN's.
// cbnn's by default because on an H100 (2026-11-27, bench_norm_pool, batch 128) they took less
// time than cuDNN's summed over the ResNet shapes in every dtype and layout (forward + backward,
// f32 NCHW: 3.4 against 6.1 ms; with NHWC data cuDNN's took 30-40x longer), slower only on a few
// small or wide bf16 NCHW shapes.
enum class BatchNormKernels { cudnn, cbnn };
void set_batchnorm_kernels(BatchNormKernels kernels);
BatchNormKernels batchnorm_kernels();
// "cudnn" | "cbnn"; anything else throws naming the value.
BatchNormKernels parse_batchnorm_kernels(const std::string& name);
// Whether cuDNN refused batch norm on this dtype and layout in this process (its calls then run
// cbnn's kernels, layers/cudnn_fallback.h): for reports that name the kernels that ran.
bool batchnorm_cudnn_refused(DType dtype, MemoryFormat format);

// Sets the kernels for a scope (tensor/scoped_setting.h).
using BatchNormKernelsSetting =
    ScopedSetting<BatchNormKernels, batchnorm_kernels, set_batchnorm_kernels>;

namespace ops {
struct BatchNormForward {
    Tensor y;            // (N, C, H, W) in x's format
    Tensor save_mean;    // (C) batch mean
    Tensor save_invstd;  // (C) 1/sqrt(var + eps) of the batch
};
struct BatchNormGrads {
    Tensor dx, dgamma, dbeta;
};
// Updates running_mean and running_var in place (they must not require grad).
BatchNormForward batch_norm2d_training(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                       const Tensor& running_mean, const Tensor& running_var,
                                       double momentum, double eps);
Tensor batch_norm2d_inference(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                              const Tensor& running_mean, const Tensor& running_var, double eps);
// Training-mode backward from the saved batch statistics.
BatchNormGrads batch_norm2d_backward(const Tensor& x, const Tensor& dy, const Tensor& gamma,
                                     const Tensor& save_mean, const Tensor& save_invstd,
                                     double eps);
// Inference-mode backward; mean and invstd are those of the running statistics (save_invstd =
// 1/sqrt(running_var + eps)). dgamma and dbeta only when param_grads.
BatchNormGrads batch_norm2d_backward_inference(const Tensor& x, const Tensor& dy,
                                               const Tensor& gamma, const Tensor& save_mean,
                                               const Tensor& save_invstd, bool param_grads);
// The statistics an inference-mode backward reads, as copies of the buffers: mean =
// running_mean, invstd = 1/sqrt(running_var + eps).
struct BatchNormStats {
    Tensor mean, invstd;
};
BatchNormStats batch_norm2d_running_stats(const Tensor& running_mean, const Tensor& running_var,
                                          double eps);
}  // namespace ops

// Differentiable in x, gamma and beta. Training mode normalises with the batch statistics and
// updates the running ones in place; inference mode normalises with the running statistics.
Tensor batch_norm2d(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                    const Tensor& running_mean, const Tensor& running_var, bool training,
                    double momentum, double eps);

// Parameters "weight" (gamma, ones) and "bias" (beta, zeros); buffers "running_mean" (zeros) and
// "running_var" (ones); f32 on the CPU until moved with to(device). Uses the batch statistics in
// training mode (Module::train) and the running ones in eval mode.
class BatchNorm2d : public Layer {
  public:
    // Parameters and buffers are created on the CPU in `dtype` (f32, or f64 for gradient checks;
    // not bf16: a bf16 input keeps them f32).
    explicit BatchNorm2d(int64_t channels, double momentum = 0.1, double eps = 1e-5,
                         DType dtype = DType::f32);
    std::string type_name() const override { return "BatchNorm2d"; }
    Tensor forward(const Tensor& x) override;
    // relu(forward(x) + residual) as one fused op (layers/batchnorm_relu.h); residual may be
    // undefined (no add). Same parameters, buffers and modes as forward.
    Tensor forward_relu(const Tensor& x, const Tensor& residual = Tensor());

    int64_t channels() const { return channels_; }
    double momentum() const { return momentum_; }
    double eps() const { return eps_; }
    const Tensor& weight() const { return weight_; }
    const Tensor& bias() const { return bias_; }
    const Tensor& running_mean() const { return running_mean_; }
    const Tensor& running_var() const { return running_var_; }

  private:
    void check_input(const Tensor& x) const;

    int64_t channels_;
    double momentum_, eps_;
    Tensor weight_, bias_, running_mean_, running_var_;
};

}  // namespace cbnn
