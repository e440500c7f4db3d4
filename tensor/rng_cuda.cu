// CUDA twin of the Philox fills in tensor/rng.cpp: one thread per element (grid-stride), the
// same per-element formulas (tensor/philox.h). The offset arrives by value: no host sync.
#include "tensor/cuda_check.h"
#include "tensor/cuda_context.h"
#include "tensor/philox.h"
#include "tensor/rng.h"

namespace cbnn::cuda {

namespace {
constexpr int kBlock = 256;

__global__ void philox_uniform_kernel(uint64_t seed, uint64_t offset, float* __restrict__ out,
                                      int64_t n, float lo, float hi) {
    for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
         i += int64_t{gridDim.x} * blockDim.x) {
        out[i] =
            philox_uniform_value<float>(philox_at(seed, offset + static_cast<uint64_t>(i)), lo, hi);
    }
}

__global__ void philox_normal_kernel(uint64_t seed, uint64_t offset, float* __restrict__ out,
                                     int64_t n, float mean, float stddev) {
    for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
         i += int64_t{gridDim.x} * blockDim.x) {
        out[i] = philox_normal_value<float>(philox_at(seed, offset + static_cast<uint64_t>(i)),
                                            mean, stddev);
    }
}
}  // namespace

void philox_uniform(uint64_t seed, uint64_t offset, float* out, int64_t n, float lo, float hi) {
    if (n == 0) return;
    philox_uniform_kernel<<<grid_for(n, kBlock), kBlock, 0, current_stream()>>>(seed, offset, out,
                                                                                n, lo, hi);
    CBNN_CUDA_LAUNCH_CHECK();
}

void philox_normal(uint64_t seed, uint64_t offset, float* out, int64_t n, float mean,
                   float stddev) {
    if (n == 0) return;
    philox_normal_kernel<<<grid_for(n, kBlock), kBlock, 0, current_stream()>>>(seed, offset, out, n,
                                                                               mean, stddev);
    CBNN_CUDA_LAUNCH_CHECK();
}

}  // namespace cbnn::cuda
