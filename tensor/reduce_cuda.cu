// CUDA twin of tensor/reduce.cpp. Fixed reduction trees, no atomics: bitwise repeatable.
//   inner == 1 (rows): one block per row, threads stride over the row, then a shared-memory tree.
//   inner  > 1: one thread per output (o, i) walks k; neighbouring threads read neighbouring i.
#include <cstdint>

#include "tensor/cuda_check.h"
#include "tensor/cuda_context.h"
#include "tensor/reduce.h"
#include "tensor/reduce_math.h"

namespace cbnn::cuda {

namespace {
constexpr int kRowBlock = 512;
constexpr int kColBlock = 256;
constexpr int64_t kMaxGrid = 65535;

// T is float or bfloat16 (widened exactly); the sums are float either way.
template <class T>
__global__ void sum_rows_kernel(const T* __restrict__ x, float* __restrict__ out, int64_t rows,
                                int64_t r) {
    __shared__ float partial[kRowBlock];
    for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
        const T* p = x + row * r;
        float acc = 0.f;
        for (int64_t k = threadIdx.x; k < r; k += kRowBlock) acc += convert<float>(p[k]);
        partial[threadIdx.x] = acc;
        __syncthreads();
        for (int s = kRowBlock / 2; s > 0; s >>= 1) {
            if (threadIdx.x < s) partial[threadIdx.x] += partial[threadIdx.x + s];
            __syncthreads();
        }
        if (threadIdx.x == 0) out[row] = partial[0];
        __syncthreads();
    }
}

template <class T>
__global__ void sum_cols_kernel(const T* __restrict__ x, float* __restrict__ out, int64_t outer,
                                int64_t r, int64_t inner) {
    const int64_t n = outer * inner;
    for (int64_t t = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; t < n;
         t += int64_t{gridDim.x} * blockDim.x) {
        const int64_t o = t / inner, i = t % inner;
        const T* p = x + o * r * inner + i;
        float acc = 0.f;
        for (int64_t k = 0; k < r; ++k) acc += convert<float>(p[k * inner]);
        out[t] = acc;
    }
}

__global__ void max_rows_kernel(const float* __restrict__ x, float* __restrict__ out,
                                int64_t* __restrict__ argmax, int64_t rows, int64_t r) {
    __shared__ float best[kRowBlock];
    __shared__ int64_t best_k[kRowBlock];
    for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
        const float* p = x + row * r;
        float b = 0.f;
        int64_t bk = -1;
        for (int64_t k = threadIdx.x; k < r; k += kRowBlock) {
            if (bk < 0 || max_prefers(p[k], k, b, bk)) {
                b = p[k];
                bk = k;
            }
        }
        best[threadIdx.x] = b;
        best_k[threadIdx.x] = bk;
        __syncthreads();
        for (int s = kRowBlock / 2; s > 0; s >>= 1) {
            if (threadIdx.x < s) {
                const int64_t ok = best_k[threadIdx.x + s];
                if (ok >= 0 && (best_k[threadIdx.x] < 0 ||
                                max_prefers(best[threadIdx.x + s], ok, best[threadIdx.x],
                                            best_k[threadIdx.x]))) {
                    best[threadIdx.x] = best[threadIdx.x + s];
                    best_k[threadIdx.x] = ok;
                }
            }
            __syncthreads();
        }
        if (threadIdx.x == 0) {
            out[row] = best[0];
            argmax[row] = best_k[0];
        }
        __syncthreads();
    }
}

__global__ void max_cols_kernel(const float* __restrict__ x, float* __restrict__ out,
                                int64_t* __restrict__ argmax, int64_t outer, int64_t r,
                                int64_t inner) {
    const int64_t n = outer * inner;
    for (int64_t t = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; t < n;
         t += int64_t{gridDim.x} * blockDim.x) {
        const int64_t o = t / inner, i = t % inner;
        const float* p = x + o * r * inner + i;
        float b = p[0];
        int64_t bk = 0;
        for (int64_t k = 1; k < r; ++k) {
            if (max_prefers(p[k * inner], k, b, bk)) {
                b = p[k * inner];
                bk = k;
            }
        }
        out[t] = b;
        argmax[t] = bk;
    }
}

unsigned int row_grid(int64_t rows) {
    return static_cast<unsigned int>(rows < kMaxGrid ? rows : kMaxGrid);
}

template <class T>
void launch_sum(const T* x, float* out, int64_t outer, int64_t r, int64_t inner) {
    const cudaStream_t stream = current_stream();
    if (inner == 1) {
        sum_rows_kernel<<<row_grid(outer), kRowBlock, 0, stream>>>(x, out, outer, r);
    } else {
        sum_cols_kernel<<<grid_for(outer * inner, kColBlock), kColBlock, 0, stream>>>(x, out, outer,
                                                                                      r, inner);
    }
    CBNN_CUDA_LAUNCH_CHECK();
}
}  // namespace

void reduce_sum(const float* x, float* out, int64_t outer, int64_t r, int64_t inner) {
    launch_sum(x, out, outer, r, inner);
}

void reduce_sum(const bfloat16* x, float* out, int64_t outer, int64_t r, int64_t inner) {
    launch_sum(x, out, outer, r, inner);
}

void reduce_max(const float* x, float* out, int64_t* argmax, int64_t outer, int64_t r,
                int64_t inner) {
    const cudaStream_t stream = current_stream();
    if (inner == 1) {
        max_rows_kernel<<<row_grid(outer), kRowBlock, 0, stream>>>(x, out, argmax, outer, r);
    } else {
        max_cols_kernel<<<grid_for(outer * inner, kColBlock), kColBlock, 0, stream>>>(
            x, out, argmax, outer, r, inner);
    }
    CBNN_CUDA_LAUNCH_CHECK();
}

}  // namespace cbnn::cuda
