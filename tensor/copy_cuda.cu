// CUDA twins of tensor/copy.cpp: strided copy with dtype conversion, and fill.
#include <cstdint>

#include "tensor/copy.h"
#include "tensor/cuda_check.h"
#include "tensor/cuda_context.h"

namespace cbnn::cuda {

namespace {
constexpr int kBlock = 256;

template <class Src, class Dst>
__global__ void strided_copy_kernel(const Src* __restrict__ src, StridedLayout src_layout,
                                    Dst* __restrict__ dst, StridedLayout dst_layout, int64_t n) {
    for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
         i += int64_t{gridDim.x} * blockDim.x) {
        dst[dst_layout.offset(i)] = convert<Dst>(src[src_layout.offset(i)]);
    }
}

template <class T>
__global__ void fill_kernel(T* __restrict__ dst, int64_t n, T value) {
    for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
         i += int64_t{gridDim.x} * blockDim.x) {
        dst[i] = value;
    }
}

// The CUDA dtypes: f64 included here so that casts and copies of CPU-made f64 data work; bf16
// converts with the same CBNN_HD functions as the CPU, so a cast gives the same bits on both.
template <class F>
void dispatch(DType dtype, F&& f) {
    switch (dtype) {
        case DType::f32:
            f.template operator()<float>();
            return;
        case DType::f64:
            f.template operator()<double>();
            return;
        case DType::i64:
            f.template operator()<int64_t>();
            return;
        case DType::u8:
            f.template operator()<uint8_t>();
            return;
        case DType::bf16:
            f.template operator()<bfloat16>();
            return;
    }
}
}  // namespace

void strided_copy(DType src_dtype, const void* src, const StridedLayout& src_layout,
                  DType dst_dtype, void* dst, const StridedLayout& dst_layout, int64_t n) {
    dispatch(src_dtype, [&]<class Src>() {
        dispatch(dst_dtype, [&]<class Dst>() {
            strided_copy_kernel<<<grid_for(n, kBlock), kBlock, 0, current_stream()>>>(
                static_cast<const Src*>(src), src_layout, static_cast<Dst*>(dst), dst_layout, n);
            CBNN_CUDA_LAUNCH_CHECK();
        });
    });
}

void fill(DType dtype, void* dst, int64_t n, double value) {
    dispatch(dtype, [&]<class T>() {
        fill_kernel<<<grid_for(n, kBlock), kBlock, 0, current_stream()>>>(static_cast<T*>(dst), n,
                                                                          convert<T>(value));
        CBNN_CUDA_LAUNCH_CHECK();
    });
}

void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, size_t nbytes) {
    if (nbytes == 0) return;
    const cudaStream_t stream = current_stream();
    CBNN_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDefault, stream));
    // Host memory must hold the data when this returns; device-side copies stay asynchronous.
    if (dst_device.is_cpu()) CBNN_CUDA_CHECK(cudaStreamSynchronize(stream));
}

}  // namespace cbnn::cuda
