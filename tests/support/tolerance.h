#pragma once
// The one tolerance table for numeric comparisons in tests. A test that needs a looser bound
// writes its own with a comment giving the measured error and why.
//
//   kind                         atol     rtol    why
//   f32 vs f64 reference         1e-5     1e-4    one f32 rounding per elementwise op (2^-24 ~
//   6e-8),
//                                                  growing with the length of reductions
//   CUDA f32 vs CPU f64          1e-5     1e-4    same, plus device libm (<= 2 ulp) and a different
//                                                  summation order
//   f32 reduction over n terms   1e-5     1e-4 + n * 6e-8 (the classic bound for tree sums)
//   f64 vs hand-computed value   1e-12    1e-10   exact formulas evaluated in double

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tensor/tensor.h"
#include "tests/support/host.h"

namespace cbnn::testing {

struct Tolerance {
    double atol;
    double rtol;
};

inline constexpr Tolerance kF32VsF64{1e-5, 1e-4};
inline constexpr Tolerance kCudaVsCpu{1e-5, 1e-4};
inline constexpr Tolerance kF64Exact{1e-12, 1e-10};
inline Tolerance f32_sum_tolerance(int64_t terms) {
    return {1e-5, 1e-4 + static_cast<double>(terms) * 6e-8};
}

// ||got - ref|| / ||ref|| (Euclidean norms over all elements, in f64 on the host): the error of
// a whole tensor where elementwise bounds do not apply (ill-conditioned gradients, bf16).
double norm_relative_error(const Tensor& got, const Tensor& ref);

// Compares every element (after converting both to f64 on the CPU); reports the worst element.
::testing::AssertionResult all_close(const Tensor& actual, const Tensor& expected, Tolerance tol);
::testing::AssertionResult all_close(const std::vector<double>& actual,
                                     const std::vector<double>& expected, Tolerance tol);

}  // namespace cbnn::testing
