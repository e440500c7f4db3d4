// CUDA twin of the pooling references in layers/pooling.cpp (math in layers/pooling.h).
// Forward: one thread per output element. Backward: one thread per dx element gathers from the
// windows that contain it (no atomics, deterministic), in the CPU reference's order. Each thread's
// work is a CBNN_HD function of layers/pooling_elements.h, which the CPU tests run too.
// NCHW or NHWC (Pool2dGeometry::channels_last): threads take elements in storage order, so
// neighbouring threads read neighbouring addresses in either layout (in NHWC, the channels of one
// position); the window walk and the summation order are the same in both.
// Elements of type A (float or bfloat16): loaded and widened to float, compared or summed in
// float, each output rounded once to A (layers/pooling.h).
#include <cstdint>

#include "layers/pooling.h"
#include "layers/pooling_elements.h"
#include "tensor/bfloat16.h"
#include "tensor/cuda_check.h"
#include "tensor/cuda_context.h"

namespace cbnn::cuda {

namespace {
constexpr int kBlock = 256;

template <class A>
__global__ void max_pool2d_forward_kernel(const A* __restrict__ x, A* __restrict__ y,
                                          int64_t* __restrict__ argmax, Pool2dGeometry g) {
    const int64_t n = g.N * g.C * g.OH * g.OW;
    for (int64_t o = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; o < n;
         o += int64_t{gridDim.x} * blockDim.x) {
        max_pool2d_forward_element(x, y, argmax, g, o);
    }
}

template <class A>
__global__ void max_pool2d_backward_kernel(const A* __restrict__ dy,
                                           const int64_t* __restrict__ argmax, A* __restrict__ dx,
                                           Pool2dGeometry g) {
    const int64_t n = g.N * g.C * g.H * g.W;
    for (int64_t t = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; t < n;
         t += int64_t{gridDim.x} * blockDim.x) {
        max_pool2d_backward_element(dy, argmax, dx, g, t);
    }
}

template <class A>
__global__ void avg_pool2d_forward_kernel(const A* __restrict__ x, A* __restrict__ y,
                                          Pool2dGeometry g, bool count_include_pad) {
    const int64_t n = g.N * g.C * g.OH * g.OW;
    for (int64_t o = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; o < n;
         o += int64_t{gridDim.x} * blockDim.x) {
        avg_pool2d_forward_element(x, y, g, count_include_pad, o);
    }
}

template <class A>
__global__ void avg_pool2d_backward_kernel(const A* __restrict__ dy, A* __restrict__ dx,
                                           Pool2dGeometry g, bool count_include_pad) {
    const int64_t n = g.N * g.C * g.H * g.W;
    for (int64_t t = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; t < n;
         t += int64_t{gridDim.x} * blockDim.x) {
        avg_pool2d_backward_element(dy, dx, g, count_include_pad, t);
    }
}

}  // namespace

template <class A>
void max_pool2d_forward(const A* x, A* y, int64_t* argmax, const Pool2dGeometry& g) {
    const int64_t n = g.N * g.C * g.OH * g.OW;
    if (n == 0) return;
    max_pool2d_forward_kernel<A>
        <<<grid_for(n, kBlock), kBlock, 0, current_stream()>>>(x, y, argmax, g);
    CBNN_CUDA_LAUNCH_CHECK();
}

template <class A>
void max_pool2d_backward(const A* dy, const int64_t* argmax, A* dx, const Pool2dGeometry& g) {
    const int64_t n = g.N * g.C * g.H * g.W;
    if (n == 0) return;
    max_pool2d_backward_kernel<A>
        <<<grid_for(n, kBlock), kBlock, 0, current_stream()>>>(dy, argmax, dx, g);
    CBNN_CUDA_LAUNCH_CHECK();
}

template <class A>
void avg_pool2d_forward(const A* x, A* y, const Pool2dGeometry& g, bool count_include_pad) {
    const int64_t n = g.N * g.C * g.OH * g.OW;
    if (n == 0) return;
    avg_pool2d_forward_kernel<A>
        <<<grid_for(n, kBlock), kBlock, 0, current_stream()>>>(x, y, g, count_include_pad);
    CBNN_CUDA_LAUNCH_CHECK();
}

template <class A>
void avg_pool2d_backward(const A* dy, A* dx, const Pool2dGeometry& g, bool count_include_pad) {
    const int64_t n = g.N * g.C * g.H * g.W;
    if (n == 0) return;
    avg_pool2d_backward_kernel<A>
        <<<grid_for(n, kBlock), kBlock, 0, current_stream()>>>(dy, dx, g, count_include_pad);
    CBNN_CUDA_LAUNCH_CHECK();
}

#define CBNN_INSTANTIATE_POOL2D_CUDA(A)                                                        \
    template void max_pool2d_forward<A>(const A*, A*, int64_t*, const Pool2dGeometry&);        \
    template void max_pool2d_backward<A>(const A*, const int64_t*, A*, const Pool2dGeometry&); \
    template void avg_pool2d_forward<A>(const A*, A*, const Pool2dGeometry&, bool);            \
    template void avg_pool2d_backward<A>(const A*, A*, const Pool2dGeometry&, bool);
CBNN_INSTANTIATE_POOL2D_CUDA(float)
CBNN_INSTANTIATE_POOL2D_CUDA(bfloat16)
#undef CBNN_INSTANTIATE_POOL2D_CUDA

}  // namespace cbnn::cuda
