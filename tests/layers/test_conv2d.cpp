// Conv2d on the CPU: hand-computed values, the im2col + gemm path against the direct loops,
// float64 gradient checks, f32 vs f64, the autograd node's saving rules, the Conv2d module and
// every bad-input error.
#include <cmath>
#include <string>
#include <vector>

#include "autograd/functions.h"
#include "autograd/grad_mode.h"
#include "autograd/gradcheck.h"
#include "gtest/gtest.h"
#include "layers/conv2d.h"
#include "tests/support/expect_error.h"
#include "tests/support/random.h"
#include "tests/support/tolerance.h"

namespace cbnn {
namespace {

using testing::all_close;
using testing::random_tensor;
using testing::throws_error;

// ---- the direct-loop references on tensors (f64, contiguous) ----------------------------------

Tensor direct_forward(const Tensor& x, const Tensor& w, const Tensor& b, int64_t stride,
                      int64_t pad) {
    const Conv2dShape s = conv2d_shape(x.shape(), w.shape(), stride, pad);
    Tensor y = Tensor::empty({s.N, s.K, s.P, s.Q}, DType::f64);
    cpu::conv2d_forward<double>(x.data<double>(), w.data<double>(),
                                b.defined() ? b.data<double>() : nullptr, y.data<double>(), s);
    return y;
}

Tensor direct_backward_data(const Tensor& dy, const Tensor& w, const Shape& x_shape, int64_t stride,
                            int64_t pad) {
    const Conv2dShape s = conv2d_shape(x_shape, w.shape(), stride, pad);
    Tensor dx = Tensor::empty(x_shape, DType::f64);
    cpu::conv2d_backward_data<double>(dy.data<double>(), w.data<double>(), dx.data<double>(), s);
    return dx;
}

Tensor direct_backward_filter(const Tensor& x, const Tensor& dy, const Shape& w_shape,
                              int64_t stride, int64_t pad) {
    const Conv2dShape s = conv2d_shape(x.shape(), w_shape, stride, pad);
    Tensor dw = Tensor::empty(w_shape, DType::f64);
    cpu::conv2d_backward_filter<double>(x.data<double>(), dy.data<double>(), dw.data<double>(), s);
    return dw;
}

// N, C, H, W, K, R, S, stride, padding
struct Case {
    int64_t N, C, H, W, K, R, S, stride, pad;
    Shape x() const { return {N, C, H, W}; }
    Shape w() const { return {K, C, R, S}; }
};

std::string describe(const Case& c) {
    return "x " + Shape(c.x()).str() + " w " + Shape(c.w()).str() + " stride " +
           std::to_string(c.stride) + " pad " + std::to_string(c.pad);
}

// ---- values ------------------------------------------------------------------------------------

const std::vector<double> kX3x3 = {1, 2, 3, 4, 5, 6, 7, 8, 9};
const std::vector<double> kW2x2 = {1, 2, 3, 4};

TEST(Conv2d, HandComputedForward) {
    // Valid 2x2 windows of [1..9] (3x3) against [1 2; 3 4]:
    //   top-left 1*1 + 2*2 + 4*3 + 5*4 = 37, then 47, 67, 77.
    // Padding 1, stride 2: windows start at (-1,-1), (-1,1), (1,-1), (1,1):
    //   4*1 = 4;  3*2 + 4*3 = 18;  2*4 + 4*7 = 36;  1*5 + 2*6 + 3*8 + 4*9 = 77.
    for (DType dtype : {DType::f32, DType::f64}) {
        const Tensor x = Tensor::from_vector<double>(kX3x3, {1, 1, 3, 3}).to(dtype);
        const Tensor w = Tensor::from_vector<double>(kW2x2, {1, 1, 2, 2}).to(dtype);
        const Tensor b = Tensor::from_vector<double>({0.5}, {1}).to(dtype);
        const Tensor y = conv2d(x, w);
        EXPECT_EQ(y.shape(), (Shape{1, 1, 2, 2}));
        EXPECT_EQ(y.dtype(), dtype);
        EXPECT_EQ(y.to(DType::f64).to_vector<double>(), (std::vector<double>{37, 47, 67, 77}));
        EXPECT_EQ(conv2d(x, w, b).to(DType::f64).to_vector<double>(),
                  (std::vector<double>{37.5, 47.5, 67.5, 77.5}));
        const Tensor y2 = conv2d(x, w, Tensor(), 2, 1);
        EXPECT_EQ(y2.shape(), (Shape{1, 1, 2, 2}));
        EXPECT_EQ(y2.to(DType::f64).to_vector<double>(), (std::vector<double>{4, 18, 36, 77}));
        // Stride 2 without padding: only the top-left window fits.
        EXPECT_EQ(conv2d(x, w, b, 2, 0).to(DType::f64).to_vector<double>(),
                  (std::vector<double>{37.5}));
    }
}

TEST(Conv2d, HandComputedBackward) {
    // dy = ones over the four valid windows:
    //   dx counts how often each w entry lands on a pixel: [1 3 2; 4 10 6; 3 7 4]
    //   dw[r][t] sums the 2x2 block of x at offset (r, t): 12, 16, 24, 28;  db = 4.
    Tensor x = Tensor::from_vector<double>(kX3x3, {1, 1, 3, 3}).set_requires_grad();
    Tensor w = Tensor::from_vector<double>(kW2x2, {1, 1, 2, 2}).set_requires_grad();
    Tensor b = Tensor::from_vector<double>({0.5}, {1}).set_requires_grad();
    conv2d(x, w, b).backward(Tensor::ones({1, 1, 2, 2}, DType::f64));
    EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{1, 3, 2, 4, 10, 6, 3, 7, 4}));
    EXPECT_EQ(w.grad().to_vector<double>(), (std::vector<double>{12, 16, 24, 28}));
    EXPECT_EQ(b.grad().to_vector<double>(), (std::vector<double>{4}));
}

