// Initialisers: fans, the Glorot bound and variance, the Kaiming and normal variances, constants,
// determinism per seed, and use on parameters that require grad.
//
// Statistical bounds. For n i.i.d. samples with variance s^2 the sample mean has standard
// deviation s / sqrt(n), and the sample variance has relative standard deviation
// sqrt((kurtosis - 1) / n): sqrt(0.8 / n) for a uniform (kurtosis 9/5), sqrt(2 / n) for a normal
// (kurtosis 3). Each check allows 6 standard deviations (a chance of about 2e-9 to fail for an
// unlucky seed; the seeds are fixed, so the tests are deterministic anyway).
#include <cmath>
#include <vector>

#include "gtest/gtest.h"
#include "layers/init.h"
#include "tests/support/expect_error.h"

namespace cbnn {
namespace {

using testing::throws_error;

struct Moments {
    double mean = 0, var = 0, max_abs = 0;
    int64_t n = 0;
};

Moments moments(const Tensor& t) {
    const std::vector<double> v = t.to(DType::f64).to_vector<double>();
    Moments m;
    m.n = static_cast<int64_t>(v.size());
    for (double x : v) {
        m.mean += x;
        m.max_abs = std::max(m.max_abs, std::fabs(x));
    }
    m.mean /= static_cast<double>(m.n);
    for (double x : v) m.var += (x - m.mean) * (x - m.mean);
    m.var /= static_cast<double>(m.n - 1);
    return m;
}

constexpr double kSigmas = 6.0;

void expect_moments(const Moments& m, double variance, double kurtosis) {
    const double n = static_cast<double>(m.n);
    EXPECT_LE(std::fabs(m.mean), kSigmas * std::sqrt(variance / n)) << "mean " << m.mean;
    EXPECT_LE(std::fabs(m.var / variance - 1.0), kSigmas * std::sqrt((kurtosis - 1.0) / n))
        << "variance " << m.var << ", expected " << variance;
}

TEST(Init, FansOfLinearAndConvWeights) {
    const Fans linear = compute_fans(Tensor::empty({10, 64}));
    EXPECT_EQ(linear.fan_in, 64);
    EXPECT_EQ(linear.fan_out, 10);
    const Fans conv = compute_fans(Tensor::empty({16, 3, 5, 3}));  // K, C, R, S
    EXPECT_EQ(conv.fan_in, 3 * 5 * 3);
    EXPECT_EQ(conv.fan_out, 16 * 5 * 3);
    EXPECT_TRUE(throws_error([] { compute_fans(Tensor::empty({10})); }, {"f32[10]"}));
    EXPECT_TRUE(throws_error([] { compute_fans(Tensor::empty({2, 3, 4})); }, {"[2, 3, 4]"}));
}

TEST(Init, GlorotUniformStaysWithinTheBoundWithVariance2OverFanSum) {
    // a = sqrt(6 / (512 + 256)); U(-a, a) has variance a^2 / 3 = 2 / (fan_in + fan_out).
    Tensor w = Tensor::empty({256, 512});
    Generator gen(11);
    glorot_uniform_(w, gen);
    const double a = std::sqrt(6.0 / 768.0);
    const Moments m = moments(w);
    EXPECT_LE(m.max_abs, a);
    // The largest of n = 131072 samples of |U(0, a)| is below 0.9999 a with probability
    // 0.9999^n ~ 2e-6.
    EXPECT_GT(m.max_abs, 0.9999 * a);
    expect_moments(m, 2.0 / 768.0, 9.0 / 5.0);
}

TEST(Init, GlorotUniformUsesConvFansInFloat64) {
    Tensor w = Tensor::empty({64, 32, 3, 3}, DType::f64);
    Generator gen(12);
    glorot_uniform_(w, gen);
    const double fan_sum = 32 * 9 + 64 * 9;
    const Moments m = moments(w);
    EXPECT_LE(m.max_abs, std::sqrt(6.0 / fan_sum));
    expect_moments(m, 2.0 / fan_sum, 9.0 / 5.0);
}

TEST(Init, KaimingNormalHasVariance2OverFanIn) {
    Tensor w = Tensor::empty({128, 64, 3, 3});
    Generator gen(13);
    kaiming_normal_(w, gen);
    expect_moments(moments(w), 2.0 / (64 * 9), 3.0);
}

TEST(Init, NormalInitAndConstant) {
    Tensor w = Tensor::empty({1000, 64});  // the ResNet-50 head's N(0, 0.01^2)
    Generator gen(14);
    normal_init_(w, gen, 0.0, 0.01);
    expect_moments(moments(w), 1e-4, 3.0);

    Tensor shifted = Tensor::empty({20000}, DType::f64);
    normal_init_(shifted, gen, 3.0, 0.5);
    const Moments s = moments(shifted);
    EXPECT_NEAR(s.mean, 3.0, kSigmas * 0.5 / std::sqrt(20000.0));

    Tensor b = Tensor::empty({5});
    constant_(b, -std::log(9.0));  // the sigmoid/focal head bias for 10 classes
    EXPECT_EQ(b.to_vector<float>(), std::vector<float>(5, static_cast<float>(-std::log(9.0))));
}

TEST(Init, SameSeedGivesTheSameWeightsAndTheStreamAdvances) {
    Tensor a = Tensor::empty({32, 16}), b = Tensor::empty({32, 16});
    Generator g1(2019), g2(2019), g3(2020);
    glorot_uniform_(a, g1);
    glorot_uniform_(b, g2);
    EXPECT_EQ(a.to_vector<float>(), b.to_vector<float>());
    EXPECT_EQ(g1.offset(), 32u * 16u);
    // The next fill continues the stream: different numbers from the same generator.
    glorot_uniform_(b, g2);
    EXPECT_NE(a.to_vector<float>(), b.to_vector<float>());
    glorot_uniform_(b, g3);
    EXPECT_NE(a.to_vector<float>(), b.to_vector<float>());
}

TEST(Init, WorksOnParametersThatRequireGradWithGradModeOn) {
    Tensor w = Tensor::zeros({4, 3}).set_requires_grad();
    Generator gen(5);
    EXPECT_NO_THROW(glorot_uniform_(w, gen));
    EXPECT_NO_THROW(kaiming_normal_(w, gen));
    EXPECT_NO_THROW(normal_init_(w, gen, 0.0, 1.0));
    EXPECT_NO_THROW(constant_(w, 0.5));
    EXPECT_EQ(w.to_vector<float>(), std::vector<float>(12, 0.5f));
    EXPECT_TRUE(w.requires_grad());
    EXPECT_TRUE(w.is_leaf());
}

TEST(Init, EmptyWeightsAndBadArgumentsAreErrors) {
    Generator gen(6);
    Tensor empty = Tensor::empty({0, 0});
    EXPECT_TRUE(throws_error([&] { glorot_uniform_(empty, gen); }, {"glorot_uniform_", "[0, 0]"}));
    EXPECT_TRUE(throws_error([&] { kaiming_normal_(empty, gen); }, {"kaiming_normal_", "[0, 0]"}));
    Tensor w = Tensor::empty({3});
    EXPECT_THROW(normal_init_(w, gen, 0.0, -1.0), Error);
    Tensor undefined;
    EXPECT_THROW(glorot_uniform_(undefined, gen), Error);
}

}  // namespace
}  // namespace cbnn
