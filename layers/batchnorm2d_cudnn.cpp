// cuDNN twins (one of two CUDA choices, layers/batchnorm2d.h) of the BatchNorm2d references
// (layers/batchnorm2d.cpp): CUDNN_BATCHNORM_SPATIAL, per-channel (1, C, 1, 1) parameter and
// statistics tensors, activations NCHW (cudnn_batchnorm2d_*) or channels-last
// (cudnn_batchnorm2d_nhwc_*: the same calls with CUDNN_TENSOR_NHWC data descriptors; the legacy
// batch-norm API documents no layout restriction for SPATIAL mode, and PyTorch's cuDNN batch norm
// passes it channels-last tensors; not yet run on a GPU from this branch). cuDNN 9 still ships
// these (legacy) calls; exponentialAverageFactor = momentum gives the running-stat update of the
// header (cuDNN keeps the unbiased variance in running_var, like the reference), and the saved mean
// and inverse std of the forward feed the backward. Alpha 1, beta 0: outputs are overwritten.
//
// bf16 activations: x, y, dy, dx are described as CUDNN_DATA_BFLOAT16 while the per-channel
// tensor (gamma, beta, running and saved statistics, dgamma, dbeta) stays CUDNN_DATA_FLOAT, the
// legacy batch-norm API's PSEUDO_BFLOAT16_CONFIG (like its PSEUDO_HALF_CONFIG for fp16: half-width
// data, float parameters and compute). Sources: NVIDIA's TensorFlow change enabling bf16
// FusedBatchNorm on cuDNN with f32 scale/offset (tensorflow/tensorflow#58512, Ampere or newer;
// H100/H200 qualify) and NNlib.jl's bf16 cuDNN batch norm, which requires f32 scale, bias and
// statistics for half-width data (FluxML/NNlib.jl#747). Not yet run on a GPU from this branch.
//
// NHWC keeps CUDNN_BATCHNORM_SPATIAL. CUDNN_BATCHNORM_SPATIAL_PERSISTENT has faster NHWC kernels
// (PyTorch picks it for channels-last training), but cudnn_ops_v9.h says it "imposes some limits
// on the range of values", and cuDNN's documentation describes overflow to Inf/NaN that only
// cudnnQueryRuntimeError reports: a host sync per step, which the CUDA-graph training step cannot
// have. (The documentation scopes that overflow to the mode's NCHW variant; not checked.) Left as
// an option to measure with bench/bench_norm_pool.cpp's NHWC cases before switching.

#include "layers/batchnorm2d.h"
#include "tensor/cudnn_context.h"
#include "tensor/cudnn_descriptors.h"