TEST(Conv2d, OutputSizeRoundsDown) {
    // (8 + 2 - 3) / 2 + 1 = 4 (7/2 rounds down), and the input's last row is never read.
    const Conv2dShape s = conv2d_shape({2, 3, 8, 9}, {5, 3, 3, 3}, 2, 1);
    EXPECT_EQ(s.P, 4);
    EXPECT_EQ(s.Q, 5);
    EXPECT_EQ(
        conv2d(Tensor::zeros({2, 3, 8, 9}), Tensor::zeros({5, 3, 3, 3}), Tensor(), 2, 1).shape(),
        (Shape{2, 5, 4, 5}));
}

// ---- im2col + gemm against the direct loops ----------------------------------------------------

TEST(Conv2d, Im2colPathMatchesDirectLoops) {
    const Case cases[] = {
        {2, 3, 7, 7, 4, 3, 3, 1, 1},    // 3x3 same padding
        {1, 2, 6, 5, 3, 3, 3, 2, 1},    // stride 2, odd width, batch 1
        {3, 4, 9, 9, 2, 3, 3, 2, 0},    // stride 2, no padding, K < C
        {2, 5, 8, 8, 6, 1, 1, 1, 0},    // 1x1 (the gemm reads the image itself)
        {2, 3, 8, 8, 4, 1, 1, 2, 0},    // 1x1 stride 2 (a projection shortcut)
        {1, 3, 15, 15, 4, 7, 7, 2, 3},  // 7x7 stride 2 padding 3 (ResNet-50 stem)
        {2, 2, 5, 5, 3, 5, 5, 1, 0},    // kernel as large as the input
        {1, 3, 4, 6, 2, 2, 3, 1, 2},    // R != S, padding larger than needed
        {2, 2, 7, 7, 3, 3, 3, 3, 1},    // stride 3
    };
    uint64_t seed = 100;
    for (const Case& c : cases) {
        const Conv2dShape s = conv2d_shape(c.x(), c.w(), c.stride, c.pad);
        const Tensor x = random_tensor(c.x(), -1, 1, seed++);
        const Tensor w = random_tensor(c.w(), -1, 1, seed++);
        const Tensor b = random_tensor({c.K}, -1, 1, seed++);
        const Tensor dy = random_tensor({s.N, s.K, s.P, s.Q}, -1, 1, seed++);

        Tensor y = Tensor::empty({s.N, s.K, s.P, s.Q}, DType::f64);
        cpu::conv2d_forward_im2col<double>(x.data<double>(), w.data<double>(), b.data<double>(),
                                           y.data<double>(), s);
        EXPECT_TRUE(all_close(y, direct_forward(x, w, b, c.stride, c.pad), testing::kF64Exact))
            << describe(c);
        cpu::conv2d_forward_im2col<double>(x.data<double>(), w.data<double>(), nullptr,
                                           y.data<double>(), s);
        EXPECT_TRUE(
            all_close(y, direct_forward(x, w, Tensor(), c.stride, c.pad), testing::kF64Exact))
            << describe(c);

        Tensor dx = Tensor::full(c.x(), 7.0, DType::f64);  // overwritten, not added to
        cpu::conv2d_backward_data_im2col<double>(dy.data<double>(), w.data<double>(),
                                                 dx.data<double>(), s);
        EXPECT_TRUE(
            all_close(dx, direct_backward_data(dy, w, c.x(), c.stride, c.pad), testing::kF64Exact))
            << describe(c);

        Tensor dw = Tensor::full(c.w(), 7.0, DType::f64);
        cpu::conv2d_backward_filter_im2col<double>(x.data<double>(), dy.data<double>(),
                                                   dw.data<double>(), s);
        EXPECT_TRUE(all_close(dw, direct_backward_filter(x, dy, c.w(), c.stride, c.pad),
                              testing::kF64Exact))
            << describe(c);
    }
}

