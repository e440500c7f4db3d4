// Pooling (layers/pooling.h) and channel zero padding (layers/channel_pad.h) of bf16 activations on
// the CPU. By definition a bf16 result is the f32 op's result on the same (bf16-valued) inputs,
// rounded once to bf16, so every comparison here is bitwise: max pooling and padding only move
// values (their results are x's own bits), the average pools round their f32 result once, and the
// backwards round their f32 sums once. The dtype is kept (bf16 in, bf16 out, bf16 gradients).
#include <cstdint>
#include <vector>

#include "autograd/functions.h"
#include "gtest/gtest.h"
#include "layers/channel_pad.h"
#include "layers/pooling.h"
#include "tensor/bfloat16.h"
#include "tests/layers/bf16_test_util.h"
#include "tests/support/expect_error.h"
#include "tests/support/random.h"

namespace cbnn {
namespace {

using testing::bits_of;
using testing::PoolCase;

// Bits of the f32 result rounded once to bf16.
std::vector<uint16_t> rounded_bits_of(const Tensor& f32) { return bits_of(f32.to(DType::bf16)); }

// ResNet-50's stem pool (3, 2, 1), ResNet-32's shortcut (2, 2, 0), overlapping and odd windows.
const PoolCase kCases[] = {{{2, 3, 16, 16}, 3, 2, 1},
                           {{2, 4, 8, 8}, 2, 2, 0},
                           {{1, 2, 7, 9}, 3, 1, 1},
                           {{3, 2, 5, 6}, 4, 3, 2}};

TEST(PoolingBf16, MaxPoolMovesValuesAndItsBackwardRoundsTheF32SumsOnce) {
    uint64_t seed = 1;
    for (const PoolCase& g : kCases) {
        SCOPED_TRACE(::testing::Message() << g.shape << " k" << g.kernel << " s" << g.stride);
        const Tensor x = testing::random_tensor(g.shape, -3, 3, seed++, DType::bf16);
        const ops::MaxPool2dResult got = ops::max_pool2d(x, g.kernel, g.stride, g.padding);
        const ops::MaxPool2dResult ref =
            ops::max_pool2d(x.to(DType::f32), g.kernel, g.stride, g.padding);
        EXPECT_EQ(bits_of(got.values), rounded_bits_of(ref.values));
        EXPECT_EQ(got.indices.to_vector<int64_t>(), ref.indices.to_vector<int64_t>());
        const Tensor dy = testing::random_tensor(got.values.shape(), -1, 1, seed++, DType::bf16);
        const Tensor dx =
            ops::max_pool2d_backward(dy, got.indices, g.shape, g.kernel, g.stride, g.padding);
        const Tensor dx32 = ops::max_pool2d_backward(dy.to(DType::f32), ref.indices, g.shape,
                                                     g.kernel, g.stride, g.padding);
        EXPECT_EQ(bits_of(dx), rounded_bits_of(dx32));
    }
}

TEST(PoolingBf16, AvgPoolRoundsTheF32ResultOnceForwardAndBackward) {
    uint64_t seed = 100;
    for (const PoolCase& g : kCases) {
        for (bool include_pad : {true, false}) {
            SCOPED_TRACE(::testing::Message() << g.shape << " k" << g.kernel << " s" << g.stride
                                              << (include_pad ? " include_pad" : ""));
            const Tensor x = testing::random_tensor(g.shape, -3, 3, seed++, DType::bf16);
            const Tensor y = ops::avg_pool2d(x, g.kernel, g.stride, g.padding, include_pad);
            const Tensor y32 =
                ops::avg_pool2d(x.to(DType::f32), g.kernel, g.stride, g.padding, include_pad);
            EXPECT_EQ(bits_of(y), rounded_bits_of(y32));
            const Tensor dy = testing::random_tensor(y.shape(), -1, 1, seed++, DType::bf16);
            const Tensor dx =
                ops::avg_pool2d_backward(dy, g.shape, g.kernel, g.stride, g.padding, include_pad);
            const Tensor dx32 = ops::avg_pool2d_backward(dy.to(DType::f32), g.shape, g.kernel,
                                                         g.stride, g.padding, include_pad);
            EXPECT_EQ(bits_of(dx), rounded_bits_of(dx32));
        }
    }
}

TEST(PoolingBf16, GlobalAvgPoolKeepsBf16AndRoundsTheMeanOnce) {
    // ResNet-32's head (8 x 8 planes) and ResNet-50's (7 x 7).
    for (const Shape& shape : {Shape{4, 64, 8, 8}, Shape{2, 16, 7, 7}}) {
        SCOPED_TRACE(::testing::Message() << shape);
        Tensor x = testing::random_tensor(shape, -3, 3, 7, DType::bf16);
        Tensor x32 = x.to(DType::f32);
        x.set_requires_grad();
        x32.set_requires_grad();
        const Tensor y = global_avg_pool2d(x), y32 = global_avg_pool2d(x32);
        EXPECT_EQ(bits_of(y), rounded_bits_of(y32));
        const Tensor w = testing::random_tensor(y.shape(), -1, 1, 8, DType::bf16);
        sum(y * w).backward();
        sum(y32 * w.to(DType::f32)).backward();
        EXPECT_EQ(bits_of(x.grad()), rounded_bits_of(x32.grad()));
    }
}

TEST(PoolingBf16, AutogradGradientsAreBf16) {
    Tensor x = testing::random_tensor({2, 3, 6, 6}, -3, 3, 9, DType::bf16);
    x.set_requires_grad();
    sum(max_pool2d(x, 3, 2, 1)).backward();
    EXPECT_EQ(x.grad().dtype(), DType::bf16);
    Tensor x2 = x.detach();
    x2.set_requires_grad();
    sum(avg_pool2d(x2, 2, 2)).backward();
    EXPECT_EQ(x2.grad().dtype(), DType::bf16);
    // Each element sits in one 2 x 2 window: gradient 1/4, exact in bf16.
    for (uint16_t b : bits_of(x2.grad())) EXPECT_EQ(b, float_to_bf16(0.25f).bits);
}

TEST(ChannelPadBf16, MovesTheBitsAndZeroFillsForwardAndBackward) {
    Tensor x = testing::random_tensor({2, 3, 4, 5}, -3, 3, 11, DType::bf16);
    x.set_requires_grad();
    const Tensor y = pad_channels(x, 2, 1);
    ASSERT_EQ(y.shape(), (Shape{2, 6, 4, 5}));
    const std::vector<uint16_t> xb = bits_of(x), yb = bits_of(y);
    for (int64_t n = 0; n < 2; ++n)
        for (int64_t c = 0; c < 6; ++c)
            for (int64_t k = 0; k < 20; ++k) {
                const uint16_t want = c >= 2 && c < 5 ? xb[(n * 3 + c - 2) * 20 + k] : 0;
                EXPECT_EQ(yb[(n * 6 + c) * 20 + k], want) << n << " " << c << " " << k;
            }
    const Tensor w = testing::random_tensor(y.shape(), -1, 1, 12, DType::bf16);
    sum(y * w).backward();
    // dx = w's middle channels, bit for bit.
    const Tensor expected = ops::pad_channels_backward(w, 2, 3);
    EXPECT_EQ(bits_of(x.grad()), bits_of(expected));
    const std::vector<uint16_t> wb = bits_of(w), eb = bits_of(expected);
    EXPECT_EQ(eb[0], wb[2 * 20]);
}

TEST(PoolingBf16, OtherDtypesStillSayWhatTheyExpect) {
    EXPECT_TRUE(testing::throws_error(
        [] {
            ops::max_pool2d(Tensor::zeros({1, 1, 4, 4}, DType::i64), 2, 2, 0);
        },
        {"max_pool2d", "f32, f64 or bf16", "i64"}));
    EXPECT_TRUE(testing::throws_error(
        [] {
            ops::pad_channels(Tensor::zeros({1, 1, 4, 4}, DType::u8), 1, 1);
        },
        {"pad_channels", "f32, f64 or bf16", "u8"}));
}

}  // namespace
}  // namespace cbnn
