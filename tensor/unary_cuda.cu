// CUDA twin of tensor/unary.cpp: one thread per element (grid-stride), formulas from unary_math.h.
#include "tensor/cuda_check.h"
#include "tensor/cuda_context.h"
#include "tensor/unary.h"
#include "tensor/unary_math.h"

namespace cbnn::cuda {

namespace {
constexpr int kBlock = 256;

// T is float or bfloat16; both compute in float (convert<> widens and rounds bf16 once).
template <class T>
__global__ void unary_forward_kernel(UnaryOp op, const T* __restrict__ x, T* __restrict__ y,
                                     int64_t n, float alpha) {
    for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
         i += int64_t{gridDim.x} * blockDim.x) {
        y[i] = convert<T>(unary_apply(op, convert<float>(x[i]), alpha));
    }
}

template <class T>
__global__ void unary_backward_kernel(UnaryOp op, const T* __restrict__ x, const T* __restrict__ y,
                                      const T* __restrict__ dy, T* __restrict__ dx, int64_t n,
                                      float alpha) {
    for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
         i += int64_t{gridDim.x} * blockDim.x) {
        dx[i] = convert<T>(convert<float>(dy[i]) *
                           unary_derivative(op, convert<float>(x[i]), convert<float>(y[i]), alpha));
    }
}

template <class T>
void launch_forward(UnaryOp op, const T* x, T* y, int64_t n, float alpha) {
    if (n == 0) return;
    unary_forward_kernel<<<grid_for(n, kBlock), kBlock, 0, current_stream()>>>(op, x, y, n, alpha);
    CBNN_CUDA_LAUNCH_CHECK();
}

template <class T>
void launch_backward(UnaryOp op, const T* x, const T* y, const T* dy, T* dx, int64_t n,
                     float alpha) {
    if (n == 0) return;
    unary_backward_kernel<<<grid_for(n, kBlock), kBlock, 0, current_stream()>>>(op, x, y, dy, dx, n,
                                                                                alpha);
    CBNN_CUDA_LAUNCH_CHECK();
}
}  // namespace

void unary_forward(UnaryOp op, const float* x, float* y, int64_t n, float alpha) {
    launch_forward(op, x, y, n, alpha);
}

void unary_backward(UnaryOp op, const float* x, const float* y, const float* dy, float* dx,
                    int64_t n, float alpha) {
    launch_backward(op, x, y, dy, dx, n, alpha);
}

void unary_forward(UnaryOp op, const bfloat16* x, bfloat16* y, int64_t n, float alpha) {
    launch_forward(op, x, y, n, alpha);
}

void unary_backward(UnaryOp op, const bfloat16* x, const bfloat16* y, const bfloat16* dy,
                    bfloat16* dx, int64_t n, float alpha) {
    launch_backward(op, x, y, dy, dx, n, alpha);
}

}  // namespace cbnn::cuda