TEST(Conv2d, OpFunctionsMatchDirectLoops) {
    // Non-contiguous operands are copied; the bias gradient is the sum over n, p, q.
    const Case c{2, 3, 6, 6, 4, 3, 3, 2, 1};
    const Conv2dShape s = conv2d_shape(c.x(), c.w(), c.stride, c.pad);
    const Tensor x = random_tensor({c.N, c.C, c.W, c.H}, -1, 1, 1).transpose(2, 3);
    ASSERT_FALSE(x.is_contiguous());
    const Tensor w = random_tensor(c.w(), -1, 1, 2);
    const Tensor b = random_tensor({c.K}, -1, 1, 3);
    const Tensor dy = random_tensor({s.N, s.K, s.P, s.Q}, -1, 1, 4);
    const Tensor xc = x.contiguous();
    EXPECT_TRUE(all_close(ops::conv2d_forward(x, w, b, c.stride, c.pad),
                          direct_forward(xc, w, b, c.stride, c.pad), testing::kF64Exact));
    EXPECT_TRUE(all_close(ops::conv2d_backward_data(dy, w, c.x(), c.stride, c.pad),
                          direct_backward_data(dy, w, c.x(), c.stride, c.pad), testing::kF64Exact));
    EXPECT_TRUE(all_close(ops::conv2d_backward_filter(x, dy, c.w(), c.stride, c.pad),
                          direct_backward_filter(xc, dy, c.w(), c.stride, c.pad),
                          testing::kF64Exact));
    Tensor db = Tensor::empty({c.K}, DType::f64);
    cpu::conv2d_backward_bias<double>(dy.data<double>(), db.data<double>(), s);
    EXPECT_TRUE(all_close(ops::conv2d_backward_bias(dy), db, testing::kF64Exact));
    EXPECT_TRUE(all_close(db, sum(sum(sum(dy, 3), 2), 0), testing::kF64Exact));
}

TEST(Conv2d, EmptyBatch) {
    const Tensor x = Tensor::zeros({0, 2, 5, 5}, DType::f64);
    const Tensor w = random_tensor({3, 2, 3, 3}, -1, 1, 5);
    EXPECT_EQ(ops::conv2d_forward(x, w, Tensor(), 1, 1).shape(), (Shape{0, 3, 5, 5}));
    const Tensor dy = Tensor::zeros({0, 3, 5, 5}, DType::f64);
    EXPECT_EQ(ops::conv2d_backward_filter(x, dy, w.shape(), 1, 1).to_vector<double>(),
              std::vector<double>(54, 0.0));
    EXPECT_EQ(ops::conv2d_backward_bias(dy).to_vector<double>(), std::vector<double>(3, 0.0));
}

