#pragma once
// Host copies of tensors for comparisons and CPU references: the values of t.cpu() cast to a
// dtype, row-major, through the library's cast (tensor/copy.h, which walks rows of the last
// dimension), without a copy when t is such a tensor already.

#include <vector>

#include "tensor/tensor.h"

namespace cbnn::testing {

// The elements of t as doubles, row-major, copied to the host whatever its device and dtype.
std::vector<double> host_values(const Tensor& t);

// The values of t as a row-major tensor of `dtype` on the CPU: t itself when it is one already,
// else a new tensor, without autograd history.
Tensor host_as(const Tensor& t, DType dtype);
inline Tensor host_f64(const Tensor& t) { return host_as(t, DType::f64); }

}  // namespace cbnn::testing
