#pragma once
// Device pieces shared by cbnn's NCHW batch-norm kernels (layers/batchnorm2d_cuda.cu) and their
// NHWC twins (layers/batchnorm2d_nhwc_cuda.cu): vector loads and stores of A (float or bfloat16)
// widened to float, shuffles, the per-call parameter structs and the launch macro. Included only
// by those two files; everything here has internal linkage, so each gets its own copy.
#include <cuda_runtime.h>

#include <cstdint>
#include <initializer_list>

#include "tensor/bfloat16.h"
#include "tensor/cuda_check.h"
#include "tensor/cuda_context.h"

namespace cbnn::cuda {
namespace {

// V consecutive elements as stored; alignas makes V = 4 a single load (16 bytes of float, 8 of
// bf16).
template <class A, int V>
struct alignas(sizeof(A) * V) Stored {
    A v[V];
};

// V consecutive elements widened to float (registers).
template <int V>
struct Pack {
    float v[V];
};

// Unit `unit` (elements unit V ... unit V + V - 1) of p, widened.
template <int V, class A>
__device__ Pack<V> load(const A* __restrict__ p, int64_t unit) {
    const Stored<A, V> s = reinterpret_cast<const Stored<A, V>*>(p)[unit];
    Pack<V> r;
#pragma unroll
    for (int k = 0; k < V; ++k) r.v[k] = convert<float>(s.v[k]);
    return r;
}

// Rounds each value once to A (float_to_bf16 for bf16, the CPU's rounding) and stores the unit.
template <int V, class A>
__device__ void store(A* __restrict__ p, int64_t unit, const Pack<V>& value) {
    Stored<A, V> s;
#pragma unroll
    for (int k = 0; k < V; ++k) s.v[k] = convert<A>(value.v[k]);
    reinterpret_cast<Stored<A, V>*>(p)[unit] = s;
}

template <class T>
__device__ T shfl_down(T v, int offset) {
    return __shfl_down_sync(0xffffffffu, v, offset);
}

template <class T>
__device__ T warp_sum(T v) {
    for (int offset = 16; offset > 0; offset /= 2) v += shfl_down(v, offset);
    return v;
}

// The training forward's per-channel inputs and outputs: the finishing thread of channel c writes
// save_mean, save_invstd and the running statistics (layers/batchnorm2d.h).
struct Statistics {
    const float *gamma, *beta;
    float *running_mean, *running_var, *save_mean, *save_invstd;
    double momentum, eps;
};

// The backward's inputs: g = dy, or dy [y > 0] when y is given (stored to dresidual if given).
template <class A>
struct GradInputs {
    const A *x, *y, *dy;
    const float *gamma, *save_mean, *save_invstd;
    A* dx;
    float *dgamma, *dbeta;
    A* dresidual;
};

// Whether every pointer is a multiple of `bytes` (nullptr is).
bool aligned(uintptr_t bytes, std::initializer_list<const void*> pointers) {
    for (const void* p : pointers)
        if (reinterpret_cast<uintptr_t>(p) % bytes != 0) return false;
    return true;
}

}  // namespace
}  // namespace cbnn::cuda

// Launches kernel<4, A> or kernel<1, A> on grid with the includer's kBlock threads (A: the
// launcher's activation type) on cbnn's stream, and checks the launch.
#define CBNN_BN_LAUNCH(kernel, V, grid, ...)                                  \
    do {                                                                      \
        if (V == 4)                                                           \
            kernel<4, A><<<grid, kBlock, 0, current_stream()>>>(__VA_ARGS__); \
        else                                                                  \
            kernel<1, A><<<grid, kBlock, 0, current_stream()>>>(__VA_ARGS__); \
        CBNN_CUDA_LAUNCH_CHECK();                                             \
    } while (0)
