#pragma once
// Copy kernels: materialise a strided view (or a broadcast, stride 0) into a contiguous buffer
// while converting dtype, fill, and raw transfers between devices.
//   strided_copy: dst[dst_layout.offset(i)] = Dst(src[src_layout.offset(i)]) for i in [0, n)
//   Conversions follow C++ static_cast: float -> integer truncates toward zero. bf16 converts
//   with cbnn::convert (tensor/bfloat16.h): to bf16 rounds to nearest even once (f64 too), from
//   bf16 is exact; CPU and CUDA give the same bits.
//
// Op functions on top of them (no autograd): ops::contiguous_copy, ops::cast, ops::to_device.

#include <cstddef>
#include <cstdint>

#include "tensor/dtype.h"
#include "tensor/strided_layout.h"
#include "tensor/tensor.h"

namespace cbnn {

namespace cpu {
void strided_copy(DType src_dtype, const void* src, const StridedLayout& src_layout,
                  DType dst_dtype, void* dst, const StridedLayout& dst_layout, int64_t n);
void fill(DType dtype, void* dst, int64_t n, double value);
}  // namespace cpu

namespace cuda {
void strided_copy(DType src_dtype, const void* src, const StridedLayout& src_layout,
                  DType dst_dtype, void* dst, const StridedLayout& dst_layout, int64_t n);
void fill(DType dtype, void* dst, int64_t n, double value);
// cudaMemcpyAsync on the cbnn stream; waits when the destination is host memory.
void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, size_t nbytes);
}  // namespace cuda

namespace ops {
// A contiguous copy on the same device, with the source's dtype.
Tensor contiguous_copy(const Tensor& src);
// The same in `format` (tensor/memory_format.h).
Tensor contiguous_copy(const Tensor& src, MemoryFormat format);
// `src` itself when it is contiguous, else contiguous_copy(src): what kernels that take dense
// pointers need. Records no graph (Tensor::contiguous() is the differentiable twin).
Tensor dense(const Tensor& src);
// `src` itself when it is laid out in `format`, else a copy in that format: what kernels that take
// channels-last (NHWC) pointers need.
Tensor dense(const Tensor& src, MemoryFormat format);
// src's values in `dtype`, laid out in `format`: one copy kernel does both.
Tensor cast(const Tensor& src, DType dtype, MemoryFormat format = MemoryFormat::contiguous);
Tensor to_device(const Tensor& src, Device device);
// Writes src (broadcast to dst's shape, converted to dst's dtype, from any device) into dst,
// which may be a strided view (e.g. a narrow of a larger tensor).
void copy_into(const Tensor& dst, const Tensor& src);
}  // namespace ops

}  // namespace cbnn
