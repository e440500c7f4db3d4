// CUDA twin of tests/layers/test_pooling.cpp: max / average pooling forward and backward on the GPU
// against the CPU f64 reference on random shapes, the ResNet-50 stem (64x112x112 -> 56x56) and
// ResNet-32's option-A shortcut (2x2 stride 2, batch 8); argmax equal to the CPU's; bitwise
// repeatable backward; autograd, modules and global average pooling on the device.
#include <cstring>
#include <vector>

#include "autograd/functions.h"
#include "gtest/gtest.h"
#include "layers/pooling.h"
#include "tests/support/gpu.h"
#include "tests/support/random.h"
#include "tests/support/tolerance.h"

namespace cbnn {
namespace {

using testing::all_close;
using testing::kCudaVsCpu;

struct Config {
    Shape shape;
    int64_t kernel, stride, padding;
};

const Config kConfigs[] = {{{2, 64, 112, 112}, 3, 2, 1},  // ResNet-50 stem
                           {{8, 16, 32, 32}, 2, 2, 0},    // ResNet-32 shortcut 16 -> 32
                           {{8, 32, 16, 16}, 2, 2, 0},    // ResNet-32 shortcut 32 -> 64
                           {{3, 5, 7, 9}, 3, 2, 1},      {{2, 3, 9, 7}, 2, 2, 0},
                           {{1, 4, 6, 6}, 3, 1, 1},      {{2, 2, 11, 5}, 5, 3, 2},
                           {{1, 1, 1, 1}, 1, 1, 0}};

::testing::Message describe(const Config& c) {
    return ::testing::Message() << c.shape << " k" << c.kernel << " s" << c.stride << " p"
                                << c.padding;
}

TEST(PoolingCuda, MaxPoolForwardAndBackwardMatchTheCpu) {
    CBNN_REQUIRE_GPU();
    uint64_t seed = 1;
    for (const Config& c : kConfigs) {
        SCOPED_TRACE(describe(c));
        const Tensor x = testing::random_tensor(c.shape, -2, 2, seed++, DType::f32);
        const ops::MaxPool2dResult ref = ops::max_pool2d(x, c.kernel, c.stride, c.padding);
        const ops::MaxPool2dResult got = ops::max_pool2d(x.cuda(), c.kernel, c.stride, c.padding);
        ASSERT_TRUE(got.values.is_cuda());
        // A maximum is exact: same values and the same first-maximal indices.
        EXPECT_EQ(got.values.to_vector<float>(), ref.values.to_vector<float>());
        EXPECT_EQ(got.indices.to_vector<int64_t>(), ref.indices.to_vector<int64_t>());
        const Tensor dy = testing::random_tensor(ref.values.shape(), -1, 1, seed++, DType::f32);
        const Tensor dx = ops::max_pool2d_backward(dy.cuda(), got.indices, c.shape, c.kernel,
                                                   c.stride, c.padding);
        EXPECT_TRUE(all_close(dx,
                              ops::max_pool2d_backward(dy.to(DType::f64), ref.indices, c.shape,
                                                       c.kernel, c.stride, c.padding),
                              kCudaVsCpu));
    }
}

TEST(PoolingCuda, AvgPoolForwardAndBackwardMatchTheCpu) {
    CBNN_REQUIRE_GPU();
    uint64_t seed = 100;
    for (const Config& c : kConfigs) {
        for (bool include : {true, false}) {
            SCOPED_TRACE(describe(c) << " count_include_pad " << include);
            const Tensor x = testing::random_tensor(c.shape, -2, 2, seed++, DType::f32);
            const Tensor y = ops::avg_pool2d(x.cuda(), c.kernel, c.stride, c.padding, include);
            ASSERT_TRUE(y.is_cuda());
            EXPECT_TRUE(all_close(
                y, ops::avg_pool2d(x.to(DType::f64), c.kernel, c.stride, c.padding, include),
                kCudaVsCpu));
            const Tensor dy = testing::random_tensor(y.shape(), -1, 1, seed++, DType::f32);
            EXPECT_TRUE(all_close(ops::avg_pool2d_backward(dy.cuda(), c.shape, c.kernel, c.stride,
                                                           c.padding, include),
                                  ops::avg_pool2d_backward(dy.to(DType::f64), c.shape, c.kernel,
                                                           c.stride, c.padding, include),
                                  kCudaVsCpu));
        }
    }
}

TEST(PoolingCuda, BackwardIsBitwiseRepeatable) {
    CBNN_REQUIRE_GPU();
    const Tensor x = testing::random_tensor({4, 8, 33, 31}, -1, 1, 200, DType::f32).cuda();
    const ops::MaxPool2dResult m = ops::max_pool2d(x, 3, 2, 1);
    const Tensor dy = testing::random_tensor(m.values.shape(), -1, 1, 201, DType::f32).cuda();
    auto same = [](const Tensor& a, const Tensor& b) {
        const std::vector<float> u = a.to_vector<float>(), v = b.to_vector<float>();
        return u.size() == v.size() && std::memcmp(u.data(), v.data(), u.size() * 4) == 0;
    };
    EXPECT_TRUE(same(ops::max_pool2d_backward(dy, m.indices, x.shape(), 3, 2, 1),
                     ops::max_pool2d_backward(dy, m.indices, x.shape(), 3, 2, 1)));
    EXPECT_TRUE(same(ops::avg_pool2d_backward(dy, x.shape(), 3, 2, 1, true),
                     ops::avg_pool2d_backward(dy, x.shape(), 3, 2, 1, true)));
}

TEST(PoolingCuda, AutogradModulesAndGlobalAveragePoolOnTheDevice) {
    CBNN_REQUIRE_GPU();
    const Tensor x = testing::random_tensor({2, 3, 10, 10}, -1, 1, 300, DType::f32);
    const Tensor w = testing::random_tensor({2, 3}, -1, 1, 301, DType::f32);
    MaxPool2d max_module(3, 2, 1);
    AvgPool2d avg_module(2, 2);
    GlobalAvgPool2d global;
    auto grad_of = [&](const Tensor& input) {
        Tensor leaf = input.detach();
        leaf.set_requires_grad();
        const Tensor y = global(avg_module(max_module(leaf)));
        sum(y * (leaf.is_cuda() ? w.cuda() : w.to(DType::f64))).backward();
        return std::vector<Tensor>{y, leaf.grad()};
    };
    const std::vector<Tensor> got = grad_of(x.cuda()), ref = grad_of(x.to(DType::f64));
    EXPECT_TRUE(got[0].is_cuda());
    EXPECT_TRUE(got[1].is_cuda());
    EXPECT_TRUE(all_close(got[0], ref[0], kCudaVsCpu));
    EXPECT_TRUE(all_close(got[1], ref[1], kCudaVsCpu));
}

}  // namespace
}  // namespace cbnn

