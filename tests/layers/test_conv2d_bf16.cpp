// Conv2d in bf16 on the CPU (layers/conv2d.h, mixed precision): the op functions on bf16 operands
// against the float64 reference of the same values, the module's FP32 master weights (a bf16 input
// convolves with a bf16 cast of the f32 weight, whose gradient arrives in f32), and mixed-dtype
// misuse. The CUDA twin is Conv2dCuda.Bf16MatchesCpuFloat64.
#include <cmath>
#include <string>
#include <vector>

#include "autograd/functions.h"
#include "gtest/gtest.h"
#include "layers/conv2d.h"
#include "tensor/copy.h"
#include "tests/support/expect_error.h"
#include "tests/support/random.h"
#include "tests/support/tolerance.h"

namespace cbnn {
namespace {

using testing::random_tensor;

// |got - ref| <= n u sum|terms| (FP32 accumulation, u = 2^-24) + 2^-8 |ref| (one bf16 rounding of
// the output; twice the half-ulp for outputs the FP32 sum moved across a rounding boundary).
::testing::AssertionResult bf16_close(const Tensor& got, const Tensor& ref, const Tensor& terms,
                                      int64_t n, const std::string& what) {
    if (got.dtype() != DType::bf16)
        return ::testing::AssertionFailure() << what << ": dtype " << got.dtype();
    const std::vector<double> a = testing::host_values(got), e = testing::host_values(ref),
                              m = testing::host_values(terms);
    for (size_t i = 0; i < a.size(); ++i) {
        const double bound =
            static_cast<double>(n) * std::ldexp(m[i], -24) + std::ldexp(std::fabs(e[i]), -8);
        if (!(std::fabs(a[i] - e[i]) <= bound))
            return ::testing::AssertionFailure()
                   << what << ": element " << i << " is " << a[i] << ", expected " << e[i]
                   << " (bound " << bound << ")";
    }
    return ::testing::AssertionSuccess();
}

TEST(Conv2dBf16, OpsMatchTheFloat64ReferenceWithinOneRounding) {
    const int64_t N = 2, C = 5, H = 9, W = 8, K = 4, R = 3, stride = 2, pad = 1;
    const Tensor x = random_tensor({N, C, H, W}, -1, 1, 1, DType::f32).to(DType::bf16);
    const Tensor w = random_tensor({K, C, R, R}, -0.3, 0.3, 2, DType::f32).to(DType::bf16);
    const Tensor b = random_tensor({K}, -1, 1, 3, DType::f32).to(DType::bf16);
    const Conv2dShape s = conv2d_shape(x.shape(), w.shape(), stride, pad);
    const Tensor dy = random_tensor({N, K, s.P, s.Q}, -1, 1, 4, DType::f32).to(DType::bf16);
    const auto f64 = [](const Tensor& t) { return t.to(DType::f64); };
    const auto a64 = [](const Tensor& t) { return abs(t.to(DType::f64)); };

    EXPECT_TRUE(bf16_close(ops::conv2d_forward(x, w, b, stride, pad),
                           ops::conv2d_forward(f64(x), f64(w), f64(b), stride, pad),
                           ops::conv2d_forward(a64(x), a64(w), a64(b), stride, pad), C * R * R + 1,
                           "forward"));
    EXPECT_TRUE(bf16_close(ops::conv2d_backward_data(dy, w, x.shape(), stride, pad),
                           ops::conv2d_backward_data(f64(dy), f64(w), x.shape(), stride, pad),
                           ops::conv2d_backward_data(a64(dy), a64(w), x.shape(), stride, pad),
                           K * R * R, "backward data"));
    EXPECT_TRUE(bf16_close(ops::conv2d_backward_filter(x, dy, w.shape(), stride, pad),
                           ops::conv2d_backward_filter(f64(x), f64(dy), w.shape(), stride, pad),
                           ops::conv2d_backward_filter(a64(x), a64(dy), w.shape(), stride, pad),
                           N * s.P * s.Q, "backward filter"));
    EXPECT_TRUE(bf16_close(ops::conv2d_backward_bias(dy), ops::conv2d_backward_bias(f64(dy)),
                           ops::conv2d_backward_bias(a64(dy)), N * s.P * s.Q, "bias gradient"));
}

// The bf16 bias gradient sums through ops::channel_sum (cuDNN refuses bf16 there): dy in either
// layout against the reference of the same values, and an empty batch.
TEST(Conv2dBf16, BiasGradientOfEitherLayoutMatchesTheFloat64Reference) {
    const int64_t N = 3, K = 5, P = 4, Q = 6;
    const Tensor dy = random_tensor({N, K, P, Q}, -1, 1, 5, DType::f32).to(DType::bf16);
    const Tensor dy_nhwc = ops::dense(dy, MemoryFormat::channels_last);
    ASSERT_EQ(dy_nhwc.memory_format(), MemoryFormat::channels_last);
    const Tensor ref = ops::conv2d_backward_bias(dy.to(DType::f64));
    const Tensor terms = ops::conv2d_backward_bias(abs(dy.to(DType::f64)));
    EXPECT_TRUE(bf16_close(ops::conv2d_backward_bias(dy), ref, terms, N * P * Q, "NCHW"));
    EXPECT_TRUE(bf16_close(ops::conv2d_backward_bias(dy_nhwc), ref, terms, N * P * Q, "NHWC"));

    const Tensor empty = ops::conv2d_backward_bias(Tensor::zeros({0, K, P, Q}, DType::bf16));
    EXPECT_EQ(empty.dtype(), DType::bf16);
    EXPECT_EQ(empty.to(DType::f64).to_vector<double>(), std::vector<double>(K, 0.0));
}

// A bf16 input through the module: bf16 output, f32 parameter gradients (the master weights),
// close to the f32 module's gradients on the same input values. The bf16 path rounds dy, the
// output and dw to bf16 (2^-9 relative each), so the norm-relative difference is a few 2^-9
// (measured here: 2.1e-3 for the weight, 2.3e-3 for the bias); the bound 1e-2 is about 5x that
// and far below a wrong or missing gradient (O(1)).
TEST(Conv2dBf16, ModuleKeepsFloat32MasterWeights) {
    Generator gen(7);
    Conv2d conv(3, 6, 3, 1, 1, true, gen);
    const Tensor x = random_tensor({2, 3, 8, 8}, -1, 1, 8, DType::f32).to(DType::bf16);
    const Tensor upstream = random_tensor({2, 6, 8, 8}, -1, 1, 9, DType::f32);
    const auto grads = [&](const Tensor& input) {
        conv.weight().set_grad(Tensor());
        conv.bias().set_grad(Tensor());
        const Tensor y = conv(input);
        sum(y.to(DType::f32) * upstream).backward();
        return std::pair{y, std::vector<Tensor>{conv.weight().grad(), conv.bias().grad()}};
    };
    const auto [y16, g16] = grads(x);
    const auto [y32, g32] = grads(x.to(DType::f32));
    EXPECT_EQ(y16.dtype(), DType::bf16);
    EXPECT_EQ(conv.weight().dtype(), DType::f32);
    for (size_t i = 0; i < g16.size(); ++i) {
        ASSERT_TRUE(g16[i].defined());
        EXPECT_EQ(g16[i].dtype(), DType::f32) << "parameter " << i;
        const std::vector<double> a = testing::host_values(g16[i]),
                                  e = testing::host_values(g32[i]);
        double diff2 = 0, ref2 = 0;
        for (size_t k = 0; k < a.size(); ++k) {
            diff2 += (a[k] - e[k]) * (a[k] - e[k]);
            ref2 += e[k] * e[k];
        }
        EXPECT_LE(std::sqrt(diff2 / ref2), 1e-2) << "parameter " << i;
        EXPECT_GT(ref2, 0.0);
    }
    EXPECT_TRUE(testing::all_close(y16.to(DType::f32), y32, {1e-2, 1e-2}));
}

TEST(Conv2dBf16, MixedDtypesAreClearErrors) {
    const Tensor x = Tensor::zeros({1, 3, 8, 8}, DType::bf16);
    const Tensor w = Tensor::zeros({4, 3, 3, 3}, DType::f32);
    EXPECT_TRUE(testing::throws_error([&] { ops::conv2d_forward(x, w, Tensor(), 1, 1); },
                                      {"conv2d", "dtypes differ", "bf16", "f32"}));
    EXPECT_TRUE(testing::throws_error(
        [&] { ops::conv2d_forward(x, w.to(DType::bf16), Tensor::zeros({4}), 1, 1); },
        {"conv2d", "dtypes differ", "bias"}));
}

}  // namespace
}  // namespace cbnn
