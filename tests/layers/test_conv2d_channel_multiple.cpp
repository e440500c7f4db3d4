// conv_channel_multiple (layers/conv2d.h): a Conv2d module whose input channels are not a multiple
// of the setting pads the input and its weight with zero channels before convolving. The output
// and every gradient (input, weight at its own C channels, bias) equal the unpadded module's bit
// for bit on the CPU, in f64, f32, bf16 and channels-last; inputs
// whose channels are already a multiple are not padded (bitwise the same); the setting is scoped
// and refuses multiples below 1.
#include <string>
#include <vector>

#include "autograd/functions.h"
#include "gtest/gtest.h"
#include "layers/conv2d.h"
#include "tests/support/expect_error.h"
#include "tests/support/random.h"
#include "tests/support/tolerance.h"

namespace cbnn {
namespace {

using testing::all_close;
using testing::random_tensor;

struct Result {
    Tensor y, dx, dw, db;
};

// The module's output and gradients for x and dy under conv_channel_multiple() = multiple; the
// module is rebuilt from the same seed every time, so every call has the same parameters.
Result run(int64_t multiple, const Tensor& x_in, const Tensor& dy, DType dtype) {
    const ConvChannelMultipleSetting setting(multiple);
    Generator gen(11);
    Conv2d conv(x_in.shape()[1], 8, 3, 2, 1, true, gen,
                dtype == DType::f64 ? DType::f64 : DType::f32);
    Tensor x = x_in.detach();
    x.set_requires_grad(true);
    const Tensor y = conv(x);
    sum(y * dy).backward();
    return {y.detach(), x.grad(), conv.weight().grad(), conv.bias().grad()};
}

void expect_same(const Result& got, const Result& want, testing::Tolerance tol) {
    ASSERT_EQ(got.y.shape(), want.y.shape());
    EXPECT_EQ(got.y.dtype(), want.y.dtype());
    EXPECT_EQ(got.y.memory_format(), want.y.memory_format());
    EXPECT_TRUE(all_close(got.y, want.y, tol));
    ASSERT_EQ(got.dx.shape(), want.dx.shape());
    EXPECT_TRUE(all_close(got.dx, want.dx, tol));
    ASSERT_EQ(got.dw.shape(), want.dw.shape());  // the parameter's own (K, C, R, S)
    EXPECT_TRUE(all_close(got.dw, want.dw, tol));
    EXPECT_TRUE(all_close(got.db, want.db, tol));
}

TEST(ConvChannelMultiple, DefaultsToNoneIsScopedAndRefusesZero) {
    EXPECT_EQ(conv_channel_multiple(), 1);
    {
        const ConvChannelMultipleSetting eight(8);
        EXPECT_EQ(conv_channel_multiple(), 8);
    }
    EXPECT_EQ(conv_channel_multiple(), 1);
    EXPECT_TRUE(testing::throws_error([] { set_conv_channel_multiple(0); },
                                      {"conv channel multiple must be at least 1, got 0"}));
    EXPECT_EQ(conv_channel_multiple(), 1);
}

TEST(ConvChannelMultiple, PaddedStemGivesTheUnpaddedResultsInEveryDtype) {
    const Shape shape{2, 3, 9, 9};  // a 3-channel image, as the ResNet stems take
    const Shape out{2, 8, 5, 5};
    for (DType dtype : {DType::f64, DType::f32, DType::bf16}) {
        SCOPED_TRACE(dtype_name(dtype));
        const Tensor x = random_tensor(shape, -1, 1, 70, dtype);
        // dy in the output's dtype: f32 for a bf16 input (the module's output is bf16; the
        // product with an f32 dy promotes) would also do, bf16 keeps the whole graph bf16.
        const Tensor dy = random_tensor(out, -1, 1, 71, dtype);
        // Bitwise on the CPU: the im2col GEMM adds the zero channels' products (exact zeros) after
        // the real ones, in the same order. (cuDNN on a GPU may pick another algorithm for the
        // padded shape: there, rounding differs.)
        const testing::Tolerance tol{0, 0};
        const Result plain = run(1, x, dy, dtype);
        for (int64_t multiple : {4, 8, 16}) {
            SCOPED_TRACE(multiple);
            expect_same(run(multiple, x, dy, dtype), plain, tol);
        }
    }
}

TEST(ConvChannelMultiple, ChannelsLastInputKeepsItsLayout) {
    const Tensor x = random_tensor({2, 3, 8, 8}, -1, 1, 80, DType::f32)
                         .to(DType::f32, MemoryFormat::channels_last);
    const Tensor dy = random_tensor({2, 8, 4, 4}, -1, 1, 81, DType::f32);
    expect_same(run(4, x, dy, DType::f32), run(1, x, dy, DType::f32), {0, 0});
}

// 16 channels with a multiple of 8 or 16: nothing to pad, the very same computation.
TEST(ConvChannelMultiple, InputsAlreadyAMultipleAreNotPadded) {
    const Tensor x = random_tensor({2, 16, 6, 6}, -1, 1, 90, DType::f32);
    const Tensor dy = random_tensor({2, 8, 3, 3}, -1, 1, 91, DType::f32);
    const Result plain = run(1, x, dy, DType::f32);
    for (int64_t multiple : {8, 16}) expect_same(run(multiple, x, dy, DType::f32), plain, {0, 0});
}

// An input whose channels do not match the weight is not padded: the convolution's own error.
TEST(ConvChannelMultiple, MismatchedInputGetsTheConvolutionsError) {
    const ConvChannelMultipleSetting setting(4);
    Generator gen(1);
    Conv2d conv(3, 8, 3, 1, 1, false, gen);
    const Tensor x = random_tensor({1, 5, 6, 6}, -1, 1, 95, DType::f32);
    EXPECT_TRUE(testing::throws_error([&] { conv(x); }, {"conv2d"}));
}

}  // namespace
}  // namespace cbnn
