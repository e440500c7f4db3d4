// cuDNN twins (one of two CUDA choices, layers/batchnorm2d.h) of the BatchNorm2d references
// (layers/batchnorm2d.cpp): CUDNN_BATCHNORM_SPATIAL, f32 NCHW, per-channel (1, C, 1, 1) parameter
// and statistics tensors. cuDNN 9 still ships these (legacy) calls; exponentialAverageFactor =
// momentum gives the running-stat update of the header (cuDNN keeps the unbiased variance in
// running_var, like the reference), and the saved mean and inverse std of the forward feed the
// backward. Alpha 1, beta 0: outputs are overwritten.
#include <climits>

#include "layers/batchnorm2d.h"
#include "tensor/cudnn_context.h"

namespace cbnn::cuda {

namespace {

int as_int(int64_t v, const char* what) {
    CBNN_CHECK(v <= INT_MAX, "batch_norm2d (cuDNN): ", what, " = ", v, " exceeds ", INT_MAX);
    return static_cast<int>(v);
}

class TensorDescriptor {
  public:
    TensorDescriptor(int64_t n, int64_t c, int64_t h, int64_t w) {
        const int dims[4] = {as_int(n, "N"), as_int(c, "C"), as_int(h, "H"), as_int(w, "W")};
        CBNN_CUDNN_CHECK(cudnnCreateTensorDescriptor(&desc_));
        const cudnnStatus_t status = cudnnSetTensor4dDescriptor(
            desc_, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, dims[0], dims[1], dims[2], dims[3]);
        if (status != CUDNN_STATUS_SUCCESS) {
            CBNN_CUDNN_CHECK_NOTHROW(cudnnDestroyTensorDescriptor(desc_));
            throw_cudnn_error(status, "cudnnSetTensor4dDescriptor", __FILE__, __LINE__);
        }
    }
    ~TensorDescriptor() { CBNN_CUDNN_CHECK_NOTHROW(cudnnDestroyTensorDescriptor(desc_)); }
    TensorDescriptor(const TensorDescriptor&) = delete;
    TensorDescriptor& operator=(const TensorDescriptor&) = delete;
    operator cudnnTensorDescriptor_t() const { return desc_; }

  private:
    cudnnTensorDescriptor_t desc_ = nullptr;
};

// The data tensor (N, C, H, W) and the per-channel tensor (1, C, 1, 1) of one call.
struct Descriptors {
    Descriptors(int64_t N, int64_t C, int64_t H, int64_t W) : x(N, C, H, W), channel(1, C, 1, 1) {}
    TensorDescriptor x, channel;
};

constexpr float kOne = 1.0f, kZero = 0.0f;

}  // namespace

void cudnn_batchnorm2d_forward_training(const float* x, const float* gamma, const float* beta,
                                        float* y, float* running_mean, float* running_var,
                                        float* save_mean, float* save_invstd, int64_t N, int64_t C,
                                        int64_t H, int64_t W, double momentum, double eps) {
    const Descriptors d(N, C, H, W);
    CBNN_CUDNN_CHECK(cudnnBatchNormalizationForwardTraining(
        cudnn_handle(), CUDNN_BATCHNORM_SPATIAL, &kOne, &kZero, d.x, x, d.x, y, d.channel, gamma,
        beta, momentum, running_mean, running_var, eps, save_mean, save_invstd));
}

void cudnn_batchnorm2d_forward_inference(const float* x, const float* gamma, const float* beta,
                                         const float* running_mean, const float* running_var,
                                         float* y, int64_t N, int64_t C, int64_t H, int64_t W,
                                         double eps) {
    const Descriptors d(N, C, H, W);
    CBNN_CUDNN_CHECK(cudnnBatchNormalizationForwardInference(
        cudnn_handle(), CUDNN_BATCHNORM_SPATIAL, &kOne, &kZero, d.x, x, d.x, y, d.channel, gamma,
        beta, running_mean, running_var, eps));
}

void cudnn_batchnorm2d_backward(const float* x, const float* dy, const float* gamma,
                                const float* save_mean, const float* save_invstd, float* dx,
                                float* dgamma, float* dbeta, int64_t N, int64_t C, int64_t H,
                                int64_t W, double eps) {
    const Descriptors d(N, C, H, W);
    CBNN_CUDNN_CHECK(cudnnBatchNormalizationBackward(
        cudnn_handle(), CUDNN_BATCHNORM_SPATIAL, &kOne, &kZero, &kOne, &kZero, d.x, x, d.x, dy, d.x,
        dx, d.channel, gamma, dgamma, dbeta, eps, save_mean, save_invstd));
}

}  // namespace cbnn::cuda
