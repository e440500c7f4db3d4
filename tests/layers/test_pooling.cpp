// Pooling (layers/pooling.h): max and average pooling values against hand-computed numbers and an
// independent reference (an explicitly padded plane), argmax and ties, NaN, the ResNet-32 shortcut
// (2x2 stride 2) on even and odd sizes, f64 gradchecks, f32 vs f64, global average pooling,
// the modules and every bad hyperparameter and input.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include "autograd/functions.h"
#include "autograd/gradcheck.h"
#include "gtest/gtest.h"
#include "layers/pooling.h"
#include "tests/support/expect_error.h"
#include "tests/support/random.h"
#include "tests/support/tolerance.h"

namespace cbnn {
namespace {

using testing::all_close;
using testing::kF32VsF64;
using testing::kF64Exact;
using testing::throws_error;

// Distinct values (a shuffled 0..n-1, scaled into [-1, 1)), so max pooling has no ties and its
// gradient is smooth around the inputs: neighbours differ by 2/n >> the gradcheck step.
Tensor distinct_tensor(const Shape& shape, uint64_t seed) {
    const int64_t n = shape_numel(shape);
    std::vector<double> v(static_cast<size_t>(n));
    std::iota(v.begin(), v.end(), 0.0);
    std::shuffle(v.begin(), v.end(), std::mt19937_64(seed));
    for (double& x : v) x = 2.0 * x / static_cast<double>(n) - 1.0;
    return Tensor::from_vector<double>(v, shape);
}

struct Pooled {
    std::vector<double> values;
    std::vector<int64_t> argmax;  // max only
};

// Reference written from the definition: copy each plane into an explicitly padded plane
// (padding = -inf for max, marked absent for avg), then scan every K x K window.
Pooled reference_pool(const Tensor& x, int64_t k, int64_t s, int64_t p, bool is_max,
                      bool count_include_pad) {
    const std::vector<double> v = x.to(DType::f64).to_vector<double>();
    const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
    const int64_t PH = H + 2 * p, PW = W + 2 * p;
    const int64_t OH = (PH - k) / s + 1, OW = (PW - k) / s + 1;
    Pooled out;
    for (int64_t plane = 0; plane < N * C; ++plane) {
        std::vector<double> padded(static_cast<size_t>(PH * PW), 0.0);
        std::vector<bool> real(static_cast<size_t>(PH * PW), false);
        for (int64_t h = 0; h < H; ++h) {
            for (int64_t w = 0; w < W; ++w) {
                const size_t at = static_cast<size_t>((h + p) * PW + w + p);
                padded[at] = v[static_cast<size_t>((plane * H + h) * W + w)];
                real[at] = true;
            }
        }
        for (int64_t oh = 0; oh < OH; ++oh) {
            for (int64_t ow = 0; ow < OW; ++ow) {
                double best = -std::numeric_limits<double>::infinity(), sum = 0;
                int64_t best_i = -1, count = 0;
                for (int64_t a = 0; a < k; ++a) {
                    for (int64_t b = 0; b < k; ++b) {
                        const int64_t ph = oh * s + a, pw = ow * s + b;
                        const size_t at = static_cast<size_t>(ph * PW + pw);
                        if (!real[at]) continue;
                        ++count;
                        sum += padded[at];
                        if (padded[at] > best) {
                            best = padded[at];
                            best_i = (ph - p) * W + (pw - p);
                        }
                    }
                }
                if (is_max) {
                    out.values.push_back(best);
                    out.argmax.push_back(best_i);
                } else {
                    out.values.push_back(sum /
                                         static_cast<double>(count_include_pad ? k * k : count));
                }
            }
        }
    }
    return out;
}

struct Config {
    Shape shape;
    int64_t kernel, stride, padding;
};

// The ResNet-50 stem (3x3 s2 p1), the option-A shortcut (2x2 s2) on even and odd sizes,
// overlapping windows (3x3 s1 p1), non-square planes, a window as large as the input, batch 1.
const Config kConfigs[] = {{{2, 3, 7, 7}, 3, 2, 1}, {{2, 3, 8, 8}, 2, 2, 0},
                           {{1, 2, 7, 5}, 2, 2, 0}, {{2, 2, 5, 6}, 3, 1, 1},
                           {{1, 1, 4, 4}, 4, 1, 0}, {{1, 2, 6, 9}, 3, 3, 1},
                           {{3, 1, 5, 5}, 5, 2, 2}, {{1, 3, 1, 1}, 1, 1, 0}};

TEST(Pooling, MaxPoolHandComputed) {
    // 1 2 3 / 4 5 6 / 7 8 9 with 3x3 windows, stride 2, padding 1: windows clipped to the plane.
    const Tensor x = Tensor::from_vector<double>({1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 1, 3, 3});
    const ops::MaxPool2dResult r = ops::max_pool2d(x, 3, 2, 1);
    EXPECT_EQ(r.values.shape(), (Shape{1, 1, 2, 2}));
    EXPECT_EQ(r.values.to_vector<double>(), (std::vector<double>{5, 6, 8, 9}));
    EXPECT_EQ(r.indices.to_vector<int64_t>(), (std::vector<int64_t>{4, 5, 7, 8}));
    // Negative values: padding is -inf, not 0.
    const Tensor neg = Tensor::from_vector<double>({-1, -2, -3, -4}, {1, 1, 2, 2});
    EXPECT_EQ(ops::max_pool2d(neg, 3, 1, 1).values.to_vector<double>(),
              (std::vector<double>{-1, -1, -1, -1}));
}

TEST(Pooling, AvgPoolHandComputedWithAndWithoutPaddingInTheCount) {
    const Tensor x = Tensor::from_vector<double>({1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 1, 3, 3});
    // 2x2 windows, stride 2, padding 1: {1}, {2,3}, {4,7}, {5,6,8,9}.
    EXPECT_TRUE(all_close(ops::avg_pool2d(x, 2, 2, 1, true).to_vector<double>(),
                          {1.0 / 4, 5.0 / 4, 11.0 / 4, 28.0 / 4}, kF64Exact));
    EXPECT_TRUE(all_close(ops::avg_pool2d(x, 2, 2, 1, false).to_vector<double>(),
                          {1.0, 5.0 / 2, 11.0 / 2, 28.0 / 4}, kF64Exact));
}

TEST(Pooling, ShortcutAvgPool2x2Stride2OnEvenAndOddSizes) {
    // 4x4: the four 2x2 blocks; both padding conventions agree without padding.
    std::vector<double> v(16);
    std::iota(v.begin(), v.end(), 0.0);
    const Tensor x = Tensor::from_vector<double>(v, {1, 1, 4, 4});
    for (bool include : {true, false}) {
        const Tensor y = avg_pool2d(x, 2, 2, 0, include);
        EXPECT_EQ(y.shape(), (Shape{1, 1, 2, 2}));
        EXPECT_TRUE(all_close(y.to_vector<double>(), {2.5, 4.5, 10.5, 12.5}, kF64Exact));
    }
    // 5x5: floor rounding drops the last row and column.
    std::vector<double> w(25);
    std::iota(w.begin(), w.end(), 0.0);
    const Tensor odd = Tensor::from_vector<double>(w, {1, 1, 5, 5});
    const Tensor y = avg_pool2d(odd, 2, 2);
    EXPECT_EQ(y.shape(), (Shape{1, 1, 2, 2}));
    EXPECT_TRUE(all_close(y.to_vector<double>(), {3, 5, 13, 15}, kF64Exact));
    // Its gradient: 1/4 on the covered 4x4, 0 on the dropped row and column.
    Tensor xg = odd.detach();
    xg.set_requires_grad();
    sum(avg_pool2d(xg, 2, 2)).backward();
    const std::vector<double> g = xg.grad().to_vector<double>();
    for (int64_t h = 0; h < 5; ++h)
        for (int64_t c = 0; c < 5; ++c)
            EXPECT_EQ(g[static_cast<size_t>(h * 5 + c)], h < 4 && c < 4 ? 0.25 : 0.0);
}

TEST(Pooling, ValuesMatchThePaddedPlaneReference) {
    uint64_t seed = 1;
    for (const Config& c : kConfigs) {
        SCOPED_TRACE(::testing::Message()
                     << c.shape << " k" << c.kernel << " s" << c.stride << " p" << c.padding);
        const Tensor x = testing::random_tensor(c.shape, -2, 2, seed++);
        const ops::MaxPool2dResult m = ops::max_pool2d(x, c.kernel, c.stride, c.padding);
        const Pooled ref = reference_pool(x, c.kernel, c.stride, c.padding, true, true);
        EXPECT_EQ(m.values.to_vector<double>(), ref.values);
        EXPECT_EQ(m.indices.to_vector<int64_t>(), ref.argmax);
        for (bool include : {true, false}) {
            const Tensor a = ops::avg_pool2d(x, c.kernel, c.stride, c.padding, include);
            EXPECT_EQ(a.shape(), m.values.shape());
            EXPECT_TRUE(
                all_close(a.to_vector<double>(),
                          reference_pool(x, c.kernel, c.stride, c.padding, false, include).values,
                          kF64Exact));
        }
    }
}

TEST(Pooling, MaxPoolTiesGoToTheFirstElementAndNanPropagates) {
    // All equal: every window's argmax is its first real element in row-major order.
    const Tensor ones = Tensor::ones({1, 1, 3, 3}, DType::f64);
    EXPECT_EQ(ops::max_pool2d(ones, 3, 1, 1).indices.to_vector<int64_t>(),
              (std::vector<int64_t>{0, 0, 1, 0, 0, 1, 3, 3, 4}));
    // The gradient of a tie goes to that element only.
    Tensor x = ones.detach();
    x.set_requires_grad();
    sum(max_pool2d(x, 3, 1, 1)).backward();
    EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{4, 2, 0, 2, 1, 0, 0, 0, 0}));

