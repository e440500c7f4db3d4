#pragma once
// Indexing along one dimension: gather / scatter_add, index_select / index_add, one_hot.
//
// Layout. Every operand is contiguous and viewed as (outer, R, inner) around the indexed dimension
// `dim` (like tensor/reduce.h): outer = product of the sizes before dim, inner = product of the
// sizes after it, R = x's size along dim. Index values select a position in [0, R).
//
//   gather       x (outer, R, inner), index (outer, K, inner) -> out (outer, K, inner)
//                  out[o, k, i] = x[o, index[o, k, i], i]
//   scatter_add  (the backward of gather) src, index (outer, K, inner) -> out (outer, R, inner)
//                  out[o, r, i] = sum of src[o, k, i] over k = 0..K-1 with index[o, k, i] == r
//   index_select x (outer, R, inner), index (M) -> out (outer, M, inner)
//                  out[o, j, i] = x[o, index[j], i]
//   index_add    (the backward of index_select) src (outer, M, inner), index (M)
//                -> out (outer, R, inner)
//                  out[o, r, i] = sum of src[o, j, i] over j = 0..M-1 with index[j] == r
//   one_hot      labels (n) -> out (n, C):  out[p, c] = 1 if labels[p] == c else 0
//
// gather follows PyTorch: index has as many dimensions as x, and for d != dim index.size(d) may be
// smaller than x.size(d) (only the leading part of x along d is read). The op function narrows x
// (forward) or writes into the leading block of zeros of x's shape (backward), so the kernels only
// ever see equal outer/inner sizes.
//
// Determinism. Nothing uses atomics to add: the sums above are taken in increasing k (or j) order
// starting from 0, one thread per output element on CUDA (O(R*K) work per (outer, inner) line,
// which is fine for the typical K = 1 of losses, and O(R*M) for index_add), a plain loop on the
// CPU (which adds in T, not double, for that reason). So CUDA results are bitwise repeatable, and
// f32 results agree bitwise between CPU and CUDA.
//
// Index checks. Every index (label) must lie in [0, R) ([0, num_classes)); otherwise the op throws
// cbnn::Error naming the op, the bad value, its position and the valid range. The CPU kernels check
// while computing. On CUDA the op function runs cuda::find_out_of_range first, which costs a small
// reduction kernel and an 8-byte device-to-host copy, i.e. a stream synchronisation per call. While
// the cbnn stream is being captured into a CUDA graph no host copy is possible: the check is then
// skipped, and the kernels still never touch memory out of bounds (gather/index_select write NaN
// for a bad index, one_hot writes a row of zeros, scatter_add/index_add ignore it).
// The autograd backward calls scatter_add/index_add with indices_checked = true (the forward
// checked the same, unmodified index), which skips the CUDA synchronisation.

#include <cstdint>

#include "tensor/tensor.h"

namespace cbnn {

namespace cpu {
// T is float or double. Each throws cbnn::Error at the first index outside [0, r).
template <class T>
void gather(const T* x, const int64_t* index, T* out, int64_t outer, int64_t r, int64_t k,
            int64_t inner);
template <class T>
void scatter_add(const T* src, const int64_t* index, T* out, int64_t outer, int64_t r, int64_t k,
                 int64_t inner);
template <class T>
void index_select(const T* x, const int64_t* index, T* out, int64_t outer, int64_t r, int64_t m,
                  int64_t inner);
template <class T>
void index_add(const T* src, const int64_t* index, T* out, int64_t outer, int64_t r, int64_t m,
               int64_t inner);
template <class T>
void one_hot(const int64_t* labels, T* out, int64_t n, int64_t num_classes);
}  // namespace cpu

namespace cuda {
// Same parameters as the CPU kernels, f32. They do not check indices (see above).
void gather(const float* x, const int64_t* index, float* out, int64_t outer, int64_t r, int64_t k,
            int64_t inner);
void scatter_add(const float* src, const int64_t* index, float* out, int64_t outer, int64_t r,
                 int64_t k, int64_t inner);
void index_select(const float* x, const int64_t* index, float* out, int64_t outer, int64_t r,
                  int64_t m, int64_t inner);
void index_add(const float* src, const int64_t* index, float* out, int64_t outer, int64_t r,
               int64_t m, int64_t inner);
void one_hot(const int64_t* labels, float* out, int64_t n, int64_t num_classes);
// Writes to *first (one device i64) the smallest position p with index[p] outside [0, limit), or
// n when every index is valid. Asynchronous; the caller copies *first to the host.
void find_out_of_range(const int64_t* index, int64_t n, int64_t limit, int64_t* first);
// True while the cbnn stream is being captured into a CUDA graph (no host copies allowed).
bool index_check_capturing();
}  // namespace cuda

namespace ops {
// The first position of the CUDA i64 tensor `index` whose value is outside [0, limit), or
// index.numel() when there is none: cuda::find_out_of_range and one synchronising 8-byte copy.
// While the stream is being captured into a CUDA graph it checks nothing and returns numel().
int64_t first_out_of_range(const Tensor& index, int64_t limit);

// x: f32/f64 (f32 on CUDA); index: i64 on x's device, same number of dimensions as x,
// index.size(d) <= x.size(d) for d != dim. Result: index's shape, x's dtype.
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);
// The backward of gather: zeros of `shape` (x's shape) with src added at index along dim.
// src and index have the same shape. indices_checked: see "Index checks" above.
Tensor scatter_add(const Tensor& src, int64_t dim, const Tensor& index, const Shape& shape,
                   bool indices_checked = false);
// index: 1-D i64 (repeats allowed). Result: x's shape with shape[dim] = index.numel().
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);
// The backward of index_select: zeros of `shape` (x's shape) with src[.., j, ..] added at
// index[j] along dim. src has `shape` with shape[dim] = index.numel().
Tensor index_add(const Tensor& src, int64_t dim, const Tensor& index, const Shape& shape,
                 bool indices_checked = false);
// labels: i64 of any shape; dtype f32 or f64 (f32 on CUDA); num_classes > 0.
// Result: labels.shape + [num_classes] on labels' device.
Tensor one_hot(const Tensor& labels, int64_t num_classes, DType dtype = DType::f32);
}  // namespace ops

}  // namespace cbnn