// ---- gradients ---------------------------------------------------------------------------------

TEST(Conv2d, GradcheckFloat64) {
    using autograd::gradcheck;
    uint64_t seed = 200;
    for (int64_t stride : {1, 2}) {
        for (int64_t pad : {0, 1}) {
            const Tensor x = random_tensor({2, 2, 5, 5}, -1, 1, seed++);
            const Tensor w = random_tensor({3, 2, 3, 3}, -1, 1, seed++);
            const Tensor b = random_tensor({3}, -1, 1, seed++);
            const auto with_bias = [=](const std::vector<Tensor>& in) {
                return conv2d(in[0], in[1], in[2], stride, pad);
            };
            const auto without_bias = [=](const std::vector<Tensor>& in) {
                return conv2d(in[0], in[1], Tensor(), stride, pad);
            };
            for (const auto& r :
                 {gradcheck(with_bias, {x, w, b}), gradcheck(without_bias, {x, w})}) {
                EXPECT_TRUE(r.ok) << "stride " << stride << " pad " << pad << ": " << r.message;
                EXPECT_GT(r.checked, 0);
            }
        }
    }
}

TEST(Conv2d, GradcheckOddShapesAndBatchOne) {
    // R != S, odd sizes, K < C, stride 2 with padding 2.
    const auto f = [](const std::vector<Tensor>& in) { return conv2d(in[0], in[1], in[2], 2, 2); };
    const auto r = autograd::gradcheck(
        f, {random_tensor({1, 3, 5, 4}, -1, 1, 300), random_tensor({2, 3, 3, 2}, -1, 1, 301),
            random_tensor({2}, -1, 1, 302)});
    EXPECT_TRUE(r.ok) << r.message;
    EXPECT_EQ(r.checked, 60 + 36 + 2);
}

TEST(Conv2d, OnlyTheNeededGradientsAreComputedAndSaved) {
    const Tensor dy = random_tensor({2, 3, 4, 4}, -1, 1, 400);
    // Fixed weight: only dx. x is not saved, so changing it after the forward is fine.
    Tensor x = random_tensor({2, 2, 4, 4}, -1, 1, 401).set_requires_grad();
    Tensor w = random_tensor({3, 2, 3, 3}, -1, 1, 402);
    const Tensor y = conv2d(x, w, Tensor(), 1, 1);
    {
        NoGradGuard no_grad;
        x.fill_(0.0);
    }
    y.backward(dy);
    EXPECT_FALSE(w.grad().defined());
    EXPECT_TRUE(
        all_close(x.grad(), direct_backward_data(dy, w, x.shape(), 1, 1), testing::kF64Exact));

    // Fixed input, trainable weight: dw reads x, so changing x in place is refused.
    Tensor x2 = random_tensor({2, 2, 4, 4}, -1, 1, 403);
    Tensor w2 = random_tensor({3, 2, 3, 3}, -1, 1, 404).set_requires_grad();
    const Tensor y2 = conv2d(x2, w2, Tensor(), 1, 1);
    x2.fill_(1.0);
    EXPECT_TRUE(throws_error([&] { y2.backward(dy); }, {"'x'", "conv2d"}));

    // Only the bias trains: neither x nor w is needed.
    Tensor b = random_tensor({3}, -1, 1, 405).set_requires_grad();
    const Tensor x3 = random_tensor({2, 2, 4, 4}, -1, 1, 406);
    conv2d(x3, w, b, 1, 1).backward(dy);
    EXPECT_TRUE(all_close(b.grad(), sum(sum(sum(dy, 3), 2), 0), testing::kF64Exact));
}

