// Philox RNG (CPU): known-answer vectors, the documented stream layout, reproducibility,
// stream continuation, sample statistics, ranges and bad-input errors.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "autograd/grad_mode.h"
#include "gtest/gtest.h"
#include "tensor/philox.h"
#include "tensor/rng.h"
#include "tests/support/expect_error.h"

namespace cbnn {
namespace {

// Known-answer vectors of Philox4x32-10 from the Random123 distribution (kat_vectors):
// counter (4 words), key (2 words) -> output (4 words). An independent Python implementation of
// the published algorithm gave the same three outputs.
TEST(Philox, KnownAnswerVectors) {
    struct Case {
        PhiloxBlock counter;
        uint32_t key0, key1;
        PhiloxBlock expected;
    };
    const Case cases[] = {
        {{{0, 0, 0, 0}}, 0, 0, {{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}}},
        {{{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}},
         0xffffffff,
         0xffffffff,
         {{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}}},
        {{{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}},
         0xa4093822,
         0x299f31d0,
         {{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}}},
    };
    for (const Case& c : cases) {
        const PhiloxBlock out = philox4x32_10(c.counter, c.key0, c.key1);
        for (int w = 0; w < 4; ++w) EXPECT_EQ(out.x[w], c.expected.x[w]) << "word " << w;
    }
    // philox_at splits the 64-bit counter and seed into (low, high) words.
    const PhiloxBlock at = philox_at(0x299f31d0a4093822ull, 0x85a308d3243f6a88ull);
    const PhiloxBlock direct =
        philox4x32_10({{0x243f6a88, 0x85a308d3, 0, 0}}, 0xa4093822, 0x299f31d0);
    for (int w = 0; w < 4; ++w) EXPECT_EQ(at.x[w], direct.x[w]);
}

// Element i of a fill from offset o is a function of block (seed, o + i), as tensor/rng.h says.
TEST(Rng, FillsFollowTheDocumentedStreamLayout) {
    const uint64_t seed = 0x0123456789abcdefull, start = 1000;
    Generator g(seed);
    g.set_offset(start);
    const std::vector<float> u32 = rand({8}, g, DType::f32).to_vector<float>();
    const std::vector<double> u64 = rand({8}, g, DType::f64).to_vector<double>();
    const std::vector<double> n64 = randn({8}, g, DType::f64).to_vector<double>();
    for (uint64_t i = 0; i < 8; ++i) {
        const PhiloxBlock r0 = philox_at(seed, start + i);
        EXPECT_EQ(u32[i], static_cast<float>((r0.x[0] >> 8) * std::ldexp(1.0, -24)));
        const PhiloxBlock r1 = philox_at(seed, start + 8 + i);
        const uint64_t bits53 = ((static_cast<uint64_t>(r1.x[0]) << 32) | r1.x[1]) >> 11;
        EXPECT_EQ(u64[i], static_cast<double>(bits53) * std::ldexp(1.0, -53));
        const PhiloxBlock r2 = philox_at(seed, start + 16 + i);
        const double u1 = (r2.x[0] + 1.0) * std::ldexp(1.0, -32);
        const double u2 = r2.x[1] * std::ldexp(1.0, -32);
        EXPECT_EQ(n64[i], std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2));
    }
    EXPECT_EQ(g.offset(), start + 24);
}

TEST(Rng, SameSeedSameNumbersOtherSeedOrOffsetOtherNumbers) {
    Generator a(7), b(7), c(8), d(7);
    d.set_offset(1);
    const std::vector<float> va = randn({64}, a).to_vector<float>();
    EXPECT_EQ(va, randn({64}, b).to_vector<float>());
    const std::vector<float> vc = randn({64}, c).to_vector<float>();
    const std::vector<float> vd = randn({64}, d).to_vector<float>();
    int same_c = 0, same_d = 0;
    for (size_t i = 0; i < va.size(); ++i) {
        same_c += va[i] == vc[i];
        same_d += va[i] == vd[i];
    }
    EXPECT_EQ(same_c, 0);
    EXPECT_EQ(same_d, 0);
    // An offset of 1 shifts the stream by one element.
    for (size_t i = 0; i + 1 < va.size(); ++i) EXPECT_EQ(vd[i], va[i + 1]);
}

TEST(Rng, ReserveMakesConsecutiveFillsContinueTheStream) {
    Generator whole(42), parts(42);
    const std::vector<double> all = rand({25}, whole, DType::f64).to_vector<double>();
    const std::vector<double> p1 = rand({10}, parts, DType::f64).to_vector<double>();
    EXPECT_EQ(parts.offset(), 10u);
    const std::vector<double> p2 = rand({3, 5}, parts, DType::f64).to_vector<double>();
    EXPECT_EQ(parts.offset(), 25u);
    for (size_t i = 0; i < 10; ++i) EXPECT_EQ(p1[i], all[i]);
    for (size_t i = 0; i < 15; ++i) EXPECT_EQ(p2[i], all[10 + i]);

    Generator g(1);
    g.set_offset(5);
    EXPECT_EQ(g.reserve(3), 5u);
    EXPECT_EQ(g.reserve(0), 8u);
    EXPECT_EQ(g.offset(), 8u);
    // Resuming from a stored (seed, offset) reproduces what follows.
    Generator resumed(42);
    resumed.set_offset(10);
    EXPECT_EQ(rand({15}, resumed, DType::f64).to_vector<double>(), p2);
}

struct Moments {
    double mean, var;
};

Moments moments(const std::vector<double>& v) {
    double mean = 0, var = 0;
    for (double x : v) mean += x;
    mean /= static_cast<double>(v.size());
    for (double x : v) var += (x - mean) * (x - mean);
    return {mean, var / static_cast<double>(v.size() - 1)};
}

// Bounds are 5 standard errors: sd(mean) = sigma / sqrt(n), sd(sample variance) =
// sqrt((mu4 - sigma^4) / n). Uniform [0, 1): sigma^2 = 1/12, mu4 = 1/80. Normal: mu4 = 3.
// With fixed seeds the outcome is deterministic; 5 sigma just makes the bound honest.
TEST(Rng, SampleMomentsOfUniformAndNormal) {
    const int64_t n = 100000;
    const double nd = static_cast<double>(n);
    Generator g(2019);
    for (DType dtype : {DType::f32, DType::f64}) {
        const Moments u = moments(rand({n}, g, dtype).to(DType::f64).to_vector<double>());
        EXPECT_NEAR(u.mean, 0.5, 5 * std::sqrt(1.0 / 12.0 / nd)) << dtype;
        EXPECT_NEAR(u.var, 1.0 / 12.0, 5 * std::sqrt((1.0 / 80.0 - 1.0 / 144.0) / nd)) << dtype;
        const Moments z = moments(randn({n}, g, dtype).to(DType::f64).to_vector<double>());
        EXPECT_NEAR(z.mean, 0.0, 5 * std::sqrt(1.0 / nd)) << dtype;
        EXPECT_NEAR(z.var, 1.0, 5 * std::sqrt(2.0 / nd)) << dtype;
    }
    // mean + std z: the affine map of the same stream.
    Generator g1(3), g2(3);
    Tensor t = Tensor::empty({1000}, DType::f64);
    normal_(t, g1, 2.0, 0.5);
    const std::vector<double> z = randn({1000}, g2, DType::f64).to_vector<double>();
    const std::vector<double> v = t.to_vector<double>();
    for (size_t i = 0; i < v.size(); ++i) EXPECT_DOUBLE_EQ(v[i], 2.0 + 0.5 * z[i]);
}

TEST(Rng, UniformStaysInHalfOpenRange) {
    Generator g(5);
    for (DType dtype : {DType::f32, DType::f64}) {
        Tensor t = Tensor::empty({20000}, dtype);
        uniform_(t, g, -2.0, 3.0);
        const std::vector<double> v = t.to(DType::f64).to_vector<double>();
        double lo = v[0], hi = v[0];
        for (double x : v) {
            lo = std::min(lo, x);
            hi = std::max(hi, x);
        }
        EXPECT_GE(lo, -2.0) << dtype;
        EXPECT_LT(hi, 3.0) << dtype;
        EXPECT_LT(lo, -1.99) << dtype;  // the range is actually covered
        EXPECT_GT(hi, 2.99) << dtype;
    }
    // The largest draw, u = 1 - 2^-24 (f32) or 1 - 2^-53 (f64), on [100, 101) rounds up to 101;
    // it is moved to the largest value below hi.
    const PhiloxBlock top{{0xffffffff, 0xffffffff, 0, 0}};
    EXPECT_EQ(philox_uniform_value<float>(top, 100.f, 101.f), std::nextafter(101.f, 100.f));
    EXPECT_EQ(philox_uniform_value<double>(top, 1e6, 1e6 + 1), std::nextafter(1e6 + 1, 1e6));
    EXPECT_EQ(philox_uniform_value<float>(top, 0.f, 1.f), 1.f - std::ldexp(1.f, -24));
    // lo == hi is allowed and fills lo.
    Tensor c = Tensor::empty({4});
    uniform_(c, g, 1.5, 1.5);
    EXPECT_EQ(c.to_vector<float>(), std::vector<float>(4, 1.5f));
}

TEST(Rng, FillsBumpTheVersionAndDefaultGeneratorIsSeededZero) {
    Tensor t = Tensor::zeros({3});
    const uint64_t v0 = t.version();
    Generator g(1);
    uniform_(t, g);
    EXPECT_GT(t.version(), v0);
    EXPECT_EQ(default_generator().seed(), 0u);
    const uint64_t before = default_generator().offset();
    const Tensor r = randn({2, 3}, default_generator(), DType::f64);
    EXPECT_EQ(default_generator().offset(), before + 6);
    Generator zero(0);
    zero.set_offset(before);
    EXPECT_EQ(r.to_vector<double>(), randn({2, 3}, zero, DType::f64).to_vector<double>());
}

TEST(Rng, BadInputsAreClearErrors) {
    Generator g(0);
    Tensor transposed = Tensor::zeros({3, 2}).t();
    EXPECT_NE(testing::error_message([&] { uniform_(transposed, g); }).find("contiguous"),
              std::string::npos);
    Tensor ints = Tensor::zeros({3}, DType::i64);
    EXPECT_NE(testing::error_message([&] { normal_(ints, g); }).find("floating"),
              std::string::npos);
    Tensor x = Tensor::zeros({3});
    EXPECT_NE(testing::error_message([&] { uniform_(x, g, 1.0, 0.0); }).find("lo <= hi"),
              std::string::npos);
    EXPECT_THROW(uniform_(x, g, 0.0, INFINITY), Error);
    EXPECT_NE(testing::error_message([&] { normal_(x, g, 0.0, -1.0); }).find("stddev >= 0"),
              std::string::npos);
    EXPECT_THROW(normal_(x, g, NAN, 1.0), Error);
    // Writes to a tensor that requires grad are refused in grad mode, allowed without it.
    Tensor p = Tensor::zeros({3}).set_requires_grad();
    EXPECT_NE(testing::error_message([&] { normal_(p, g); }).find("requires grad"),
              std::string::npos);
    {
        NoGradGuard no_grad;
        EXPECT_NO_THROW(normal_(p, g));
    }
    Tensor undefined;
    EXPECT_THROW(uniform_(undefined, g), Error);
}

}  // namespace
}  // namespace cbnn
