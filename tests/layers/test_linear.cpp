// Linear: hand-computed values, float64 gradient checks in x, weight and bias, f32 vs f64, the
// module's parameters and initialisation, and bad-input errors.
#include <cmath>
#include <string>
#include <vector>

#include "autograd/functions.h"
#include "autograd/grad_mode.h"
#include "autograd/gradcheck.h"
#include "gtest/gtest.h"
#include "layers/linear.h"
#include "tests/support/expect_error.h"
#include "tests/support/random.h"
#include "tests/support/tolerance.h"

namespace cbnn {
namespace {

using testing::all_close;
using testing::random_tensor;
using testing::throws_error;

void set_values(const Tensor& param, const Tensor& values) {
    NoGradGuard no_grad;
    Tensor(param).copy_(values);
}

TEST(Linear, HandComputedValues) {
    // x = [1 2 3; 4 5 6], W = [1 0 -1; .5 .5 .5], b = [10, -1]
    // y = x W^T + b = [1-3+10, 3-1; 4-6+10, 7.5-1] = [8 2; 8 6.5]
    for (DType dtype : {DType::f32, DType::f64}) {
        Generator gen(1);
        Linear fc(3, 2, true, gen, dtype);
        set_values(fc.weight(), Tensor::from_vector<double>({1, 0, -1, .5, .5, .5}, {2, 3}));
        set_values(fc.bias(), Tensor::from_vector<double>({10, -1}, {2}));
        const Tensor x = Tensor::from_vector<double>({1, 2, 3, 4, 5, 6}, {2, 3}).to(dtype);
        const Tensor y = fc(x);
        EXPECT_EQ(y.shape(), (Shape{2, 2}));
        EXPECT_EQ(y.dtype(), dtype);
        EXPECT_EQ(y.to(DType::f64).to_vector<double>(), (std::vector<double>{8, 2, 8, 6.5}));
    }
}

TEST(Linear, GradcheckFloat64InInputWeightAndBias) {
    using autograd::gradcheck;
    const auto with_bias = [](const std::vector<Tensor>& t) { return linear(t[0], t[1], t[2]); };
    const auto without_bias = [](const std::vector<Tensor>& t) {
        return linear(t[0], t[1], Tensor());
    };
    struct Case {
        int64_t n, in, out;
    };
    uint64_t seed = 10;
    for (const Case& c : {Case{4, 5, 3}, Case{1, 7, 2}, Case{3, 1, 6}, Case{2, 4, 1}}) {
        const Tensor x = random_tensor({c.n, c.in}, -1, 1, seed++);
        const Tensor w = random_tensor({c.out, c.in}, -1, 1, seed++);
        const Tensor b = random_tensor({c.out}, -1, 1, seed++);
        const auto r = gradcheck(with_bias, {x, w, b});
        EXPECT_TRUE(r.ok) << r.message;
        EXPECT_EQ(r.checked, x.numel() + w.numel() + b.numel());
        const auto r2 = gradcheck(without_bias, {x, w});
        EXPECT_TRUE(r2.ok) << r2.message;
    }
}

TEST(Linear, ModuleBackwardMatchesTheFormulas) {
    // dx = dy W, dW = dy^T x, db = sum_n dy
    Generator gen(2);
    Linear fc(6, 4, true, gen, DType::f64);
    Tensor x = random_tensor({5, 6}, -1, 1, 20).set_requires_grad();
    const Tensor dy = random_tensor({5, 4}, -1, 1, 21);
    fc(x).backward(dy);
    const Tensor w = fc.weight().detach();
    EXPECT_TRUE(all_close(x.grad(), matmul(dy, w), testing::kF64Exact));
    EXPECT_TRUE(all_close(fc.weight().grad(), matmul(dy.t(), x.detach()), testing::kF64Exact));
    EXPECT_TRUE(all_close(fc.bias().grad(), sum(dy, 0), testing::kF64Exact));
}

TEST(Linear, Float32MatchesFloat64) {
    Generator gen(3);
    const int64_t in = 64;
    Linear fc(in, 10, true, gen);
    set_values(fc.bias(), random_tensor({10}, -1, 1, 30));
    const Tensor x = random_tensor({128, in}, -1, 1, 31, DType::f32);
    const Tensor y32 = fc(x);
    const Tensor y64 = linear(x.to(DType::f64), fc.weight().detach().to(DType::f64),
                              fc.bias().detach().to(DType::f64));
    EXPECT_EQ(y32.dtype(), DType::f32);
    EXPECT_TRUE(all_close(y32, y64, testing::f32_sum_tolerance(in)));
}

TEST(Linear, ModuleParametersAndInitialisation) {
    Generator gen(4);
    Linear fc(64, 100, true, gen);
    EXPECT_EQ(fc.type_name(), "Linear");
    EXPECT_EQ(fc.in_features(), 64);
    EXPECT_EQ(fc.out_features(), 100);
    EXPECT_EQ(fc.parameter_count(), 64 * 100 + 100);
    ASSERT_EQ(fc.named_parameters().size(), 2u);
    EXPECT_EQ(fc.named_parameters()[0].first, "weight");
    EXPECT_EQ(fc.named_parameters()[1].first, "bias");
    EXPECT_TRUE(fc.named_parameters()[0].second.is_same(fc.weight()));
    EXPECT_EQ(fc.weight().shape(), (Shape{100, 64}));
    EXPECT_EQ(fc.weight().dtype(), DType::f32);
    EXPECT_TRUE(fc.weight().requires_grad());
    EXPECT_EQ(fc.bias().to_vector<float>(), std::vector<float>(100, 0.f));
    // Glorot uniform: |w| <= sqrt(6 / (64 + 100)), and not all zero.
    const double bound = std::sqrt(6.0 / 164.0);
    double max_abs = 0;
    for (float v : fc.weight().to_vector<float>())
        max_abs = std::max(max_abs, double(std::fabs(v)));
    EXPECT_LE(max_abs, bound);
    EXPECT_GT(max_abs, 0.9 * bound);
    // Same seed, same weights.
    Generator again(4);
    EXPECT_EQ(Linear(64, 100, true, again).weight().to_vector<float>(),
              fc.weight().to_vector<float>());
}

TEST(Linear, WithoutBias) {
    Generator gen(5);
    Linear fc(3, 2, false, gen);
    EXPECT_FALSE(fc.bias().defined());
    ASSERT_EQ(fc.named_parameters().size(), 1u);
    EXPECT_EQ(fc.parameter_count(), 6);
    const Tensor x = random_tensor({4, 3}, -1, 1, 50, DType::f32);
    EXPECT_EQ(fc(x).to_vector<float>(), matmul(x, fc.weight().detach().t()).to_vector<float>());
}

TEST(Linear, EmptyBatch) {
    Generator gen(6);
    Linear fc(3, 2, true, gen);
    EXPECT_EQ(fc(Tensor::zeros({0, 3})).shape(), (Shape{0, 2}));
}

TEST(Linear, BadInputsAreClearErrors) {
    Generator gen(7);
    Linear fc(64, 10, true, gen);
    EXPECT_TRUE(throws_error(
        [&] {
            fc(Tensor::zeros({8, 63}));
        },
        {"linear: input has 63 features, weight expects 64", "f32[8, 63]"}));
    EXPECT_TRUE(throws_error([&] { fc(Tensor::zeros({64})); },
                             {"expected a 2-D input (N, in_features), got f32[64]"}));
    EXPECT_TRUE(throws_error(
        [&] {
            fc(Tensor::zeros({8, 64, 1, 1}));
        },
        {"[8, 64, 1, 1]", "flatten"}));
    EXPECT_TRUE(throws_error(
        [&] {
            fc(Tensor::zeros({8, 64}, DType::f64));
        },
        {"weight f32[10, 64]", "f64[8, 64]", "different dtypes"}));
    EXPECT_TRUE(throws_error(
        [&] {
            fc(Tensor::zeros({8, 64}, DType::i64));
        },
        {"floating", "i64[8, 64]"}));
    EXPECT_THROW(fc(Tensor()), Error);
    EXPECT_TRUE(throws_error(
        [&] {
            linear(Tensor::zeros({2, 3}), Tensor::zeros({4, 3}), Tensor::zeros({3}));
        },
        {"bias of [4]", "f32[3]"}));
    EXPECT_TRUE(throws_error(
        [&] {
            linear(Tensor::zeros({2, 3}), Tensor::zeros({3}), Tensor());
        },
        {"2-D weight", "f32[3]"}));
    EXPECT_TRUE(throws_error([&] { Linear(0, 10, true, gen); }, {"positive", "0 and 10"}));
    EXPECT_TRUE(throws_error([&] { Linear(3, 2, true, gen, DType::i64); }, {"floating", "i64"}));
}

}  // namespace
}  // namespace cbnn
