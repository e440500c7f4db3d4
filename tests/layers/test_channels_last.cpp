// Channels-last (NHWC) inputs to the layer ops on the CPU (tensor/memory_format.h): conv2d,
// pooling, global average pooling and channel padding give the values of the NCHW computation
// (the CPU runs its NCHW references on contiguous copies) and keep the channels-last format, so
// a network fed NHWC stays NHWC on the CPU as on CUDA. The CUDA kernels are compared with these
// in tests/layers/test_conv2d_cuda.cpp and test_pooling_cuda.cpp.
#include <vector>

#include "autograd/functions.h"
#include "gtest/gtest.h"
#include "layers/channel_pad.h"
#include "layers/conv2d.h"
#include "layers/pooling.h"
#include "tests/support/random.h"
#include "tests/support/tolerance.h"

namespace cbnn {
namespace {

using testing::host_values;
using testing::random_tensor;
constexpr MemoryFormat kNhwc = MemoryFormat::channels_last;

Tensor nhwc(const Tensor& t) { return t.contiguous(kNhwc); }

// Same values, and channels-last.
::testing::AssertionResult same_nhwc(const Tensor& got, const Tensor& expected) {
    if (got.memory_format() != kNhwc)
        return ::testing::AssertionFailure() << "not channels-last: strides " << got.strides();
    if (host_values(got) != host_values(expected))
        return ::testing::AssertionFailure() << "values differ from the NCHW result";
    return ::testing::AssertionSuccess();
}

TEST(ChannelsLast, Conv2dKeepsTheFormatAndTheValues) {
    for (DType dtype : {DType::f64, DType::f32, DType::bf16}) {
        SCOPED_TRACE(::testing::Message() << dtype);
        const Tensor x = random_tensor({2, 3, 7, 6}, -1, 1, 1, dtype);
        const Tensor w = random_tensor({5, 3, 3, 3}, -1, 1, 2, dtype);
        const Tensor b = random_tensor({5}, -1, 1, 3, dtype);
        const Tensor y = ops::conv2d_forward(x, w, b, 2, 1);
        EXPECT_TRUE(same_nhwc(ops::conv2d_forward(nhwc(x), w, b, 2, 1), y));
        const Tensor dy = random_tensor(y.shape(), -1, 1, 4, dtype);
        EXPECT_TRUE(same_nhwc(ops::conv2d_backward_data(nhwc(dy), w, x.shape(), 2, 1),
                              ops::conv2d_backward_data(dy, w, x.shape(), 2, 1)));
        // dw comes out in x's format (KRSC), like y and dx.
        EXPECT_TRUE(same_nhwc(ops::conv2d_backward_filter(nhwc(x), nhwc(dy), w.shape(), 2, 1),
                              ops::conv2d_backward_filter(x, dy, w.shape(), 2, 1)));
        EXPECT_EQ(host_values(ops::conv2d_backward_bias(nhwc(dy))),
                  host_values(ops::conv2d_backward_bias(dy)));
    }
}

TEST(ChannelsLast, Conv2dGradcheckThroughAChannelsLastInput) {
    const Tensor x = random_tensor({2, 3, 5, 5}, -1, 1, 5).set_requires_grad();
    const Tensor w = random_tensor({4, 3, 3, 3}, -1, 1, 6).set_requires_grad();
    const Tensor weights = random_tensor({2, 4, 5, 5}, -1, 1, 7);
    // Gradients through the channels-last path equal those of the NCHW path.
    sum(conv2d(x.contiguous(kNhwc), w, Tensor(), 1, 1) * weights).backward();
    const std::vector<double> dx = host_values(x.grad()), dw = host_values(w.grad());
    const Tensor x2 = x.detach().set_requires_grad(), w2 = w.detach().set_requires_grad();
    sum(conv2d(x2, w2, Tensor(), 1, 1) * weights).backward();
    EXPECT_TRUE(testing::all_close(dx, host_values(x2.grad()), testing::kF64Exact));
    EXPECT_TRUE(testing::all_close(dw, host_values(w2.grad()), testing::kF64Exact));
}

// The Conv2d module on a channels-last input: on the CPU the weight stays KCRS (the CPU kernels
// read KCRS), the filter gradient comes back channels-last from the op and lands in the f32
// parameter contiguous, with the NCHW module's values (the same kernels on the same values).
TEST(ChannelsLast, Conv2dModuleGradientsLandInTheParametersLayout) {
    Generator gen(3);
    Conv2d conv(3, 4, 3, 1, 1, true, gen);
    const Tensor x = random_tensor({2, 3, 6, 5}, -1, 1, 14, DType::f32);
    const Tensor upstream = random_tensor({2, 4, 6, 5}, -1, 1, 15, DType::f32);
    const auto grads = [&](const Tensor& input) {
        conv.weight().set_grad(Tensor());
        conv.bias().set_grad(Tensor());
        sum(conv(input).to(DType::f32) * upstream).backward();
        return std::vector<Tensor>{conv.weight().grad(), conv.bias().grad()};
    };
    for (DType dtype : {DType::f32, DType::bf16}) {
        SCOPED_TRACE(::testing::Message() << dtype);
        const std::vector<Tensor> expected = grads(x.to(dtype));
        const std::vector<Tensor> got = grads(nhwc(x.to(dtype)));
        for (size_t i = 0; i < got.size(); ++i) {
            ASSERT_TRUE(got[i].defined());
            EXPECT_EQ(got[i].dtype(), DType::f32) << "parameter " << i;
            EXPECT_TRUE(got[i].is_contiguous()) << "parameter " << i;
            EXPECT_EQ(host_values(got[i]), host_values(expected[i])) << "parameter " << i;
        }
    }
}

TEST(ChannelsLast, PoolingKeepsTheFormatAndTheValues) {
    for (DType dtype : {DType::f64, DType::bf16}) {
        SCOPED_TRACE(::testing::Message() << dtype);
        const Shape shape{2, 4, 7, 9};
        const Tensor x = random_tensor(shape, -2, 2, 8, dtype);
        const ops::MaxPool2dResult ref = ops::max_pool2d(x, 3, 2, 1);
        const ops::MaxPool2dResult got = ops::max_pool2d(nhwc(x), 3, 2, 1);
        EXPECT_TRUE(same_nhwc(got.values, ref.values));
        EXPECT_EQ(got.indices.memory_format(), kNhwc);
        EXPECT_EQ(got.indices.to_vector<int64_t>(), ref.indices.to_vector<int64_t>());
        const Tensor dy = random_tensor(ref.values.shape(), -1, 1, 9, dtype);
        EXPECT_TRUE(same_nhwc(ops::max_pool2d_backward(nhwc(dy), got.indices, shape, 3, 2, 1),
                              ops::max_pool2d_backward(dy, ref.indices, shape, 3, 2, 1)));
        EXPECT_TRUE(same_nhwc(ops::avg_pool2d(nhwc(x), 3, 2, 1, false),
                              ops::avg_pool2d(x, 3, 2, 1, false)));
        EXPECT_TRUE(same_nhwc(ops::avg_pool2d_backward(nhwc(dy), shape, 3, 2, 1, true),
                              ops::avg_pool2d_backward(dy, shape, 3, 2, 1, true)));
    }
}

TEST(ChannelsLast, GlobalAveragePoolingAveragesTheChannelsLastView) {
    const Tensor x = random_tensor({3, 5, 4, 6}, -1, 1, 10).set_requires_grad();
    const Tensor weights = random_tensor({3, 5}, -1, 1, 11);
    const Tensor xl = x.contiguous(kNhwc);
    const Tensor y = global_avg_pool2d(xl);
    EXPECT_EQ(y.shape(), (Shape{3, 5}));
    // The mean of the same 24 values per (n, c), summed in another order: f64 rounding apart.
    EXPECT_TRUE(testing::all_close(y, global_avg_pool2d(x.detach()), testing::kF64Exact));
    sum(y * weights).backward();
    const std::vector<double> g = host_values(x.grad());
    const std::vector<double> w = host_values(weights);
    for (int64_t i = 0; i < x.numel(); ++i)  // dx = weight / (H W), broadcast over the plane
        EXPECT_NEAR(g[static_cast<size_t>(i)], w[static_cast<size_t>(i / 24)] / 24.0, 1e-15);
}

TEST(ChannelsLast, ChannelPaddingKeepsTheFormat) {
    const Tensor x = random_tensor({2, 4, 3, 5}, -1, 1, 12);
    EXPECT_TRUE(same_nhwc(ops::pad_channels(nhwc(x), 2, 2), ops::pad_channels(x, 2, 2)));
    const Tensor dy = random_tensor({2, 8, 3, 5}, -1, 1, 13);
    EXPECT_TRUE(same_nhwc(ops::pad_channels_backward(nhwc(dy), 2, 4),
                          ops::pad_channels_backward(dy, 2, 4)));
}

}  // namespace
}  // namespace cbnn
