#pragma once
// Differentiable tensor functions: the user-facing API. Each calls the op function in tensor/
// (which computes on CPU or CUDA) and, when grad mode is on and an input requires grad, records
// a backward node (autograd/node.h). Backward formulas are in each family's .cpp:
//   unary_functions.cpp   exp, log, sigmoid, ...      binary_functions.cpp  + - * / max min where
//   reduce_functions.cpp  sum, mean, max              index_functions.cpp   gather, index_select
//   matmul_functions.cpp  matmul                      view_functions.cpp    reshape, transpose, ...
// Comparisons, argmax and one_hot return integer tensors and are not differentiable.

#include <cstdint>

#include "tensor/tensor.h"

namespace cbnn {

// ---- unary ----------------------------------------------------------------------------------
Tensor neg(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor log1p(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor softplus(const Tensor& x);  // log(1 + e^x), stable for any x
Tensor relu(const Tensor& x);
Tensor abs(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor square(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor pow(const Tensor& x, double exponent);

// ---- binary (NumPy broadcasting) -------------------------------------------------------------
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
// Ties send the gradient to `a`.
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);
// cond: u8 (nonzero = take a). Differentiable in a and b.
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
// u8 results, not differentiable.
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);

Tensor operator-(const Tensor& x);
Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator+(const Tensor& a, double s);
Tensor operator-(const Tensor& a, double s);
Tensor operator*(const Tensor& a, double s);
Tensor operator/(const Tensor& a, double s);
Tensor operator+(double s, const Tensor& a);
Tensor operator-(double s, const Tensor& a);
Tensor operator*(double s, const Tensor& a);
Tensor operator/(double s, const Tensor& a);

// ---- reductions ------------------------------------------------------------------------------
Tensor sum(const Tensor& x);  // all elements, 0-d result
Tensor sum(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor mean(const Tensor& x);  // all elements, 0-d result
Tensor mean(const Tensor& x, int64_t dim, bool keepdim = false);
// Maximum along dim; the gradient goes to the first maximal element.
Tensor max(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim = false);  // i64
// log(sum(exp(x))) along dim, computed as m + log(sum(exp(x - m))) with m = max (no overflow).
Tensor logsumexp(const Tensor& x, int64_t dim, bool keepdim = false);

// ---- indexing --------------------------------------------------------------------------------
// out[i][j][k] = x[index[i][j][k]][j][k] for dim 0 (likewise for other dims); index i64 with the
// same number of dimensions as x; out has index's shape. Backward scatters (adds) into x's shape.
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);
// Selects entries of x along dim by a 1-D i64 index (repeats allowed). Backward adds per index.
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);
// labels: i64 of any shape, values in [0, num_classes); result shape labels.shape + [num_classes].
Tensor one_hot(const Tensor& labels, int64_t num_classes, DType dtype = DType::f32);

// ---- linear algebra --------------------------------------------------------------------------
// (M, K) x (K, N) -> (M, N). Either operand may be a transposed view (no copy is made).
// f32 uses FP32 math unless set_allow_tf32(true) (tensor/backend.h).
Tensor matmul(const Tensor& a, const Tensor& b);

}  // namespace cbnn
