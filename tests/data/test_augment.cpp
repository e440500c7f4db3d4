// CIFAR augmentation against an independent pad/crop/flip reference, its random stream's range and
// distribution, the scalings; ImageNet random-resized-crop bounds and the eval resize + crop.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <vector>

#include "data/augment.h"
#include "gtest/gtest.h"
#include "tests/support/expect_error.h"
#include "tests/support/tolerance.h"

namespace cbnn {
namespace {

using testing::throws_error;

// A 3x32x32 image whose pixels differ left-right and top-bottom (v = 3y + 5x + 40c mod 256).
std::vector<uint8_t> asymmetric_image() {
    std::vector<uint8_t> img(kCifarImageBytes);
    for (int64_t c = 0; c < 3; ++c)
        for (int64_t y = 0; y < 32; ++y)
            for (int64_t x = 0; x < 32; ++x)
                img[static_cast<size_t>((c * 32 + y) * 32 + x)] =
                    static_cast<uint8_t>((3 * y + 5 * x + 40 * c) % 256);
    return img;
}

// Independent reference: materialise the 40x40 zero-padded image, cut the window, mirror it.
std::vector<float> reference_augment(const std::vector<uint8_t>& img, CifarDraw d) {
    std::vector<int> padded(3 * 40 * 40, 0);
    for (int c = 0; c < 3; ++c)
        for (int y = 0; y < 32; ++y)
            for (int x = 0; x < 32; ++x)
                padded[static_cast<size_t>((c * 40 + y + 4) * 40 + x + 4)] =
                    img[static_cast<size_t>((c * 32 + y) * 32 + x)];
    std::vector<float> out(kCifarImageBytes);
    for (int c = 0; c < 3; ++c)
        for (int y = 0; y < 32; ++y)
            for (int x = 0; x < 32; ++x) {
                const int64_t sx = d.flip ? 31 - x : x;
                const int v = padded[static_cast<size_t>((c * 40 + d.oy + y) * 40 + d.ox + sx)];
                out[static_cast<size_t>((c * 32 + y) * 32 + x)] =
                    static_cast<float>(v / 128.0 - 1.0);
            }
    return out;
}

std::vector<float> augment_one(const std::vector<uint8_t>& img, uint64_t seed, uint64_t counter,
                               bool train, const CifarScaling& s = CifarScaling::paper()) {
    std::vector<float> out(kCifarImageBytes);
    const int64_t index = 0;
    cpu::cifar_augment(img.data(), &index, 1, seed, counter, train, s, out.data());
    return out;
}

// The first counter whose draw satisfies `pred`.
template <class Pred>
uint64_t find_counter(uint64_t seed, Pred pred) {
    for (uint64_t n = 0;; ++n)
        if (pred(cifar_draw(seed, n))) return n;
}

TEST(CifarAugment, OffsetsInRangeAndEvenlySpread) {
    // 9,000 draws: each offset expects 1,000 (sd sqrt(9000 * 1/9 * 8/9) = 29.8) and each flip
    // value 4,500 (sd 47.4); the bounds are 6 sd, a chance of failure below 1e-8 per count.
    constexpr int kDraws = 9000;
    std::array<int, 9> xs{}, ys{};
    int flips = 0;
    for (uint64_t n = 0; n < kDraws; ++n) {
        const CifarDraw d = cifar_draw(42, 1000 + n);
        ASSERT_TRUE(d.ox >= 0 && d.ox <= 8 && d.oy >= 0 && d.oy <= 8) << d.ox << ", " << d.oy;
        ++xs[static_cast<size_t>(d.ox)];
        ++ys[static_cast<size_t>(d.oy)];
        flips += d.flip ? 1 : 0;
    }
    for (int k = 0; k < 9; ++k) {
        EXPECT_NEAR(xs[static_cast<size_t>(k)], 1000, 180) << "ox = " << k;
        EXPECT_NEAR(ys[static_cast<size_t>(k)], 1000, 180) << "oy = " << k;
    }
    EXPECT_NEAR(flips, 4500, 285);
}

TEST(CifarAugment, MatchesPadCropFlipReference) {
    const std::vector<uint8_t> img = asymmetric_image();
    for (uint64_t n = 0; n < 200; ++n) {
        const CifarDraw d = cifar_draw(7, n);
        ASSERT_EQ(augment_one(img, 7, n, true), reference_augment(img, d)) << "counter " << n;
    }
}

TEST(CifarAugment, ZeroPaddingBecomesMinusOne) {
    const std::vector<uint8_t> white(kCifarImageBytes, 255);
    const uint64_t n =
        find_counter(3, [](CifarDraw d) { return d.ox == 0 && d.oy == 0 && !d.flip; });
    const std::vector<float> out = augment_one(white, 3, n, true);
    for (int64_t c = 0; c < 3; ++c)
        for (int64_t y = 0; y < 32; ++y)
            for (int64_t x = 0; x < 32; ++x) {
                const float expected = (y < 4 || x < 4) ? -1.0f : 255.0f / 128.0f - 1.0f;
                ASSERT_EQ(out[static_cast<size_t>((c * 32 + y) * 32 + x)], expected)
                    << c << "," << y << "," << x;
            }
}

TEST(CifarAugment, FlipMirrorsTheCenteredCrop) {
    const std::vector<uint8_t> img = asymmetric_image();
    const uint64_t plain =
        find_counter(5, [](CifarDraw d) { return d.ox == 4 && d.oy == 4 && !d.flip; });
    const uint64_t flipped =
        find_counter(5, [](CifarDraw d) { return d.ox == 4 && d.oy == 4 && d.flip; });
    const std::vector<float> a = augment_one(img, 5, plain, true);
    const std::vector<float> b = augment_one(img, 5, flipped, true);
    for (int64_t c = 0; c < 3; ++c)
        for (int64_t y = 0; y < 32; ++y)
            for (int64_t x = 0; x < 32; ++x) {
                const float v = img[static_cast<size_t>((c * 32 + y) * 32 + x)] / 128.0f - 1.0f;
                ASSERT_EQ(a[static_cast<size_t>((c * 32 + y) * 32 + x)], v);
                ASSERT_EQ(b[static_cast<size_t>((c * 32 + y) * 32 + 31 - x)], v);
            }
}

TEST(CifarAugment, EvalIsTheIdentityWithExactPaperScaling) {
    std::vector<uint8_t> img(kCifarImageBytes);
    for (size_t i = 0; i < img.size(); ++i) img[i] = static_cast<uint8_t>(i % 256);
    for (uint64_t n : {0ull, 17ull, 123456ull}) {
        const std::vector<float> out = augment_one(img, 99, n, false);
        for (size_t i = 0; i < img.size(); ++i) {
            ASSERT_EQ(static_cast<double>(out[i]), img[i] / 128.0 - 1.0) << i;
        }
    }
}

TEST(CifarAugment, MeanStdScaling) {
    const std::array<double, 3> mean{0.4914, 0.4822, 0.4465}, stddev{0.2470, 0.2435, 0.2616};
    const std::vector<uint8_t> img = asymmetric_image();
    const std::vector<float> out =
        augment_one(img, 0, 0, false, CifarScaling::mean_std(mean, stddev));
    std::vector<double> got(out.begin(), out.end()), expected(out.size());
    for (size_t i = 0; i < img.size(); ++i) {
        const size_t c = i / 1024;
        expected[i] = (img[i] / 255.0 - mean[c]) / stddev[c];
    }
    EXPECT_TRUE(testing::all_close(got, expected, testing::kF32VsF64));
    EXPECT_TRUE(throws_error([&] { CifarScaling::mean_std(mean, {0.2, 0.0, 0.2}); }, {"std 0"}));
}

TEST(CifarAugment, OpFunctionBatchesAndChecks) {
    std::vector<uint8_t> data = asymmetric_image();
    const std::vector<uint8_t> second(kCifarImageBytes, 200);
    data.insert(data.end(), second.begin(), second.end());
    const Tensor images = Tensor::from_vector<uint8_t>(data, {2, 3, 32, 32});
    const Tensor indices = Tensor::from_vector<int64_t>({1, 0, 1}, {3});
    const Tensor out = ops::cifar_augment(images, indices, 11, 500, true, CifarScaling::paper());
    ASSERT_EQ(out.shape(), Shape({3, 3, 32, 32}));
    const std::vector<float> all = out.to_vector<float>();
    const std::vector<uint8_t> first(data.begin(), data.begin() + kCifarImageBytes);
    for (int64_t b = 0; b < 3; ++b) {
        const std::vector<float> expected = reference_augment(
            b == 1 ? first : second, cifar_draw(11, 500 + static_cast<uint64_t>(b)));
        EXPECT_TRUE(
            std::equal(expected.begin(), expected.end(), all.begin() + b * kCifarImageBytes))
            << "sample " << b;
    }
    const Tensor bad = Tensor::from_vector<int64_t>({0, 2}, {2});
    EXPECT_TRUE(
        throws_error([&] { ops::cifar_augment(images, bad, 0, 0, true, CifarScaling::paper()); },
                     {"index 2", "position 1", "[0, 2)"}));
    EXPECT_TRUE(throws_error(
        [&] {
            ops::cifar_augment(images.to(DType::f32), indices, 0, 0, true, CifarScaling::paper());
        },
        {"images"}));
    EXPECT_TRUE(throws_error(
        [&] {
            ops::cifar_augment(images.view({2, 3, 1024}), indices, 0, 0, true,
                               CifarScaling::paper());
        },
        {"(N, 3, 32, 32)"}));
}

// ---- ImageNet ----------------------------------------------------------------------------------

std::vector<uint8_t> random_image(int64_t h, int64_t w, uint32_t salt) {
    std::vector<uint8_t> img(static_cast<size_t>(3 * h * w));
    for (size_t i = 0; i < img.size(); ++i)
        img[i] = static_cast<uint8_t>(philox_at(salt, i).x[0] >> 24);
    return img;
}

TEST(ImageNetAugment, RandomResizedCropWithinBounds) {
    const ImageNetAugmentOptions opt;
    constexpr int64_t kH = 300, kW = 400;
    double min_area = 1, max_area = 0;
    for (uint64_t n = 0; n < 3000; ++n) {
        const CropBox b = cpu::random_resized_crop_box(kH, kW, 8, n, opt);
        ASSERT_TRUE(b.x >= 0 && b.y >= 0 && b.w >= 1 && b.h >= 1 && b.x + b.w <= kW &&
                    b.y + b.h <= kH)
            << b.x << " " << b.y << " " << b.w << " " << b.h;
        if (b.fallback) continue;
        // w and h are rounded from the real-valued crop: allow half a pixel on each side.
        const double area_hi = (b.w + 0.5) * (b.h + 0.5) / (kH * kW);
        const double area_lo = (b.w - 0.5) * (b.h - 0.5) / (kH * kW);
        EXPECT_TRUE(area_hi >= opt.min_area && area_lo <= opt.max_area) << b.w << "x" << b.h;
        EXPECT_GE((b.w + 0.5) / (b.h - 0.5), opt.min_aspect) << b.w << "x" << b.h;
        EXPECT_LE((b.w - 0.5) / (b.h + 0.5), opt.max_aspect) << b.w << "x" << b.h;
        const double area = static_cast<double>(b.w * b.h) / (kH * kW);
        min_area = std::min(min_area, area);
        max_area = std::max(max_area, area);
    }
    // The fraction is uniform on [0.08, 1]: 3,000 draws reach both ends of it.
    EXPECT_LT(min_area, 0.1);
    EXPECT_GT(max_area, 0.7);
}

TEST(ImageNetAugment, FallbackIsAClampedCenterCrop) {
    const ImageNetAugmentOptions opt;
    // A 4 x 1000 strip: no crop of area >= 0.08 and aspect <= 4/3 fits its height.
    const CropBox b = cpu::random_resized_crop_box(4, 1000, 1, 0, opt);
    EXPECT_TRUE(b.fallback);
    EXPECT_EQ(b.h, 4);
    EXPECT_EQ(b.w, 5);  // round(4 * 4/3)
    EXPECT_EQ(b.x, (1000 - 5) / 2);
    EXPECT_EQ(b.y, 0);
}

TEST(ImageNetAugment, ResizeOfSameSizeIsACopyAndFlipMirrors) {
    const std::vector<uint8_t> img = random_image(6, 9, 3);
    std::vector<float> out(3 * 4 * 5), mirrored(3 * 4 * 5);
    const CropBox box{2, 1, 5, 4, false};
    cpu::resize_bilinear(img.data(), 3, 6, 9, box, 4, 5, false, out.data());
    cpu::resize_bilinear(img.data(), 3, 6, 9, box, 4, 5, true, mirrored.data());
    for (int64_t c = 0; c < 3; ++c)
        for (int64_t y = 0; y < 4; ++y)
            for (int64_t x = 0; x < 5; ++x) {
                const float v = img[static_cast<size_t>((c * 6 + y + 1) * 9 + x + 2)];
                EXPECT_EQ(out[static_cast<size_t>((c * 4 + y) * 5 + x)], v);
                EXPECT_EQ(mirrored[static_cast<size_t>((c * 4 + y) * 5 + 4 - x)], v);
            }
}

// (v/255 - mean) / std of the reference value v.
double normalized(double v, int64_t c, const ImageNetAugmentOptions& opt) {
    return (v / 255.0 - opt.mean[static_cast<size_t>(c)]) / opt.stddev[static_cast<size_t>(c)];
}

TEST(ImageNetAugment, EvalCenterCropWithoutResize) {
    // Shorter side already 256 = 224 / 0.875: the resize is the identity, the crop starts at
    // ((256 - 224) / 2, (320 - 224) / 2) = (16, 48).
    const ImageNetAugmentOptions opt;
    const std::vector<uint8_t> img = random_image(256, 320, 5);
    std::vector<float> out(3 * 224 * 224);
    imagenet_augment_eval(img.data(), 3, 256, 320, opt, out.data());
    std::vector<double> got(out.begin(), out.end()), expected(out.size());
    for (int64_t c = 0; c < 3; ++c)
        for (int64_t y = 0; y < 224; ++y)
            for (int64_t x = 0; x < 224; ++x)
                expected[static_cast<size_t>((c * 224 + y) * 224 + x)] =
                    normalized(img[static_cast<size_t>((c * 256 + y + 16) * 320 + x + 48)], c, opt);
    EXPECT_TRUE(testing::all_close(got, expected, testing::kF32VsF64));
}

TEST(ImageNetAugment, EvalHalvingAveragesTwoByTwo) {
    // 512 x 640 -> 256 x 320: half-pixel bilinear samples at 2o + 0.5, the mean of a 2x2 block.
    const ImageNetAugmentOptions opt;
    const std::vector<uint8_t> img = random_image(512, 640, 6);
    std::vector<float> out(3 * 224 * 224);
    imagenet_augment_eval(img.data(), 3, 512, 640, opt, out.data());
    std::vector<double> got(out.begin(), out.end()), expected(out.size());
    const auto at = [&](int64_t c, int64_t y, int64_t x) {
        return static_cast<double>(img[static_cast<size_t>((c * 512 + y) * 640 + x)]);
    };
    for (int64_t c = 0; c < 3; ++c)
        for (int64_t y = 0; y < 224; ++y)
            for (int64_t x = 0; x < 224; ++x) {
                const int64_t sy = 2 * (y + 16), sx = 2 * (x + 48);
                const double mean4 = (at(c, sy, sx) + at(c, sy, sx + 1) + at(c, sy + 1, sx) +
                                      at(c, sy + 1, sx + 1)) /
                                     4;
                expected[static_cast<size_t>((c * 224 + y) * 224 + x)] = normalized(mean4, c, opt);
            }
    EXPECT_TRUE(testing::all_close(got, expected, testing::kF32VsF64));
}

TEST(ImageNetAugment, TrainOnConstantImageIsConstantAndDeterministic) {
    ImageNetAugmentOptions opt;
    opt.size = 32;
    std::vector<uint8_t> img(3 * 50 * 70, 77);
    std::vector<float> a(3 * 32 * 32), b(a.size());
    imagenet_augment_train(img.data(), 3, 50, 70, 4, 9, opt, a.data());
    imagenet_augment_train(img.data(), 3, 50, 70, 4, 9, opt, b.data());
    EXPECT_EQ(a, b);
    for (int64_t c = 0; c < 3; ++c)
        EXPECT_NEAR(a[static_cast<size_t>(c * 1024 + 517)], normalized(77, c, opt), 1e-5);
}

TEST(ImageNetAugment, Errors) {
    const ImageNetAugmentOptions opt;
    std::vector<uint8_t> img(3 * 8 * 8, 0);
    std::vector<float> out(3 * 224 * 224);
    EXPECT_TRUE(throws_error([&] { imagenet_augment_eval(img.data(), 1, 8, 8, opt, out.data()); },
                             {"1 channels"}));
    EXPECT_TRUE(throws_error(
        [&] { imagenet_augment_train(img.data(), 3, 0, 8, 0, 0, opt, out.data()); }, {"0x8"}));
    ImageNetAugmentOptions bad = opt;
    bad.min_area = 0;
    EXPECT_TRUE(throws_error(
        [&] { imagenet_augment_train(img.data(), 3, 8, 8, 0, 0, bad, out.data()); }, {"min_area"}));
    bad = opt;
    bad.stddev[1] = 0;
    EXPECT_TRUE(throws_error([&] { imagenet_augment_eval(img.data(), 3, 8, 8, bad, out.data()); },
                             {"channel 1"}));
}

}  // namespace
}  // namespace cbnn
