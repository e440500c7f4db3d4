// CUDA twin of the indexing kernels in tensor/index.cpp (layout and math in tensor/index.h).
// One thread per output element, grid-stride loops, int64 indexing. No atomics in any sum:
//   scatter_add / index_add: the thread of out[o, r, i] walks k (j) = 0, 1, ... and adds the terms
//   whose index equals r, in the same order as the CPU reference, so results are bitwise
//   repeatable. The kernels never read or write out of bounds, even for unchecked indices:
//   gather / index_select write NaN for an index outside [0, r), one_hot writes a zero row, and the
//   sums simply never match it.
// find_out_of_range (the op functions' index check) is a grid-stride scan with a per-block
// shared-memory min and one atomicMin per block: a min is order-independent, so it is exact.
#include <cstdint>

#include "tensor/cuda_check.h"
#include "tensor/cuda_context.h"
#include "tensor/index.h"

namespace cbnn::cuda {

namespace {
constexpr int kBlock = 256;

__device__ __forceinline__ bool in_range(int64_t v, int64_t limit) { return v >= 0 && v < limit; }
__device__ __forceinline__ float quiet_nan() { return __int_as_float(0x7fc00000); }

__global__ void gather_kernel(const float* __restrict__ x, const int64_t* __restrict__ index,
                              float* __restrict__ out, int64_t n, int64_t r, int64_t k,
                              int64_t inner) {
    for (int64_t t = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; t < n;
         t += int64_t{gridDim.x} * blockDim.x) {
        const int64_t o = t / (k * inner), i = t % inner;
        const int64_t v = index[t];
        out[t] = in_range(v, r) ? x[(o * r + v) * inner + i] : quiet_nan();
    }
}

// n = outer * r * inner threads, one per out[o, rr, i].
__global__ void scatter_add_kernel(const float* __restrict__ src, const int64_t* __restrict__ index,
                                   float* __restrict__ out, int64_t n, int64_t r, int64_t k,
                                   int64_t inner) {
    for (int64_t t = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; t < n;
         t += int64_t{gridDim.x} * blockDim.x) {
        const int64_t o = t / (r * inner), rr = (t / inner) % r, i = t % inner;
        const int64_t base = o * k * inner + i;
        float acc = 0.f;
        for (int64_t kk = 0; kk < k; ++kk) {
            const int64_t p = base + kk * inner;
            if (index[p] == rr) acc += src[p];
        }
        out[t] = acc;
    }
}

__global__ void index_select_kernel(const float* __restrict__ x, const int64_t* __restrict__ index,
                                    float* __restrict__ out, int64_t n, int64_t r, int64_t m,
                                    int64_t inner) {
    for (int64_t t = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; t < n;
         t += int64_t{gridDim.x} * blockDim.x) {
        const int64_t o = t / (m * inner), j = (t / inner) % m, i = t % inner;
        const int64_t v = index[j];
        out[t] = in_range(v, r) ? x[(o * r + v) * inner + i] : quiet_nan();
    }
}

// n = outer * r * inner threads, one per out[o, rr, i]; all threads of a block read the same
// index[j] at the same time (a broadcast).
__global__ void index_add_kernel(const float* __restrict__ src, const int64_t* __restrict__ index,
                                 float* __restrict__ out, int64_t n, int64_t r, int64_t m,
                                 int64_t inner) {
    for (int64_t t = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; t < n;
         t += int64_t{gridDim.x} * blockDim.x) {
        const int64_t o = t / (r * inner), rr = (t / inner) % r, i = t % inner;
        const float* s = src + o * m * inner + i;
        float acc = 0.f;
        for (int64_t j = 0; j < m; ++j) {
            if (index[j] == rr) acc += s[j * inner];
        }
        out[t] = acc;
    }
}

__global__ void one_hot_kernel(const int64_t* __restrict__ labels, float* __restrict__ out,
                               int64_t total, int64_t num_classes) {
    for (int64_t t = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; t < total;
         t += int64_t{gridDim.x} * blockDim.x) {
        out[t] = labels[t / num_classes] == t % num_classes ? 1.f : 0.f;
    }
}

__global__ void set_kernel(int64_t* __restrict__ p, int64_t value) { *p = value; }

__global__ void find_out_of_range_kernel(const int64_t* __restrict__ index, int64_t n,
                                         int64_t limit, int64_t* __restrict__ first) {
    __shared__ int64_t best[kBlock];
    int64_t b = n;
    // Each thread's positions increase, so its first hit is its smallest.
    for (int64_t t = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; t < n;
         t += int64_t{gridDim.x} * blockDim.x) {
        if (!in_range(index[t], limit)) {
            b = t;
            break;
        }
    }
    best[threadIdx.x] = b;
    __syncthreads();
    for (int s = kBlock / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s && best[threadIdx.x + s] < best[threadIdx.x])
            best[threadIdx.x] = best[threadIdx.x + s];
        __syncthreads();
    }
    if (threadIdx.x == 0 && best[0] < n) {
        atomicMin(reinterpret_cast<unsigned long long*>(first),
                  static_cast<unsigned long long>(best[0]));
    }
}

}  // namespace

