// CUDA twin of tensor/binary.cpp. Operands are read through StridedLayouts; when both operands
// are dense and unbroadcast (the common case) the index math is skipped.
#include "tensor/binary.h"
#include "tensor/binary_math.h"
#include "tensor/cuda_check.h"
#include "tensor/cuda_context.h"

namespace cbnn::cuda {

namespace {
constexpr int kBlock = 256;

bool is_dense(const StridedLayout& l) {
    int64_t expected = 1;
    for (int d = l.ndim - 1; d >= 0; --d) {
        if (l.sizes[d] != 1 && l.strides[d] != expected) return false;
        expected *= l.sizes[d];
    }
    return true;
}

// T is float or bfloat16; both compute in float (convert<> widens and rounds bf16 once).
template <bool kDense, class T>
__global__ void binary_kernel(BinaryOp op, const T* __restrict__ a, StridedLayout la,
                              const T* __restrict__ b, StridedLayout lb, T* __restrict__ out,
                              int64_t n) {
    for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
         i += int64_t{gridDim.x} * blockDim.x) {
        const T x = kDense ? a[i] : a[la.offset(i)];
        const T y = kDense ? b[i] : b[lb.offset(i)];
        out[i] = convert<T>(binary_apply(op, convert<float>(x), convert<float>(y)));
    }
}

template <class T>
void launch_binary(BinaryOp op, const T* a, const StridedLayout& la, const T* b,
                   const StridedLayout& lb, T* out, int64_t n) {
    const auto grid = grid_for(n, kBlock);
    const cudaStream_t stream = current_stream();
    if (is_dense(la) && is_dense(lb)) {
        binary_kernel<true><<<grid, kBlock, 0, stream>>>(op, a, la, b, lb, out, n);
    } else {
        binary_kernel<false><<<grid, kBlock, 0, stream>>>(op, a, la, b, lb, out, n);
    }
    CBNN_CUDA_LAUNCH_CHECK();
}

template <class T>
__global__ void compare_kernel(CompareOp op, const T* __restrict__ a, StridedLayout la,
                               const T* __restrict__ b, StridedLayout lb, uint8_t* __restrict__ out,
                               int64_t n) {
    for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
         i += int64_t{gridDim.x} * blockDim.x) {
        out[i] = compare_apply(op, a[la.offset(i)], b[lb.offset(i)]);
    }
}

__global__ void where_kernel(const uint8_t* __restrict__ cond, StridedLayout lc,
                             const float* __restrict__ a, StridedLayout la,
                             const float* __restrict__ b, StridedLayout lb, float* __restrict__ out,
                             int64_t n) {
    for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
         i += int64_t{gridDim.x} * blockDim.x) {
        out[i] = cond[lc.offset(i)] ? a[la.offset(i)] : b[lb.offset(i)];
    }
}
}  // namespace

void binary_forward(BinaryOp op, const float* a, const StridedLayout& la, const float* b,
                    const StridedLayout& lb, float* out, int64_t n) {
    launch_binary(op, a, la, b, lb, out, n);
}

void binary_forward(BinaryOp op, const bfloat16* a, const StridedLayout& la, const bfloat16* b,
                    const StridedLayout& lb, bfloat16* out, int64_t n) {
    launch_binary(op, a, la, b, lb, out, n);
}

template <class T>
void compare_forward(CompareOp op, const T* a, const StridedLayout& la, const T* b,
                     const StridedLayout& lb, uint8_t* out, int64_t n) {
    compare_kernel<T>
        <<<grid_for(n, kBlock), kBlock, 0, current_stream()>>>(op, a, la, b, lb, out, n);
    CBNN_CUDA_LAUNCH_CHECK();
}

template void compare_forward<float>(CompareOp, const float*, const StridedLayout&, const float*,
                                     const StridedLayout&, uint8_t*, int64_t);
template void compare_forward<int64_t>(CompareOp, const int64_t*, const StridedLayout&,
                                       const int64_t*, const StridedLayout&, uint8_t*, int64_t);
template void compare_forward<uint8_t>(CompareOp, const uint8_t*, const StridedLayout&,
                                       const uint8_t*, const StridedLayout&, uint8_t*, int64_t);

void where_forward(const uint8_t* cond, const StridedLayout& lc, const float* a,
                   const StridedLayout& la, const float* b, const StridedLayout& lb, float* out,
                   int64_t n) {
    where_kernel<<<grid_for(n, kBlock), kBlock, 0, current_stream()>>>(cond, lc, a, la, b, lb, out,
                                                                       n);
    CBNN_CUDA_LAUNCH_CHECK();
}

}  // namespace cbnn::cuda
