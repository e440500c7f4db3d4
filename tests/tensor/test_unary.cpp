// Elementwise unary ops (tensor/unary.h) and their differentiable wrappers (autograd/functions.h):
// values against std:: and hand-computed numbers in f64, float64 gradchecks, the overflow-free
// sigmoid/softplus in f32, and f32 against f64.
#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "autograd/functions.h"
#include "autograd/gradcheck.h"
#include "gtest/gtest.h"
#include "tensor/unary.h"
#include "tests/support/expect_error.h"
#include "tests/support/random.h"
#include "tests/support/tolerance.h"

namespace cbnn {
namespace {

using testing::all_close;
using testing::kF32VsF64;
using testing::kF64Exact;

struct UnaryCase {
    UnaryOp op;
    double alpha;
    double lo, hi;  // an input range inside the op's domain
    std::function<double(double)> expected;
};

std::vector<UnaryCase> all_unary_cases() {
    return {
        {UnaryOp::neg, 0, -3, 3, [](double x) { return -x; }},
        {UnaryOp::exp, 0, -3, 3, [](double x) { return std::exp(x); }},
        {UnaryOp::log, 0, 0.1, 5, [](double x) { return std::log(x); }},
        {UnaryOp::log1p, 0, -0.9, 5, [](double x) { return std::log1p(x); }},
        {UnaryOp::sigmoid, 0, -6, 6, [](double x) { return 1 / (1 + std::exp(-x)); }},
        {UnaryOp::softplus, 0, -6, 6, [](double x) { return std::log(1 + std::exp(x)); }},
        {UnaryOp::relu, 0, -3, 3, [](double x) { return x > 0 ? x : 0.0; }},
        {UnaryOp::abs, 0, -3, 3, [](double x) { return x < 0 ? -x : x; }},
        {UnaryOp::sqrt, 0, 0, 5, [](double x) { return std::sqrt(x); }},
        {UnaryOp::square, 0, -3, 3, [](double x) { return x * x; }},
        {UnaryOp::tanh, 0, -3, 3,
         [](double x) { return (std::exp(x) - std::exp(-x)) / (std::exp(x) + std::exp(-x)); }},
        {UnaryOp::add_scalar, 1.5, -3, 3, [](double x) { return x + 1.5; }},
        {UnaryOp::mul_scalar, -2.5, -3, 3, [](double x) { return x * -2.5; }},
        {UnaryOp::div_scalar, 4.0, -3, 3, [](double x) { return x / 4.0; }},
        {UnaryOp::rsub_scalar, 0.75, -3, 3, [](double x) { return 0.75 - x; }},
        {UnaryOp::rdiv_scalar, 3.0, 0.2, 3, [](double x) { return 3.0 / x; }},
        {UnaryOp::pow_scalar, 2.5, 0.1, 3, [](double x) { return x * x * std::sqrt(x); }},
    };
}

TEST(Unary, EveryOpMatchesItsFormulaInF64) {
    const std::vector<UnaryCase> cases = all_unary_cases();
    ASSERT_EQ(cases.size(), 17u) << "a UnaryOp was added: give it a case here";
    uint64_t seed = 100;
    for (const UnaryCase& c : cases) {
        SCOPED_TRACE(unary_op_name(c.op));
        const Tensor x = testing::random_tensor({3, 5}, c.lo, c.hi, seed++);
        const Tensor y = ops::unary(c.op, x, c.alpha);
        EXPECT_EQ(y.shape(), x.shape());
        EXPECT_EQ(y.dtype(), DType::f64);
        std::vector<double> expected;
        for (double v : x.to_vector<double>()) expected.push_back(c.expected(v));
        EXPECT_TRUE(all_close(y.to_vector<double>(), expected, kF64Exact));
    }
}

TEST(Unary, HandComputedValues) {
    const Tensor x = Tensor::from_vector<double>({-1.0, 0.0, 1.0, 2.0}, {4});
    auto values = [&](UnaryOp op, double alpha = 0.0) {
        return ops::unary(op, x, alpha).to_vector<double>();
    };
    const double e = 2.718281828459045;
    EXPECT_TRUE(all_close(values(UnaryOp::exp), {1 / e, 1.0, e, 7.38905609893065}, kF64Exact));
    EXPECT_TRUE(all_close(values(UnaryOp::sigmoid),
                          {0.2689414213699951, 0.5, 0.7310585786300049, 0.8807970779778823},
                          kF64Exact));
    EXPECT_TRUE(
        all_close(values(UnaryOp::softplus),
                  {0.31326168751822286, 0.6931471805599453, 1.3132616875182228, 2.1269280110429727},
                  kF64Exact));
    EXPECT_TRUE(all_close(values(UnaryOp::tanh),
                          {-0.7615941559557649, 0.0, 0.7615941559557649, 0.9640275800758169},
                          kF64Exact));
    EXPECT_TRUE(all_close(values(UnaryOp::relu), {0, 0, 1, 2}, kF64Exact));
    EXPECT_TRUE(all_close(values(UnaryOp::abs), {1, 0, 1, 2}, kF64Exact));
    EXPECT_TRUE(all_close(values(UnaryOp::square), {1, 0, 1, 4}, kF64Exact));
    EXPECT_TRUE(all_close(
        values(UnaryOp::log1p),
        {-std::numeric_limits<double>::infinity(), 0.0, 0.6931471805599453, 1.0986122886681098},
        kF64Exact));
    EXPECT_TRUE(all_close(values(UnaryOp::pow_scalar, 3.0), {-1, 0, 1, 8}, kF64Exact));
    EXPECT_TRUE(all_close(values(UnaryOp::rsub_scalar, 1.0), {2, 1, 0, -1}, kF64Exact));
}

TEST(Unary, OutsideTheDomainGivesNanOrInfLikeLibm) {
    const Tensor x = Tensor::from_vector<double>({-1.0, 0.0}, {2});
    const std::vector<double> log = ops::unary(UnaryOp::log, x).to_vector<double>();
    EXPECT_TRUE(std::isnan(log[0]));
    EXPECT_EQ(log[1], -std::numeric_limits<double>::infinity());
    EXPECT_TRUE(std::isnan(ops::unary(UnaryOp::sqrt, x).to_vector<double>()[0]));
    EXPECT_EQ(ops::unary(UnaryOp::rdiv_scalar, x, 1.0).to_vector<double>()[1],
              std::numeric_limits<double>::infinity());
}

TEST(Unary, BackwardKernelMatchesHandDerivatives) {
    // f'(x) at x = 0.5 with dy = 2, so dx = 2 f'(0.5).
    const double x0 = 0.5, s = 1 / (1 + std::exp(-x0));
    const std::vector<std::pair<UnaryOp, double>> derivative = {
        {UnaryOp::neg, -1.0},
        {UnaryOp::exp, std::exp(x0)},
        {UnaryOp::log, 1 / x0},
        {UnaryOp::log1p, 1 / (1 + x0)},
        {UnaryOp::sigmoid, s * (1 - s)},
        {UnaryOp::softplus, s},
        {UnaryOp::relu, 1.0},
        {UnaryOp::abs, 1.0},
        {UnaryOp::sqrt, 0.5 / std::sqrt(x0)},
        {UnaryOp::square, 2 * x0},
        {UnaryOp::tanh, 1 - std::tanh(x0) * std::tanh(x0)},
    };
    const Tensor x = Tensor::from_vector<double>({x0}, {1});
    const Tensor dy = Tensor::from_vector<double>({2.0}, {1});
    for (const auto& [op, d] : derivative) {
        SCOPED_TRACE(unary_op_name(op));
        const Tensor y = ops::unary(op, x);
        EXPECT_TRUE(
            all_close(ops::unary_backward(op, x, y, dy).to_vector<double>(), {2 * d}, kF64Exact));
    }
    const Tensor y = ops::unary(UnaryOp::pow_scalar, x, 3.0);
    EXPECT_TRUE(
        all_close(ops::unary_backward(UnaryOp::pow_scalar, x, y, dy, 3.0).to_vector<double>(),
                  {2 * 3 * x0 * x0}, kF64Exact));
}

// ---- gradients ----------------------------------------------------------------------------------

void expect_gradcheck(const autograd::GradcheckFunction& f, const std::vector<Tensor>& inputs) {
    const autograd::GradcheckResult r = autograd::gradcheck(f, inputs);
    EXPECT_TRUE(r.ok) << r.message;
    EXPECT_GT(r.checked, 0);
}

struct GradCase {
    const char* name;
    std::function<Tensor(const Tensor&)> f;
    double lo, hi;
    std::vector<double> kinks;
};

TEST(Unary, GradcheckEveryDifferentiableFunction) {
    const std::vector<GradCase> cases = {
        {"neg", [](const Tensor& x) { return neg(x); }, -2, 2, {}},
        {"operator-", [](const Tensor& x) { return -x; }, -2, 2, {}},
        {"exp", [](const Tensor& x) { return exp(x); }, -2, 2, {}},
        {"log", [](const Tensor& x) { return log(x); }, 0.3, 3, {}},
        {"log1p", [](const Tensor& x) { return log1p(x); }, -0.7, 3, {}},
        {"sigmoid", [](const Tensor& x) { return sigmoid(x); }, -4, 4, {}},
        {"softplus", [](const Tensor& x) { return softplus(x); }, -4, 4, {}},
        {"relu", [](const Tensor& x) { return relu(x); }, -2, 2, {0.0}},
        {"abs", [](const Tensor& x) { return abs(x); }, -2, 2, {0.0}},
        {"sqrt", [](const Tensor& x) { return sqrt(x); }, 0.3, 4, {}},
        {"square", [](const Tensor& x) { return square(x); }, -2, 2, {}},
        {"tanh", [](const Tensor& x) { return tanh(x); }, -2, 2, {}},
        {"pow 2.5", [](const Tensor& x) { return pow(x, 2.5); }, 0.3, 2, {}},
        {"pow -1.5", [](const Tensor& x) { return pow(x, -1.5); }, 0.3, 2, {}},
        {"pow 3", [](const Tensor& x) { return pow(x, 3.0); }, -2, 2, {}},
        {"x + s", [](const Tensor& x) { return x + 1.25; }, -2, 2, {}},
        {"x - s", [](const Tensor& x) { return x - 1.25; }, -2, 2, {}},
        {"s + x", [](const Tensor& x) { return 1.25 + x; }, -2, 2, {}},
        {"s - x", [](const Tensor& x) { return 1.25 - x; }, -2, 2, {}},
        {"x * s", [](const Tensor& x) { return x * -3.0; }, -2, 2, {}},
        {"s * x", [](const Tensor& x) { return -3.0 * x; }, -2, 2, {}},
        {"x / s", [](const Tensor& x) { return x / 0.4; }, -2, 2, {}},
        {"s / x", [](const Tensor& x) { return 2.0 / x; }, 0.3, 2, {}},
        {"s / negative x", [](const Tensor& x) { return 2.0 / x; }, -2, -0.3, {}},
    };
    uint64_t seed = 7;
    for (const GradCase& c : cases) {
        SCOPED_TRACE(c.name);
        const Tensor x = testing::random_tensor_avoiding({2, 3}, c.lo, c.hi, seed++, c.kinks, 0.05);
        expect_gradcheck([&](const std::vector<Tensor>& in) { return c.f(in[0]); }, {x});
    }
}

TEST(Unary, GradientOfAComposedChainMatchesHandFormula) {
    // d/dx sum(w * exp(2x)) = 2 w exp(2x)
    Tensor x = Tensor::from_vector<double>({0.1, -0.4, 0.7}, {3});
    x.set_requires_grad();
    const Tensor w = Tensor::from_vector<double>({1.0, -2.0, 0.5}, {3});
    sum(w * exp(x * 2.0)).backward();
    EXPECT_TRUE(all_close(x.grad().to_vector<double>(),
                          {2 * std::exp(0.2), -4 * std::exp(-0.8), std::exp(1.4)}, kF64Exact));
}

TEST(Unary, NonContiguousInputIsReadInLogicalOrder) {
    const Tensor x = Tensor::from_vector<double>({1, 2, 3, 4, 5, 6}, {2, 3}).t();
    EXPECT_EQ(ops::unary(UnaryOp::square, x).to_vector<double>(),
              (std::vector<double>{1, 16, 4, 25, 9, 36}));
    EXPECT_TRUE(ops::unary(UnaryOp::square, x).is_contiguous());
}

TEST(Unary, IntegerInputIsAClearError) {
    const Tensor i = Tensor::arange(3);
    EXPECT_TRUE(testing::throws_error([&] { ops::unary(UnaryOp::exp, i); }, {"exp", "i64"}));
    EXPECT_TRUE(testing::throws_error([&] { sigmoid(Tensor()); }, {"sigmoid", "undefined"}));
}

TEST(Unary, EmptyTensorGivesEmptyResult) {
    const Tensor x = Tensor::zeros({0, 3});
    const Tensor y = exp(x);
    EXPECT_EQ(y.shape(), (Shape{0, 3}));
    EXPECT_EQ(y.numel(), 0);
}

// ---- numerical stability in f32 -----------------------------------------------------------------

bool all_finite(const std::vector<float>& v) {
    for (float x : v)
        if (!std::isfinite(x)) return false;
    return true;
}

TEST(Unary, SigmoidAndSoftplusAreStableForLargeInputsInF32) {
    const std::vector<float> big = {1e4f, 88.f, 89.f, 90.f, 95.f, 100.f};
    std::vector<float> values = big;
    for (float v : big) values.push_back(-v);
    const Tensor x = Tensor::from_vector<float>(values, {static_cast<int64_t>(values.size())});

    const std::vector<float> s = ops::unary(UnaryOp::sigmoid, x).to_vector<float>();
    const std::vector<float> sp = ops::unary(UnaryOp::softplus, x).to_vector<float>();
    ASSERT_TRUE(all_finite(s));
    ASSERT_TRUE(all_finite(sp));
    for (size_t i = 0; i < big.size(); ++i) {
        const size_t j = i + big.size();  // -big[i]
        EXPECT_EQ(s[i], 1.f) << big[i];
        EXPECT_GE(s[j], 0.f) << -big[i];
        EXPECT_LT(s[j], 1e-38f) << -big[i];
        // softplus(x) = x + log1p(e^-x) rounds to x in f32; softplus(-x) = log1p(e^-x) ~ e^-x.
        EXPECT_EQ(sp[i], big[i]);
        EXPECT_GE(sp[j], 0.f);
        EXPECT_LE(sp[j], static_cast<float>(std::exp(-static_cast<double>(big[i])) * 1.01 + 1e-45));
    }

    // Backward: sigmoid' = s(1 - s) -> 0 and softplus' = sigmoid, both without NaN.
    Tensor xg = x.clone();
    xg.set_requires_grad();
    sum(sigmoid(xg) + softplus(xg)).backward();
    const std::vector<float> g = xg.grad().to_vector<float>();
    ASSERT_TRUE(all_finite(g));
    for (size_t i = 0; i < big.size(); ++i) {
        EXPECT_EQ(g[i], 1.f) << big[i];                   // 0 + 1
        EXPECT_LT(g[i + big.size()], 1e-37f) << -big[i];  // ~2 e^-x
    }
}

TEST(Unary, F32AgreesWithF64) {
    uint64_t seed = 300;
    for (const UnaryCase& c : all_unary_cases()) {
        SCOPED_TRACE(unary_op_name(c.op));
        const Tensor x64 = testing::random_tensor({64}, c.lo, c.hi, seed++);
        // Round the inputs to f32 first, so both precisions see the same x.
        const Tensor x32 = x64.to(DType::f32);
        const Tensor ref = ops::unary(c.op, x32.to(DType::f64), c.alpha);
        const Tensor y32 = ops::unary(c.op, x32, c.alpha);
        EXPECT_EQ(y32.dtype(), DType::f32);
        EXPECT_TRUE(all_close(y32, ref, kF32VsF64));

        const Tensor dy64 = testing::random_tensor({64}, -1, 1, seed++);
        const Tensor dx_ref = ops::unary_backward(c.op, x32.to(DType::f64), ref,
                                                  dy64.to(DType::f32).to(DType::f64), c.alpha);
        const Tensor dx32 = ops::unary_backward(c.op, x32, y32, dy64.to(DType::f32), c.alpha);
        EXPECT_TRUE(all_close(dx32, dx_ref, kF32VsF64));
    }
}

}  // namespace
}  // namespace cbnn