    const double nan = std::numeric_limits<double>::quiet_NaN();
    const Tensor with_nan = Tensor::from_vector<double>({1, nan, 3, 4}, {1, 1, 2, 2});
    const ops::MaxPool2dResult r = ops::max_pool2d(with_nan, 2, 2, 0);
    EXPECT_TRUE(std::isnan(r.values.item<double>()));
    EXPECT_EQ(r.indices.item<int64_t>(), 1);
}

TEST(Pooling, GradcheckMaxAndAvgPool) {
    uint64_t seed = 10;
    for (const Config& c : kConfigs) {
        SCOPED_TRACE(::testing::Message()
                     << c.shape << " k" << c.kernel << " s" << c.stride << " p" << c.padding);
        const Tensor x = distinct_tensor(c.shape, seed++);
        const autograd::GradcheckResult m = autograd::gradcheck(
            [&](const std::vector<Tensor>& in) {
                return max_pool2d(in[0], c.kernel, c.stride, c.padding);
            },
            {x});
        EXPECT_TRUE(m.ok) << m.message;
        for (bool include : {true, false}) {
            const autograd::GradcheckResult a = autograd::gradcheck(
                [&](const std::vector<Tensor>& in) {
                    return avg_pool2d(in[0], c.kernel, c.stride, c.padding, include);
                },
                {x});
            EXPECT_TRUE(a.ok) << "count_include_pad " << include << ": " << a.message;
        }
    }
}

