// CPU references of the class-balanced losses: PAPER.md 1.5 values, invariants (beta = 0 gives the
// plain losses, gamma = 0 focal equals sigmoid, division by N), float64 gradcheck through the
// autograd node, extreme logits, float32 vs float64.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "autograd/functions.h"
#include "autograd/grad_mode.h"
#include "autograd/gradcheck.h"
#include "gtest/gtest.h"
#include "losses/cb_loss.h"
#include "losses/class_weights.h"
#include "losses/loss_math.h"
#include "tests/losses/cb_loss_test_inputs.h"
#include "tests/support/tolerance.h"

namespace cbnn {
namespace {

using testing::kF32VsF64;
using testing::kF64Exact;

constexpr LossType kTypes[] = {LossType::softmax, LossType::sigmoid, LossType::focal};

// The PAPER.md 1.5 example: one sample, label 0, weight 1 (per class), values printed to 6
// decimals.
struct Example {
    Tensor logits = Tensor::from_vector<double>({2.0, -1.0, 0.5}, {1, 3});
    Tensor labels = Tensor::from_vector<int64_t>({0}, {1});
    Tensor weights = Tensor::ones({3}, DType::f64);
};

TEST(CbLosses, FocalExampleMatchesPaper) {
    const Example ex;
    const struct {
        double gamma, loss;
    } rows[] = {{0.0, 1.414267}, {0.5, 0.974788}, {1.0, 0.705703}, {2.0, 0.401873}};
    for (const auto& r : rows) {
        const Tensor loss =
            class_balanced_loss(ex.logits, ex.labels, ex.weights, LossType::focal, r.gamma);
        EXPECT_NEAR(loss.item<double>(), r.loss, 0.5e-6) << "gamma " << r.gamma;
    }
    const Tensor z = ex.logits.clone().set_requires_grad();
    class_balanced_loss(z, ex.labels, ex.weights, LossType::focal, 1.0).backward();
    const std::vector<double> g = z.grad().to_vector<double>();
    const double expected[] = {-0.027536, 0.133920, 0.616367};
    for (int j = 0; j < 3; ++j) EXPECT_NEAR(g[j], expected[j], 0.5e-6) << "column " << j;
}

TEST(CbLosses, SoftmaxExampleMatchesPaper) {
    const Example ex;
    const Tensor loss = class_balanced_loss(ex.logits, ex.labels, ex.weights, LossType::softmax);
    EXPECT_NEAR(loss.item<double>(), 0.241311, 0.5e-6);
}

// Weights are applied as w[y_i] on every term of row i and the sum is divided by N: checked
// against the textbook formulas (tests/losses/cb_loss_test_inputs.h) with random weights, and
// with beta = 0 (all weights 1) against the plain losses.
TEST(CbLosses, MatchIndependentFormulas) {
    for (const bool unit_weights : {false, true}) {
        testing::LossProblem p = testing::random_problem(6, 9, 11);
        if (unit_weights) p.weights = Tensor::ones({9}, DType::f64);
        for (LossType type : kTypes) {
            for (double gamma : {0.0, 0.5, 2.0}) {
                if (type != LossType::focal && gamma != 0.0) continue;
                const ops::LossResult out =
                    ops::class_balanced_loss(p.logits, p.labels, p.weights, type, gamma);
                const testing::ReferenceLoss ref = testing::reference_loss(p, type, gamma);
                EXPECT_NEAR(out.loss.item<double>(), static_cast<double>(ref.loss),
                            1e-12 * std::fabs(static_cast<double>(ref.loss)))
                    << loss_type_name(type) << " gamma " << gamma;
                EXPECT_TRUE(testing::all_close(out.dlogits.to_vector<double>(),
                                               testing::to_double(ref.dlogits), kF64Exact))
                    << loss_type_name(type) << " gamma " << gamma;
            }
        }
    }
}

TEST(CbLosses, BetaZeroWeightsGiveThePlainLosses) {
    // beta = 0 weights are all 1: the plain losses, written here with the composed ops of
    // autograd/functions.h. Softmax CE: mean_i (logsumexp(z_i) - z_i[y_i]); sigmoid BCE summed
    // over classes, mean over the batch: sum(softplus(z) - t z) / N.
    const int64_t N = 5, C = 4;
    const testing::LossProblem p = testing::random_problem(N, C, 21);
    const Tensor ones = class_balanced_weights_tensor({100, 10, 3, 1}, 0.0, DType::f64);
    const std::vector<double> z = p.logits.to_vector<double>();
    const std::vector<int64_t> y = p.labels.to_vector<int64_t>();
    std::vector<double> z_label, onehot(N * C, 0.0);
    for (int64_t i = 0; i < N; ++i) {
        z_label.push_back(z[i * C + y[i]]);
        onehot[i * C + y[i]] = 1.0;
    }
    const Tensor ce = logsumexp(p.logits, 1) - Tensor::from_vector<double>(z_label, {N});
    EXPECT_NEAR(class_balanced_loss(p.logits, p.labels, ones, LossType::softmax).item<double>(),
                mean(ce).item<double>(), 1e-12);
    const Tensor t = Tensor::from_vector<double>(onehot, {N, C});
    const Tensor bce = softplus(p.logits) - p.logits * t;
    EXPECT_NEAR(class_balanced_loss(p.logits, p.labels, ones, LossType::sigmoid).item<double>(),
                sum(bce).item<double>() / N, 1e-12);
    // Focal with gamma = 1: sum(q * bce) / N with q = 1 - p_t = sigmoid(z) (1 - t) + sigmoid(-z) t.
    const Tensor q = sigmoid(p.logits) * (1.0 - t) + sigmoid(-p.logits) * t;
    EXPECT_NEAR(class_balanced_loss(p.logits, p.labels, ones, LossType::focal, 1.0).item<double>(),
                sum(q * bce).item<double>() / N, 1e-12);
}

TEST(CbLosses, FocalWithGammaZeroIsExactlySigmoid) {
    for (DType dtype : {DType::f64, DType::f32}) {
        testing::LossProblem p = testing::random_problem(7, 13, 31, -60.0, 60.0);
        p.logits = p.logits.to(dtype);
        p.weights = p.weights.to(dtype);
        const ops::LossResult s =
            ops::class_balanced_loss(p.logits, p.labels, p.weights, LossType::sigmoid);
        const ops::LossResult f =
            ops::class_balanced_loss(p.logits, p.labels, p.weights, LossType::focal, 0.0);
        const Tensor a = s.loss.to(DType::f64), b = f.loss.to(DType::f64);
        EXPECT_EQ(a.item<double>(), b.item<double>()) << dtype;
        EXPECT_EQ(s.dlogits.to(DType::f64).to_vector<double>(),
                  f.dlogits.to(DType::f64).to_vector<double>())
            << dtype;
    }
}

TEST(CbLosses, LossIsAMeanOverTheBatch) {
    // Repeating the batch leaves the loss unchanged and halves every dlogits entry.
    const testing::LossProblem p = testing::random_problem(4, 6, 41);
    const std::vector<double> z = p.logits.to_vector<double>();
    const std::vector<int64_t> y = p.labels.to_vector<int64_t>();
    std::vector<double> z2 = z;
    z2.insert(z2.end(), z.begin(), z.end());
    std::vector<int64_t> y2 = y;
    y2.insert(y2.end(), y.begin(), y.end());
    const Tensor logits2 = Tensor::from_vector<double>(z2, {8, 6});
    const Tensor labels2 = Tensor::from_vector<int64_t>(y2, {8});
    for (LossType type : kTypes) {
        const ops::LossResult one =
            ops::class_balanced_loss(p.logits, p.labels, p.weights, type, 1.5);
        const ops::LossResult two =
            ops::class_balanced_loss(logits2, labels2, p.weights, type, 1.5);
        EXPECT_NEAR(two.loss.item<double>(), one.loss.item<double>(),
                    1e-14 * std::fabs(one.loss.item<double>()))
            << loss_type_name(type);
        const std::vector<double> d1 = one.dlogits.to_vector<double>();
        const std::vector<double> d2 = two.dlogits.to_vector<double>();
        for (size_t k = 0; k < d1.size(); ++k) {
            EXPECT_NEAR(d2[k], 0.5 * d1[k], 1e-16 + 1e-14 * std::fabs(d1[k]));
            EXPECT_NEAR(d2[k + d1.size()], 0.5 * d1[k], 1e-16 + 1e-14 * std::fabs(d1[k]));
        }
    }
}

TEST(CbLosses, SingleClass) {
    // C = 1: softmax over one class is certain (loss 0, gradient 0); sigmoid/focal keep the one
    // positive term BCE(z, 1) = softplus(-z).
    const Tensor z = Tensor::from_vector<double>({0.3, -2.0}, {2, 1});
    const Tensor y = Tensor::from_vector<int64_t>({0, 0}, {2});
    const Tensor w = Tensor::ones({1}, DType::f64);
    const ops::LossResult sm = ops::class_balanced_loss(z, y, w, LossType::softmax);
    EXPECT_EQ(sm.loss.item<double>(), 0.0);
    EXPECT_EQ(sm.dlogits.to_vector<double>(), (std::vector<double>{0.0, 0.0}));
    const double expected = (std::log1p(std::exp(-0.3)) + std::log1p(std::exp(2.0))) / 2;
    EXPECT_NEAR(ops::class_balanced_loss(z, y, w, LossType::sigmoid).loss.item<double>(), expected,
                1e-15);
}

TEST(CbLosses, GradcheckThroughTheAutogradNode) {
    const struct { int64_t N, C; } shapes[] = {{1, 1}, {2, 1}, {1, 5}, {3, 4}, {5, 7}};
    uint64_t seed = 100;
    for (const auto& s : shapes) {
        const testing::LossProblem p = testing::random_problem(s.N, s.C, ++seed, -4.0, 4.0);
        for (LossType type : kTypes) {
            for (double gamma : {0.0, 0.5, 1.0, 2.0, 3.7}) {
                if (type != LossType::focal && gamma != 0.0) continue;
                const auto f = [&](const std::vector<Tensor>& in) {
                    return class_balanced_loss(in[0], p.labels, p.weights, type, gamma);
                };
                const autograd::GradcheckResult r = autograd::gradcheck(f, {p.logits});
                EXPECT_TRUE(r.ok) << loss_type_name(type) << " gamma " << gamma << " (" << s.N
                                  << ", " << s.C << "): " << r.message;
                EXPECT_EQ(r.checked, s.N * s.C);
            }
        }
    }
}

TEST(CbLosses, BackwardScalesByTheUpstreamGradient) {
    const testing::LossProblem p = testing::random_problem(3, 5, 51);
    for (LossType type : kTypes) {
        const Tensor dlogits =
            ops::class_balanced_loss(p.logits, p.labels, p.weights, type, 2.0).dlogits;
        const Tensor z = p.logits.clone().set_requires_grad();
        (class_balanced_loss(z, p.labels, p.weights, type, 2.0) * -2.5).backward();
        EXPECT_TRUE(testing::all_close(z.grad(), dlogits * -2.5, kF64Exact))
            << loss_type_name(type);
    }
}

TEST(CbLosses, ForwardOnlyWithoutGrad) {
    const testing::LossProblem p = testing::random_problem(3, 5, 61);
    const Tensor z = p.logits.clone().set_requires_grad();
    for (LossType type : kTypes) {
        const Tensor with_grad = class_balanced_loss(z, p.labels, p.weights, type, 1.0);
        EXPECT_TRUE(with_grad.requires_grad());
        Tensor no_grad;
        {
            NoGradGuard guard;
            no_grad = class_balanced_loss(z, p.labels, p.weights, type, 1.0);
        }
        EXPECT_FALSE(no_grad.requires_grad());
        EXPECT_EQ(no_grad.item<double>(), with_grad.item<double>());
        const Tensor constant = class_balanced_loss(p.logits, p.labels, p.weights, type, 1.0);
        EXPECT_FALSE(constant.requires_grad());
        EXPECT_EQ(constant.item<double>(), with_grad.item<double>());
        const ops::LossResult fwd =
            ops::class_balanced_loss(p.logits, p.labels, p.weights, type, 1.0, false);
        EXPECT_FALSE(fwd.dlogits.defined());
        EXPECT_EQ(fwd.loss.item<double>(), with_grad.item<double>());
    }
}

TEST(CbLosses, NonContiguousLogitsGiveTheSameResult) {
    const testing::LossProblem p = testing::random_problem(4, 6, 71);
    const Tensor transposed = p.logits.t().contiguous().t();
    ASSERT_FALSE(transposed.is_contiguous());
    for (LossType type : kTypes) {
        const ops::LossResult a =
            ops::class_balanced_loss(p.logits, p.labels, p.weights, type, 1.0);
        const ops::LossResult b =
            ops::class_balanced_loss(transposed, p.labels, p.weights, type, 1.0);
        EXPECT_EQ(a.loss.item<double>(), b.loss.item<double>());
        EXPECT_EQ(a.dlogits.to_vector<double>(), b.dlogits.to_vector<double>());
    }
}

TEST(CbLosses, ExtremeLogitsStayFiniteAndMatchTheLimits) {
    // Row 0 (label 0): z = (1e4, -1e4, 1e4, -1e4). Every sigmoid/focal term is 0 except column 2
    // (a negative at +1e4: BCE = 1e4, gradient sigmoid(1e4) = 1, modulator p^gamma = 1); softmax:
    // logsumexp = 1e4 + log 2, so loss log 2 and gradient (-1/2, 0, 1/2, 0).
    const std::vector<double> z0 = {1e4, -1e4, 1e4, -1e4};
    for (DType dtype : {DType::f64, DType::f32}) {
        const Tensor z = Tensor::from_vector<double>(z0, {1, 4}).to(dtype);
        const Tensor y = Tensor::from_vector<int64_t>({0}, {1});
        const Tensor w = Tensor::ones({4}, dtype);
        for (double gamma : {0.0, 0.3, 2.0}) {
            const ops::LossResult f = ops::class_balanced_loss(z, y, w, LossType::focal, gamma);
            EXPECT_NEAR(f.loss.to(DType::f64).item<double>(), 1e4, 1e-12) << dtype;
            EXPECT_EQ(f.dlogits.to(DType::f64).to_vector<double>(),
                      (std::vector<double>{0.0, 0.0, 1.0, 0.0}))
                << dtype << " gamma " << gamma;
        }
        const ops::LossResult s = ops::class_balanced_loss(z, y, w, LossType::softmax);
        EXPECT_NEAR(s.loss.to(DType::f64).item<double>(), std::log(2.0), 1e-7) << dtype;
        EXPECT_TRUE(testing::all_close(s.dlogits.to(DType::f64).to_vector<double>(),
                                       {-0.5, 0.0, 0.5, 0.0}, kF32VsF64))
            << dtype;
    }
}

TEST(CbLosses, UnderflowRegionWithSmallGammaMatchesLongDouble) {
    // z in [-100, -88] and [88, 100]: e^-|z| underflows (or is subnormal) in float32, where the
    // pow(1 - p_t, gamma) form and autodiff through log1p(exp(-z)) give NaN gradients.
    std::vector<double> z;
    for (int k = 0; k <= 24; ++k) z.push_back(-100.0 + 0.5 * k);
    for (int k = 0; k <= 24; ++k) z.push_back(88.0 + 0.5 * k);
    const int64_t C = 10, N = static_cast<int64_t>(z.size()) / C;
    const Tensor labels = testing::random_labels(N, C, 81);
    const Tensor weights = Tensor::from_vector<double>(
        class_balanced_weights({5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50}, 0.9999), {C});
    for (LossType type : kTypes) {
        const testing::ReferenceLoss ref = testing::reference_loss(
            z, labels.to_vector<int64_t>(), weights.to_vector<double>(), N, C, type, 0.3L);
        for (DType dtype : {DType::f64, DType::f32}) {
            const ops::LossResult out =
                ops::class_balanced_loss(Tensor::from_vector<double>(z, {N, C}).to(dtype), labels,
                                         weights.to(dtype), type, 0.3);
            const std::vector<double> d = out.dlogits.to(DType::f64).to_vector<double>();
            for (double v : d) EXPECT_TRUE(std::isfinite(v)) << loss_type_name(type) << dtype;
            const testing::Tolerance tol = dtype == DType::f64 ? kF64Exact : kF32VsF64;
            EXPECT_TRUE(testing::all_close({out.loss.to(DType::f64).item<double>()},
                                           {static_cast<double>(ref.loss)}, tol))
                << loss_type_name(type) << " " << dtype;
            EXPECT_TRUE(testing::all_close(d, testing::to_double(ref.dlogits), tol))
                << loss_type_name(type) << " " << dtype;
        }
    }
}

TEST(CbLosses, Float32AgreesWithFloat64) {
    const testing::LossProblem p = testing::random_problem(17, 33, 91, -8.0, 8.0);
    for (LossType type : kTypes) {
        for (double gamma : {0.0, 0.5, 2.0}) {
            const ops::LossResult r64 =
                ops::class_balanced_loss(p.logits, p.labels, p.weights, type, gamma);
            const ops::LossResult r32 = ops::class_balanced_loss(
                p.logits.to(DType::f32), p.labels, p.weights.to(DType::f32), type, gamma);
            EXPECT_TRUE(testing::all_close(r32.loss, r64.loss, kF32VsF64)) << loss_type_name(type);
            EXPECT_TRUE(testing::all_close(r32.dlogits, r64.dlogits, kF32VsF64))
                << loss_type_name(type) << " gamma " << gamma;
        }
    }
}

TEST(CbLosses, Log1pPolynomialIsFloatAccurate) {
    // loss_math::log1p_unit_poly replaces log1pf in the CUDA kernels; an exhaustive scan of every
    // float in (0, 1] measured at most 1.58 ulp. This checks a sample of 2^17 floats plus the ends.
    const auto ulp_error = [](float got, double exact) {
        int exponent = 0;
        std::frexp(exact, &exponent);
        return std::fabs(static_cast<double>(got) - exact) / std::ldexp(1.0, exponent - 24);
    };
    double worst = 0.0;
    for (uint32_t bits = 1; bits <= 0x3f800000u; bits += 0x3f800000u >> 17) {
        float e;
        std::memcpy(&e, &bits, sizeof e);
        worst = std::max(worst, ulp_error(loss_math::log1p_unit_poly(e), std::log1p(double{e})));
    }
    EXPECT_LE(worst, 1.6);
    EXPECT_EQ(loss_math::log1p_unit_poly(0.f), 0.f);
    EXPECT_LE(ulp_error(loss_math::log1p_unit_poly(1.f), std::log(2.0)), 1.6);
    EXPECT_EQ(loss_math::log1p_unit_poly(1e-30f), 1e-30f);
}

TEST(CbLosses, ClassBalancedLossBindsItsWeights) {
    const std::vector<int64_t> counts = {500, 50, 5};
    const ClassBalancedLoss criterion({LossType::focal, 0.99, 0.5}, counts, DType::f64);
    EXPECT_EQ(criterion.weights().to_vector<double>(), class_balanced_weights(counts, 0.99));
    const testing::LossProblem p = testing::random_problem(4, 3, 95);
    EXPECT_EQ(criterion(p.logits, p.labels).item<double>(),
              class_balanced_loss(p.logits, p.labels, criterion.weights(), LossType::focal, 0.5)
                  .item<double>());
    EXPECT_THROW(ClassBalancedLoss({LossType::focal, 1.0, 0.5}, counts), Error);
    EXPECT_THROW(ClassBalancedLoss({LossType::focal, 0.9, 0.5}, {5, 0, 1}), Error);
}

}  // namespace
}  // namespace cbnn
