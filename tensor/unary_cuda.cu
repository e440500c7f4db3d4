// CUDA twin of tensor/unary.cpp: one thread per element (grid-stride), formulas from unary_math.h.
#include "tensor/cuda_check.h"
#include "tensor/cuda_context.h"
#include "tensor/unary.h"
#include "tensor/unary_math.h"

namespace cbnn::cuda {

namespace {
constexpr int kBlock = 256;

__global__ void unary_forward_kernel(UnaryOp op, const float* __restrict__ x, float* __restrict__ y,
                                     int64_t n, float alpha) {
    for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
         i += int64_t{gridDim.x} * blockDim.x) {
        y[i] = unary_apply(op, x[i], alpha);
    }
}

__global__ void unary_backward_kernel(UnaryOp op, const float* __restrict__ x,
                                      const float* __restrict__ y, const float* __restrict__ dy,
                                      float* __restrict__ dx, int64_t n, float alpha) {
    for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
         i += int64_t{gridDim.x} * blockDim.x) {
        dx[i] = dy[i] * unary_derivative(op, x[i], y[i], alpha);
    }
}
}  // namespace

void unary_forward(UnaryOp op, const float* x, float* y, int64_t n, float alpha) {
    if (n == 0) return;
    unary_forward_kernel<<<grid_for(n, kBlock), kBlock, 0, current_stream()>>>(op, x, y, n, alpha);
    CBNN_CUDA_LAUNCH_CHECK();
}

void unary_backward(UnaryOp op, const float* x, const float* y, const float* dy, float* dx,
                    int64_t n, float alpha) {
    if (n == 0) return;
    unary_backward_kernel<<<grid_for(n, kBlock), kBlock, 0, current_stream()>>>(op, x, y, dy, dx, n,
                                                                                alpha);
    CBNN_CUDA_LAUNCH_CHECK();
}

}  // namespace cbnn::cuda
