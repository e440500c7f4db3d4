// BatchNorm2d (layers/batchnorm2d.h): hand-computed training and eval forwards, the running-stat
// update after one and two steps (unbiased variance), f64 gradchecks in both modes, the backward's
// invariants, f32 vs f64, the module (parameters, buffers, train/eval) and every bad input.
#include <cmath>
#include <vector>

#include "autograd/functions.h"
#include "autograd/gradcheck.h"
#include "gtest/gtest.h"
#include "layers/batchnorm2d.h"
#include "tests/support/expect_error.h"
#include "tests/support/random.h"
#include "tests/support/tolerance.h"

namespace cbnn {
namespace {

using testing::all_close;
using testing::kF32VsF64;
using testing::kF64Exact;
using testing::throws_error;

constexpr double kEps = 1e-5;

struct Stats {
    Tensor running_mean, running_var;
};

Stats fresh_stats(int64_t C, DType dtype = DType::f64) {
    return {Tensor::zeros({C}, dtype), Tensor::ones({C}, dtype)};
}

// x (N=2, C=2, H=1, W=2): channel 0 holds {1, 2, 3, 4}, channel 1 holds {-1, 1, 3, 5}.
Tensor hand_input() { return Tensor::from_vector<double>({1, 2, -1, 1, 3, 4, 3, 5}, {2, 2, 1, 2}); }

TEST(BatchNorm2d, TrainingForwardAndRunningStatsHandComputed) {
    const Tensor gamma = Tensor::from_vector<double>({2.0, 0.5}, {2});
    const Tensor beta = Tensor::from_vector<double>({0.25, -1.0}, {2});
    Stats s = fresh_stats(2);
    const Tensor y = batch_norm2d(hand_input(), gamma, beta, s.running_mean, s.running_var,
                                  /*training=*/true, 0.1, kEps);
    // Channel 0: mean 2.5, biased var 1.25 (unbiased 5/3). Channel 1: mean 2, var 5 (20/3).
    const double i0 = 1 / std::sqrt(1.25 + kEps), i1 = 1 / std::sqrt(5 + kEps);
    const std::vector<double> expected = {2 * (1 - 2.5) * i0 + 0.25, 2 * (2 - 2.5) * i0 + 0.25,
                                          0.5 * (-1 - 2) * i1 - 1,   0.5 * (1 - 2) * i1 - 1,
                                          2 * (3 - 2.5) * i0 + 0.25, 2 * (4 - 2.5) * i0 + 0.25,
                                          0.5 * (3 - 2) * i1 - 1,    0.5 * (5 - 2) * i1 - 1};
    EXPECT_TRUE(all_close(y.to_vector<double>(), expected, kF64Exact));
    // running <- 0.9 running + 0.1 batch, with the unbiased variance.
    EXPECT_TRUE(all_close(s.running_mean.to_vector<double>(), {0.25, 0.2}, kF64Exact));
    EXPECT_TRUE(all_close(s.running_var.to_vector<double>(),
                          {0.9 + 0.1 * 5.0 / 3, 0.9 + 0.1 * 20.0 / 3}, kF64Exact));

    // Second step: channel 0 {0, 0, 2, 2} (mean 1, unbiased var 4/3), channel 1 {1, 1, 1, 5}
    // (mean 2, unbiased var 4).
    const Tensor x2 = Tensor::from_vector<double>({0, 0, 1, 1, 2, 2, 1, 5}, {2, 2, 1, 2});
    batch_norm2d(x2, gamma, beta, s.running_mean, s.running_var, true, 0.1, kEps);
    EXPECT_TRUE(all_close(s.running_mean.to_vector<double>(),
                          {0.9 * 0.25 + 0.1 * 1, 0.9 * 0.2 + 0.1 * 2}, kF64Exact));
    EXPECT_TRUE(all_close(
        s.running_var.to_vector<double>(),
        {0.9 * (0.9 + 0.1 * 5.0 / 3) + 0.1 * 4.0 / 3, 0.9 * (0.9 + 0.1 * 20.0 / 3) + 0.1 * 4.0},
        kF64Exact));
}

TEST(BatchNorm2d, EvalForwardUsesRunningStatsAndLeavesThemAlone) {
    const Tensor gamma = Tensor::from_vector<double>({2.0, 0.5}, {2});
    const Tensor beta = Tensor::from_vector<double>({0.25, -1.0}, {2});
    const Tensor rm = Tensor::from_vector<double>({0.5, -1.0}, {2});
    const Tensor rv = Tensor::from_vector<double>({4.0, 0.25}, {2});
    const Tensor y = batch_norm2d(hand_input(), gamma, beta, rm, rv, /*training=*/false, 0.1, kEps);
    const double i0 = 1 / std::sqrt(4 + kEps), i1 = 1 / std::sqrt(0.25 + kEps);
    const std::vector<double> expected = {2 * (1 - 0.5) * i0 + 0.25, 2 * (2 - 0.5) * i0 + 0.25,
                                          0.5 * (-1 + 1) * i1 - 1,   0.5 * (1 + 1) * i1 - 1,
                                          2 * (3 - 0.5) * i0 + 0.25, 2 * (4 - 0.5) * i0 + 0.25,
                                          0.5 * (3 + 1) * i1 - 1,    0.5 * (5 + 1) * i1 - 1};
    EXPECT_TRUE(all_close(y.to_vector<double>(), expected, kF64Exact));
    EXPECT_EQ(rm.to_vector<double>(), (std::vector<double>{0.5, -1.0}));
    EXPECT_EQ(rv.to_vector<double>(), (std::vector<double>{4.0, 0.25}));
    // Eval mode works for a single value per channel.
    const Tensor one = Tensor::from_vector<double>({3, 4}, {1, 2, 1, 1});
    EXPECT_TRUE(
        all_close(batch_norm2d(one, gamma, beta, rm, rv, false, 0.1, kEps).to_vector<double>(),
                  {2 * 2.5 * i0 + 0.25, 0.5 * 5 * i1 - 1}, kF64Exact));
}

TEST(BatchNorm2d, MomentumZeroKeepsAndMomentumOneReplacesTheRunningStats) {
    const Tensor x = testing::random_tensor({3, 2, 2, 2}, -1, 2, 1);
    const Tensor gamma = Tensor::ones({2}, DType::f64), beta = Tensor::zeros({2}, DType::f64);
    Stats keep = fresh_stats(2);
    batch_norm2d(x, gamma, beta, keep.running_mean, keep.running_var, true, 0.0, kEps);
    EXPECT_EQ(keep.running_mean.to_vector<double>(), (std::vector<double>{0, 0}));
    EXPECT_EQ(keep.running_var.to_vector<double>(), (std::vector<double>{1, 1}));
    Stats replace = fresh_stats(2);
    const ops::BatchNormForward r = ops::batch_norm2d_training(x, gamma, beta, replace.running_mean,
                                                               replace.running_var, 1.0, kEps);
    EXPECT_TRUE(all_close(replace.running_mean, r.save_mean, kF64Exact));
    // The batch's unbiased variance over its n = 12 values per channel.
    const std::vector<double> v = x.to_vector<double>();
    for (int64_t c = 0; c < 2; ++c) {
        std::vector<double> values;
        for (int64_t n = 0; n < 3; ++n)
            for (int64_t k = 0; k < 4; ++k)
                values.push_back(v[static_cast<size_t>((n * 2 + c) * 4 + k)]);
        double mean = 0, squares = 0;
        for (double value : values) mean += value / 12;
        for (double value : values) squares += (value - mean) * (value - mean);
        EXPECT_NEAR(replace.running_var.to_vector<double>()[static_cast<size_t>(c)], squares / 11,
                    1e-12);
    }
}

TEST(BatchNorm2d, GradcheckTrainingMode) {
    for (const Shape& shape : {Shape{3, 2, 3, 2}, Shape{1, 3, 2, 3}, Shape{4, 1, 1, 1}}) {
        SCOPED_TRACE(::testing::Message() << shape);
        const int64_t C = shape[1];
        const Tensor x = testing::random_tensor(shape, -2, 2, 10);
        const Tensor gamma = testing::random_tensor({C}, 0.5, 1.5, 11);
        const Tensor beta = testing::random_tensor({C}, -1, 1, 12);
        Stats s = fresh_stats(C);  // updated by every evaluation; the output does not read it
        const autograd::GradcheckResult r = autograd::gradcheck(
            [&](const std::vector<Tensor>& in) {
                return batch_norm2d(in[0], in[1], in[2], s.running_mean, s.running_var, true, 0.1,
                                    kEps);
            },
            {x, gamma, beta});
        EXPECT_TRUE(r.ok) << r.message;
    }
}

TEST(BatchNorm2d, GradcheckEvalMode) {
    const Tensor x = testing::random_tensor({3, 2, 3, 2}, -2, 2, 20);
    const Tensor gamma = testing::random_tensor({2}, 0.5, 1.5, 21);
    const Tensor beta = testing::random_tensor({2}, -1, 1, 22);
    const Tensor rm = testing::random_tensor({2}, -0.5, 0.5, 23);
    const Tensor rv = testing::random_tensor({2}, 0.5, 2, 24);
    const autograd::GradcheckResult r = autograd::gradcheck(
        [&](const std::vector<Tensor>& in) {
            return batch_norm2d(in[0], in[1], in[2], rm, rv, false, 0.1, kEps);
        },
        {x, gamma, beta});
    EXPECT_TRUE(r.ok) << r.message;
    // Only x requiring grad (frozen affine parameters).
    const autograd::GradcheckResult rx = autograd::gradcheck(
        [&](const std::vector<Tensor>& in) {
            return batch_norm2d(in[0], gamma, beta, rm, rv, false, 0.1, kEps);
        },
        {x});
    EXPECT_TRUE(rx.ok) << rx.message;
}

TEST(BatchNorm2d, TrainingBackwardInvariants) {
    // Directional derivatives along per-channel shifts and scalings of x: y does not change when
    // x is shifted, so sum dx = 0; scaling x - mean by a changes xhat only through eps,
    // d xhat / da = xhat eps / (var + eps) at a = 1, so sum dx (x - mean) = dgamma gamma eps
    // invstd^2.
    const Tensor x = testing::random_tensor({4, 3, 5, 2}, -1, 3, 30);
    const Tensor dy = testing::random_tensor({4, 3, 5, 2}, -1, 1, 31);
    const Tensor gamma = testing::random_tensor({3}, 0.5, 1.5, 32);
    Stats s = fresh_stats(3);
    const ops::BatchNormForward f = ops::batch_norm2d_training(
        x, gamma, Tensor::zeros({3}, DType::f64), s.running_mean, s.running_var, 0.1, kEps);
    const ops::BatchNormGrads g =
        ops::batch_norm2d_backward(x, dy, gamma, f.save_mean, f.save_invstd, kEps);
    const std::vector<double> dx = g.dx.to_vector<double>(), xv = x.to_vector<double>();
    const std::vector<double> mean = f.save_mean.to_vector<double>();
    const std::vector<double> invstd = f.save_invstd.to_vector<double>();
    const std::vector<double> dgamma = g.dgamma.to_vector<double>(), gv = gamma.to_vector<double>();
    for (int64_t c = 0; c < 3; ++c) {
        const size_t cc = static_cast<size_t>(c);
        double sum_dx = 0, sum_dx_x = 0;
        for (int64_t n = 0; n < 4; ++n) {
            for (int64_t k = 0; k < 10; ++k) {
                const size_t at = static_cast<size_t>((n * 3 + c) * 10 + k);
                sum_dx += dx[at];
                sum_dx_x += dx[at] * (xv[at] - mean[cc]);
            }
        }
        EXPECT_NEAR(sum_dx, 0.0, 1e-12) << "channel " << c;
        EXPECT_NEAR(sum_dx_x, dgamma[cc] * gv[cc] * kEps * invstd[cc] * invstd[cc], 1e-12)
            << "channel " << c;
    }
    // dbeta = sum dy per channel.
    EXPECT_TRUE(all_close(g.dbeta, sum(sum(sum(dy, 3), 2), 0), kF64Exact));
}

TEST(BatchNorm2d, Float32MatchesFloat64) {
    const Shape shape{4, 3, 5, 6};
    const Tensor x = testing::random_tensor(shape, -1, 2, 40, DType::f32);
    const Tensor dy = testing::random_tensor(shape, -1, 1, 41, DType::f32);
    const Tensor gamma = testing::random_tensor({3}, 0.5, 1.5, 42, DType::f32);
    const Tensor beta = testing::random_tensor({3}, -1, 1, 43, DType::f32);
    Stats s32 = fresh_stats(3, DType::f32), s64 = fresh_stats(3);
    const auto f64 = [](const Tensor& t) { return t.to(DType::f64); };
    const ops::BatchNormForward a =
        ops::batch_norm2d_training(x, gamma, beta, s32.running_mean, s32.running_var, 0.1, kEps);
    const ops::BatchNormForward b = ops::batch_norm2d_training(
        f64(x), f64(gamma), f64(beta), s64.running_mean, s64.running_var, 0.1, kEps);
    EXPECT_EQ(a.y.dtype(), DType::f32);
    EXPECT_TRUE(all_close(a.y, b.y, kF32VsF64));
    EXPECT_TRUE(all_close(a.save_mean, b.save_mean, kF32VsF64));
    EXPECT_TRUE(all_close(a.save_invstd, b.save_invstd, kF32VsF64));
    EXPECT_TRUE(all_close(s32.running_mean, s64.running_mean, kF32VsF64));
    EXPECT_TRUE(all_close(s32.running_var, s64.running_var, kF32VsF64));
    const ops::BatchNormGrads ga =
        ops::batch_norm2d_backward(x, dy, gamma, a.save_mean, a.save_invstd, kEps);
    const ops::BatchNormGrads gb =
        ops::batch_norm2d_backward(f64(x), f64(dy), f64(gamma), b.save_mean, b.save_invstd, kEps);
    EXPECT_TRUE(all_close(ga.dx, gb.dx, kF32VsF64));
    EXPECT_TRUE(all_close(ga.dgamma, gb.dgamma, kF32VsF64));
    EXPECT_TRUE(all_close(ga.dbeta, gb.dbeta, kF32VsF64));
    EXPECT_TRUE(all_close(
        ops::batch_norm2d_inference(x, gamma, beta, s32.running_mean, s32.running_var, kEps),
        ops::batch_norm2d_inference(f64(x), f64(gamma), f64(beta), s64.running_mean,
                                    s64.running_var, kEps),
        kF32VsF64));
}

TEST(BatchNorm2d, ModuleParametersBuffersAndModes) {
    BatchNorm2d bn(3);
    EXPECT_EQ(bn.type_name(), "BatchNorm2d");
    EXPECT_EQ(bn.channels(), 3);
    EXPECT_EQ(bn.momentum(), 0.1);
    EXPECT_EQ(bn.eps(), 1e-5);
    EXPECT_EQ(bn.parameter_count(), 6);
    const NamedTensors params = bn.named_parameters(), buffers = bn.named_buffers();
    ASSERT_EQ(params.size(), 2u);
    ASSERT_EQ(buffers.size(), 2u);
    EXPECT_EQ(params[0].first, "weight");
    EXPECT_EQ(params[1].first, "bias");
    EXPECT_EQ(buffers[0].first, "running_mean");
    EXPECT_EQ(buffers[1].first, "running_var");
    EXPECT_EQ(bn.weight().to_vector<float>(), (std::vector<float>{1, 1, 1}));
    EXPECT_EQ(bn.bias().to_vector<float>(), (std::vector<float>{0, 0, 0}));
    EXPECT_EQ(bn.running_mean().to_vector<float>(), (std::vector<float>{0, 0, 0}));
    EXPECT_EQ(bn.running_var().to_vector<float>(), (std::vector<float>{1, 1, 1}));
    EXPECT_FALSE(bn.running_mean().requires_grad());

    const Tensor x = testing::random_tensor({4, 3, 2, 2}, 1, 3, 50, DType::f32);
    const Tensor y = bn(x);  // training: batch statistics, buffers updated
    const std::vector<float> rm = bn.running_mean().to_vector<float>();
    for (float m : rm) EXPECT_GT(m, 0.1f);  // 0.1 * a batch mean in (1, 3)
    Stats s = fresh_stats(3, DType::f32);
    EXPECT_EQ(y.to_vector<float>(), batch_norm2d(x, bn.weight(), bn.bias(), s.running_mean,
                                                 s.running_var, true, 0.1, 1e-5)
                                        .to_vector<float>());
    // Gradients reach the parameters.
    sum(y * testing::random_tensor({4, 3, 2, 2}, -1, 1, 51, DType::f32)).backward();
    EXPECT_TRUE(bn.weight().grad().defined());
    EXPECT_TRUE(bn.bias().grad().defined());

    bn.eval();
    const Tensor ye = bn(x);
    EXPECT_EQ(bn.running_mean().to_vector<float>(), rm);  // no update in eval mode
    EXPECT_EQ(ye.to_vector<float>(), batch_norm2d(x, bn.weight(), bn.bias(), bn.running_mean(),
                                                  bn.running_var(), false, 0.1, 1e-5)
                                         .to_vector<float>());
}

TEST(BatchNorm2d, EvalGraphSurvivesALaterTrainingStep) {
    BatchNorm2d bn(2);
    bn.eval();
    Tensor x = testing::random_tensor({2, 2, 3, 3}, -1, 1, 60, DType::f32);
    x.set_requires_grad();
    const Tensor y = bn(x);
    bn.train();
    bn(x.detach());  // updates the buffers in place
    sum(y).backward();
    // Eval-mode dx = gamma / sqrt(running_var + eps) with the statistics of the forward (1, 1).
    const float expected = static_cast<float>(1 / std::sqrt(1 + 1e-5));
    for (float g : x.grad().to_vector<float>()) EXPECT_FLOAT_EQ(g, expected);
}

TEST(BatchNorm2d, BadInputsAreClearErrors) {
    const Tensor x = testing::random_tensor({2, 3, 2, 2}, -1, 1, 70);
    const Tensor g = Tensor::ones({3}, DType::f64), b = Tensor::zeros({3}, DType::f64);
    Stats s = fresh_stats(3);
    auto bn = [&](const Tensor& in, const Tensor& gamma, bool training, double m, double e) {
        return batch_norm2d(in, gamma, b, s.running_mean, s.running_var, training, m, e);
    };
    EXPECT_TRUE(throws_error(
        [&] {
            bn(Tensor::zeros({1, 3, 1, 1}, DType::f64), g, true, 0.1, kEps);
        },
        {"batch_norm2d", "more than one value", "[1, 3, 1, 1]"}));
    EXPECT_TRUE(throws_error(
        [&] {
            bn(Tensor::zeros({2, 3, 4}, DType::f64), g, true, 0.1, kEps);
        },
        {"batch_norm2d", "NCHW", "[2, 3, 4]"}));
    EXPECT_TRUE(throws_error(
        [&] {
            bn(Tensor::zeros({2, 4, 2, 2}, DType::f64), g, false, 0.1, kEps);
        },
        {"batch_norm2d", "gamma", "[4]", "[3]"}));
    EXPECT_TRUE(throws_error([&] { bn(x, Tensor::ones({3}), true, 0.1, kEps); },
                             {"batch_norm2d", "gamma", "f32"}));
    EXPECT_TRUE(throws_error([&] { bn(x, g, true, 1.5, kEps); }, {"momentum", "1.5"}));
    EXPECT_TRUE(throws_error([&] { bn(x, g, true, 0.1, 0.0); }, {"eps", "0"}));
    EXPECT_TRUE(throws_error([&] { bn(x, g, false, 0.1, -1.0); }, {"eps", "-1"}));
    EXPECT_TRUE(throws_error(
        [&] {
            bn(Tensor::zeros({2, 3, 2, 2}, DType::i64), g, true, 0.1, kEps);
        },
        {"batch_norm2d", "i64"}));
    Tensor grad_stat = Tensor::zeros({3}, DType::f64);
    grad_stat.set_requires_grad();
    EXPECT_TRUE(
        throws_error([&] { batch_norm2d(x, g, b, grad_stat, s.running_var, true, 0.1, kEps); },
                     {"running_mean", "must not require grad"}));
    EXPECT_TRUE(throws_error([] { BatchNorm2d(0); }, {"BatchNorm2d", "channels", "0"}));
    EXPECT_TRUE(throws_error([] { BatchNorm2d(4, -0.1); }, {"BatchNorm2d", "momentum"}));
    EXPECT_TRUE(throws_error([] { BatchNorm2d(4, 0.1, 0.0); }, {"BatchNorm2d", "eps"}));
    BatchNorm2d module(4);
    EXPECT_TRUE(throws_error(
        [&] {
            module(Tensor::zeros({2, 3, 2, 2}));
        },
        {"BatchNorm2d(4)", "4 channels", "[2, 3, 2, 2]"}));
    EXPECT_TRUE(throws_error(
        [&] {
            ops::batch_norm2d_backward(x, Tensor::zeros({2, 3, 2, 1}, DType::f64), g, b, g, kEps);
        },
        {"batch_norm2d_backward", "dy", "[2, 3, 2, 1]"}));
}

TEST(BatchNorm2d, KernelChoiceParsesAndRestores) {
    EXPECT_EQ(batchnorm_kernels(), BatchNormKernels::cbnn);  // the default
    EXPECT_EQ(parse_batchnorm_kernels("cbnn"), BatchNormKernels::cbnn);
    EXPECT_EQ(parse_batchnorm_kernels("cudnn"), BatchNormKernels::cudnn);
    EXPECT_TRUE(testing::throws_error([] { parse_batchnorm_kernels("miopen"); },
                                      {"'miopen'", "cudnn, cbnn"}));
    {
        const BatchNormKernelsSetting library(BatchNormKernels::cudnn);
        EXPECT_EQ(batchnorm_kernels(), BatchNormKernels::cudnn);
    }
    EXPECT_EQ(batchnorm_kernels(), BatchNormKernels::cbnn);
}

}  // namespace
}  // namespace cbnn
