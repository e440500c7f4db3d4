#pragma once
// Elementwise binary ops with NumPy broadcasting (shapes aligned at the last dimension; a size-1
// or missing dimension repeats):
//   binary:  out = a (+ - * /) b, maximum(a, b), minimum(a, b)        same floating dtype
//   compare: out = a (== != < <= > >=) b  as u8 0/1                   same dtype, any
//   where:   out = cond ? a : b   (cond u8, nonzero = true)           a, b same dtype
// binary also takes bf16 (CPU and CUDA): operands widen to float, the op runs in float and the
// result is rounded to bf16 once, so CPU and CUDA agree bitwise. compare and where reject bf16.
// Each operand is read through a StridedLayout (stride 0 on broadcast dimensions); out is
// contiguous with the broadcast shape, except that binary on two channels-last operands of one
// shape (tensor/memory_format.h) runs over their storage and writes channels-last. Backward
// (autograd/binary_functions.cpp) is composed from these ops plus ops::sum_to, which folds a
// gradient back onto a broadcast operand's shape.

#include <cstdint>

#include "tensor/bfloat16.h"
#include "tensor/strided_layout.h"
#include "tensor/tensor.h"

namespace cbnn {

enum class BinaryOp : uint8_t { add, sub, mul, div, maximum, minimum };
enum class CompareOp : uint8_t { eq, ne, lt, le, gt, ge };
const char* binary_op_name(BinaryOp op);
const char* compare_op_name(CompareOp op);

namespace cpu {
// T in {float, double, bfloat16} (compare, where: also int64_t, uint8_t)
template <class T>
void binary_forward(BinaryOp op, const T* a, const StridedLayout& la, const T* b,
                    const StridedLayout& lb, T* out, int64_t n);
template <class T>
void compare_forward(CompareOp op, const T* a, const StridedLayout& la, const T* b,
                     const StridedLayout& lb, uint8_t* out, int64_t n);
template <class T>
void where_forward(const uint8_t* cond, const StridedLayout& lc, const T* a,
                   const StridedLayout& la, const T* b, const StridedLayout& lb, T* out, int64_t n);
}  // namespace cpu

namespace cuda {
void binary_forward(BinaryOp op, const float* a, const StridedLayout& la, const float* b,
                    const StridedLayout& lb, float* out, int64_t n);
void binary_forward(BinaryOp op, const bfloat16* a, const StridedLayout& la, const bfloat16* b,
                    const StridedLayout& lb, bfloat16* out, int64_t n);
// T in {float, int64_t, uint8_t}
template <class T>
void compare_forward(CompareOp op, const T* a, const StridedLayout& la, const T* b,
                     const StridedLayout& lb, uint8_t* out, int64_t n);
void where_forward(const uint8_t* cond, const StridedLayout& lc, const float* a,
                   const StridedLayout& la, const float* b, const StridedLayout& lb, float* out,
                   int64_t n);
}  // namespace cuda

namespace ops {
Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b);
Tensor compare(CompareOp op, const Tensor& a, const Tensor& b);
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
inline Tensor add(const Tensor& a, const Tensor& b) { return binary(BinaryOp::add, a, b); }
inline Tensor sub(const Tensor& a, const Tensor& b) { return binary(BinaryOp::sub, a, b); }
inline Tensor mul(const Tensor& a, const Tensor& b) { return binary(BinaryOp::mul, a, b); }
inline Tensor div(const Tensor& a, const Tensor& b) { return binary(BinaryOp::div, a, b); }
}  // namespace ops

}  // namespace cbnn
