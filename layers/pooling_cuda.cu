// CUDA twin of the pooling references in layers/pooling.cpp (math in layers/pooling.h).
// Forward: one thread per output element. Backward: one thread per dx element gathers from the
// windows that contain it (no atomics, deterministic), in the CPU reference's order.
// NCHW or NHWC (Pool2dGeometry::channels_last): threads take elements in storage order, so
// neighbouring threads read neighbouring addresses in either layout (in NHWC, the channels of one
// position); the window walk and the summation order are the same in both.
// Elements of type A (float or bfloat16): loaded and widened to float, compared or summed in
// float, each output rounded once to A (layers/pooling.h).
#include <cstdint>

#include "layers/pooling.h"
#include "tensor/bfloat16.h"
#include "tensor/cuda_check.h"
#include "tensor/cuda_context.h"
#include "tensor/reduce_math.h"

namespace cbnn::cuda {

namespace {
constexpr int kBlock = 256;

// Storage index of input element (h, w) of `at`'s image and channel, and of output (oh, ow).
__device__ int64_t input_index(const Pool2dGeometry& g, const PlaneIndex& at, int64_t h,
                               int64_t w) {
    return pool2d_storage_index({at.n, at.c, h, w}, g.C, g.H, g.W, g.channels_last);
}
__device__ int64_t output_index(const Pool2dGeometry& g, const PlaneIndex& at, int64_t oh,
                                int64_t ow) {
    return pool2d_storage_index({at.n, at.c, oh, ow}, g.C, g.OH, g.OW, g.channels_last);
}

template <class A>
__global__ void max_pool2d_forward_kernel(const A* __restrict__ x, A* __restrict__ y,
                                          int64_t* __restrict__ argmax, Pool2dGeometry g) {
    const int64_t n = g.N * g.C * g.OH * g.OW;
    for (int64_t o = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; o < n;
         o += int64_t{gridDim.x} * blockDim.x) {
        const PlaneIndex out = pool2d_plane_index(o, g.C, g.OH, g.OW, g.channels_last);
        int64_t h0, h1, w0, w1;
        pool2d_window(out.h, g.kernel, g.stride, g.padding, g.H, h0, h1);
        pool2d_window(out.w, g.kernel, g.stride, g.padding, g.W, w0, w1);
        float best = convert<float>(x[input_index(g, out, h0, w0)]);
        int64_t best_i = h0 * g.W + w0;
        for (int64_t h = h0; h < h1; ++h) {
            for (int64_t w = w0; w < w1; ++w) {
                const int64_t i = h * g.W + w;
                const float v = convert<float>(x[input_index(g, out, h, w)]);
                if (max_prefers(v, i, best, best_i)) {
                    best = v;
                    best_i = i;
                }
            }
        }
        y[o] = convert<A>(best);
        argmax[o] = best_i;
    }
}

template <class A>
__global__ void max_pool2d_backward_kernel(const A* __restrict__ dy,
                                           const int64_t* __restrict__ argmax, A* __restrict__ dx,
                                           Pool2dGeometry g) {
    const int64_t n = g.N * g.C * g.H * g.W;
    for (int64_t t = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; t < n;
         t += int64_t{gridDim.x} * blockDim.x) {
        const PlaneIndex in = pool2d_plane_index(t, g.C, g.H, g.W, g.channels_last);
        int64_t oh0, oh1, ow0, ow1;
        pool2d_windows_containing(in.h, g.kernel, g.stride, g.padding, g.OH, oh0, oh1);
        pool2d_windows_containing(in.w, g.kernel, g.stride, g.padding, g.OW, ow0, ow1);
        const int64_t self = in.h * g.W + in.w;
        float acc = 0.f;
        for (int64_t oh = oh0; oh < oh1; ++oh) {
            for (int64_t ow = ow0; ow < ow1; ++ow) {
                const int64_t o = output_index(g, in, oh, ow);
                if (argmax[o] == self) acc += convert<float>(dy[o]);
            }
        }
        dx[t] = convert<A>(acc);
    }
}

template <class A>
__global__ void avg_pool2d_forward_kernel(const A* __restrict__ x, A* __restrict__ y,
                                          Pool2dGeometry g, bool count_include_pad) {
    const int64_t n = g.N * g.C * g.OH * g.OW;
    for (int64_t o = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; o < n;
         o += int64_t{gridDim.x} * blockDim.x) {
        const PlaneIndex out = pool2d_plane_index(o, g.C, g.OH, g.OW, g.channels_last);
        int64_t h0, h1, w0, w1;
        pool2d_window(out.h, g.kernel, g.stride, g.padding, g.H, h0, h1);
        pool2d_window(out.w, g.kernel, g.stride, g.padding, g.W, w0, w1);
        float acc = 0.f;
        for (int64_t h = h0; h < h1; ++h)
            for (int64_t w = w0; w < w1; ++w) acc += convert<float>(x[input_index(g, out, h, w)]);
        y[o] = convert<A>(
            acc / static_cast<float>(avg_pool2d_divisor(g, out.h, out.w, count_include_pad)));
    }
}

template <class A>
__global__ void avg_pool2d_backward_kernel(const A* __restrict__ dy, A* __restrict__ dx,
                                           Pool2dGeometry g, bool count_include_pad) {
    const int64_t n = g.N * g.C * g.H * g.W;
    for (int64_t t = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; t < n;
         t += int64_t{gridDim.x} * blockDim.x) {
        const PlaneIndex in = pool2d_plane_index(t, g.C, g.H, g.W, g.channels_last);
        int64_t oh0, oh1, ow0, ow1;
        pool2d_windows_containing(in.h, g.kernel, g.stride, g.padding, g.OH, oh0, oh1);
        pool2d_windows_containing(in.w, g.kernel, g.stride, g.padding, g.OW, ow0, ow1);
        float acc = 0.f;
        for (int64_t oh = oh0; oh < oh1; ++oh) {
            for (int64_t ow = ow0; ow < ow1; ++ow) {
                acc += convert<float>(dy[output_index(g, in, oh, ow)]) /
                       static_cast<float>(avg_pool2d_divisor(g, oh, ow, count_include_pad));
            }
        }
        dx[t] = convert<A>(acc);
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