TEST(Pooling, MaxPoolBackwardRoutesToTheArgmax) {
    const Tensor x = distinct_tensor({2, 3, 7, 7}, 3);
    const Tensor dy = testing::random_tensor({2, 3, 4, 4}, -1, 1, 4);
    const ops::MaxPool2dResult r = ops::max_pool2d(x, 3, 2, 1);
    const Tensor dx = ops::max_pool2d_backward(dy, r.indices, x.shape(), 3, 2, 1);
    std::vector<double> expected(static_cast<size_t>(x.numel()), 0.0);
    const std::vector<int64_t> idx = r.indices.to_vector<int64_t>();
    const std::vector<double> g = dy.to_vector<double>();
    for (size_t o = 0; o < idx.size(); ++o) expected[(o / 16) * 49 + idx[o]] += g[o];
    EXPECT_TRUE(all_close(dx.to_vector<double>(), expected, kF64Exact));
}

TEST(Pooling, Float32MatchesFloat64) {
    uint64_t seed = 20;
    for (const Config& c : kConfigs) {
        SCOPED_TRACE(::testing::Message() << c.shape << " k" << c.kernel);
        const Tensor x = testing::random_tensor(c.shape, -2, 2, seed++, DType::f32);
        const Tensor x64 = x.to(DType::f64);
        const ops::MaxPool2dResult m = ops::max_pool2d(x, c.kernel, c.stride, c.padding);
        const ops::MaxPool2dResult m64 = ops::max_pool2d(x64, c.kernel, c.stride, c.padding);
        EXPECT_EQ(m.values.dtype(), DType::f32);
        EXPECT_TRUE(all_close(m.values, m64.values, kF32VsF64));
        EXPECT_EQ(m.indices.to_vector<int64_t>(), m64.indices.to_vector<int64_t>());
        const Tensor dy = testing::random_tensor(m.values.shape(), -1, 1, seed++, DType::f32);
        EXPECT_TRUE(all_close(
            ops::max_pool2d_backward(dy, m.indices, c.shape, c.kernel, c.stride, c.padding),
            ops::max_pool2d_backward(dy.to(DType::f64), m64.indices, c.shape, c.kernel, c.stride,
                                     c.padding),
            kF32VsF64));
        for (bool include : {true, false}) {
            EXPECT_TRUE(all_close(ops::avg_pool2d(x, c.kernel, c.stride, c.padding, include),
                                  ops::avg_pool2d(x64, c.kernel, c.stride, c.padding, include),
                                  kF32VsF64));
            EXPECT_TRUE(all_close(
                ops::avg_pool2d_backward(dy, c.shape, c.kernel, c.stride, c.padding, include),
                ops::avg_pool2d_backward(dy.to(DType::f64), c.shape, c.kernel, c.stride, c.padding,
                                         include),
                kF32VsF64));
        }
    }
}