TEST(Conv2d, NoGraphUnderNoGrad) {
    Tensor w = random_tensor({3, 2, 3, 3}, -1, 1, 410).set_requires_grad();
    NoGradGuard no_grad;
    const Tensor y = conv2d(random_tensor({1, 2, 4, 4}, -1, 1, 411), w);
    EXPECT_FALSE(y.requires_grad());
    EXPECT_EQ(y.grad_fn(), nullptr);
}

TEST(Conv2d, Float32MatchesFloat64) {
    const Case c{2, 8, 12, 12, 6, 3, 3, 1, 1};
    const Conv2dShape s = conv2d_shape(c.x(), c.w(), c.stride, c.pad);
    const Tensor x = random_tensor(c.x(), -1, 1, 500, DType::f32);
    const Tensor w = random_tensor(c.w(), -1, 1, 501, DType::f32);
    const Tensor b = random_tensor({c.K}, -1, 1, 502, DType::f32);
    const Tensor dy = random_tensor({s.N, s.K, s.P, s.Q}, -1, 1, 503, DType::f32);
    const auto f64 = [](const Tensor& t) { return t.to(DType::f64); };
    const Tensor y = ops::conv2d_forward(x, w, b, 1, 1);
    EXPECT_EQ(y.dtype(), DType::f32);
    EXPECT_TRUE(all_close(y, direct_forward(f64(x), f64(w), f64(b), 1, 1),
                          testing::f32_sum_tolerance(c.C * c.R * c.S)));
    EXPECT_TRUE(all_close(ops::conv2d_backward_data(dy, w, c.x(), 1, 1),
                          direct_backward_data(f64(dy), f64(w), c.x(), 1, 1),
                          testing::f32_sum_tolerance(c.K * c.R * c.S)));
    EXPECT_TRUE(all_close(ops::conv2d_backward_filter(x, dy, c.w(), 1, 1),
                          direct_backward_filter(f64(x), f64(dy), c.w(), 1, 1),
                          testing::f32_sum_tolerance(s.N * s.P * s.Q)));
    EXPECT_TRUE(all_close(ops::conv2d_backward_bias(dy), ops::conv2d_backward_bias(f64(dy)),
                          testing::f32_sum_tolerance(s.N * s.P * s.Q)));
}

// ---- module ------------------------------------------------------------------------------------

TEST(Conv2dModule, ParametersAndRegistrationNames) {
    Generator gen(1);
    Conv2d conv(3, 16, 3, 1, 1, false, gen);
    EXPECT_EQ(conv.type_name(), "Conv2d");
    EXPECT_EQ(conv.parameter_count(), 16 * 3 * 3 * 3);
    ASSERT_EQ(conv.named_parameters().size(), 1u);
    EXPECT_EQ(conv.named_parameters()[0].first, "weight");
    EXPECT_EQ(conv.weight().shape(), (Shape{16, 3, 3, 3}));
    EXPECT_TRUE(conv.weight().requires_grad());
    EXPECT_FALSE(conv.bias().defined());

    Conv2d biased(16, 32, 1, 2, 0, true, gen);
    EXPECT_EQ(biased.parameter_count(), 32 * 16 + 32);
    const NamedTensors named = biased.named_parameters();
    ASSERT_EQ(named.size(), 2u);
    EXPECT_EQ(named[0].first, "weight");
    EXPECT_EQ(named[1].first, "bias");
    EXPECT_EQ(biased.bias().to_vector<float>(), std::vector<float>(32, 0.f));

    Sequential seq;
    seq.add(std::make_shared<Conv2d>(3, 4, 3, 1, 1, true, gen));
    EXPECT_EQ(seq.named_parameters()[0].first, "0.weight");
    EXPECT_EQ(seq.named_parameters()[1].first, "0.bias");
}

