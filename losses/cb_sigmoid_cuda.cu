// CUDA twin of losses/cb_sigmoid.cpp: one streaming pass per row (losses/cb_rows_cuda.cuh),
// element formulas from losses/loss_math.h, the final sum in the same launch.
#include "losses/cb_rows_cuda.cuh"
#include "losses/cb_sigmoid.h"
#include "losses/loss_math.h"

namespace cbnn::cuda {

namespace {
struct SigmoidTerm {
    __device__ __forceinline__ loss_math::Term<float> operator()(float z, bool target) const {
        return loss_math::bce_term<float, FastDeviceMath>(z, target);
    }
};
}  // namespace

void cb_sigmoid_loss(const float* logits, const int64_t* labels, const float* weights, int64_t N,
                     int64_t C, float* row_loss, float* loss, float* dlogits) {
    launch_binary_rows(logits, labels, weights, N, C, SigmoidTerm{}, row_loss, loss, dlogits);
}

}  // namespace cbnn::cuda