TEST(Pooling, NonContiguousInputIsPooledAsItsValues) {
    const Tensor x = testing::random_tensor({2, 3, 6, 5}, -1, 1, 30);
    const Tensor xt = x.transpose(2, 3);  // (2, 3, 5, 6), strided
    ASSERT_FALSE(xt.is_contiguous());
    EXPECT_EQ(max_pool2d(xt, 3, 2, 1).to_vector<double>(),
              max_pool2d(xt.contiguous(), 3, 2, 1).to_vector<double>());
    EXPECT_EQ(avg_pool2d(xt, 2, 2).to_vector<double>(),
              avg_pool2d(xt.contiguous(), 2, 2).to_vector<double>());
}

TEST(Pooling, GlobalAveragePoolValuesAndGradient) {
    const Tensor x = testing::random_tensor({3, 4, 5, 2}, -2, 2, 40);
    const Tensor y = global_avg_pool2d(x);
    EXPECT_EQ(y.shape(), (Shape{3, 4}));
    const std::vector<double> v = x.to_vector<double>();
    std::vector<double> expected;
    for (int64_t plane = 0; plane < 12; ++plane) {
        double s = 0;
        for (int64_t k = 0; k < 10; ++k) s += v[static_cast<size_t>(plane * 10 + k)];
        expected.push_back(s / 10);
    }
    EXPECT_TRUE(all_close(y.to_vector<double>(), expected, kF64Exact));
    GlobalAvgPool2d module;
    EXPECT_EQ(module.type_name(), "GlobalAvgPool2d");
    EXPECT_EQ(module(x).to_vector<double>(), y.to_vector<double>());
    const autograd::GradcheckResult r = autograd::gradcheck(
        [](const std::vector<Tensor>& in) { return global_avg_pool2d(in[0]); }, {x});
    EXPECT_TRUE(r.ok) << r.message;
}

