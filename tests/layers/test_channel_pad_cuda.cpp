// CUDA twin of tests/layers/test_channel_pad.cpp: the option-A padding and its backward on the GPU
// equal the CPU's (both are copies).
#include <vector>

#include "autograd/functions.h"
#include "gtest/gtest.h"
#include "layers/channel_pad.h"
#include "tests/support/gpu.h"
#include "tests/support/random.h"

namespace cbnn {
namespace {

TEST(ChannelPadCuda, ForwardAndBackwardEqualTheCpu) {
    CBNN_REQUIRE_GPU();
    struct Case {
        Shape shape;
        int64_t before, after;
    };
    const Case cases[] = {{{8, 16, 16, 16}, 8, 8}, {{8, 32, 8, 8}, 16, 16}, {{3, 5, 7, 2}, 0, 3}};
    uint64_t seed = 1;
    for (const Case& c : cases) {
        SCOPED_TRACE(::testing::Message() << c.shape << " +" << c.before << "+" << c.after);
        const Tensor x = testing::random_tensor(c.shape, -1, 1, seed++, DType::f32);
        Tensor xd = x.cuda();
        xd.set_requires_grad();
        const Tensor y = pad_channels(xd, c.before, c.after);
        ASSERT_TRUE(y.is_cuda());
        EXPECT_EQ(y.to_vector<float>(), pad_channels(x, c.before, c.after).to_vector<float>());
        const Tensor dy = testing::random_tensor(y.shape(), -1, 1, seed++, DType::f32);
        y.backward(dy.cuda());
        ASSERT_TRUE(xd.grad().is_cuda());
        EXPECT_EQ(xd.grad().to_vector<float>(),
                  ops::pad_channels_backward(dy, c.before, c.shape[1]).to_vector<float>());
    }
}

}  // namespace
}  // namespace cbnn
