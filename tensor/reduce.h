#pragma once
// Reductions along one dimension. A contiguous tensor is viewed as (outer, R, inner) around the
// reduced dimension:
//   reduce_sum:  out[o, i] = sum_k x[o, k, i]
//   reduce_max:  out[o, i] = max_k x[o, k, i],  argmax[o, i] = first k attaining it
// mean = sum / R. sum_all reduces every element to a 0-d tensor; sum_to folds a broadcast
// gradient back onto a smaller shape (the backward of broadcasting).
//
// Determinism: the CUDA kernels use a fixed reduction tree (no atomics), so results are bitwise
// repeatable run to run. The CPU reference accumulates in double.
// bf16 input (sum, mean, sum_all): the sum is accumulated in float (CUDA) or double (CPU) and
// returned as f32, because what mixed precision reduces (losses, statistics, norms) wants FP32
// results; sum_to is the exception: it returns x's dtype, since it produces a gradient for an
// operand of that dtype (rounded once, after the whole sum). max rejects bf16.
// NaN in max propagates: the first NaN along the dimension is the result (value and index), so a
// diverged computation is not hidden.

#include <cstdint>

#include "tensor/bfloat16.h"
#include "tensor/tensor.h"

namespace cbnn {

namespace cpu {
// T in {float, double, bfloat16}; out is compute_t<T> (float for bf16)
template <class T>
void reduce_sum(const T* x, compute_t<T>* out, int64_t outer, int64_t r, int64_t inner);
template <class T>
void reduce_max(const T* x, T* out, int64_t* argmax, int64_t outer, int64_t r, int64_t inner);
}  // namespace cpu

namespace cuda {
void reduce_sum(const float* x, float* out, int64_t outer, int64_t r, int64_t inner);
void reduce_sum(const bfloat16* x, float* out, int64_t outer, int64_t r, int64_t inner);
void reduce_max(const float* x, float* out, int64_t* argmax, int64_t outer, int64_t r,
                int64_t inner);
}  // namespace cuda

namespace ops {
Tensor sum(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor mean(const Tensor& x, int64_t dim, bool keepdim = false);
// Values and first-occurrence indices (i64) of the maximum along dim.
struct MaxResult {
    Tensor values;
    Tensor indices;
};
MaxResult max(const Tensor& x, int64_t dim, bool keepdim = false);
// Sum over dimensions 0, 2 and 3 of a rank-4 (N, C, H, W) tensor in either memory format: (C);
// f32 for bf16 input, as sum. The per-channel sums of batch norm's and the convolution bias's
// gradients.
Tensor channel_sum(const Tensor& x);
// Sum of all elements as a 0-d tensor (shape []).
Tensor sum_all(const Tensor& x);
// Sums x over the dimensions that broadcasting expanded so the result has `shape`.
Tensor sum_to(const Tensor& x, const Shape& shape);
}  // namespace ops

}  // namespace cbnn