TEST(Pooling, ModulesPoolLikeTheFunctionsAndHaveNoParameters) {
    const Tensor x = testing::random_tensor({2, 3, 9, 9}, -1, 1, 50);
    MaxPool2d max_module(3, 2, 1);
    AvgPool2d avg_module(2, 2);
    AvgPool2d avg_exclusive(3, 2, 1, false);
    EXPECT_EQ(max_module.type_name(), "MaxPool2d");
    EXPECT_EQ(avg_module.type_name(), "AvgPool2d");
    EXPECT_EQ(max_module.parameter_count(), 0);
    EXPECT_TRUE(avg_module.named_buffers().empty());
    EXPECT_EQ(max_module(x).to_vector<double>(), max_pool2d(x, 3, 2, 1).to_vector<double>());
    EXPECT_EQ(avg_module(x).to_vector<double>(), avg_pool2d(x, 2, 2).to_vector<double>());
    EXPECT_EQ(avg_exclusive(x).to_vector<double>(),
              avg_pool2d(x, 3, 2, 1, false).to_vector<double>());
}

TEST(Pooling, BadHyperparametersAndInputsAreClearErrors) {
    const Tensor x = testing::random_tensor({2, 3, 4, 4}, -1, 1, 60);
    EXPECT_TRUE(throws_error([&] { max_pool2d(x, 0, 1); }, {"max_pool2d", "kernel", "0"}));
    EXPECT_TRUE(throws_error([&] { avg_pool2d(x, 2, 0); }, {"avg_pool2d", "stride", "0"}));
    EXPECT_TRUE(throws_error([&] { max_pool2d(x, 3, 1, -1); }, {"padding", "-1"}));
    EXPECT_TRUE(throws_error([&] { avg_pool2d(x, 3, 1, 2); }, {"padding", "[0, 1]", "2"}));
    EXPECT_TRUE(throws_error([] { MaxPool2d(2, 2, 2); }, {"MaxPool2d", "padding"}));
    EXPECT_TRUE(throws_error([] { AvgPool2d(-1, 2); }, {"AvgPool2d", "kernel", "-1"}));
    EXPECT_TRUE(throws_error([] { AvgPool2d(2, -2); }, {"AvgPool2d", "stride", "-2"}));
    // Too small for the window.
    const Tensor small = testing::random_tensor({2, 3, 2, 5}, -1, 1, 61);
    EXPECT_TRUE(throws_error([&] { max_pool2d(small, 5, 1, 1); },
                             {"max_pool2d", "[2, 3, 2, 5]", "too small", "kernel 5"}));
    EXPECT_TRUE(throws_error([&] { MaxPool2d(3, 2)(small); }, {"[2, 3, 2, 5]", "too small"}));
    // Rank and dtype.
    EXPECT_TRUE(throws_error(
        [] {
            max_pool2d(Tensor::zeros({3, 4, 4}), 2, 2);
        },
        {"max_pool2d", "NCHW", "[3, 4, 4]"}));
    EXPECT_TRUE(throws_error(
        [] {
            avg_pool2d(Tensor::zeros({1, 1, 4, 4}, DType::i64), 2, 2);
        },
        {"avg_pool2d", "i64"}));
    EXPECT_TRUE(throws_error(
        [] {
            global_avg_pool2d(Tensor::zeros({2, 3}));
        },
        {"global_avg_pool2d", "NCHW", "[2, 3]"}));
    // Backward with a dy of the wrong shape.
    const ops::MaxPool2dResult r = ops::max_pool2d(x, 2, 2, 0);
    EXPECT_TRUE(throws_error(
        [&] {
            ops::max_pool2d_backward(Tensor::zeros({2, 3, 3, 3}, DType::f64), r.indices, x.shape(),
                                     2, 2, 0);
        },
        {"max_pool2d_backward", "[2, 3, 2, 2]", "[2, 3, 3, 3]"}));
    EXPECT_TRUE(throws_error(
        [&] {
            ops::max_pool2d_backward(Tensor::zeros({2, 3, 2, 2}, DType::f64),
                                     Tensor::full({2, 3, 2, 2}, 16, DType::i64), x.shape(), 2, 2,
                                     0);
        },
        {"max_pool2d_backward", "argmax 16", "4x4"}));
    EXPECT_TRUE(throws_error(
        [&] {
            ops::avg_pool2d_backward(Tensor::zeros({2, 3, 1, 2}, DType::f64), x.shape(), 2, 2, 0,
                                     true);
        },
        {"avg_pool2d_backward", "[2, 3, 2, 2]"}));
}

}  // namespace
}  // namespace cbnn
