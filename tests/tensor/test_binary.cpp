// Elementwise binary ops with broadcasting (tensor/binary.h), comparisons, where, and their
// gradients (autograd/binary_functions.cpp), which fold back onto each operand's shape.
#include <cmath>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "autograd/functions.h"
#include "autograd/gradcheck.h"
#include "gtest/gtest.h"
#include "tensor/binary.h"
#include "tests/support/expect_error.h"
#include "tests/support/random.h"
#include "tests/support/tolerance.h"

namespace cbnn {
namespace {

using testing::all_close;
using testing::kF64Exact;
using BinaryFn = std::function<Tensor(const Tensor&, const Tensor&)>;
using ScalarFn = std::function<double(double, double)>;

struct OpCase {
    const char* name;
    BinaryFn f;
    ScalarFn expected;
};

std::vector<OpCase> all_ops() {
    return {
        {"add", [](const Tensor& a, const Tensor& b) { return add(a, b); },
         [](double a, double b) { return a + b; }},
        {"sub", [](const Tensor& a, const Tensor& b) { return sub(a, b); },
         [](double a, double b) { return a - b; }},
        {"mul", [](const Tensor& a, const Tensor& b) { return mul(a, b); },
         [](double a, double b) { return a * b; }},
        {"div", [](const Tensor& a, const Tensor& b) { return div(a, b); },
         [](double a, double b) { return a / b; }},
        {"maximum", [](const Tensor& a, const Tensor& b) { return maximum(a, b); },
         [](double a, double b) { return a > b ? a : b; }},
        {"minimum", [](const Tensor& a, const Tensor& b) { return minimum(a, b); },
         [](double a, double b) { return a < b ? a : b; }},
    };
}

// NumPy broadcasting written out with plain index arithmetic (independent of StridedLayout).
// a and b are contiguous.
std::vector<double> broadcast_reference(const Tensor& a, const Tensor& b, const Shape& out,
                                        const ScalarFn& f) {
    const std::vector<double> va = a.to_vector<double>(), vb = b.to_vector<double>();
    auto source_index = [&](const Shape& shape, const std::vector<int64_t>& idx) {
        int64_t linear = 0;
        const size_t lead = out.size() - shape.size();
        for (size_t d = 0; d < shape.size(); ++d)
            linear = linear * shape[d] + (shape[d] == 1 ? 0 : idx[d + lead]);
        return static_cast<size_t>(linear);
    };
    std::vector<double> result;
    std::vector<int64_t> idx(out.size(), 0);
    for (int64_t n = 0; n < shape_numel(out); ++n) {
        int64_t rest = n;
        for (size_t d = out.size(); d-- > 0;) {
            idx[d] = rest % out[d];
            rest /= out[d];
        }
        result.push_back(f(va[source_index(a.shape(), idx)], vb[source_index(b.shape(), idx)]));
    }
    return result;
}

struct BroadcastCase {
    Shape a, b, out;
};

std::vector<BroadcastCase> broadcast_cases() {
    return {
        {{3, 4}, {3, 4}, {3, 4}}, {{3, 4}, {4}, {3, 4}},          {{4}, {3, 4}, {3, 4}},
        {{3, 4}, {3, 1}, {3, 4}}, {{3, 4}, {1, 4}, {3, 4}},       {{3, 4}, {}, {3, 4}},
        {{}, {3, 4}, {3, 4}},     {{2, 1, 3}, {4, 1}, {2, 4, 3}}, {{3, 1}, {1, 4}, {3, 4}},
    };
}

// Values on two interleaved grids (multiples of 0.25 and multiples of 0.25 plus 0.125), so a and b
// never tie: maximum/minimum stay away from their kink.
Tensor grid_values(const Shape& shape, double shift, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<int> k(-8, 8);
    std::vector<double> v(static_cast<size_t>(shape_numel(shape)));
    for (double& x : v) x = 0.25 * k(rng) + shift;
    return Tensor::from_vector<double>(v, shape);
}

TEST(Binary, HandComputedValues) {
    const Tensor a = Tensor::from_vector<double>({1, -2, 3.5, 0}, {2, 2});
    const Tensor b = Tensor::from_vector<double>({2, 4, -1, 0.5}, {2, 2});
    EXPECT_EQ(add(a, b).to_vector<double>(), (std::vector<double>{3, 2, 2.5, 0.5}));
    EXPECT_EQ(sub(a, b).to_vector<double>(), (std::vector<double>{-1, -6, 4.5, -0.5}));
    EXPECT_EQ(mul(a, b).to_vector<double>(), (std::vector<double>{2, -8, -3.5, 0}));
    EXPECT_EQ(div(a, b).to_vector<double>(), (std::vector<double>{0.5, -0.5, -3.5, 0}));
    EXPECT_EQ(maximum(a, b).to_vector<double>(), (std::vector<double>{2, 4, 3.5, 0.5}));
    EXPECT_EQ(minimum(a, b).to_vector<double>(), (std::vector<double>{1, -2, -1, 0}));
    EXPECT_EQ((a + b).to_vector<double>(), add(a, b).to_vector<double>());
    EXPECT_EQ((a - b).to_vector<double>(), sub(a, b).to_vector<double>());
    EXPECT_EQ((a * b).to_vector<double>(), mul(a, b).to_vector<double>());
    EXPECT_EQ((a / b).to_vector<double>(), div(a, b).to_vector<double>());
    EXPECT_EQ(add(a, b).shape(), (Shape{2, 2}));
    EXPECT_EQ(add(a, b).dtype(), DType::f64);
    EXPECT_EQ(add(a.to(DType::f32), b.to(DType::f32)).dtype(), DType::f32);
}

TEST(Binary, BroadcastingMatchesReferenceForEveryOp) {
    uint64_t seed = 1;
    for (const BroadcastCase& c : broadcast_cases()) {
        const Tensor a = testing::random_tensor(c.a, -2, 2, seed++);
        const Tensor b = testing::random_tensor(c.b, 0.5, 2, seed++);
        for (const OpCase& op : all_ops()) {
            SCOPED_TRACE(std::string(op.name) + " " + c.a.str() + " with " + c.b.str());
            const Tensor y = op.f(a, b);
            ASSERT_EQ(y.shape(), c.out);
            EXPECT_TRUE(all_close(y.to_vector<double>(),
                                  broadcast_reference(a, b, c.out, op.expected), kF64Exact));
        }
    }
}

TEST(Binary, GradcheckWithBroadcastingFoldsBackToEachOperand) {
    uint64_t seed = 50;
    for (const BroadcastCase& c : broadcast_cases()) {
        for (const OpCase& op : all_ops()) {
            SCOPED_TRACE(std::string(op.name) + " " + c.a.str() + " with " + c.b.str());
            const bool is_div = std::string(op.name) == "div";
            const Tensor a = grid_values(c.a, 0.0, seed++);
            // div: b in [0.625, 2.125], away from 0.
            const Tensor b = is_div ? grid_values(c.b, 0.125, seed++) * 0.5 + 1.375
                                    : grid_values(c.b, 0.125, seed++);
            const autograd::GradcheckResult r = autograd::gradcheck(
                [&](const std::vector<Tensor>& in) { return op.f(in[0], in[1]); }, {a, b});
            EXPECT_TRUE(r.ok) << r.message;
            EXPECT_EQ(r.checked, a.numel() + b.numel());

            Tensor ga = a.clone(), gb = b.clone();
            ga.set_requires_grad();
            gb.set_requires_grad();
            sum(op.f(ga, gb)).backward();
            EXPECT_EQ(ga.grad().shape(), c.a);
            EXPECT_EQ(gb.grad().shape(), c.b);
        }
    }
}

TEST(Binary, BroadcastGradientIsTheSumOverRepeatedElements) {
    // y = a + b with a (2, 3) and b (3): db_j = sum_i w_ij.
    Tensor a = Tensor::zeros({2, 3}, DType::f64);
    Tensor b = Tensor::zeros({3}, DType::f64);
    a.set_requires_grad();
    b.set_requires_grad();
    const Tensor w = Tensor::from_vector<double>({1, 2, 3, 10, 20, 30}, {2, 3});
    (a + b).backward(w);
    EXPECT_EQ(b.grad().to_vector<double>(), (std::vector<double>{11, 22, 33}));
    EXPECT_EQ(a.grad().to_vector<double>(), w.to_vector<double>());
}

TEST(Binary, MaximumAndMinimumSendTiesToTheFirstOperand) {
    Tensor a = Tensor::from_vector<double>({1, 2, 5}, {3});
    Tensor b = Tensor::from_vector<double>({1, 3, 4}, {3});
    a.set_requires_grad();
    b.set_requires_grad();
    sum(maximum(a, b)).backward();
    EXPECT_EQ(a.grad().to_vector<double>(), (std::vector<double>{1, 0, 1}));
    EXPECT_EQ(b.grad().to_vector<double>(), (std::vector<double>{0, 1, 0}));
    a.set_grad(Tensor());
    b.set_grad(Tensor());
    sum(minimum(a, b)).backward();
    EXPECT_EQ(a.grad().to_vector<double>(), (std::vector<double>{1, 1, 0}));
    EXPECT_EQ(b.grad().to_vector<double>(), (std::vector<double>{0, 0, 1}));
}

TEST(Binary, OnlyTheOperandThatRequiresGradGetsOne) {
    Tensor a = Tensor::from_vector<double>({1, 2}, {2});
    const Tensor b = Tensor::from_vector<double>({3, 4}, {2});
    a.set_requires_grad();
    sum(a * b).backward();
    EXPECT_EQ(a.grad().to_vector<double>(), (std::vector<double>{3, 4}));
    EXPECT_FALSE(b.grad().defined());
}

TEST(Binary, TransposedOperandsAreReadThroughTheirStrides) {
    const Tensor base_a = testing::random_tensor({4, 3}, -1, 1, 11);
    const Tensor b = testing::random_tensor({3, 4}, 0.5, 2, 12);
    const Tensor a = base_a.t();
    ASSERT_FALSE(a.is_contiguous());
    for (const OpCase& op : all_ops()) {
        SCOPED_TRACE(op.name);
        EXPECT_TRUE(all_close(op.f(a, b), op.f(a.contiguous(), b), kF64Exact));
        EXPECT_TRUE(all_close(op.f(b, a), op.f(b, a.contiguous()), kF64Exact));
        EXPECT_TRUE(all_close(op.f(a, b.t().t()), op.f(a.contiguous(), b), kF64Exact));
    }
    // A transposed, broadcast operand: (3, 1) viewed from (1, 3).
    const Tensor col = Tensor::from_vector<double>({1, 2, 3}, {1, 3}).t();
    EXPECT_EQ(add(col, Tensor::zeros({3, 2}, DType::f64)).to_vector<double>(),
              (std::vector<double>{1, 1, 2, 2, 3, 3}));

    const autograd::GradcheckResult r = autograd::gradcheck(
        [](const std::vector<Tensor>& in) { return in[0].t() * in[1] + in[1] / in[0].t(); },
        {base_a, b});
    EXPECT_TRUE(r.ok) << r.message;
}

TEST(Binary, CompareOpsGiveU8ForFloatAndIntegerInputs) {
    const Tensor a = Tensor::from_vector<double>({1, 2, 3}, {3});
    const Tensor b = Tensor::from_vector<double>({2, 2, 2}, {3});
    using V = std::vector<uint8_t>;
    EXPECT_EQ(eq(a, b).dtype(), DType::u8);
    EXPECT_EQ(eq(a, b).to_vector<uint8_t>(), (V{0, 1, 0}));
    EXPECT_EQ(ne(a, b).to_vector<uint8_t>(), (V{1, 0, 1}));
    EXPECT_EQ(lt(a, b).to_vector<uint8_t>(), (V{1, 0, 0}));
    EXPECT_EQ(le(a, b).to_vector<uint8_t>(), (V{1, 1, 0}));
    EXPECT_EQ(gt(a, b).to_vector<uint8_t>(), (V{0, 0, 1}));
    EXPECT_EQ(ge(a, b).to_vector<uint8_t>(), (V{0, 1, 1}));

    // i64 beyond 2^53 (where a double would round) and broadcasting (2, 1) against (3).
    const int64_t big = (int64_t{1} << 60) + 1;
    const Tensor i = Tensor::from_vector<int64_t>({big, -5}, {2, 1});
    const Tensor j = Tensor::from_vector<int64_t>({big - 1, big, -5}, {3});
    EXPECT_EQ(eq(i, j).shape(), (Shape{2, 3}));
    EXPECT_EQ(eq(i, j).to_vector<uint8_t>(), (V{0, 1, 0, 0, 0, 1}));
    EXPECT_EQ(gt(i, j).to_vector<uint8_t>(), (V{1, 0, 1, 0, 0, 0}));
    EXPECT_EQ(le(i, j).to_vector<uint8_t>(), (V{0, 1, 0, 1, 1, 1}));

    const Tensor u = Tensor::from_vector<uint8_t>({0, 255}, {2});
    EXPECT_EQ(lt(u, Tensor::from_vector<uint8_t>({1}, {})).to_vector<uint8_t>(), (V{1, 0}));

    const Tensor nan = Tensor::from_vector<float>({std::nanf(""), 1.f}, {2});
    EXPECT_EQ(eq(nan, nan).to_vector<uint8_t>(), (V{0, 1}));
    EXPECT_EQ(ne(nan, nan).to_vector<uint8_t>(), (V{1, 0}));

    Tensor x = Tensor::from_vector<double>({1, 2}, {2});
    x.set_requires_grad();
    EXPECT_FALSE(gt(x, x).requires_grad());
}

TEST(Binary, WhereSelectsAndBroadcastsTheCondition) {
    const Tensor cond = Tensor::from_vector<uint8_t>({1, 0, 7}, {3});  // any nonzero is true
    const Tensor a = Tensor::from_vector<double>({1, 2, 3, 4, 5, 6}, {2, 3});
    const Tensor b = Tensor::from_vector<double>({-1}, {});
    EXPECT_EQ(where(cond, a, b).shape(), (Shape{2, 3}));
    EXPECT_EQ(where(cond, a, b).to_vector<double>(), (std::vector<double>{1, -1, 3, 4, -1, 6}));
    // A column condition (2, 1) with row operands (3): the result takes the broadcast of all three.
    const Tensor col = Tensor::from_vector<uint8_t>({0, 1}, {2, 1});
    const Tensor r1 = Tensor::from_vector<int64_t>({1, 2, 3}, {3});
    const Tensor r2 = Tensor::from_vector<int64_t>({10, 20, 30}, {3});
    EXPECT_EQ(where(col, r1, r2).to_vector<int64_t>(), (std::vector<int64_t>{10, 20, 30, 1, 2, 3}));
}

TEST(Binary, WhereGradientGoesToTheChosenBranch) {
    const Tensor cond = Tensor::from_vector<uint8_t>({1, 0, 1, 0, 0, 1}, {2, 3});
    Tensor a = testing::random_tensor({2, 3}, -1, 1, 5);
    Tensor b = testing::random_tensor({3}, -1, 1, 6);
    a.set_requires_grad();
    b.set_requires_grad();
    const Tensor w = Tensor::from_vector<double>({1, 2, 3, 4, 5, 6}, {2, 3});
    where(cond, a, b).backward(w);
    EXPECT_EQ(a.grad().to_vector<double>(), (std::vector<double>{1, 0, 3, 0, 0, 6}));
    EXPECT_EQ(b.grad().to_vector<double>(), (std::vector<double>{4, 7, 0}));

    // Gradcheck with the condition broadcast (2, 1) against a (2, 3) and b (3); cond is u8 and is
    // passed through by gradcheck untouched.
    const Tensor col = Tensor::from_vector<uint8_t>({0, 1}, {2, 1});
    const autograd::GradcheckResult r = autograd::gradcheck(
        [](const std::vector<Tensor>& in) { return where(in[0], in[1] * in[1], exp(in[2])); },
        {col, testing::random_tensor({2, 3}, -1, 1, 7), testing::random_tensor({3}, -1, 1, 8)});
    EXPECT_TRUE(r.ok) << r.message;
    EXPECT_EQ(r.checked, 9);
}

TEST(Binary, IncompatibleShapesNameBothShapes) {
    const Tensor a = Tensor::zeros({2, 3});
    const Tensor b = Tensor::zeros({4});
    EXPECT_TRUE(testing::throws_error([&] { add(a, b); }, {"add", "[2, 3]", "[4]"}));
    EXPECT_TRUE(testing::throws_error([&] { ops::div(b, a); }, {"div", "[4]", "[2, 3]"}));
    EXPECT_TRUE(testing::throws_error([&] { lt(a, b); }, {"lt", "[2, 3]", "[4]"}));
    EXPECT_TRUE(testing::throws_error([&] { where(Tensor::zeros({5}, DType::u8), a, a); },
                                      {"where", "[5]", "[2, 3]"}));
    EXPECT_TRUE(testing::throws_error(
        [&] {
            ops::binary(BinaryOp::mul, Tensor::zeros({2, 1, 3}), Tensor::zeros({4, 2}));
        },
        {"[2, 1, 3]", "[4, 2]"}));
}

TEST(Binary, DtypeMismatchNamesBothDtypes) {
    const Tensor f = Tensor::zeros({2});
    const Tensor d = Tensor::zeros({2}, DType::f64);
    EXPECT_TRUE(testing::throws_error([&] { mul(f, d); }, {"mul", "f32[2]", "f64[2]"}));
    EXPECT_TRUE(testing::throws_error([&] { eq(Tensor::zeros({2}, DType::i64), f); },
                                      {"eq", "i64[2]", "f32[2]"}));
    EXPECT_TRUE(testing::throws_error([&] { where(Tensor::zeros({2}, DType::u8), f, d); },
                                      {"where", "f32[2]", "f64[2]"}));
    EXPECT_TRUE(testing::throws_error([&] { where(f, f, f); }, {"where", "u8", "f32[2]"}));
    EXPECT_TRUE(testing::throws_error(
        [&] { add(Tensor::zeros({2}, DType::i64), Tensor::zeros({2}, DType::i64)); },
        {"add", "i64"}));
}

TEST(Binary, EmptyBroadcastGivesEmptyResult) {
    const Tensor y = add(Tensor::zeros({0, 3}), Tensor::ones({3}));
    EXPECT_EQ(y.shape(), (Shape{0, 3}));
    EXPECT_EQ(where(Tensor::zeros({0}, DType::u8), Tensor::zeros({0}), Tensor::zeros({1})).numel(),
              0);
}

TEST(Binary, F32AgreesWithF64) {
    const Tensor a = testing::random_tensor({16, 8}, -3, 3, 21).to(DType::f32);
    const Tensor b = testing::random_tensor({8}, 0.5, 3, 22).to(DType::f32);
    for (const OpCase& op : all_ops()) {
        SCOPED_TRACE(op.name);
        EXPECT_TRUE(
            all_close(op.f(a, b), op.f(a.to(DType::f64), b.to(DType::f64)), testing::kF32VsF64));
    }
}

}  // namespace
}  // namespace cbnn