TEST(Conv2dModule, GlorotUniformInitialisationFollowsTheSeed) {
    Generator gen(7), same(7);
    const Conv2d a(16, 32, 3, 1, 1, false, gen), b(16, 32, 3, 1, 1, false, same);
    const std::vector<float> wa = a.weight().to_vector<float>();
    EXPECT_EQ(wa, b.weight().to_vector<float>());
    // fan_in = 16*9, fan_out = 32*9: U(-a, a) with a = sqrt(6 / 432)
    const double bound = std::sqrt(6.0 / (16 * 9 + 32 * 9));
    double max_abs = 0;
    for (float v : wa) max_abs = std::max(max_abs, std::fabs(static_cast<double>(v)));
    EXPECT_LE(max_abs, bound);
    EXPECT_GT(max_abs, 0.9 * bound);  // 4608 draws reach close to the edge
}

TEST(Conv2dModule, ForwardIsTheFunctionalConvolutionAndTrains) {
    Generator gen(3);
    Conv2d conv(2, 3, 3, 2, 1, true, gen);
    const Tensor x = random_tensor({2, 2, 7, 7}, -1, 1, 600, DType::f32);
    const Tensor y = conv(x);
    EXPECT_EQ(y.shape(), (Shape{2, 3, 4, 4}));
    EXPECT_EQ(y.to_vector<float>(),
              ops::conv2d_forward(x, conv.weight(), conv.bias(), 2, 1).to_vector<float>());
    sum(y * random_tensor({2, 3, 4, 4}, -1, 1, 601, DType::f32)).backward();
    EXPECT_EQ(conv.weight().grad().shape(), conv.weight().shape());
    EXPECT_EQ(conv.bias().grad().shape(), (Shape{3}));
}

// ---- errors ------------------------------------------------------------------------------------

TEST(Conv2d, BadInputsAreClearErrors) {
    const Tensor x = Tensor::zeros({2, 3, 8, 8}), w = Tensor::zeros({8, 3, 3, 3});
    EXPECT_EQ(testing::error_message([] {
                  conv2d(Tensor::zeros({1, 3, 2, 2}), Tensor::zeros({8, 3, 3, 3}));
              }),
              "conv2d: input [1, 3, 2, 2] with padding 0 is smaller than the kernel [8, 3, 3, 3]");
    EXPECT_NO_THROW(
        conv2d(Tensor::zeros({1, 3, 2, 2}), Tensor::zeros({8, 3, 3, 3}), Tensor(), 1, 1));
    EXPECT_TRUE(throws_error(
        [&] {
            conv2d(Tensor::zeros({3, 8, 8}), w);
        },
        {"conv2d: expected NCHW input (rank 4), got [3, 8, 8]"}));
    EXPECT_TRUE(throws_error(
        [&] {
            conv2d(x, Tensor::zeros({8, 3, 3}));
        },
        {"weight (rank 4), got [8, 3, 3]"}));
    EXPECT_TRUE(throws_error(
        [&] {
            conv2d(Tensor::zeros({2, 3, 8, 8}), Tensor::zeros({8, 16, 3, 3}));
        },
        {"conv2d: input has 3 channels, weight expects 16"}));
    EXPECT_TRUE(throws_error([&] { conv2d(x, w, Tensor::zeros({5})); },
                             {"conv2d: bias has shape [5], expected [8]"}));
    EXPECT_TRUE(throws_error(
        [&] {
            conv2d(x, w, Tensor::zeros({8, 1}));
        },
        {"bias has shape [8, 1], expected [8]"}));
    EXPECT_TRUE(throws_error([&] { conv2d(x, w.to(DType::f64)); },
                             {"conv2d: dtypes differ", "f32[2, 3, 8, 8]", "f64[8, 3, 3, 3]"}));
    EXPECT_TRUE(throws_error([&] { conv2d(x, w, Tensor::zeros({8}, DType::f64)); },
                             {"dtypes differ", "bias"}));
    EXPECT_TRUE(throws_error(
        [&] {
            conv2d(Tensor::zeros({2, 3, 8, 8}, DType::i64),
                   Tensor::zeros({8, 3, 3, 3}, DType::i64));
        },
        {"expected floating tensors", "i64"}));
    EXPECT_TRUE(throws_error([&] { conv2d(x, w, Tensor(), 0, 1); },
                             {"conv2d: stride must be >= 1, got 0"}));
    EXPECT_TRUE(throws_error([&] { conv2d(x, w, Tensor(), 1, -1); },
                             {"conv2d: padding must be >= 0, got -1"}));
    EXPECT_TRUE(throws_error(
        [&] {
            conv2d(x, Tensor::zeros({0, 3, 3, 3}));
        },
        {"weight [0, 3, 3, 3] has an empty dimension"}));
    EXPECT_TRUE(throws_error(
        [&] {
            conv2d(Tensor::zeros({2, 3, 0, 8}), w, Tensor(), 1, 1);
        },
        {"input [2, 3, 0, 8] has an empty dimension"}));
    EXPECT_TRUE(throws_error([&] { conv2d(Tensor(), w); }, {"input is an undefined tensor"}));
    EXPECT_TRUE(throws_error([&] { conv2d(x, Tensor()); }, {"weight is an undefined tensor"}));
}