namespace cbnn {
namespace {

// Channels-last: the NHWC kernels walk the same windows in the same order as the NCHW ones, so
// every result equals the NCHW result on the GPU bit for bit, in f32 and bf16; outputs keep the
// format (argmax too).
TEST(PoolingCuda, ChannelsLastEqualsNchwBitwise) {
    CBNN_REQUIRE_GPU();
    constexpr MemoryFormat kNhwc = MemoryFormat::channels_last;
    uint64_t seed = 500;
    for (DType dtype : {DType::f32, DType::bf16}) {
        for (const Config& c : kConfigs) {
            SCOPED_TRACE(describe(c) << " " << dtype);
            const Tensor x = testing::random_tensor(c.shape, -2, 2, seed++, dtype).cuda();
            const Tensor xl = x.contiguous(kNhwc);
            const ops::MaxPool2dResult ref = ops::max_pool2d(x, c.kernel, c.stride, c.padding);
            const ops::MaxPool2dResult got = ops::max_pool2d(xl, c.kernel, c.stride, c.padding);
            const bool ambiguous = c.shape[1] == 1;  // one channel: both formats at once
            if (!ambiguous) EXPECT_EQ(got.values.memory_format(), kNhwc);
            EXPECT_EQ(testing::host_values(got.values), testing::host_values(ref.values));
            EXPECT_EQ(got.indices.to_vector<int64_t>(), ref.indices.to_vector<int64_t>());
            const Tensor dy =
                testing::random_tensor(ref.values.shape(), -1, 1, seed++, dtype).cuda();
            const Tensor dx = ops::max_pool2d_backward(dy.contiguous(kNhwc), got.indices, c.shape,
                                                       c.kernel, c.stride, c.padding);
            if (!ambiguous) EXPECT_EQ(dx.memory_format(), kNhwc);
            EXPECT_EQ(testing::host_values(dx),
                      testing::host_values(ops::max_pool2d_backward(
                          dy, ref.indices, c.shape, c.kernel, c.stride, c.padding)));
            for (bool include : {true, false}) {
                const Tensor y = ops::avg_pool2d(xl, c.kernel, c.stride, c.padding, include);
                EXPECT_EQ(testing::host_values(y), testing::host_values(ops::avg_pool2d(
                                                       x, c.kernel, c.stride, c.padding, include)));
                EXPECT_EQ(
                    testing::host_values(ops::avg_pool2d_backward(
                        dy.contiguous(kNhwc), c.shape, c.kernel, c.stride, c.padding, include)),
                    testing::host_values(ops::avg_pool2d_backward(dy, c.shape, c.kernel, c.stride,
                                                                  c.padding, include)));
            }
        }
    }
}

}  // namespace
}  // namespace cbnn
