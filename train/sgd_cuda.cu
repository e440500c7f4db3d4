// CUDA twins of cpu::sgd_update (train/sgd.cpp): one thread per element (grid-stride), the formula
// from sgd_update_element (train/sgd.h); one parameter per launch, or a list of them.
#include <algorithm>

#include "tensor/cuda_check.h"
#include "tensor/cuda_context.h"
#include "train/sgd.h"

namespace cbnn::cuda {

namespace {
constexpr int kBlock = 256;

// The block's share of one parameter: grid-stride over the x dimension of the grid.
__device__ void sgd_update_strided(float* __restrict__ p, const float* __restrict__ g,
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

__global__ void sgd_update_kernel(float* __restrict__ p, const float* __restrict__ g,
                                  float* __restrict__ v, int64_t n, float lr, float momentum,
                                  float wd, bool nesterov) {
    sgd_update_strided(p, g, v, n, lr, momentum, wd, nesterov);
}

// Block row blockIdx.y updates parameter blockIdx.y; the row's blocks stride over its elements.
// Rows are as wide as the largest parameter needs (capped), so rows of small parameters finish
// at once: idle blocks cost a few cycles, a launch per parameter costs microseconds.
__global__ void sgd_update_multi_kernel(SgdTensorList list, const float* __restrict__ lr,
                                        float momentum, bool nesterov) {
    const int t = blockIdx.y;
    sgd_update_strided(list.p[t], list.g[t], list.v[t], list.n[t], *lr, momentum,
                       list.weight_decay[t], nesterov);
}

// Blocks per parameter row: enough for ~8 elements per thread on the largest parameter.
constexpr int64_t kMaxBlocksPerRow = 256;
}  // namespace

void sgd_update_multi(const SgdTensorList& list, const float* lr, float momentum, bool nesterov) {
    if (list.count == 0) return;
    int64_t largest = 1;
    for (int t = 0; t < list.count; ++t) largest = std::max(largest, list.n[t]);
    const int64_t per_block = int64_t{kBlock} * 8;
    const dim3 grid(
        static_cast<unsigned>(std::min(kMaxBlocksPerRow, (largest + per_block - 1) / per_block)),
        static_cast<unsigned>(list.count));
    sgd_update_multi_kernel<<<grid, kBlock, 0, current_stream()>>>(list, lr, momentum, nesterov);
    CBNN_CUDA_LAUNCH_CHECK();
}

void sgd_update(float* p, const float* g, float* v, int64_t n, float lr, float momentum, float wd,
                bool nesterov) {
    if (n == 0) return;
    sgd_update_kernel<<<grid_for(n, kBlock), kBlock, 0, current_stream()>>>(p, g, v, n, lr,
                                                                            momentum, wd, nesterov);
    CBNN_CUDA_LAUNCH_CHECK();
}

}  // namespace cbnn::cuda
