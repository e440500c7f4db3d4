// CUDA twin of losses/cb_focal.cpp: one streaming pass per row (losses/cb_rows_cuda.cuh),
// element formulas (logit-space modulator, closed-form gradient) from losses/loss_math.h, the
// final sum in the same launch.
#include "losses/cb_focal.h"
#include "losses/cb_rows_cuda.cuh"
#include "losses/loss_math.h"

namespace cbnn::cuda {

namespace {
struct FocalTerm {
    float gamma;
    __device__ __forceinline__ loss_math::Term<float> operator()(float z, bool target) const {
        return loss_math::focal_term<float, FastDeviceMath>(z, target, gamma);
    }
};
}  // namespace

void cb_focal_loss(const float* logits, const int64_t* labels, const float* weights, int64_t N,
                   int64_t C, float gamma, float* row_loss, float* loss, float* dlogits) {
    CBNN_CHECK(gamma >= 0.f && gamma <= 3.4e38f,
               "focal loss: gamma must be a finite number >= 0, got ", gamma);
    launch_binary_rows(logits, labels, weights, N, C, FocalTerm{gamma}, row_loss, loss, dlogits);
}

}  // namespace cbnn::cuda
