// CUDA twin of cpu::cifar_augment (data/augment.cpp): one thread per output element; the random
// draw and the pixel formula are the CBNN_HD functions of data/augment.h, so results are bitwise
// equal to the CPU reference.
#include "data/augment.h"
#include "tensor/cuda_check.h"
#include "tensor/cuda_context.h"

namespace cbnn::cuda {

namespace {
constexpr int kBlock = 256;

__global__ void cifar_augment_kernel(const uint8_t* __restrict__ images,
                                     const int64_t* __restrict__ indices, int64_t n, uint64_t seed,
                                     uint64_t offset, bool train, CifarScaling scaling,
                                     float* __restrict__ out) {
    for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
         i += int64_t{gridDim.x} * blockDim.x) {
        const int64_t b = i / kCifarImageBytes;
        const int64_t r = i - b * kCifarImageBytes;
        const int64_t c = r / (kCifarSize * kCifarSize);
        const int64_t y = (r / kCifarSize) % kCifarSize;
        const int64_t x = r % kCifarSize;
        const CifarDraw d =
            train ? cifar_draw(seed, offset + static_cast<uint64_t>(b)) : CifarDraw{0, 0, false};
        out[i] = cifar_pixel(images + indices[b] * kCifarImageBytes, c, y, x, d, train, scaling);
    }
}
}  // namespace

void cifar_augment(const uint8_t* images, const int64_t* indices, int64_t batch, uint64_t seed,
                   uint64_t offset, bool train, const CifarScaling& scaling, float* out) {
    const int64_t n = batch * kCifarImageBytes;
    if (n == 0) return;
    cifar_augment_kernel<<<grid_for(n, kBlock), kBlock, 0, current_stream()>>>(
        images, indices, n, seed, offset, train, scaling, out);
    CBNN_CUDA_LAUNCH_CHECK();
}

}  // namespace cbnn::cuda