namespace cbnn::cuda {

namespace {

constexpr const char* kWhat = "batch_norm2d (cuDNN)";  // names the op in descriptor errors

// The data tensor (N, C, H, W) of element type A in `format` and the f32 per-channel tensor
// (1, C, 1, 1) of one call.
template <class A>
struct Descriptors {
    static constexpr cudnnDataType_t kData = is_bf16_v<A> ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT;
    Descriptors(cudnnTensorFormat_t format, int64_t N, int64_t C, int64_t H, int64_t W)
        : x(kWhat, format, kData, N, C, H, W),
          channel(kWhat, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, C, 1, 1) {}
    CudnnTensorDescriptor x, channel;
};

constexpr float kOne = 1.0f, kZero = 0.0f;

template <class A>
void forward_training(cudnnTensorFormat_t format, const A* x, const float* gamma, const float* beta,
                      A* y, float* running_mean, float* running_var, float* save_mean,
                      float* save_invstd, int64_t N, int64_t C, int64_t H, int64_t W,
                      double momentum, double eps) {
    const Descriptors<A> d(format, N, C, H, W);
    CBNN_CUDNN_CHECK(cudnnBatchNormalizationForwardTraining(
        cudnn_handle(), CUDNN_BATCHNORM_SPATIAL, &kOne, &kZero, d.x.get(), x, d.x.get(), y,
        d.channel.get(), gamma, beta, momentum, running_mean, running_var, eps, save_mean,
        save_invstd));
}

template <class A>
void forward_inference(cudnnTensorFormat_t format, const A* x, const float* gamma,
                       const float* beta, const float* running_mean, const float* running_var, A* y,
                       int64_t N, int64_t C, int64_t H, int64_t W, double eps) {
    const Descriptors<A> d(format, N, C, H, W);
    CBNN_CUDNN_CHECK(cudnnBatchNormalizationForwardInference(
        cudnn_handle(), CUDNN_BATCHNORM_SPATIAL, &kOne, &kZero, d.x.get(), x, d.x.get(), y,
        d.channel.get(), gamma, beta, running_mean, running_var, eps));
}

template <class A>
void backward(cudnnTensorFormat_t format, const A* x, const A* dy, const float* gamma,
              const float* save_mean, const float* save_invstd, A* dx, float* dgamma, float* dbeta,
              int64_t N, int64_t C, int64_t H, int64_t W, double eps) {
    const Descriptors<A> d(format, N, C, H, W);
    CBNN_CUDNN_CHECK(cudnnBatchNormalizationBackward(cudnn_handle(), CUDNN_BATCHNORM_SPATIAL, &kOne,
                                                     &kZero, &kOne, &kZero, d.x.get(), x, d.x.get(),
                                                     dy, d.x.get(), dx, d.channel.get(), gamma,
                                                     dgamma, dbeta, eps, save_mean, save_invstd));
}

}  // namespace

template <class A>
void cudnn_batchnorm2d_forward_training(const A* x, const float* gamma, const float* beta, A* y,
                                        float* running_mean, float* running_var, float* save_mean,
                                        float* save_invstd, int64_t N, int64_t C, int64_t H,
                                        int64_t W, double momentum, double eps) {
    forward_training(CUDNN_TENSOR_NCHW, x, gamma, beta, y, running_mean, running_var, save_mean,
                     save_invstd, N, C, H, W, momentum, eps);
}

template <class A>
void cudnn_batchnorm2d_nhwc_forward_training(const A* x, const float* gamma, const float* beta,
                                             A* y, float* running_mean, float* running_var,
                                             float* save_mean, float* save_invstd, int64_t N,
                                             int64_t C, int64_t H, int64_t W, double momentum,
                                             double eps) {
    forward_training(CUDNN_TENSOR_NHWC, x, gamma, beta, y, running_mean, running_var, save_mean,
                     save_invstd, N, C, H, W, momentum, eps);
}

template <class A>
void cudnn_batchnorm2d_forward_inference(const A* x, const float* gamma, const float* beta,
                                         const float* running_mean, const float* running_var, A* y,
                                         int64_t N, int64_t C, int64_t H, int64_t W, double eps) {
    forward_inference(CUDNN_TENSOR_NCHW, x, gamma, beta, running_mean, running_var, y, N, C, H, W,
                      eps);
}

template <class A>
void cudnn_batchnorm2d_nhwc_forward_inference(const A* x, const float* gamma, const float* beta,
                                              const float* running_mean, const float* running_var,
                                              A* y, int64_t N, int64_t C, int64_t H, int64_t W,
                                              double eps) {
    forward_inference(CUDNN_TENSOR_NHWC, x, gamma, beta, running_mean, running_var, y, N, C, H, W,
                      eps);
}

template <class A>
void cudnn_batchnorm2d_backward(const A* x, const A* dy, const float* gamma, const float* save_mean,
                                const float* save_invstd, A* dx, float* dgamma, float* dbeta,
                                int64_t N, int64_t C, int64_t H, int64_t W, double eps) {
    backward(CUDNN_TENSOR_NCHW, x, dy, gamma, save_mean, save_invstd, dx, dgamma, dbeta, N, C, H, W,
             eps);
}

template <class A>
void cudnn_batchnorm2d_nhwc_backward(const A* x, const A* dy, const float* gamma,
                                     const float* save_mean, const float* save_invstd, A* dx,
                                     float* dgamma, float* dbeta, int64_t N, int64_t C, int64_t H,
                                     int64_t W, double eps) {
    backward(CUDNN_TENSOR_NHWC, x, dy, gamma, save_mean, save_invstd, dx, dgamma, dbeta, N, C, H, W,
             eps);
}

// The NCHW (LAYOUT empty) or NHWC (LAYOUT nhwc_) functions for activations A.
#define CBNN_INSTANTIATE_BN_CUDNN(A, LAYOUT)                                                       \
    template void cudnn_batchnorm2d_##LAYOUT##forward_training<A>(                                 \
        const A*, const float*, const float*, A*, float*, float*, float*, float*, int64_t,         \
        int64_t, int64_t, int64_t, double, double);                                                \
    template void cudnn_batchnorm2d_##LAYOUT##forward_inference<A>(                                \
        const A*, const float*, const float*, const float*, const float*, A*, int64_t, int64_t,    \
        int64_t, int64_t, double);                                                                 \
    template void cudnn_batchnorm2d_##LAYOUT##backward<A>(                                         \
        const A*, const A*, const float*, const float*, const float*, A*, float*, float*, int64_t, \
        int64_t, int64_t, int64_t, double);
CBNN_INSTANTIATE_BN_CUDNN(float, )
CBNN_INSTANTIATE_BN_CUDNN(bfloat16, )
CBNN_INSTANTIATE_BN_CUDNN(float, nhwc_)
CBNN_INSTANTIATE_BN_CUDNN(bfloat16, nhwc_)
#undef CBNN_INSTANTIATE_BN_CUDNN

}  // namespace cbnn::cuda