void gather(const float* x, const int64_t* index, float* out, int64_t outer, int64_t r, int64_t k,
            int64_t inner) {
    const int64_t n = outer * k * inner;
    if (n == 0) return;
    gather_kernel<<<grid_for(n, kBlock), kBlock, 0, current_stream()>>>(x, index, out, n, r, k,
                                                                        inner);
    CBNN_CUDA_LAUNCH_CHECK();
}

void scatter_add(const float* src, const int64_t* index, float* out, int64_t outer, int64_t r,
                 int64_t k, int64_t inner) {
    const int64_t n = outer * r * inner;
    if (n == 0) return;
    scatter_add_kernel<<<grid_for(n, kBlock), kBlock, 0, current_stream()>>>(src, index, out, n, r,
                                                                             k, inner);
    CBNN_CUDA_LAUNCH_CHECK();
}

void index_select(const float* x, const int64_t* index, float* out, int64_t outer, int64_t r,
                  int64_t m, int64_t inner) {
    const int64_t n = outer * m * inner;
    if (n == 0) return;
    index_select_kernel<<<grid_for(n, kBlock), kBlock, 0, current_stream()>>>(x, index, out, n, r,
                                                                              m, inner);
    CBNN_CUDA_LAUNCH_CHECK();
}

void index_add(const float* src, const int64_t* index, float* out, int64_t outer, int64_t r,
               int64_t m, int64_t inner) {
    const int64_t n = outer * r * inner;
    if (n == 0) return;
    index_add_kernel<<<grid_for(n, kBlock), kBlock, 0, current_stream()>>>(src, index, out, n, r, m,
                                                                           inner);
    CBNN_CUDA_LAUNCH_CHECK();
}

void one_hot(const int64_t* labels, float* out, int64_t n, int64_t num_classes) {
    const int64_t total = n * num_classes;
    if (total == 0) return;
    one_hot_kernel<<<grid_for(total, kBlock), kBlock, 0, current_stream()>>>(labels, out, total,
                                                                             num_classes);
    CBNN_CUDA_LAUNCH_CHECK();
}

void find_out_of_range(const int64_t* index, int64_t n, int64_t limit, int64_t* first) {
    const cudaStream_t stream = current_stream();
    set_kernel<<<1, 1, 0, stream>>>(first, n);
    CBNN_CUDA_LAUNCH_CHECK();
    if (n == 0) return;
    find_out_of_range_kernel<<<grid_for(n, kBlock), kBlock, 0, stream>>>(index, n, limit, first);
    CBNN_CUDA_LAUNCH_CHECK();
}

bool index_check_capturing() {
    cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
    CBNN_CUDA_CHECK(cudaStreamIsCapturing(current_stream(), &status));
    return status != cudaStreamCaptureStatusNone;
}

}  // namespace cbnn::cuda
