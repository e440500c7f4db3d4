// CUDA twin of cpu::sgd_update (train/sgd.cpp): one thread per element (grid-stride), the formula
// from sgd_update_element (train/sgd.h).
#include "tensor/cuda_check.h"
#include "tensor/cuda_context.h"
#include "train/sgd.h"

namespace cbnn::cuda {

namespace {
constexpr int kBlock = 256;

__global__ void sgd_update_kernel(float* __restrict__ p, const float* __restrict__ g,
                                  float* __restrict__ v, int64_t n, float lr, float momentum,
                                  float wd, bool nesterov) {
    for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
         i += int64_t{gridDim.x} * blockDim.x) {
        float pi = p[i];
        float vi = v[i];
        sgd_update_element(pi, g[i], vi, lr, momentum, wd, nesterov);
        p[i] = pi;
        v[i] = vi;
    }
}
}  // namespace

void sgd_update(float* p, const float* g, float* v, int64_t n, float lr, float momentum, float wd,
                bool nesterov) {
    if (n == 0) return;
    sgd_update_kernel<<<grid_for(n, kBlock), kBlock, 0, current_stream()>>>(p, g, v, n, lr,
                                                                            momentum, wd, nesterov);
    CBNN_CUDA_LAUNCH_CHECK();
}

}  // namespace cbnn::cuda
