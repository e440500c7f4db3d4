// Copies (tensor/copy.h): casts between every dtype pair, strided and broadcasting copy_, fill_,
// clone and to(dtype) with their gradients, and the error messages.
#include <cmath>
#include <vector>

#include "autograd/functions.h"
#include "autograd/grad_mode.h"
#include "gtest/gtest.h"
#include "tensor/copy.h"
#include "tests/support/expect_error.h"
#include "tests/support/tolerance.h"

namespace cbnn {
namespace {

using testing::throws_error;

const DType kAllDtypes[] = {DType::f32, DType::f64, DType::i64, DType::u8};

// Values every dtype represents exactly.
Tensor exact_values(DType dtype) {
    const Tensor t = Tensor::from_vector<double>({0, 3, 17, 255, 128, 1}, {2, 3});
    return dtype == DType::f64 ? t : ops::cast(t, dtype);
}

std::vector<double> as_doubles(const Tensor& t) {
    return ops::cast(t, DType::f64).to_vector<double>();
}

TEST(Copy, CastBetweenEveryDtypePairKeepsExactValues) {
    for (DType from : kAllDtypes) {
        for (DType to : kAllDtypes) {
            SCOPED_TRACE(::testing::Message() << from << " -> " << to);
            const Tensor src = exact_values(from);
            const Tensor dst = ops::cast(src, to);
            EXPECT_EQ(dst.dtype(), to);
            EXPECT_EQ(dst.shape(), src.shape());
            EXPECT_TRUE(dst.is_contiguous());
            EXPECT_EQ(as_doubles(dst), (std::vector<double>{0, 3, 17, 255, 128, 1}));
            EXPECT_EQ(as_doubles(src.to(to)), as_doubles(dst));
            // A strided (transposed) source, cast on the way.
            EXPECT_EQ(as_doubles(ops::cast(src.t(), to)),
                      (std::vector<double>{0, 255, 3, 128, 17, 1}));
        }
    }
}

TEST(Copy, FloatToIntegerTruncatesTowardZero) {
    const Tensor f = Tensor::from_vector<float>({2.99f, 0.5f, 7.9f, 254.5f}, {4});
    EXPECT_EQ(f.to(DType::u8).to_vector<uint8_t>(), (std::vector<uint8_t>{2, 0, 7, 254}));
    const Tensor d = Tensor::from_vector<double>({-1.75, -0.5, 2.5, 1e15 + 0.5}, {4});
    EXPECT_EQ(d.to(DType::i64).to_vector<int64_t>(),
              (std::vector<int64_t>{-1, 0, 2, 1000000000000000}));
    // f64 -> f32 rounds to nearest.
    EXPECT_EQ(Tensor::from_vector<double>({0.1}, {1}).to(DType::f32).item<float>(), 0.1f);
    // i64 above 2^24 is rounded by f32 but kept by f64.
    const int64_t big = (int64_t{1} << 40) + 1;
    EXPECT_EQ(Tensor::from_vector<int64_t>({big}, {1}).to(DType::f64).item<double>(),
              static_cast<double>(big));
}

TEST(Copy, CopyIntoContiguousFromStridedSources) {
    const Tensor base = Tensor::from_vector<double>({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, {3, 4});
    Tensor dst = Tensor::zeros({4, 3}, DType::f64);
    dst.copy_(base.t());
    EXPECT_EQ(dst.to_vector<double>(), (std::vector<double>{0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11}));
    Tensor cols = Tensor::zeros({3, 2}, DType::f32);
    cols.copy_(base.narrow(1, 1, 2));
    EXPECT_EQ(cols.to_vector<float>(), (std::vector<float>{1, 2, 5, 6, 9, 10}));
    // Strided to strided: a column window of one tensor into a row window of a transposed one.
    Tensor out = Tensor::zeros({2, 3}, DType::i64);
    out.t().copy_(base.narrow(1, 2, 2));
    EXPECT_EQ(out.to_vector<int64_t>(), (std::vector<int64_t>{2, 6, 10, 3, 7, 11}));
    // Copying a tensor onto itself changes nothing.
    Tensor same = base.clone();
    same.copy_(same);
    EXPECT_EQ(same.to_vector<double>(), base.to_vector<double>());
}

// The CPU copy walks rows of the last dimension: a 4-D source whose last dimension is strided
// (its transposed last two dimensions) into a channels-last destination (last-dimension stride C)
// and back, each element where the index arithmetic puts it.
TEST(Copy, RowsWithStridedLastDimensionsLandWhereTheirIndicesSay) {
    const int64_t N = 2, C = 3, H = 4, W = 5;
    std::vector<double> values(N * C * H * W);
    for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<double>(i);
    const Tensor base = Tensor::from_vector<double>(values, {N, C, W, H});
    const Tensor src = base.transpose(2, 3);  // (N, C, H, W), last-dimension stride H
    Tensor nhwc =
        Tensor::empty({N, C, H, W}, DType::f32, Device::cpu(), MemoryFormat::channels_last);
    nhwc.copy_(src);
    const std::vector<float> back = nhwc.contiguous().to_vector<float>();
    for (int64_t n = 0; n < N; ++n)
        for (int64_t c = 0; c < C; ++c)
            for (int64_t h = 0; h < H; ++h)
                for (int64_t w = 0; w < W; ++w)
                    ASSERT_EQ(back[((n * C + c) * H + h) * W + w],
                              static_cast<float>(((n * C + c) * W + w) * H + h))
                        << n << " " << c << " " << h << " " << w;
}

TEST(Copy, CopyBroadcastsTheSource) {
    Tensor dst = Tensor::zeros({2, 3}, DType::f64);
    dst.copy_(Tensor::from_vector<double>({1, 2, 3}, {3}));
    EXPECT_EQ(dst.to_vector<double>(), (std::vector<double>{1, 2, 3, 1, 2, 3}));
    dst.copy_(Tensor::from_vector<double>({4, 5}, {2, 1}));
    EXPECT_EQ(dst.to_vector<double>(), (std::vector<double>{4, 4, 4, 5, 5, 5}));
    dst.copy_(Tensor::from_vector<float>({9}, {}));
    EXPECT_EQ(dst.to_vector<double>(), std::vector<double>(6, 9.0));
    dst.copy_(Tensor::from_vector<uint8_t>({7}, {1, 1}));
    EXPECT_EQ(dst.to_vector<double>(), std::vector<double>(6, 7.0));
    EXPECT_TRUE(throws_error([&] { dst.copy_(Tensor::zeros({4})); }, {"copy_", "[4]", "[2, 3]"}));
    // The destination does not grow: (2, 3) does not fit into (3).
    Tensor small = Tensor::zeros({3});
    EXPECT_TRUE(throws_error(
        [&] {
            small.copy_(Tensor::zeros({2, 3}));
        },
        {"copy_", "[2, 3]", "[3]"}));
}

TEST(Copy, CopyAndFillBumpTheVersion) {
    Tensor t = Tensor::zeros({3});
    const uint64_t v0 = t.version();
    t.copy_(Tensor::ones({3}));
    EXPECT_EQ(t.version(), v0 + 1);
    t.fill_(2.0);
    EXPECT_EQ(t.version(), v0 + 2);
    t.zero_();
    EXPECT_EQ(t.version(), v0 + 3);
}

TEST(Copy, FillEveryDtype) {
    EXPECT_EQ(Tensor::zeros({3}).fill_(1.5).to_vector<float>(), std::vector<float>(3, 1.5f));
    EXPECT_EQ(Tensor::zeros({2}, DType::f64).fill_(-0.1).to_vector<double>(),
              std::vector<double>(2, -0.1));
    EXPECT_EQ(Tensor::zeros({2}, DType::i64).fill_(-7).to_vector<int64_t>(),
              std::vector<int64_t>(2, -7));
    EXPECT_EQ(Tensor::zeros({2}, DType::u8).fill_(255).to_vector<uint8_t>(),
              std::vector<uint8_t>(2, 255));
    EXPECT_EQ(Tensor::ones({2, 2}).zero_().to_vector<float>(), std::vector<float>(4, 0.f));
    Tensor nan = Tensor::zeros({1});
    EXPECT_TRUE(std::isnan(nan.fill_(NAN).item<float>()));
    Tensor e = Tensor::zeros({0});
    e.fill_(3.0);
    EXPECT_EQ(e.numel(), 0);
}

TEST(Copy, FillOfAContiguousWindowWritesOnlyTheWindow) {
    Tensor t = Tensor::zeros({3, 2}, DType::i64);
    t.narrow(0, 1, 1).fill_(5);
    EXPECT_EQ(t.to_vector<int64_t>(), (std::vector<int64_t>{0, 0, 5, 5, 0, 0}));
    EXPECT_TRUE(throws_error([&] { t.narrow(1, 0, 1).fill_(1); }, {"fill_", "non-contiguous"}));
}

TEST(Copy, CloneIsADeepDifferentiableCopy) {
    Tensor x = Tensor::from_vector<double>({1, 2, 3, 4}, {2, 2});
    Tensor c = x.t().clone();
    EXPECT_FALSE(c.shares_storage(x));
    EXPECT_TRUE(c.is_contiguous());
    EXPECT_EQ(c.to_vector<double>(), (std::vector<double>{1, 3, 2, 4}));
    c.fill_(0.0);
    EXPECT_EQ(x.to_vector<double>(), (std::vector<double>{1, 2, 3, 4}));

    x.set_requires_grad();
    const Tensor w = Tensor::from_vector<double>({1, 2, 3, 4}, {2, 2});
    sum(w * x.clone()).backward();
    EXPECT_EQ(x.grad().to_vector<double>(), w.to_vector<double>());
}

TEST(Copy, ToDtypeIsDifferentiableBetweenFloatingDtypes) {
    Tensor x = Tensor::from_vector<double>({0.1, 0.2, 0.3}, {3});
    x.set_requires_grad();
    const Tensor y = x.to(DType::f32);
    EXPECT_EQ(y.dtype(), DType::f32);
    EXPECT_TRUE(y.requires_grad());
    sum(y * Tensor::from_vector<float>({0.5f, 2.f, -4.f}, {3})).backward();
    EXPECT_EQ(x.grad().dtype(), DType::f64);
    EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{0.5, 2, -4}));
    // Same dtype: the tensor itself. Integer targets carry no gradient.
    EXPECT_TRUE(x.to(DType::f64).is_same(x));
    EXPECT_FALSE(x.to(DType::i64).requires_grad());
    EXPECT_TRUE(x.to(Device::cpu()).is_same(x));
}

TEST(Copy, UndefinedTensorsAreClearErrors) {
    Tensor undefined;
    Tensor t = Tensor::zeros({2});
    EXPECT_TRUE(throws_error([&] { t.copy_(undefined); }, {"copy_", "undefined"}));
    EXPECT_TRUE(throws_error([&] { undefined.copy_(t); }, {"copy_", "undefined"}));
    EXPECT_TRUE(throws_error([&] { undefined.fill_(1.0); }, {"fill_", "undefined"}));
    EXPECT_TRUE(throws_error([&] { ops::cast(undefined, DType::f32); }, {"cast", "undefined"}));
    EXPECT_TRUE(throws_error([&] { undefined.shape(); }, {"undefined"}));
}

}  // namespace
}  // namespace cbnn
