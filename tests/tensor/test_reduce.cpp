// Reductions (tensor/reduce.h, autograd/reduce_functions.cpp): sum, mean, max/argmax along each
// dimension, sum_all, mean of all, logsumexp, sum_to; values, gradients, NaN and error cases.
#include <cmath>
#include <functional>
#include <limits>
#include <vector>

#include "autograd/functions.h"
#include "autograd/gradcheck.h"
#include "gtest/gtest.h"
#include "tensor/copy.h"
#include "tensor/reduce.h"
#include "tests/support/expect_error.h"
#include "tests/support/random.h"
#include "tests/support/tolerance.h"

namespace cbnn {
namespace {

using testing::all_close;
using testing::kF64Exact;

// Reference reduction of a contiguous (2, 3, 4) f64 tensor along `dim` with `combine`, written
// with explicit 3-D indices. Returns values in the row-major order of the reduced shape.
std::vector<double> reduce_reference(const std::vector<double>& x, const Shape& shape, int dim,
                                     double init, const std::function<double(double, double)>& f) {
    Shape out_shape = shape;
    out_shape[static_cast<size_t>(dim)] = 1;
    std::vector<double> out(static_cast<size_t>(shape_numel(out_shape)), init);
    for (int64_t i = 0; i < shape[0]; ++i)
        for (int64_t j = 0; j < shape[1]; ++j)
            for (int64_t k = 0; k < shape[2]; ++k) {
                const int64_t idx[3] = {i, j, k};
                int64_t o = 0;
                for (int d = 0; d < 3; ++d) o = o * out_shape[d] + (d == dim ? 0 : idx[d]);
                out[static_cast<size_t>(o)] =
                    f(out[static_cast<size_t>(o)],
                      x[static_cast<size_t>((i * shape[1] + j) * shape[2] + k)]);
            }
    return out;
}

Shape reduced_shape(const Shape& shape, int dim, bool keepdim) {
    Shape out = shape;
    if (keepdim) {
        out[static_cast<size_t>(dim)] = 1;
    } else {
        out.erase(out.begin() + dim);
    }
    return out;
}

const Shape kShape{2, 3, 4};

TEST(Reduce, SumMeanMaxAlongEveryDimWithAndWithoutKeepdim) {
    const Tensor x = testing::random_tensor(kShape, -2, 2, 1);
    const std::vector<double> v = x.to_vector<double>();
    for (int dim = 0; dim < 3; ++dim) {
        const std::vector<double> sums =
            reduce_reference(v, kShape, dim, 0.0, [](double a, double b) { return a + b; });
        const std::vector<double> maxes = reduce_reference(
            v, kShape, dim, -1e300, [](double a, double b) { return a > b ? a : b; });
        std::vector<double> means = sums;
        for (double& m : means) m /= static_cast<double>(kShape[static_cast<size_t>(dim)]);
        for (bool keepdim : {false, true}) {
            SCOPED_TRACE(::testing::Message() << "dim " << dim << " keepdim " << keepdim);
            const Shape out = reduced_shape(kShape, dim, keepdim);
            const Tensor s = sum(x, dim, keepdim), m = mean(x, dim, keepdim),
                         mx = max(x, dim, keepdim);
            ASSERT_EQ(s.shape(), out);
            ASSERT_EQ(m.shape(), out);
            ASSERT_EQ(mx.shape(), out);
            EXPECT_TRUE(all_close(s.to_vector<double>(), sums, kF64Exact));
            EXPECT_TRUE(all_close(m.to_vector<double>(), means, kF64Exact));
            EXPECT_EQ(mx.to_vector<double>(), maxes);
            // Negative dims count from the end.
            EXPECT_TRUE(all_close(sum(x, dim - 3, keepdim), s, kF64Exact));
            const ops::MaxResult r = ops::max(x, dim, keepdim);
            EXPECT_EQ(r.indices.dtype(), DType::i64);
            EXPECT_EQ(r.indices.shape(), out);
            EXPECT_EQ(argmax(x, dim, keepdim).to_vector<int64_t>(), r.indices.to_vector<int64_t>());
        }
    }
}

TEST(Reduce, HandComputedValuesAndArgmax) {
    const Tensor x = Tensor::from_vector<double>({1, 5, 3, -2, 0, 4}, {2, 3});
    EXPECT_EQ(sum(x, 1).to_vector<double>(), (std::vector<double>{9, 2}));
    EXPECT_EQ(sum(x, 0).to_vector<double>(), (std::vector<double>{-1, 5, 7}));
    EXPECT_EQ(mean(x, 1).to_vector<double>(), (std::vector<double>{3, 2.0 / 3.0}));
    EXPECT_EQ(max(x, 1).to_vector<double>(), (std::vector<double>{5, 4}));
    EXPECT_EQ(argmax(x, 1).to_vector<int64_t>(), (std::vector<int64_t>{1, 2}));
    EXPECT_EQ(argmax(x, 0).to_vector<int64_t>(), (std::vector<int64_t>{0, 0, 1}));
    EXPECT_EQ(argmax(x, 1, true).shape(), (Shape{2, 1}));
}

TEST(Reduce, SumAllAndMeanOfAllAreZeroDimensional) {
    const Tensor x = Tensor::from_vector<double>({1, 2, 3, 4, 5, 6}, {2, 3});
    EXPECT_EQ(sum(x).shape(), Shape{});
    EXPECT_EQ(sum(x).item<double>(), 21.0);
    EXPECT_EQ(mean(x).shape(), Shape{});
    EXPECT_EQ(mean(x).item<double>(), 3.5);
    EXPECT_EQ(ops::sum_all(x).item<double>(), 21.0);
    // Through a transposed and an offset view.
    EXPECT_EQ(sum(x.t()).item<double>(), 21.0);
    EXPECT_EQ(sum(x.narrow(1, 1, 2)).item<double>(), 2 + 3 + 5 + 6);
    EXPECT_EQ(mean(x.narrow(0, 1, 1)).item<double>(), 5.0);
    // 0-d and empty inputs.
    EXPECT_EQ(sum(Tensor::full({}, 2.5, DType::f64)).item<double>(), 2.5);
    EXPECT_EQ(sum(Tensor::zeros({0, 3}, DType::f64)).item<double>(), 0.0);
    EXPECT_EQ(sum(Tensor::zeros({2, 0}, DType::f64), 1).to_vector<double>(),
              (std::vector<double>{0, 0}));
}

// channel_sum: per channel, the sum over n, h, w, whatever the memory format; rank 4 only.
TEST(Reduce, ChannelSumAddsEachChannelInEitherFormat) {
    const int64_t N = 2, C = 3, H = 2, W = 4;
    std::vector<double> values(N * C * H * W), expected(C, 0.0);
    for (size_t i = 0; i < values.size(); ++i) {
        values[i] = static_cast<double>(i % 7) - 2.5;
        expected[(i / (H * W)) % C] += values[i];
    }
    const Tensor x = Tensor::from_vector<double>(values, {N, C, H, W});
    EXPECT_EQ(ops::channel_sum(x).to_vector<double>(), expected);
    EXPECT_EQ(
        ops::channel_sum(ops::contiguous_copy(x, MemoryFormat::channels_last)).to_vector<double>(),
        expected);
    EXPECT_TRUE(testing::throws_error(
        [&] {
            ops::channel_sum(Tensor::zeros({2, 3}));
        },
        {"channel_sum", "rank-4"}));
}

TEST(Reduce, ArgmaxReturnsTheFirstOccurrenceOfTies) {
    const Tensor x = Tensor::from_vector<double>({3, 7, 7, 1, 7, 2, 2, 2}, {2, 4});
    EXPECT_EQ(argmax(x, 1).to_vector<int64_t>(), (std::vector<int64_t>{1, 0}));
    // Along dim 0 of (4, 2): columns {3, 7, 7, 2} and {7, 1, 2, 2}.
    EXPECT_EQ(argmax(x.view({4, 2}), 0).to_vector<int64_t>(), (std::vector<int64_t>{1, 0}));
    const Tensor flat = Tensor::full({600}, 1.0, DType::f64);
    EXPECT_EQ(argmax(flat, 0).item<int64_t>(), 0);
    // The gradient of max goes to the first maximal element only.
    Tensor g = x.clone();
    g.set_requires_grad();
    sum(max(g, 1)).backward();
    EXPECT_EQ(g.grad().to_vector<double>(), (std::vector<double>{0, 1, 0, 0, 1, 0, 0, 0}));
}

TEST(Reduce, MaxPropagatesTheFirstNan) {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    const double inf = std::numeric_limits<double>::infinity();
    const Tensor x =
        Tensor::from_vector<double>({1, nan, 5, nan, -inf, 2, 3, 4, 9, -1, nan, 8}, {3, 4});
    const ops::MaxResult r = ops::max(x, 1);
    const std::vector<double> v = r.values.to_vector<double>();
    EXPECT_TRUE(std::isnan(v[0]));
    EXPECT_EQ(v[1], 4.0);
    EXPECT_TRUE(std::isnan(v[2]));
    EXPECT_EQ(r.indices.to_vector<int64_t>(), (std::vector<int64_t>{1, 3, 2}));
    // NaN in the first position, and along dim 0.
    const Tensor y = Tensor::from_vector<float>({std::nanf(""), 1.f, 2.f, std::nanf("")}, {2, 2});
    EXPECT_EQ(ops::max(y, 0).indices.to_vector<int64_t>(), (std::vector<int64_t>{0, 1}));
    EXPECT_EQ(ops::max(y, 1).indices.to_vector<int64_t>(), (std::vector<int64_t>{0, 1}));
    // -inf alone is a valid maximum.
    EXPECT_EQ(max(Tensor::full({3}, -inf, DType::f64), 0).item<double>(), -inf);
}

TEST(Reduce, LogsumexpMatchesHandValuesAndDoesNotOverflow) {
    const Tensor x = Tensor::from_vector<double>({0, 0, 1, 2, 3, -1}, {2, 3});
    const double lse0 = std::log(2.0 + std::exp(1.0));
    const double lse1 = std::log(std::exp(2.0) + std::exp(3.0) + std::exp(-1.0));
    EXPECT_TRUE(all_close(logsumexp(x, 1).to_vector<double>(), {lse0, lse1}, kF64Exact));
    EXPECT_EQ(logsumexp(x, 1, true).shape(), (Shape{2, 1}));
    EXPECT_TRUE(all_close(logsumexp(x, 0).to_vector<double>(),
                          {std::log(1 + std::exp(2.0)), std::log(1 + std::exp(3.0)),
                           std::log(std::exp(1.0) + std::exp(-1.0))},
                          kF64Exact));

    // exp(1e4) overflows even f64; logsumexp must not. f32: log(1 + 2 e^-1) + 1e4 rounds to 1e4
    // plus at most one f32 ulp at 1e4 (~1e-3).
    const Tensor big =
        Tensor::from_vector<float>({1e4f, 1e4f - 1, 1e4f - 1, -1e4f, -1e4f, -1e4f}, {2, 3});
    const std::vector<float> l = logsumexp(big, 1).to_vector<float>();
    EXPECT_NEAR(l[0], 1e4 + std::log(1 + 2 * std::exp(-1.0)), 1e-3);
    EXPECT_NEAR(l[1], -1e4 + std::log(3.0), 1e-3);
    Tensor bg = big.clone();
    bg.set_requires_grad();
    sum(logsumexp(bg, 1)).backward();
    const std::vector<float> g = bg.grad().to_vector<float>();
    const double p = 1 / (1 + 2 * std::exp(-1.0));
    EXPECT_TRUE(all_close(std::vector<double>(g.begin(), g.end()),
                          {p, p * std::exp(-1.0), p * std::exp(-1.0), 1 / 3.0, 1 / 3.0, 1 / 3.0},
                          testing::kF32VsF64));
}

// Rows of -inf, or holding +inf, have an infinite maximum: x - max would be inf - inf = NaN.
TEST(Reduce, LogsumexpOfInfiniteRows) {
    const double inf = std::numeric_limits<double>::infinity();
    for (DType dtype : {DType::f32, DType::f64}) {
        const Tensor x =
            Tensor::from_vector<double>({-inf, -inf, -inf, 0, 1, inf, -inf, std::log(2.0)}, {4, 2})
                .to(dtype);
        const std::vector<double> l = testing::host_values(logsumexp(x, 1));
        EXPECT_EQ(l[0], -inf) << dtype_name(dtype);
        EXPECT_EQ(l[1], 0.0) << dtype_name(dtype);  // log(0 + e^0)
        EXPECT_EQ(l[2], inf) << dtype_name(dtype);
        EXPECT_NEAR(l[3], std::log(2.0), 1e-6) << dtype_name(dtype);
        // The gradient (softmax) of a row with one -inf entry puts 0 there.
        Tensor g = x.narrow(0, 3, 1).clone();
        g.set_requires_grad();
        sum(logsumexp(g, 1)).backward();
        EXPECT_EQ(testing::host_values(g.grad()), (std::vector<double>{0.0, 1.0}))
            << dtype_name(dtype);
    }
}

void expect_gradcheck(const autograd::GradcheckFunction& f, const Tensor& x) {
    const autograd::GradcheckResult r = autograd::gradcheck(f, {x});
    EXPECT_TRUE(r.ok) << r.message;
    EXPECT_EQ(r.checked, x.numel());
}

TEST(Reduce, GradcheckAlongEachDim) {
    // Continuous random values: no ties in max.
    const Tensor x = testing::random_tensor(kShape, -2, 2, 3);
    for (int dim = -3; dim < 3; ++dim) {
        for (bool keepdim : {false, true}) {
            SCOPED_TRACE(::testing::Message() << "dim " << dim << " keepdim " << keepdim);
            expect_gradcheck(
                [&](const std::vector<Tensor>& in) { return sum(in[0], dim, keepdim); }, x);
            expect_gradcheck(
                [&](const std::vector<Tensor>& in) { return mean(in[0], dim, keepdim); }, x);
            expect_gradcheck(
                [&](const std::vector<Tensor>& in) { return max(in[0], dim, keepdim); }, x);
            expect_gradcheck(
                [&](const std::vector<Tensor>& in) { return logsumexp(in[0], dim, keepdim); }, x);
        }
    }
    expect_gradcheck([](const std::vector<Tensor>& in) { return sum(in[0]); }, x);
    expect_gradcheck([](const std::vector<Tensor>& in) { return mean(in[0]); }, x);
    // Reductions of a non-contiguous input and of an expression.
    expect_gradcheck([](const std::vector<Tensor>& in) { return sum(in[0].transpose(0, 2), 1); },
                     x);
    expect_gradcheck(
        [](const std::vector<Tensor>& in) { return mean(exp(in[0]) * max(in[0], 1, true), 2); }, x);
}

TEST(Reduce, MeanOfAllGradientIsOneOverN) {
    Tensor x = Tensor::zeros({2, 5}, DType::f64);
    x.set_requires_grad();
    mean(x).backward();
    EXPECT_EQ(x.grad().to_vector<double>(), std::vector<double>(10, 0.1));
}

TEST(Reduce, SumToFoldsBroadcastDimensions) {
    const Tensor x = Tensor::from_vector<double>({1, 2, 3, 4, 5, 6}, {2, 3});
    EXPECT_EQ(ops::sum_to(x, {3}).to_vector<double>(), (std::vector<double>{5, 7, 9}));
    EXPECT_EQ(ops::sum_to(x, {3}).shape(), (Shape{3}));
    EXPECT_EQ(ops::sum_to(x, {1, 3}).to_vector<double>(), (std::vector<double>{5, 7, 9}));
    EXPECT_EQ(ops::sum_to(x, {1, 3}).shape(), (Shape{1, 3}));
    EXPECT_EQ(ops::sum_to(x, {2, 1}).to_vector<double>(), (std::vector<double>{6, 15}));
    EXPECT_EQ(ops::sum_to(x, {2, 1}).shape(), (Shape{2, 1}));
    EXPECT_EQ(ops::sum_to(x, {}).shape(), Shape{});
    EXPECT_EQ(ops::sum_to(x, {}).item<double>(), 21.0);
    EXPECT_EQ(ops::sum_to(x, {1, 1}).shape(), (Shape{1, 1}));
    EXPECT_TRUE(ops::sum_to(x, {2, 3}).is_same(x));
    const Tensor y = testing::random_tensor({2, 4, 3}, -1, 1, 4);
    EXPECT_TRUE(all_close(ops::sum_to(y, {4, 1}), sum(sum(y, 0), 1, true), kF64Exact));
    EXPECT_TRUE(testing::throws_error([&] { ops::sum_to(x, {4}); }, {"[2, 3]", "[4]"}));
    EXPECT_TRUE(testing::throws_error([&] { ops::sum_to(x, {1, 2, 3}); }, {"[2, 3]", "[1, 2, 3]"}));
}

TEST(Reduce, EmptyDimensionAndBadDimensionErrors) {
    const Tensor e = Tensor::zeros({2, 0, 3}, DType::f64);
    EXPECT_TRUE(testing::throws_error([&] { max(e, 1); }, {"max", "dimension 1", "empty"}));
    EXPECT_TRUE(testing::throws_error([&] { argmax(e, 1); }, {"dimension 1", "empty"}));
    EXPECT_TRUE(testing::throws_error([&] { mean(e, 1); }, {"mean", "dimension 1", "empty"}));
    EXPECT_TRUE(testing::throws_error([&] { logsumexp(e, 1); }, {"dimension 1", "empty"}));
    EXPECT_TRUE(testing::throws_error([&] { mean(e); }, {"mean", "empty"}));
    // Empty along another dimension is fine: an empty result.
    EXPECT_EQ(max(e, 2).shape(), (Shape{2, 0}));
    EXPECT_EQ(mean(e, 2).shape(), (Shape{2, 0}));
    // Out-of-range dims and non-floating inputs.
    const Tensor x = Tensor::zeros({2, 3});
    EXPECT_TRUE(testing::throws_error([&] { sum(x, 2); }, {"sum", "dimension 2"}));
    EXPECT_TRUE(testing::throws_error([&] { max(x, -3); }, {"max", "dimension -3"}));
    EXPECT_TRUE(testing::throws_error([&] { sum(Tensor::arange(3), 0); }, {"sum", "i64"}));
}

TEST(Reduce, F32AgreesWithF64OverALongRow) {
    constexpr int64_t kRow = 100000;
    const Tensor x64 = testing::random_tensor({2, kRow}, 0, 1, 9);
    const Tensor x32 = x64.to(DType::f32);
    const Tensor ref = sum(x32.to(DType::f64), 1);
    EXPECT_TRUE(all_close(sum(x32, 1), ref, testing::f32_sum_tolerance(kRow)));
    EXPECT_TRUE(
        all_close(mean(x32, 1), mean(x32.to(DType::f64), 1), testing::f32_sum_tolerance(kRow)));
    EXPECT_TRUE(all_close(sum(x32), sum(x32.to(DType::f64)), testing::f32_sum_tolerance(2 * kRow)));
    EXPECT_TRUE(all_close(logsumexp(x32, 1), logsumexp(x32.to(DType::f64), 1),
                          testing::f32_sum_tolerance(kRow)));
    EXPECT_EQ(max(x32, 1).to_vector<float>(),
              max(x32.to(DType::f64), 1).to(DType::f32).to_vector<float>());
    EXPECT_EQ(argmax(x32, 1).to_vector<int64_t>(),
              argmax(x32.to(DType::f64), 1).to_vector<int64_t>());
}

}  // namespace
}  // namespace cbnn
