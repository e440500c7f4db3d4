// Memory formats (tensor/memory_format.h): channels-last strides and their detection, tensors
// created and copied in a format, and the elementwise ops that keep a channels-last format.
#include <vector>

#include "autograd/functions.h"
#include "gtest/gtest.h"
#include "tensor/binary.h"
#include "tensor/copy.h"
#include "tensor/unary.h"
#include "tests/support/expect_error.h"
#include "tests/support/random.h"

namespace cbnn {
namespace {

using testing::random_tensor;
using testing::throws_error;
constexpr MemoryFormat kNchw = MemoryFormat::contiguous;
constexpr MemoryFormat kNhwc = MemoryFormat::channels_last;

TEST(MemoryFormat, StridesOfEachFormat) {
    EXPECT_EQ(format_strides({2, 3, 4, 5}, kNchw), (Shape{60, 20, 5, 1}));
    EXPECT_EQ(format_strides({2, 3, 4, 5}, kNhwc), (Shape{60, 1, 15, 3}));
    EXPECT_TRUE(throws_error([] { format_strides({2, 3, 4}, kNhwc); }, {"4-D", "[2, 3, 4]"}));
}

TEST(MemoryFormat, NamesRoundTripAndUnknownNamesAreRejected) {
    EXPECT_EQ(parse_memory_format(memory_format_name(kNchw)), kNchw);
    EXPECT_EQ(parse_memory_format(memory_format_name(kNhwc)), kNhwc);
    EXPECT_TRUE(throws_error([] { parse_memory_format("NHWC "); }, {"'NHWC '", "nchw", "nhwc"}));
}

TEST(MemoryFormat, DetectionIgnoresSizeOneDimensions) {
    const Tensor nhwc = Tensor::empty({2, 3, 4, 5}, DType::f32, Device::cpu(), kNhwc);
    EXPECT_EQ(nhwc.strides(), (Shape{60, 1, 15, 3}));
    EXPECT_TRUE(nhwc.is_contiguous(kNhwc));
    EXPECT_FALSE(nhwc.is_contiguous());
    EXPECT_EQ(nhwc.memory_format(), kNhwc);
    // One channel, or one pixel: both formats at once; memory_format() then says contiguous.
    for (const Shape& shape : {Shape{2, 1, 4, 5}, Shape{2, 3, 1, 1}}) {
        const Tensor t = Tensor::empty(shape, DType::f32, Device::cpu(), kNhwc);
        EXPECT_TRUE(t.is_contiguous());
        EXPECT_TRUE(t.is_contiguous(kNhwc));
        EXPECT_EQ(t.memory_format(), kNchw);
    }
    // Other layouts (a transposed view) are neither format.
    const Tensor other = Tensor::zeros({2, 3, 4, 5}).transpose(2, 3);
    EXPECT_FALSE(other.is_contiguous(kNhwc));
    EXPECT_EQ(other.memory_format(), kNchw);
    EXPECT_FALSE(Tensor::zeros({6, 5}).is_contiguous(kNhwc));
}

TEST(MemoryFormat, ContiguousInAFormatKeepsValuesAndRoundTrips) {
    const Tensor x = random_tensor({2, 3, 4, 5}, -1, 1, 7);
    const Tensor nhwc = x.contiguous(kNhwc);
    EXPECT_TRUE(nhwc.is_contiguous(kNhwc));
    EXPECT_EQ(nhwc.to_vector<double>(), x.to_vector<double>());  // logical order is unchanged
    // Storage order is NHWC: element (n, c, h, w) sits at ((n H + h) W + w) C + c.
    const double* p = nhwc.data<double>();
    const std::vector<double> v = x.to_vector<double>();
    EXPECT_EQ(p[((1 * 4 + 2) * 5 + 3) * 3 + 1], v[((1 * 3 + 1) * 4 + 2) * 5 + 3]);
    EXPECT_TRUE(nhwc.contiguous(kNhwc).is_same(nhwc));  // no copy when already in the format
    EXPECT_TRUE(nhwc.contiguous().is_contiguous());
    EXPECT_EQ(nhwc.contiguous().to_vector<double>(), v);
    EXPECT_TRUE(ops::dense(nhwc, kNhwc).is_same(nhwc));
    EXPECT_TRUE(ops::dense(nhwc).is_contiguous());
}

TEST(MemoryFormat, ContiguousInAFormatPassesTheGradientThrough) {
    const Tensor x = random_tensor({2, 3, 2, 2}, -1, 1, 3).set_requires_grad();
    const Tensor w = random_tensor({2, 3, 2, 2}, -1, 1, 4);
    sum(x.contiguous(kNhwc) * w).backward();
    EXPECT_EQ(x.grad().to_vector<double>(), w.to_vector<double>());
    EXPECT_TRUE(x.grad().is_contiguous());
}

TEST(MemoryFormat, CopiesBetweenFormatsAndFillsAChannelsLastTensor) {
    const Tensor x = random_tensor({2, 3, 4, 5}, -1, 1, 9);
    Tensor nhwc = Tensor::empty(x.shape(), DType::f64, Device::cpu(), kNhwc);
    nhwc.copy_(x);
    EXPECT_EQ(nhwc.to_vector<double>(), x.to_vector<double>());
    Tensor back = Tensor::empty(x.shape(), DType::f32, Device::cpu(), kNhwc);
    back.copy_(nhwc);  // same format, another dtype
    EXPECT_EQ(back.to_vector<float>(), x.to(DType::f32).to_vector<float>());
    nhwc.fill_(2.5);
    EXPECT_EQ(nhwc.to_vector<double>(), std::vector<double>(120, 2.5));
}

TEST(MemoryFormat, UnaryOpsKeepAChannelsLastFormat) {
    const Tensor x = random_tensor({2, 3, 4, 5}, -1, 1, 11);
    const Tensor xl = x.contiguous(kNhwc);
    const Tensor y = ops::unary(UnaryOp::relu, xl);
    EXPECT_EQ(y.memory_format(), kNhwc);
    EXPECT_EQ(y.to_vector<double>(), ops::unary(UnaryOp::relu, x).to_vector<double>());
    const Tensor dy = random_tensor(x.shape(), -1, 1, 12);
    const Tensor dx = ops::unary_backward(UnaryOp::relu, xl, y, dy.contiguous(kNhwc));
    EXPECT_EQ(dx.memory_format(), kNhwc);
    EXPECT_EQ(dx.to_vector<double>(),
              ops::unary_backward(UnaryOp::relu, x, ops::unary(UnaryOp::relu, x), dy)
                  .to_vector<double>());
}

TEST(MemoryFormat, BinaryOpsOnTwoChannelsLastOperandsWriteChannelsLast) {
    const Tensor a = random_tensor({2, 3, 4, 5}, -1, 1, 13);
    const Tensor b = random_tensor({2, 3, 4, 5}, -1, 1, 14);
    const std::vector<double> expected = ops::binary(BinaryOp::sub, a, b).to_vector<double>();
    const Tensor both = ops::binary(BinaryOp::sub, a.contiguous(kNhwc), b.contiguous(kNhwc));
    EXPECT_EQ(both.memory_format(), kNhwc);
    EXPECT_EQ(both.to_vector<double>(), expected);
    // Mixed formats (and broadcasts) still work through strided reads, into a contiguous result.
    const Tensor mixed = ops::binary(BinaryOp::sub, a.contiguous(kNhwc), b);
    EXPECT_TRUE(mixed.is_contiguous());
    EXPECT_EQ(mixed.to_vector<double>(), expected);
    const Tensor bias = random_tensor({3, 1, 1}, -1, 1, 15);
    EXPECT_EQ(ops::binary(BinaryOp::add, a.contiguous(kNhwc), bias).to_vector<double>(),
              ops::binary(BinaryOp::add, a, bias).to_vector<double>());
}

}  // namespace
}  // namespace cbnn
