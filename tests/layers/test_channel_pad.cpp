// Channel zero padding (layers/channel_pad.h): the option-A shortcut's 8+8 and 16+16 padding, an
// asymmetric and a zero padding, the backward (middle channels), f64 gradcheck, f32, strided
// inputs, the module and bad inputs.
#include <vector>

#include "autograd/functions.h"
#include "autograd/gradcheck.h"
#include "gtest/gtest.h"
#include "layers/channel_pad.h"
#include "tests/support/expect_error.h"
#include "tests/support/random.h"

namespace cbnn {
namespace {

using testing::throws_error;

// y[n, c] = x[n, c - before] for c in [before, before + C), else 0.
std::vector<double> reference_pad(const Tensor& x, int64_t before, int64_t after) {
    const std::vector<double> v = x.to(DType::f64).to_vector<double>();
    const int64_t N = x.size(0), C = x.size(1), HW = x.size(2) * x.size(3);
    const int64_t K = before + C + after;
    std::vector<double> y(static_cast<size_t>(N * K * HW), 0.0);
    for (int64_t n = 0; n < N; ++n)
        for (int64_t c = 0; c < C; ++c)
            for (int64_t k = 0; k < HW; ++k)
                y[static_cast<size_t>((n * K + before + c) * HW + k)] =
                    v[static_cast<size_t>((n * C + c) * HW + k)];
    return y;
}

TEST(ChannelPad, ValuesForTheShortcutsAndOtherPaddings) {
    struct Case {
        Shape shape;
        int64_t before, after;
    };
    // ResNet-32's shortcuts (16 -> 32 and 32 -> 64 channels, after 2x2 pooling), asymmetric, none.
    const Case cases[] = {
        {{2, 16, 4, 4}, 8, 8}, {{1, 32, 2, 2}, 16, 16}, {{2, 3, 2, 3}, 1, 2}, {{2, 3, 1, 2}, 0, 0}};
    uint64_t seed = 1;
    for (const Case& c : cases) {
        SCOPED_TRACE(::testing::Message() << c.shape << " +" << c.before << "+" << c.after);
        const Tensor x = testing::random_tensor(c.shape, -1, 1, seed++);
        const Tensor y = pad_channels(x, c.before, c.after);
        EXPECT_EQ(y.shape(),
                  (Shape{c.shape[0], c.before + c.shape[1] + c.after, c.shape[2], c.shape[3]}));
        EXPECT_EQ(y.to_vector<double>(), reference_pad(x, c.before, c.after));
    }
}

TEST(ChannelPad, BackwardTakesTheMiddleChannels) {
    const Tensor dy = testing::random_tensor({2, 7, 2, 2}, -1, 1, 10);
    const Tensor dx = ops::pad_channels_backward(dy, 1, 4);
    EXPECT_EQ(dx.shape(), (Shape{2, 4, 2, 2}));
    EXPECT_EQ(dx.to_vector<double>(), dy.narrow(1, 1, 4).contiguous().to_vector<double>());
}

TEST(ChannelPad, GradcheckAndFloat32) {
    const Tensor x = testing::random_tensor({2, 3, 2, 3}, -1, 1, 20);
    const autograd::GradcheckResult r = autograd::gradcheck(
        [](const std::vector<Tensor>& in) { return pad_channels(in[0], 2, 1); }, {x});
    EXPECT_TRUE(r.ok) << r.message;
    // A copy: f32 gives exactly the f32 values.
    const Tensor x32 = x.to(DType::f32);
    const Tensor y32 = pad_channels(x32, 2, 1);
    EXPECT_EQ(y32.dtype(), DType::f32);
    EXPECT_EQ(y32.to(DType::f64).to_vector<double>(), reference_pad(x32, 2, 1));
}

TEST(ChannelPad, StridedInputAndModule) {
    const Tensor x = testing::random_tensor({2, 3, 4, 5}, -1, 1, 30).transpose(2, 3);
    ASSERT_FALSE(x.is_contiguous());
    EXPECT_EQ(pad_channels(x, 2, 2).to_vector<double>(), reference_pad(x.contiguous(), 2, 2));
    ChannelZeroPad symmetric(2);
    EXPECT_EQ(symmetric.type_name(), "ChannelZeroPad");
    EXPECT_EQ(symmetric.parameter_count(), 0);
    EXPECT_EQ(symmetric(x).to_vector<double>(), reference_pad(x.contiguous(), 2, 2));
    ChannelZeroPad asymmetric(0, 3);
    EXPECT_EQ(asymmetric(x).to_vector<double>(), reference_pad(x.contiguous(), 0, 3));
}

TEST(ChannelPad, BadInputsAreClearErrors) {
    const Tensor x = testing::random_tensor({2, 3, 2, 2}, -1, 1, 40);
    EXPECT_TRUE(throws_error([&] { pad_channels(x, -1, 2); }, {"pad_channels", "before = -1"}));
    EXPECT_TRUE(throws_error([&] { pad_channels(x, 1, -2); }, {"pad_channels", "after = -2"}));
    EXPECT_TRUE(throws_error([] { ChannelZeroPad(-8); }, {"ChannelZeroPad", "-8"}));
    EXPECT_TRUE(throws_error(
        [] {
            pad_channels(Tensor::zeros({2, 3}), 1, 1);
        },
        {"pad_channels", "NCHW", "[2, 3]"}));
    EXPECT_TRUE(throws_error(
        [] {
            pad_channels(Tensor::zeros({1, 2, 2, 2}, DType::i64), 1, 1);
        },
        {"pad_channels", "i64"}));
    EXPECT_TRUE(throws_error([&] { ops::pad_channels_backward(x, 2, 3); },
                             {"pad_channels_backward", "[2, 5)", "[2, 3, 2, 2]"}));
}

}  // namespace
}  // namespace cbnn
