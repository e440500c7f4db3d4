#pragma once
// Host copies of tensors for comparisons and CPU references: the values of the generic
// t.cpu().to(dtype), computed row by row over the host copy (an odometer over the outer
// dimensions), where the generic strided cast divides by every size for every element: a tenth
// of the speed on the CUDA tests' millions of elements. Every element converts with convert<>, as
// the cast's does, so the values are bitwise the cast's.

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
