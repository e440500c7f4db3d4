#pragma once
// Checks of CUDA convolutions against the CPU float64 reference, shared by the cuDNN tests
// (tests/layers/test_conv2d_cuda.cpp) and the tests of cbnn's own kernels
// (tests/layers/test_conv2d_igemm_cuda.cpp): a problem of random inputs, the four ops on it, and
// error bounds for FP32, bf16 and TF32 arithmetic.

#include <cstdint>
#include <string>

#include "gtest/gtest.h"
#include "layers/conv2d.h"
#include "tensor/tensor.h"

namespace cbnn::testing {

// x (N, C, H, W), w (K, C, R, S), square stride and padding.
struct Case {
    int64_t N, C, H, W, K, R, S, stride, pad;
    std::string str() const;
};

struct Results {
    Tensor y, dx, dw, db;
};

// The forward, data-gradient, filter-gradient and bias-gradient ops on these operands.
Results run(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& dy, const Case& c);

// f32 inputs (the GPU gets exactly these values; the reference their f64 copies). The weight is
// scaled by 1/sqrt(C*R*S) so outputs are O(1) whatever the fan-in.
struct Problem {
    Tensor x, w, b, dy;
};
Problem make_problem(const Case& c, uint64_t seed);
// A problem's values rounded to bf16 (the GPU and the reference both get exactly these).
Problem bf16_problem(const Case& c, uint64_t seed);

// The ops on the f64 copies of the problem, on the CPU.
Results reference(const Problem& p, const Case& c);
// The ops on the problem moved to the GPU (NCHW); expects every result on the GPU.
Results on_gpu(const Problem& p, const Case& c);
// The same with channels-last x and dy (NHWC data, KRSC filters): y, dx and dw come out
// channels-last, which this expects where the format is not ambiguous.
Results on_gpu_channels_last(const Problem& p, const Case& c);

// FP32 error bound for a sum of n products, whatever the order or algorithm cuDNN picks:
// |got - ref| <= n * u * sum|terms| (u = 2^-24, the f32 unit roundoff; the classic worst case of
// recursive summation), where sum|terms| is the same convolution of the absolute values in f64.
// A bound relative to |ref| does not hold: an output that cancels to near zero keeps the absolute
// error of its large terms. Measured on an H100 (2026-11-26), backward filter: 2.8e-5 on an output
// of 4.2e-3 (x [4, 32, 16, 16], sum|terms| 220.5: 2.1 u sum|terms|) and 3.7e-5 on -2.05e-2
// (x [4, 64, 8, 8], sum|terms| 48.9: 12.7 u sum|terms|), which a relative bound of 1.6e-4 failed
// and this one passes with room (n = 1024 and 256). A wrong index or a missed term is off by a
// whole term, ~sum|terms| / sqrt(n), far above it. The worst ratio error / (u sum|terms|) is
// printed, so each GPU run records it; in docs/measurements/h100-2026-11-26-run3-cuda_tests.txt
// (heuristic and timed algorithms) the largest was 19.7 (backward filter, n = 256) and the
// closest to its bound 0.65 u |term| for a single product (n = 1, bound u).
// `rounding`: a relative error allowed on top, for outputs stored in a narrower type (bf16).
::testing::AssertionResult within_sum_bound(const Tensor& got, const Tensor& ref,
                                            const Tensor& abs_terms, int64_t n,
                                            const std::string& what, double rounding = 0.0);
// The four ops on |x|, |w|, |b|, |dy| in f64: the sum|terms| of within_sum_bound.
Results absolute_terms(const Problem& p, const Case& c);

// All four results within within_sum_bound. `ref` defaults to the f64 reference of the ops (the
// autograd test passes its own); `label` prefixes the messages; `rounding` as in
// within_sum_bound.
void expect_close(const Results& got, const Problem& p, const Case& c,
                  const Results* given_ref = nullptr, const std::string& label = "",
                  double rounding = 0.0);

// bf16 outputs: one rounding of the result, 2^-8 |ref| (twice the half-ulp 2^-9, for an output
// within rounding of a bf16 boundary after the FP32 sum moved it across), on top of the FP32
// bounds.
inline const double kBf16Rounding = 0.00390625;

// TF32 rounds both operands to 10 mantissa bits (unit roundoff 2^-11 ~ 4.9e-4), so each product
// carries ~1e-3 relative error, and an output that cancels to near zero is not relatively close.
// The bound is therefore on the largest error relative to the largest reference value:
// max|got - ref| <= 5e-3 max|ref|, about 5x the worst case expected from sqrt(n) growth.
::testing::AssertionResult tf32_close(const Tensor& got, const Tensor& ref);
// All four results tf32_close to the reference's; `label` prefixes the messages.
void expect_tf32_close(const Results& got, const Results& ref, const Case& c,
                       const std::string& label);

}  // namespace cbnn::testing
