// conv_channel_multiple (layers/conv2d.h) on the GPU: the ResNet stems' 3-channel images, bf16
// and channels-last as the fast training step runs them, padded with zero channels to 4 and 8
// (cuDNN) and to 16 (then cbnn's own kernels take the stem, and cuDNN must not run): output,
// input gradient and the f32 weight's gradient follow the unpadded module within bf16 operand
// rounding (1 % of the norm, as test_conv2d_igemm_cuda.cpp's module test: the padded shape may
// run other algorithms, which round differently). FP32 NCHW too, within FP32 rounding. On the
// CPU the padded module is bitwise the unpadded one (test_conv2d_channel_multiple.cpp).
#include <cstdint>

#include "autograd/functions.h"
#include "gtest/gtest.h"
#include "layers/conv2d.h"
#include "layers/conv2d_igemm.h"
#include "tests/support/gpu.h"
#include "tests/support/random.h"
#include "tests/support/tolerance.h"

namespace cbnn {
namespace {

using testing::norm_relative_error;
using testing::random_tensor;

struct Grads {
    Tensor y, dx, dw;
};

// The stem conv (3 -> K, R x R, stride, pad) on x with upstream gradient dy (f32), under
// conv_channel_multiple() = multiple; the module is rebuilt from one seed each time.
Grads stem(int64_t multiple, int64_t K, int64_t R, int64_t stride, int64_t pad, const Tensor& x_in,
           const Tensor& dy) {
    const ConvChannelMultipleSetting setting(multiple);
    Generator gen(21);
    Conv2d conv(3, K, R, stride, pad, false, gen);
    conv.to(Device::cuda());
    Tensor x = x_in.detach();
    x.set_requires_grad(true);
    const Tensor y = conv(x);
    sum(y.to(DType::f32, y.memory_format()) * dy).backward();  // dy reaches the conv as NHWC
    return {y.detach(), x.grad(), conv.weight().grad()};
}

void expect_follows(const Grads& got, const Grads& plain, double bound) {
    ASSERT_EQ(got.y.shape(), plain.y.shape());
    EXPECT_EQ(got.y.dtype(), plain.y.dtype());
    EXPECT_EQ(got.y.memory_format(), plain.y.memory_format());
    EXPECT_LE(norm_relative_error(got.y, plain.y), bound);
    ASSERT_EQ(got.dx.shape(), plain.dx.shape());
    EXPECT_LE(norm_relative_error(got.dx, plain.dx), bound);
    ASSERT_EQ(got.dw.shape(), plain.dw.shape());
    EXPECT_EQ(got.dw.dtype(), DType::f32);
    EXPECT_LE(norm_relative_error(got.dw, plain.dw), bound);
}

TEST(ConvChannelMultipleCuda, Bf16ChannelsLastStemsFollowTheUnpaddedOnes) {
    CBNN_REQUIRE_GPU();
    struct Stem {
        int64_t K, R, stride, pad, size;
    };
    // ResNet-50's 7x7/2 (on a small image) and ResNet-32's 3x3.
    for (const Stem& s : {Stem{64, 7, 2, 3, 32}, Stem{16, 3, 1, 1, 32}}) {
        SCOPED_TRACE(::testing::Message() << "K " << s.K << " R " << s.R);
        const Tensor x = random_tensor({4, 3, s.size, s.size}, -1, 1, 2100, DType::f32)
                             .cuda()
                             .to(DType::bf16, MemoryFormat::channels_last);
        const int64_t out = (s.size + 2 * s.pad - s.R) / s.stride + 1;
        const Tensor dy = random_tensor({4, s.K, out, out}, -1, 1, 2101, DType::f32).cuda();
        const Grads plain = stem(1, s.K, s.R, s.stride, s.pad, x, dy);
        for (int64_t multiple : {4, 8}) {
            SCOPED_TRACE(multiple);
            expect_follows(stem(multiple, s.K, s.R, s.stride, s.pad, x, dy), plain, 1e-2);
        }
    }
}

// Padded to 16 channels, ResNet-32's stem is a 16 -> 16 convolution that cbnn's kernels take:
// no cuDNN algorithm is selected for it.
TEST(ConvChannelMultipleCuda, SixteenChannelsPutTheCifarStemOnCbnnKernels) {
    CBNN_REQUIRE_GPU();
    const Tensor x = random_tensor({5, 3, 32, 32}, -1, 1, 2200, DType::f32)
                         .cuda()
                         .to(DType::bf16, MemoryFormat::channels_last);
    const Tensor dy = random_tensor({5, 16, 32, 32}, -1, 1, 2201, DType::f32).cuda();
    const Grads plain = stem(1, 16, 3, 1, 1, x, dy);
    const ConvKernelsSetting cbnn(ConvKernels::cbnn);
    const int64_t selections = cuda::conv2d_algorithm_selections();
    const Grads padded = stem(16, 16, 3, 1, 1, x, dy);
    EXPECT_EQ(cuda::conv2d_algorithm_selections(), selections) << "cuDNN ran the padded stem";
    expect_follows(padded, plain, 1e-2);
}

TEST(ConvChannelMultipleCuda, Fp32NchwStemFollowsTheUnpaddedOne) {
    CBNN_REQUIRE_GPU();
    const Tensor x = random_tensor({4, 3, 32, 32}, -1, 1, 2300, DType::f32).cuda();
    const Tensor dy = random_tensor({4, 64, 16, 16}, -1, 1, 2301, DType::f32).cuda();
    expect_follows(stem(8, 64, 7, 2, 3, x, dy), stem(1, 64, 7, 2, 3, x, dy), 1e-5);
}

}  // namespace
}  // namespace cbnn
