// bfloat16 (tensor/bfloat16.h) and DType::bf16: the scalar conversions (exhaustively over the 2^16
// bf16 patterns, and round-to-nearest-even on hand-picked float and double bit patterns whose
// results are worked out in the comments), the dtype's metadata, factories, printing and casts.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "tensor/bfloat16.h"
#include "tensor/copy.h"
#include "tensor/dtype.h"
#include "tensor/tensor.h"
#include "tests/support/expect_error.h"

namespace cbnn {
namespace {

using testing::throws_error;

float float_of_bits(uint32_t u) {
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

uint32_t bits_of_float(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
}

bool is_nan_bits(uint16_t b) { return (b & 0x7f80) == 0x7f80 && (b & 0x007f) != 0; }

TEST(Bf16Conversion, EveryPatternWidensExactlyAndRoundTrips) {
    for (uint32_t p = 0; p <= 0xffff; ++p) {
        const auto b = static_cast<uint16_t>(p);
        const float f = bf16_to_float(bfloat16::from_bits(b));
        ASSERT_EQ(bits_of_float(f), p << 16) << std::hex << p;
        const uint16_t back = float_to_bf16(f).bits;
        if (is_nan_bits(b)) {
            // Quiet NaNs come back unchanged; signalling ones come back quiet, same payload.
            ASSERT_TRUE(is_nan_bits(back)) << std::hex << p;
            ASSERT_EQ(back, b | 0x0040) << std::hex << p;
        } else {
            ASSERT_EQ(back, b) << std::hex << p;
        }
    }
}

struct Case {
    uint32_t f32;
    uint16_t bf16;
    const char* what;
};

TEST(Bf16Conversion, FloatRoundsToNearestEven) {
    const Case cases[] = {
        {0x3f800000, 0x3f80, "1.0 exact"},
        {0x3f808000, 0x3f80, "tie above 1.0: 0x3f80 is even, stays"},
        {0x3f818000, 0x3f82, "tie above 0x3f81 (odd): up to 0x3f82"},
        {0x3f807fff, 0x3f80, "just below the midpoint: down"},
        {0x3f808001, 0x3f81, "just above the midpoint: up"},
        {0xbf808000, 0xbf80, "negative tie to even"},
        {0xbf818000, 0xbf82, "negative tie up in magnitude to even"},
        {0x3fffffff, 0x4000, "mantissa carry into the exponent: 2.0"},
        {0x7f7f0000, 0x7f7f, "largest finite bf16"},
        {0x7f7f7fff, 0x7f7f, "just below the overflow midpoint"},
        {0x7f7f8000, 0x7f80, "overflow midpoint (0x7f7f odd): inf"},
        {0x7f7fffff, 0x7f80, "FLT_MAX: inf"},
        {0xff7fffff, 0xff80, "-FLT_MAX: -inf"},
        {0x7f800000, 0x7f80, "inf"},
        {0xff800000, 0xff80, "-inf"},
        {0x00000000, 0x0000, "+0"},
        {0x80000000, 0x8000, "-0"},
        {0x00000001, 0x0000, "smallest float subnormal: +0"},
        {0x80000001, 0x8000, "negative tiny subnormal: -0"},
        {0x00008000, 0x0000, "subnormal tie, even: 0"},
        {0x00018000, 0x0002, "subnormal tie, odd: up"},
        {0x00008001, 0x0001, "just above a subnormal midpoint"},
        {0x00010000, 0x0001, "smallest bf16 subnormal exact"},
        {0x007fffff, 0x0080, "largest float subnormal: up to the smallest normal"},
        {0x7fc00000, 0x7fc0, "quiet NaN"},
        {0x7f800001, 0x7fc0, "signalling NaN, payload only in the low half: quiet NaN, not inf"},
        {0x7f810000, 0x7fc1, "signalling NaN keeps its payload, gains the quiet bit"},
        {0xffc12345, 0xffc1, "negative NaN keeps its sign"},
    };
    for (const Case& c : cases) {
        EXPECT_EQ(float_to_bf16(float_of_bits(c.f32)).bits, c.bf16)
            << c.what << " (float bits " << std::hex << c.f32 << ")";
    }
}

TEST(Bf16Conversion, DoubleRoundsOnceNotThroughFloat) {
    // 1 + 2^-8 + 2^-30: above the midpoint between 1 and 1 + 2^-7, so 0x3f81. Through float it
    // would first become 1 + 2^-8 (the 2^-30 is below float's last bit), an exact tie that goes
    // to even 0x3f80.
    EXPECT_EQ(double_to_bf16(1.0 + std::ldexp(1.0, -8) + std::ldexp(1.0, -30)).bits, 0x3f81);
    EXPECT_EQ(double_to_bf16(-(1.0 + std::ldexp(1.0, -8) + std::ldexp(1.0, -30))).bits, 0xbf81);
    EXPECT_EQ(double_to_bf16(1.0 + std::ldexp(1.0, -8)).bits, 0x3f80);      // tie, even
    EXPECT_EQ(double_to_bf16(1.0 + 3 * std::ldexp(1.0, -8)).bits, 0x3f82);  // tie, even
    EXPECT_EQ(double_to_bf16(1e300).bits, 0x7f80);
    EXPECT_EQ(double_to_bf16(-1e300).bits, 0xff80);
    // bf16 max = (2 - 2^-7) 2^127 ~ 3.3895e38; the overflow midpoint (2 - 2^-8) 2^127 ~ 3.3962e38.
    EXPECT_EQ(double_to_bf16(3.39e38).bits, 0x7f7f);
    EXPECT_EQ(double_to_bf16(3.40e38).bits, 0x7f80);
    EXPECT_EQ(double_to_bf16(std::numeric_limits<double>::denorm_min()).bits, 0x0000);
    EXPECT_EQ(double_to_bf16(-std::numeric_limits<double>::denorm_min()).bits, 0x8000);
    EXPECT_EQ(double_to_bf16(-0.0).bits, 0x8000);
    EXPECT_EQ(double_to_bf16(std::numeric_limits<double>::infinity()).bits, 0x7f80);
    EXPECT_TRUE(is_nan_bits(double_to_bf16(std::numeric_limits<double>::quiet_NaN()).bits));
}

// A double NaN keeps its sign and top 7 payload bits and comes out quiet, exactly what the
// float path gives it (double_to_bf16 builds it from the bits, so the device agrees).
TEST(Bf16Conversion, DoubleNanKeepsSignAndTopPayloadBits) {
    const struct {
        uint64_t bits;
        uint16_t expected;
    } cases[] = {
        {0x7ff8000000000000, 0x7fc0},  // the default quiet NaN
        {0xfff8000000000000, 0xffc0},  // negative
        {0x7ff4000000000000, 0x7fe0},  // signalling (quiet bit clear): payload 0x20, quiet now
        {0x7ff0000000000001, 0x7fc0},  // payload only in bits float drops: still a NaN, not inf
        {0xfffe000000000000, 0xfff0},  // top payload bits 0x30 beside the quiet bit
        {0x7fffffffffffffff, 0x7fff},
    };
    for (const auto& c : cases) {
        double d;
        std::memcpy(&d, &c.bits, sizeof d);
        EXPECT_EQ(double_to_bf16(d).bits, c.expected) << std::hex << c.bits;
    }
}

TEST(Bf16Conversion, DoubleNextToEveryKindOfMidpointRoundsCorrectly) {
    // For random finite positive bf16 lo (normal and subnormal) and its successor hi, the exact
    // midpoint m is a double; m rounds to the even one of the two, nextafter(m, 0) to lo and
    // nextafter(m, inf) to hi: the cases where rounding through float would go wrong.
    std::mt19937_64 rng(7);
    for (int t = 0; t < 20000; ++t) {
        const auto lo = static_cast<uint16_t>(rng() % 0x7f7f);
        const auto hi = static_cast<uint16_t>(lo + 1);
        const double m = (static_cast<double>(bf16_to_float(bfloat16::from_bits(lo))) +
                          bf16_to_float(bfloat16::from_bits(hi))) /
                         2;
        ASSERT_EQ(double_to_bf16(m).bits, (lo & 1) ? hi : lo) << std::hex << lo;
        ASSERT_EQ(double_to_bf16(std::nextafter(m, 0.0)).bits, lo) << std::hex << lo;
        ASSERT_EQ(double_to_bf16(std::nextafter(m, 1e300)).bits, hi) << std::hex << lo;
        ASSERT_EQ(double_to_bf16(-std::nextafter(m, 1e300)).bits, hi | 0x8000) << std::hex << lo;
    }
}

TEST(Bf16Dtype, MetadataAndParsing) {
    EXPECT_EQ(dtype_size(DType::bf16), 2u);
    EXPECT_STREQ(dtype_name(DType::bf16), "bf16");
    EXPECT_TRUE(is_floating(DType::bf16));
    EXPECT_EQ(parse_dtype("bf16"), DType::bf16);
    EXPECT_EQ(parse_dtype("bfloat16"), DType::bf16);
    EXPECT_EQ(dtype_of<bfloat16>(), DType::bf16);
    EXPECT_TRUE(throws_error([] { parse_dtype("f16"); }, {"'f16'", "bf16"}));
}

std::vector<uint16_t> bits_of(const Tensor& t) {
    std::vector<uint16_t> out;
    for (bfloat16 v : t.to_vector<bfloat16>()) out.push_back(v.bits);
    return out;
}

TEST(Bf16Tensor, FactoriesItemAndPrinting) {
    const Tensor z = Tensor::zeros({2, 3}, DType::bf16);
    EXPECT_EQ(z.description(), "bf16[2, 3] cpu");
    EXPECT_EQ(z.nbytes(), 12u);
    EXPECT_EQ(bits_of(z), std::vector<uint16_t>(6, 0x0000));
    EXPECT_EQ(bits_of(Tensor::ones({2}, DType::bf16)), (std::vector<uint16_t>{0x3f80, 0x3f80}));
    // full() takes a double: 1 + 2^-8 + 2^-30 rounds once, to 0x3f81 (see above).
    const double v = 1.0 + std::ldexp(1.0, -8) + std::ldexp(1.0, -30);
    EXPECT_EQ(Tensor::full({1}, v, DType::bf16).item<bfloat16>().bits, 0x3f81);
    EXPECT_EQ(bits_of(Tensor::arange(3, DType::bf16)),
              (std::vector<uint16_t>{0x0000, 0x3f80, 0x4000}));
    const Tensor t = Tensor::from_vector<bfloat16>(
        {bfloat16::from_bits(0x3fc0), bfloat16::from_bits(0xc020)}, {2});  // 1.5, -2.5
    EXPECT_EQ(t.dtype(), DType::bf16);
    EXPECT_EQ(t.to_string(), "bf16[2] cpu\n[1.5, -2.5]");
    EXPECT_TRUE(throws_error([&] { t.data<float>(); }, {"data<f32>", "bf16[2]"}));
}

TEST(Bf16Tensor, CastsFromF32RoundLikeTheScalarConversion) {
    const std::vector<uint32_t> patterns = {0x3f808000, 0x3f818000, 0x3f808001, 0x7f7fffff,
                                            0x80000000, 0x00018000, 0x7f810000, 0xff800000};
    std::vector<float> values;
    for (uint32_t p : patterns) values.push_back(float_of_bits(p));
    const Tensor y = Tensor::from_vector<float>(values, {2, 4}).to(DType::bf16);
    EXPECT_EQ(y.dtype(), DType::bf16);
    EXPECT_EQ(bits_of(y), (std::vector<uint16_t>{0x3f80, 0x3f82, 0x3f81, 0x7f80, 0x8000, 0x0002,
                                                 0x7fc1, 0xff80}));
}

TEST(Bf16Tensor, CastsToAndFromEveryDtype) {
    // bf16 -> f32 / f64 exact; -> i64 / u8 truncates toward zero like static_cast.
    const Tensor b = Tensor::from_vector<float>({1.5f, -2.5f, 256.f, 0.f}, {4}).to(DType::bf16);
    EXPECT_EQ(b.to(DType::f32).to_vector<float>(), (std::vector<float>{1.5f, -2.5f, 256.f, 0.f}));
    EXPECT_EQ(b.to(DType::f64).to_vector<double>(), (std::vector<double>{1.5, -2.5, 256, 0}));
    EXPECT_EQ(b.to(DType::i64).to_vector<int64_t>(), (std::vector<int64_t>{1, -2, 256, 0}));
    // 257 is the midpoint of 256 and 258 (8 significant bits): even 256; 259 ties to even 260;
    // 255 is exact.
    EXPECT_EQ(bits_of(Tensor::from_vector<int64_t>({257, 259, 255}, {3}).to(DType::bf16)),
              (std::vector<uint16_t>{0x4380, 0x4382, 0x437f}));
    EXPECT_EQ(bits_of(Tensor::from_vector<uint8_t>({0, 3, 255}, {3}).to(DType::bf16)),
              (std::vector<uint16_t>{0x0000, 0x4040, 0x437f}));
    const double v = 1.0 + std::ldexp(1.0, -8) + std::ldexp(1.0, -30);
    EXPECT_EQ(bits_of(Tensor::from_vector<double>({v}, {1}).to(DType::bf16)),
              (std::vector<uint16_t>{0x3f81}));
}

TEST(Bf16Tensor, StridedAndBroadcastCopiesConvert) {
    // A transposed f32 source written into a bf16 tensor, and a broadcast row.
    const Tensor src = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
    Tensor dst = Tensor::empty({3, 2}, DType::bf16);
    dst.copy_(src.t());
    EXPECT_EQ(dst.to(DType::f32).to_vector<float>(), (std::vector<float>{1, 4, 2, 5, 3, 6}));
    Tensor wide = Tensor::empty({2, 3}, DType::bf16);
    wide.copy_(Tensor::from_vector<float>({7, 8, 9}, {3}));
    EXPECT_EQ(wide.to(DType::f32).to_vector<float>(), (std::vector<float>{7, 8, 9, 7, 8, 9}));
    EXPECT_EQ(ops::contiguous_copy(dst.t()).to(DType::f32).to_vector<float>(),
              (std::vector<float>{1, 2, 3, 4, 5, 6}));
}

}  // namespace
}  // namespace cbnn
