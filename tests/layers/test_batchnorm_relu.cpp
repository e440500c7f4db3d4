// Fused batch norm + ReLU (+ residual) (layers/batchnorm_relu.h) on the CPU: bitwise equal to the
// unfused composition relu(batch_norm2d(x) + residual) in f32 and f64, training and eval, forward,
// running statistics and every gradient; f64 gradchecks in x, gamma, beta and residual with the
// pre-activations kept away from the ReLU's kink; the module's forward_relu; bad input.
// (The device-mismatch error needs a GPU: tests/layers/test_batchnorm_relu_cuda.cpp.)
#include <algorithm>
#include <cmath>
#include <vector>

#include "autograd/functions.h"
#include "autograd/gradcheck.h"
#include "gtest/gtest.h"
#include "layers/batchnorm_relu.h"
#include "tensor/unary.h"
#include "tests/layers/batchnorm_test_util.h"
#include "tests/support/expect_error.h"
#include "tests/support/random.h"

namespace cbnn {
namespace {

using testing::bitwise_equal;
using testing::throws_error;

constexpr double kMomentum = 0.1, kEps = 1e-5;

struct Case {
    Tensor x, residual, gamma, beta, running_mean, running_var, w;
};

Case random_case(const Shape& shape, DType dtype, uint64_t seed, bool with_residual) {
    const int64_t C = shape[1];
    Case c;
    c.x = testing::random_tensor(shape, -2, 2, seed, dtype);
    if (with_residual) c.residual = testing::random_tensor(shape, -1, 1, seed + 1, dtype);
    c.gamma = testing::random_tensor({C}, 0.5, 1.5, seed + 2, dtype);
    c.beta = testing::random_tensor({C}, -0.5, 0.5, seed + 3, dtype);
    c.running_mean = testing::random_tensor({C}, -0.5, 0.5, seed + 4, dtype);
    c.running_var = testing::random_tensor({C}, 0.5, 2, seed + 5, dtype);
    c.w = testing::random_tensor(shape, -1, 1, seed + 6, dtype);
    return c;
}

// Forward, the running statistics after it, and the gradients of sum(w * y) in x, gamma, beta
// (and residual), from fresh leaves and fresh copies of the running statistics.
std::vector<Tensor> run(const Case& c, bool training, bool fused) {
    Tensor x = c.x.clone(), gamma = c.gamma.clone(), beta = c.beta.clone();
    Tensor residual = c.residual.defined() ? c.residual.clone() : Tensor();
    const Tensor rm = c.running_mean.clone(), rv = c.running_var.clone();
    for (Tensor* t : {&x, &gamma, &beta, &residual})
        if (t->defined()) t->set_requires_grad();
    Tensor y;
    if (fused) {
        y = batch_norm_relu(x, residual, gamma, beta, rm, rv, training, kMomentum, kEps);
    } else {
        y = batch_norm2d(x, gamma, beta, rm, rv, training, kMomentum, kEps);
        y = relu(residual.defined() ? y + residual : y);
    }
    sum(y * c.w).backward();
    std::vector<Tensor> out{y, rm, rv, x.grad(), gamma.grad(), beta.grad()};
    if (residual.defined()) out.push_back(residual.grad());
    return out;
}

TEST(BatchNormRelu, BitwiseEqualToTheUnfusedOps) {
    const char* names[] = {"y", "running_mean", "running_var", "dx", "dgamma", "dbeta", "dres"};
    uint64_t seed = 1;
    for (DType dtype : {DType::f32, DType::f64}) {
        for (const Shape& shape : {Shape{4, 3, 5, 6}, Shape{2, 16, 8, 8}, Shape{3, 2, 1, 1}}) {
            for (bool training : {true, false}) {
                for (bool with_residual : {true, false}) {
                    SCOPED_TRACE(::testing::Message()
                                 << dtype << " " << shape << (training ? " training" : " eval")
                                 << (with_residual ? " residual" : ""));
                    const Case c = random_case(shape, dtype, seed, with_residual);
                    seed += 10;
                    const std::vector<Tensor> fused = run(c, training, true);
                    const std::vector<Tensor> unfused = run(c, training, false);
                    ASSERT_EQ(fused.size(), unfused.size());
                    for (size_t i = 0; i < fused.size(); ++i)
                        EXPECT_TRUE(bitwise_equal(fused[i], unfused[i])) << names[i];
                    // The ReLU did clip: the inputs exercise both sides of the mask.
                    const std::vector<double> y = fused[0].to(DType::f64).to_vector<double>();
                    EXPECT_GT(std::count(y.begin(), y.end(), 0.0), 0);
                    EXPECT_LT(std::count(y.begin(), y.end(), 0.0), static_cast<long>(y.size()));
                }
            }
        }
    }
}

TEST(BatchNormRelu, OpFunctionsMatchTheUnfusedOps) {
    // The op layer on its own (no autograd): forward, saved statistics, backward with and
    // without dresidual.
    const Case c = random_case({4, 3, 5, 6}, DType::f32, 100, true);
    const Tensor dy = testing::random_tensor({4, 3, 5, 6}, -1, 1, 110, DType::f32);
    const Tensor rm1 = c.running_mean.clone(), rv1 = c.running_var.clone();
    const Tensor rm2 = c.running_mean.clone(), rv2 = c.running_var.clone();
    const ops::BatchNormForward f =
        ops::batch_norm_relu_training(c.x, c.residual, c.gamma, c.beta, rm1, rv1, kMomentum, kEps);
    const ops::BatchNormForward u =
        ops::batch_norm2d_training(c.x, c.gamma, c.beta, rm2, rv2, kMomentum, kEps);
    EXPECT_TRUE(bitwise_equal(f.y, relu(u.y + c.residual)));
    EXPECT_TRUE(bitwise_equal(f.save_mean, u.save_mean));
    EXPECT_TRUE(bitwise_equal(f.save_invstd, u.save_invstd));
    const Tensor g = ops::unary_backward(UnaryOp::relu, u.y + c.residual, f.y, dy);
    const ops::BatchNormGrads ub =
        ops::batch_norm2d_backward(c.x, g, c.gamma, u.save_mean, u.save_invstd, kEps);
    for (bool residual_grad : {true, false}) {
        const ops::BatchNormReluGrads fb = ops::batch_norm_relu_backward(
            c.x, f.y, dy, c.gamma, f.save_mean, f.save_invstd, kEps, residual_grad);
        EXPECT_TRUE(bitwise_equal(fb.dx, ub.dx));
        EXPECT_TRUE(bitwise_equal(fb.dgamma, ub.dgamma));
        EXPECT_TRUE(bitwise_equal(fb.dbeta, ub.dbeta));
        EXPECT_EQ(fb.dresidual.defined(), residual_grad);
        if (residual_grad) EXPECT_TRUE(bitwise_equal(fb.dresidual, g));
    }
}

// f64 inputs whose pre-activations bn(x) (+ residual) are all at least 0.1 from the ReLU's kink:
// with a residual, residual = t - bn(x) for targets t that avoid 0; without, every channel holds
// +-pairs of values that avoid 0 (batch mean 0, so bn(x) = gamma x / std + beta keeps away too, for
// eval around the running mean likewise).
Case kink_free_case(const Shape& shape, bool training, bool with_residual, uint64_t seed) {
    Case c = random_case(shape, DType::f64, seed, false);
    c.beta = testing::random_tensor({shape[1]}, -0.05, 0.05, seed + 7);
    std::vector<double> v = testing::random_tensor(shape, 0.3, 2, seed + 8).to_vector<double>();
    const std::vector<double> rm = c.running_mean.to_vector<double>();
    const int64_t N = shape[0], C = shape[1], HW = shape[2] * shape[3];
    for (int64_t n = 0; n < N; ++n)
        for (int64_t ch = 0; ch < C; ++ch)
            for (int64_t k = 0; k < HW; ++k) {
                double& value = v[static_cast<size_t>((n * C + ch) * HW + k)];
                if (n % 2 == 1) value = -v[static_cast<size_t>(((n - 1) * C + ch) * HW + k)];
                if (!training) value += rm[static_cast<size_t>(ch)];
            }
    c.x = Tensor::from_vector<double>(v, shape);
    if (with_residual) {
        const Tensor bn = batch_norm2d(c.x, c.gamma, c.beta, c.running_mean.clone(),
                                       c.running_var.clone(), training, kMomentum, kEps);
        const Tensor t = testing::random_tensor_avoiding(shape, -2, 2, seed + 9, {0.0}, 0.1);
        c.residual = t - bn;
    }
    return c;
}

// The smallest |bn(x) + residual| of the case.
double kink_distance(const Case& c, bool training) {
    Tensor pre = batch_norm2d(c.x, c.gamma, c.beta, c.running_mean.clone(), c.running_var.clone(),
                              training, kMomentum, kEps);
    if (c.residual.defined()) pre = pre + c.residual;
    double closest = INFINITY;
    for (double p : pre.to_vector<double>()) closest = std::min(closest, std::fabs(p));
    return closest;
}

TEST(BatchNormRelu, Gradcheck) {
    uint64_t seed = 200;
    for (bool training : {true, false}) {
        for (bool with_residual : {true, false}) {
            for (const Shape& shape : {Shape{2, 3, 3, 2}, Shape{4, 1, 2, 1}}) {
                SCOPED_TRACE(::testing::Message() << shape << (training ? " training" : " eval")
                                                  << (with_residual ? " residual" : ""));
                const Case c = kink_free_case(shape, training, with_residual, seed);
                seed += 10;
                ASSERT_GE(kink_distance(c, training), 0.01);
                std::vector<Tensor> inputs{c.x, c.gamma, c.beta};
                if (with_residual) inputs.push_back(c.residual);
                const Tensor rm = c.running_mean.clone(), rv = c.running_var.clone();
                const autograd::GradcheckResult r = autograd::gradcheck(
                    [&](const std::vector<Tensor>& in) {
                        return batch_norm_relu(in[0], in.size() > 3 ? in[3] : Tensor(), in[1],
                                               in[2], training ? rm : c.running_mean,
                                               training ? rv : c.running_var, training, kMomentum,
                                               kEps);
                    },
                    inputs);
                EXPECT_TRUE(r.ok) << r.message;
                EXPECT_GT(r.checked, 0);
            }
        }
    }
}

TEST(BatchNormRelu, EvalModeWithFrozenAffineOnlyDifferentiatesXAndResidual) {
    const Case c = kink_free_case({2, 3, 2, 2}, false, true, 300);
    const autograd::GradcheckResult r = autograd::gradcheck(
        [&](const std::vector<Tensor>& in) {
            return batch_norm_relu(in[0], in[1], c.gamma, c.beta, c.running_mean, c.running_var,
                                   false, kMomentum, kEps);
        },
        {c.x, c.residual});
    EXPECT_TRUE(r.ok) << r.message;
}

TEST(BatchNormRelu, ModuleForwardReluIsReluOfForwardPlusResidual) {
    BatchNorm2d fused(3), unfused(3);
    const Shape shape{4, 3, 2, 2};
    for (int step = 0; step < 2; ++step) {
        const Tensor x = testing::random_tensor(shape, -1, 2, 400 + step, DType::f32);
        const Tensor r = testing::random_tensor(shape, -1, 1, 410 + step, DType::f32);
        const Tensor w = testing::random_tensor(shape, -1, 1, 420 + step, DType::f32);
        const Tensor y = fused.forward_relu(x, r);
        const Tensor y_ref = relu(unfused(x) + r);
        EXPECT_TRUE(bitwise_equal(y, y_ref));
        sum(y * w).backward();
        sum(y_ref * w).backward();
        EXPECT_TRUE(bitwise_equal(fused.forward_relu(x), relu(unfused(x))));
    }
    EXPECT_TRUE(bitwise_equal(fused.running_mean(), unfused.running_mean()));
    EXPECT_TRUE(bitwise_equal(fused.running_var(), unfused.running_var()));
    EXPECT_TRUE(bitwise_equal(fused.weight().grad(), unfused.weight().grad()));
    EXPECT_TRUE(bitwise_equal(fused.bias().grad(), unfused.bias().grad()));
    fused.eval();
    unfused.eval();
    const Tensor x = testing::random_tensor(shape, -1, 2, 430, DType::f32);
    EXPECT_TRUE(bitwise_equal(fused.forward_relu(x, x), relu(unfused(x) + x)));
}

TEST(BatchNormRelu, BadInputsAreClearErrors) {
    const Case c = random_case({2, 3, 2, 2}, DType::f64, 500, true);
    auto fwd = [&](const Tensor& x, const Tensor& residual, bool training) {
        return batch_norm_relu(x, residual, c.gamma, c.beta, c.running_mean.clone(),
                               c.running_var.clone(), training, kMomentum, kEps);
    };
    for (bool training : {true, false}) {
        EXPECT_TRUE(throws_error(
            [&] {
                fwd(c.x, Tensor::zeros({2, 3, 2, 1}, DType::f64), training);
            },
            {"batch_norm_relu", "residual", "[2, 3, 2, 1]", "[2, 3, 2, 2]"}));
        EXPECT_TRUE(throws_error(
            [&] {
                fwd(c.x, Tensor::zeros({2, 3, 2, 2}), training);
            },
            {"batch_norm_relu", "residual", "f32"}));
        EXPECT_TRUE(throws_error(
            [&] {
                fwd(Tensor::zeros({2, 3, 4}, DType::f64), Tensor(), training);
            },
            {"batch_norm_relu", "NCHW", "[2, 3, 4]"}));
        EXPECT_TRUE(throws_error(
            [&] {
                fwd(Tensor::zeros({2, 4, 2, 2}, DType::f64), Tensor(), training);
            },
            {"batch_norm_relu", "gamma", "[4]", "[3]"}));
    }
    EXPECT_TRUE(throws_error(
        [&] {
            fwd(Tensor::zeros({1, 3, 1, 1}, DType::f64), Tensor(), true);
        },
        {"batch_norm_relu", "more than one value", "[1, 3, 1, 1]"}));
    EXPECT_TRUE(throws_error(
        [&] {
            batch_norm_relu(c.x, Tensor(), c.gamma, c.beta, c.running_mean, c.running_var, false,
                            kMomentum, 0.0);
        },
        {"batch_norm_relu", "eps", "0"}));
    const Tensor stats = Tensor::ones({3}, DType::f64);
    EXPECT_TRUE(throws_error(
        [&] {
            ops::batch_norm_relu_backward(c.x, Tensor::zeros({2, 3, 1, 2}, DType::f64), c.x,
                                          c.gamma, stats, stats, kEps, true);
        },
        {"batch_norm_relu_backward", "y", "[2, 3, 1, 2]"}));
    EXPECT_TRUE(throws_error(
        [&] {
            ops::batch_norm_relu_backward(c.x, c.x, Tensor::zeros({2, 3, 2, 2}), c.gamma, stats,
                                          stats, kEps, true);
        },
        {"batch_norm_relu_backward", "dy", "f32"}));
    BatchNorm2d module(4);
    EXPECT_TRUE(throws_error(
        [&] {
            module.forward_relu(Tensor::zeros({2, 3, 2, 2}));
        },
        {"BatchNorm2d(4)", "4 channels", "[2, 3, 2, 2]"}));
}

}  // namespace
}  // namespace cbnn