TEST(Conv2d, BackwardOpsCheckTheGradientShape) {
    const Tensor x = Tensor::zeros({2, 3, 8, 8}), w = Tensor::zeros({8, 3, 3, 3});
    const Tensor bad_dy = Tensor::zeros({2, 8, 6, 7});
    EXPECT_TRUE(
        throws_error([&] { ops::conv2d_backward_data(bad_dy, w, x.shape(), 1, 0); },
                     {"conv2d backward data: dy has shape [2, 8, 6, 7], expected [2, 8, 6, 6]"}));
    EXPECT_TRUE(throws_error([&] { ops::conv2d_backward_filter(x, bad_dy, w.shape(), 1, 0); },
                             {"conv2d backward filter: dy has shape [2, 8, 6, 7]"}));
    EXPECT_TRUE(throws_error(
        [&] {
            ops::conv2d_backward_bias(Tensor::zeros({2, 8}));
        },
        {"conv2d backward bias: expected dy of rank 4", "[2, 8]"}));
}

TEST(Conv2dModule, InvalidHyperparametersAreClearErrors) {
    Generator gen(0);
    EXPECT_TRUE(throws_error(
        [&] { Conv2d(0, 16, 3, 1, 1, false, gen); },
        {"Conv2d: in_channels, out_channels and kernel_size must be positive", "got 0, 16, 3"}));
    EXPECT_TRUE(throws_error([&] { Conv2d(3, -1, 3, 1, 1, false, gen); }, {"got 3, -1, 3"}));
    EXPECT_TRUE(throws_error([&] { Conv2d(3, 16, 0, 1, 1, false, gen); }, {"got 3, 16, 0"}));
    EXPECT_TRUE(throws_error([&] { Conv2d(3, 16, 3, 0, 1, false, gen); },
                             {"Conv2d: stride must be positive, got 0"}));
    EXPECT_TRUE(throws_error([&] { Conv2d(3, 16, 3, 1, -2, false, gen); },
                             {"Conv2d: padding must be >= 0, got -2"}));
    Conv2d conv(3, 16, 3, 1, 1, false, gen);
    EXPECT_TRUE(throws_error(
        [&] {
            conv(Tensor::zeros({2, 4, 8, 8}));
        },
        {"input has 4 channels, weight expects 3"}));
}

TEST(Conv2d, AlgorithmSearchSettingParsesAndRestores) {
    EXPECT_EQ(conv_algorithm_search(), ConvAlgorithmSearch::heuristic);  // the default
    EXPECT_EQ(parse_conv_algorithm_search("timed"), ConvAlgorithmSearch::timed);
    EXPECT_EQ(parse_conv_algorithm_search("heuristic"), ConvAlgorithmSearch::heuristic);
    EXPECT_TRUE(testing::throws_error([] { parse_conv_algorithm_search("fastest"); },
                                      {"'fastest'", "heuristic, timed"}));
    {
        const ConvAlgorithmSearchSetting timed(ConvAlgorithmSearch::timed);
        EXPECT_EQ(conv_algorithm_search(), ConvAlgorithmSearch::timed);
    }
    EXPECT_EQ(conv_algorithm_search(), ConvAlgorithmSearch::heuristic);
}

}  // namespace
}  // namespace cbnn
