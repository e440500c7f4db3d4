// CUDA twin of tests/layers/test_pooling_bf16.cpp: bf16 pooling and channel padding on the GPU
// against the CPU bf16 reference (the f32 op on the same values, rounded once).
// Bitwise where both backends compute the same float value: max pooling (moves values), the max
// and average backwards (the GPU gathers in the CPU's scatter order, one float add or divide at a
// time, so nothing can be contracted), and channel padding (moves values). The average forward
// sums in float on the GPU and in double on the CPU: compared with the f64 reference on the same
// values within f32's bound for K*K terms plus one bf16 rounding (2^-8 of the value).
#include <cmath>
#include <cstdint>
#include <vector>

#include "autograd/functions.h"
#include "gtest/gtest.h"
#include "layers/channel_pad.h"
#include "layers/pooling.h"
#include "tensor/bfloat16.h"
#include "tests/layers/bf16_test_util.h"
#include "tests/support/gpu.h"
#include "tests/support/random.h"
#include "tests/support/tolerance.h"

namespace cbnn {
namespace {

using testing::bits_of;

const testing::PoolCase kCases[] = {{{2, 64, 112, 112}, 3, 2, 1},  // ResNet-50 stem
                                    {{8, 16, 32, 32}, 2, 2, 0},    // ResNet-32 shortcut 16 -> 32
                                    {{8, 32, 16, 16}, 2, 2, 0},    // ResNet-32 shortcut 32 -> 64
                                    {{3, 5, 7, 9}, 3, 2, 1},
                                    {{2, 2, 11, 5}, 5, 3, 2}};

TEST(PoolingBf16Cuda, MaxPoolForwardAndBackwardAreBitwiseTheCpus) {
    CBNN_REQUIRE_GPU();
    uint64_t seed = 1;
    for (const testing::PoolCase& c : kCases) {
        SCOPED_TRACE(::testing::Message() << c.shape << " k" << c.kernel);
        const Tensor x = testing::random_tensor(c.shape, -2, 2, seed++, DType::bf16);
        const ops::MaxPool2dResult ref = ops::max_pool2d(x, c.kernel, c.stride, c.padding);
        const ops::MaxPool2dResult got = ops::max_pool2d(x.cuda(), c.kernel, c.stride, c.padding);
        EXPECT_EQ(bits_of(got.values), bits_of(ref.values));
        EXPECT_EQ(got.indices.to_vector<int64_t>(), ref.indices.to_vector<int64_t>());
        const Tensor dy = testing::random_tensor(ref.values.shape(), -1, 1, seed++, DType::bf16);
        EXPECT_EQ(bits_of(ops::max_pool2d_backward(dy.cuda(), got.indices, c.shape, c.kernel,
                                                   c.stride, c.padding)),
                  bits_of(ops::max_pool2d_backward(dy, ref.indices, c.shape, c.kernel, c.stride,
                                                   c.padding)));
    }
}

TEST(PoolingBf16Cuda, AvgPoolForwardWithinOneRoundingAndBackwardBitwise) {
    CBNN_REQUIRE_GPU();
    uint64_t seed = 100;
    for (const testing::PoolCase& c : kCases) {
        for (bool include_pad : {true, false}) {
            SCOPED_TRACE(::testing::Message() << c.shape << " k" << c.kernel << include_pad);
            const Tensor x = testing::random_tensor(c.shape, -2, 2, seed++, DType::bf16);
            const Tensor got =
                ops::avg_pool2d(x.cuda(), c.kernel, c.stride, c.padding, include_pad);
            const Tensor ref =
                ops::avg_pool2d(x.to(DType::f64), c.kernel, c.stride, c.padding, include_pad);
            const testing::Tolerance f32 = testing::f32_sum_tolerance(c.kernel * c.kernel);
            EXPECT_TRUE(testing::all_close(
                got, ref, {f32.atol, f32.rtol + std::ldexp(1.0, -8) + std::ldexp(1.0, -16)}));
            const Tensor dy = testing::random_tensor(got.shape(), -1, 1, seed++, DType::bf16);
            EXPECT_EQ(bits_of(ops::avg_pool2d_backward(dy.cuda(), c.shape, c.kernel, c.stride,
                                                       c.padding, include_pad)),
                      bits_of(ops::avg_pool2d_backward(dy, c.shape, c.kernel, c.stride, c.padding,
                                                       include_pad)));
        }
    }
}

TEST(PoolingBf16Cuda, GlobalAvgPoolAndChannelPadKeepBf16OnTheDevice) {
    CBNN_REQUIRE_GPU();
    Tensor x = testing::random_tensor({8, 64, 8, 8}, -2, 2, 7, DType::bf16).cuda();
    x.set_requires_grad();
    const Tensor y = global_avg_pool2d(x);
    EXPECT_EQ(y.dtype(), DType::bf16);
    // A mean of 64 values: f32 bound for 64 terms plus one bf16 rounding.
    const testing::Tolerance f32 = testing::f32_sum_tolerance(64);
    EXPECT_TRUE(
        testing::all_close(y, global_avg_pool2d(x.detach().cpu().to(DType::f64)),
                           {f32.atol, f32.rtol + std::ldexp(1.0, -8) + std::ldexp(1.0, -16)}));
    sum(y).backward();
    EXPECT_EQ(x.grad().dtype(), DType::bf16);
    EXPECT_TRUE(x.grad().is_cuda());

    const Tensor p = testing::random_tensor({8, 16, 32, 32}, -2, 2, 8, DType::bf16);
    EXPECT_EQ(bits_of(ops::pad_channels(p.cuda(), 8, 8)), bits_of(ops::pad_channels(p, 8, 8)));
    const Tensor dy = testing::random_tensor({8, 32, 32, 32}, -1, 1, 9, DType::bf16);
    EXPECT_EQ(bits_of(ops::pad_channels_backward(dy.cuda(), 8, 16)),
              bits_of(ops::pad_channels_backward(dy, 8, 16)));
}

}  // namespace
}  // namespace cbnn
