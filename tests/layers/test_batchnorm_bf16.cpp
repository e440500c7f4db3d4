// Batch norm (layers/batchnorm2d.h) and the fused batch norm + ReLU (layers/batchnorm_relu.h) with
// bf16 activations and f32 parameters and statistics, on the CPU. The bf16 reference is defined
// as the f32 reference on the same (bf16-valued) inputs with every activation output rounded once
// to bf16 (layers/batchnorm2d_reference.h), so the comparisons below are bitwise: bf16 y, dx and
// dresidual equal the f32 op's rounded to bf16, and the f32 statistics, running statistics, dgamma
// and dbeta equal the f32 op's exactly. Also: the result is within one bf16 rounding of the f64
// reference, autograd gives x (and residual) a bf16 gradient and gamma, beta f32 ones, and every
// mixed-dtype misuse is one clear error.
#include <cmath>
#include <cstdint>
#include <tuple>
#include <vector>

#include "autograd/functions.h"
#include "gtest/gtest.h"
#include "layers/batchnorm2d.h"
#include "layers/batchnorm_relu.h"
#include "tensor/bfloat16.h"
#include "tests/layers/bf16_test_util.h"
#include "tests/support/expect_error.h"
#include "tests/support/random.h"

namespace cbnn {
namespace {

using testing::same_bits;
using testing::throws_error;

constexpr double kMomentum = 0.1, kEps = 1e-5;

// |a - ref| <= 2^-8 |ref| + 1e-6 everywhere. The CPU computes y in double from the same values as
// the f64 reference, stores it as f32 (relative error 2^-24: below 1e-6 for |y| <= 16, and |y| < 8
// here) and rounds that once to bf16 (8 significant bits: unit roundoff 2^-8).
::testing::AssertionResult within_one_bf16_rounding(const Tensor& a, const Tensor& ref) {
    const std::vector<double> va = a.to(DType::f64).to_vector<double>();
    const std::vector<double> vr = ref.to(DType::f64).to_vector<double>();
    for (size_t i = 0; i < va.size(); ++i)
        if (!(std::abs(va[i] - vr[i]) <= std::ldexp(std::abs(vr[i]), -8) + 1e-6))
            return ::testing::AssertionFailure()
                   << "element " << i << ": " << va[i] << " vs " << vr[i];
    return ::testing::AssertionSuccess();
}

struct Case {
    Tensor x, residual, dy;                         // bf16
    Tensor gamma, beta, running_mean, running_var;  // f32
    Tensor x32, residual32, dy32;                   // the same values as f32
};

Case random_case(const Shape& shape, uint64_t seed, bool with_residual) {
    const int64_t C = shape[1];
    Case c;
    c.x = testing::random_tensor(shape, -2, 4, seed, DType::bf16);
    c.dy = testing::random_tensor(shape, -1, 1, seed + 1, DType::bf16);
    if (with_residual) c.residual = testing::random_tensor(shape, -1, 1, seed + 2, DType::bf16);
    c.gamma = testing::random_tensor({C}, 0.5, 1.5, seed + 3, DType::f32);
    c.beta = testing::random_tensor({C}, -0.5, 0.5, seed + 4, DType::f32);
    c.running_mean = testing::random_tensor({C}, -0.5, 0.5, seed + 5, DType::f32);
    c.running_var = testing::random_tensor({C}, 0.5, 2, seed + 6, DType::f32);
    c.x32 = c.x.to(DType::f32);
    c.dy32 = c.dy.to(DType::f32);
    if (with_residual) c.residual32 = c.residual.to(DType::f32);
    return c;
}

// The bf16 op's gradients against the f32 op's: dx rounded once, dgamma and dbeta exactly
// (BatchNormGrads or BatchNormReluGrads).
template <class Grads>
::testing::AssertionResult grads_are_rounded(const Grads& g, const Grads& r) {
    if (g.dx.dtype() != DType::bf16 || g.dgamma.dtype() != DType::f32 ||
        g.dbeta.dtype() != DType::f32)
        return ::testing::AssertionFailure()
               << "dtypes " << g.dx.description() << ", " << g.dgamma.description() << ", "
               << g.dbeta.description();
    for (const auto& [got, want, name] :
         {std::tuple{&g.dx, r.dx.to(DType::bf16), "dx"}, std::tuple{&g.dgamma, r.dgamma, "dgamma"},
          std::tuple{&g.dbeta, r.dbeta, "dbeta"}}) {
        ::testing::AssertionResult same = same_bits(*got, want);
        if (!same) return same << " (" << name << ")";
    }
    return ::testing::AssertionSuccess();
}

// Batch 1 and two values a channel, ResNet-32-like planes, an odd shape.
const Shape kShapes[] = {{4, 3, 5, 7}, {8, 16, 8, 8}, {1, 4, 3, 5}, {2, 3, 1, 1}};

TEST(BatchNormBf16, TrainingForwardAndBackwardAreTheF32OpRoundedOnce) {
    uint64_t seed = 1;
    for (const Shape& shape : kShapes) {
        SCOPED_TRACE(::testing::Message() << shape);
        const Case c = random_case(shape, seed, false);
        seed += 10;
        const Tensor rm = c.running_mean.clone(), rv = c.running_var.clone();
        const Tensor rm32 = c.running_mean.clone(), rv32 = c.running_var.clone();
        const ops::BatchNormForward got =
            ops::batch_norm2d_training(c.x, c.gamma, c.beta, rm, rv, kMomentum, kEps);
        const ops::BatchNormForward ref =
            ops::batch_norm2d_training(c.x32, c.gamma, c.beta, rm32, rv32, kMomentum, kEps);
        EXPECT_EQ(got.y.dtype(), DType::bf16);
        EXPECT_TRUE(same_bits(got.y, ref.y.to(DType::bf16)));
        EXPECT_TRUE(same_bits(got.save_mean, ref.save_mean));
        EXPECT_TRUE(same_bits(got.save_invstd, ref.save_invstd));
        EXPECT_TRUE(same_bits(rm, rm32));
        EXPECT_TRUE(same_bits(rv, rv32));
        // Against f64: the statistics accumulate the widened values in double either way.
        const Tensor rm64 = c.running_mean.to(DType::f64), rv64 = c.running_var.to(DType::f64);
        const ops::BatchNormForward r64 =
            ops::batch_norm2d_training(c.x.to(DType::f64), c.gamma.to(DType::f64),
                                       c.beta.to(DType::f64), rm64, rv64, kMomentum, kEps);
        EXPECT_TRUE(within_one_bf16_rounding(got.y, r64.y));

        const ops::BatchNormGrads g =
            ops::batch_norm2d_backward(c.x, c.dy, c.gamma, got.save_mean, got.save_invstd, kEps);
        const ops::BatchNormGrads r = ops::batch_norm2d_backward(
            c.x32, c.dy32, c.gamma, ref.save_mean, ref.save_invstd, kEps);
        EXPECT_TRUE(grads_are_rounded(g, r));
    }
}

TEST(BatchNormBf16, InferenceForwardAndBackwardAreTheF32OpRoundedOnce) {
    uint64_t seed = 100;
    for (const Shape& shape : kShapes) {
        SCOPED_TRACE(::testing::Message() << shape);
        const Case c = random_case(shape, seed, false);
        seed += 10;
        const Tensor y =
            ops::batch_norm2d_inference(c.x, c.gamma, c.beta, c.running_mean, c.running_var, kEps);
        const Tensor y32 = ops::batch_norm2d_inference(c.x32, c.gamma, c.beta, c.running_mean,
                                                       c.running_var, kEps);
        EXPECT_TRUE(same_bits(y, y32.to(DType::bf16)));
        const ops::BatchNormStats s =
            ops::batch_norm2d_running_stats(c.running_mean, c.running_var, kEps);
        const ops::BatchNormGrads g =
            ops::batch_norm2d_backward_inference(c.x, c.dy, c.gamma, s.mean, s.invstd, true);
        const ops::BatchNormGrads r =
            ops::batch_norm2d_backward_inference(c.x32, c.dy32, c.gamma, s.mean, s.invstd, true);
        EXPECT_TRUE(grads_are_rounded(g, r));
    }
}

TEST(BatchNormBf16, FusedReluAndResidualAreTheF32FusedOpRoundedOnce) {
    uint64_t seed = 200;
    for (const Shape& shape : kShapes) {
        for (bool with_residual : {false, true}) {
            SCOPED_TRACE(::testing::Message() << shape << (with_residual ? " residual" : ""));
            const Case c = random_case(shape, seed, with_residual);
            seed += 10;
            const Tensor rm = c.running_mean.clone(), rv = c.running_var.clone();
            const Tensor rm32 = c.running_mean.clone(), rv32 = c.running_var.clone();
            const ops::BatchNormForward got = ops::batch_norm_relu_training(
                c.x, c.residual, c.gamma, c.beta, rm, rv, kMomentum, kEps);
            const ops::BatchNormForward ref = ops::batch_norm_relu_training(
                c.x32, c.residual32, c.gamma, c.beta, rm32, rv32, kMomentum, kEps);
            EXPECT_TRUE(same_bits(got.y, ref.y.to(DType::bf16)));
            EXPECT_TRUE(same_bits(got.save_invstd, ref.save_invstd));
            EXPECT_TRUE(same_bits(rv, rv32));
            const ops::BatchNormReluGrads g = ops::batch_norm_relu_backward(
                c.x, got.y, c.dy, c.gamma, got.save_mean, got.save_invstd, kEps, true);
            const ops::BatchNormReluGrads r = ops::batch_norm_relu_backward(
                c.x32, ref.y, c.dy32, c.gamma, ref.save_mean, ref.save_invstd, kEps, true);
            EXPECT_TRUE(grads_are_rounded(g, r));
            EXPECT_TRUE(same_bits(g.dresidual, r.dresidual.to(DType::bf16)));

            const Tensor yi = ops::batch_norm_relu_inference(c.x, c.residual, c.gamma, c.beta,
                                                             c.running_mean, c.running_var, kEps);
            const Tensor yi32 = ops::batch_norm_relu_inference(c.x32, c.residual32, c.gamma, c.beta,
                                                               c.running_mean, c.running_var, kEps);
            EXPECT_TRUE(same_bits(yi, yi32.to(DType::bf16)));
        }
    }
}

// The gradients of sum(w * y) through autograd, from fresh leaves: y, then dx, dgamma, dbeta
// (and dresidual).
std::vector<Tensor> grads_through_autograd(const Tensor& x_in, const Tensor& residual_in,
                                           const Tensor& w, bool training, bool fused) {
    const int64_t C = x_in.size(1);
    Tensor x = x_in.clone(), gamma = testing::random_tensor({C}, 0.5, 1.5, 7, DType::f32);
    Tensor beta = testing::random_tensor({C}, -0.5, 0.5, 8, DType::f32);
    Tensor residual = residual_in.defined() ? residual_in.clone() : Tensor();
    const Tensor rm = Tensor::zeros({C}), rv = Tensor::ones({C});
    for (Tensor* t : {&x, &gamma, &beta, &residual})
        if (t->defined()) t->set_requires_grad();
    const Tensor y =
        fused ? batch_norm_relu(x, residual, gamma, beta, rm, rv, training, kMomentum, kEps)
              : batch_norm2d(x, gamma, beta, rm, rv, training, kMomentum, kEps);
    // w is bf16-valued in both runs, so the upstream gradient w is the same number in both.
    sum(y * w).backward();
    std::vector<Tensor> out{y, x.grad(), gamma.grad(), beta.grad()};
    if (residual.defined()) out.push_back(residual.grad());
    return out;
}

TEST(BatchNormBf16, AutogradGivesXItsDtypeAndTheParametersF32) {
    const Shape shape{4, 3, 3, 5};
    const Tensor x = testing::random_tensor(shape, -2, 2, 1, DType::bf16);
    const Tensor residual = testing::random_tensor(shape, -1, 1, 2, DType::bf16);
    const Tensor w = testing::random_tensor(shape, -1, 1, 3, DType::bf16);
    for (bool training : {true, false}) {
        for (bool fused : {false, true}) {
            SCOPED_TRACE(::testing::Message()
                         << (training ? "training" : "eval") << (fused ? " fused" : ""));
            const Tensor res = fused ? residual : Tensor();
            const std::vector<Tensor> got = grads_through_autograd(x, res, w, training, fused);
            const std::vector<Tensor> ref =
                grads_through_autograd(x.to(DType::f32), fused ? residual.to(DType::f32) : res,
                                       w.to(DType::f32), training, fused);
            ASSERT_EQ(got.size(), ref.size());
            EXPECT_EQ(got[0].dtype(), DType::bf16);
            EXPECT_EQ(got[1].dtype(), DType::bf16);  // dx
            EXPECT_EQ(got[2].dtype(), DType::f32);   // dgamma: the FP32 master's gradient
            EXPECT_EQ(got[3].dtype(), DType::f32);   // dbeta
            if (fused) EXPECT_EQ(got[4].dtype(), DType::bf16);  // dresidual
            // Values: the f32 op's, activation gradients rounded once.
            for (size_t i = 0; i < got.size(); ++i) {
                SCOPED_TRACE(i);
                EXPECT_TRUE(same_bits(got[i], ref[i].to(got[i].dtype())));
            }
        }
    }
}

TEST(BatchNormBf16, ModuleKeepsF32ParametersAndBuffersUnderBf16Input) {
    BatchNorm2d bn(3);
    const Tensor x = testing::random_tensor({2, 3, 4, 4}, -1, 3, 5, DType::bf16);
    const Tensor y = bn(x);
    EXPECT_EQ(y.dtype(), DType::bf16);
    EXPECT_EQ(bn.running_mean().dtype(), DType::f32);
    EXPECT_GT(bn.running_mean().to_vector<float>()[0], 0.f);  // updated from x (mean ~1)
    EXPECT_EQ(bn.forward_relu(x, x).dtype(), DType::bf16);
    bn.eval();
    EXPECT_EQ(bn(x).dtype(), DType::bf16);
    EXPECT_TRUE(throws_error([] { BatchNorm2d(3, 0.1, kEps, DType::bf16); },
                             {"BatchNorm2d", "stay f32", "bf16"}));
}

TEST(BatchNormBf16, MixedDtypesAreOneClearError) {
    const Tensor x = Tensor::zeros({2, 3, 2, 2}, DType::bf16);
    const Tensor f = Tensor::ones({3}), b = Tensor::ones({3}, DType::bf16);
    const Tensor d = Tensor::ones({3}, DType::f64);
    const Tensor rm = Tensor::zeros({3}), rv = Tensor::ones({3});
    // bf16 gamma / beta / statistics with bf16 activations.
    EXPECT_TRUE(throws_error([&] { batch_norm2d(x, b, f, rm, rv, true, kMomentum, kEps); },
                             {"batch_norm2d", "gamma", "dtype f32", "bf16[3]", "stay f32"}));
    EXPECT_TRUE(throws_error([&] { batch_norm2d(x, f, b, rm, rv, false, kMomentum, kEps); },
                             {"batch_norm2d", "beta", "dtype f32", "bf16[3]"}));
    EXPECT_TRUE(throws_error(
        [&] { batch_norm2d(x, f, f, Tensor::zeros({3}, DType::bf16), rv, true, kMomentum, kEps); },
        {"running_mean", "dtype f32"}));
    EXPECT_TRUE(throws_error([&] { batch_norm2d(x, f, f, rm, d, true, kMomentum, kEps); },
                             {"running_var", "dtype f32", "f64[3]"}));
    // f64 or f32 activations keep their own parameter dtype.
    EXPECT_TRUE(throws_error(
        [&] {
            batch_norm2d(Tensor::zeros({2, 3, 2, 2}, DType::f64), f, f, rm, rv, true, kMomentum,
                         kEps);
        },
        {"batch_norm2d", "gamma", "dtype f64", "f32[3]"}));
    EXPECT_TRUE(throws_error(
        [&] {
            batch_norm2d(Tensor::zeros({2, 3, 2, 2}), b, b, rm, rv, true, kMomentum, kEps);
        },
        {"gamma", "dtype f32", "bf16[3]"}));
    // Activation-shaped tensors must share x's dtype.
    EXPECT_TRUE(throws_error(
        [&] {
            batch_norm_relu(x, Tensor::zeros({2, 3, 2, 2}), f, f, rm, rv, true, kMomentum, kEps);
        },
        {"batch_norm_relu", "residual", "bf16"}));
    EXPECT_TRUE(throws_error(
        [&] {
            ops::batch_norm2d_backward(x, Tensor::zeros({2, 3, 2, 2}), f, f, f, kEps);
        },
        {"batch_norm2d_backward", "dy", "bf16"}));
    EXPECT_TRUE(throws_error([&] { ops::batch_norm2d_backward(x, x, f, f, b, kEps); },
                             {"batch_norm2d_backward", "save_invstd", "dtype f32"}));
}

}  // namespace
}  // namespace cbnn
