// The differentiable cast (Tensor::to(DType)) with bf16, and gradients through the bf16 ops: an f32
// parameter cast to bf16 in the forward receives an f32 gradient (FP32 master weights), a bf16
// leaf receives a bf16 gradient rounded once, and sums of bf16 (f32 results) send bf16 gradients.
// Expected values are worked out by hand in the comments.
#include <cmath>
#include <vector>

#include "autograd/functions.h"
#include "gtest/gtest.h"
#include "tensor/bfloat16.h"

namespace cbnn {
namespace {

std::vector<float> floats_of(const Tensor& t) { return t.to(DType::f32).to_vector<float>(); }

TEST(Bf16Autograd, F32MasterWeightGetsAnF32GradientThroughABf16Forward) {
    Tensor w = Tensor::from_vector<float>({0.5f, -1.25f, 3.f}, {3});
    w.set_requires_grad();
    Tensor x = Tensor::from_vector<float>({1, 2, -3, 0.5f, -1, 4}, {2, 3}).to(DType::bf16);
    x.set_requires_grad();
    const Tensor wb = w.to(DType::bf16);
    const Tensor y = relu(x * wb);  // x * w: [[0.5, -2.5, -9], [0.25, 1.25, 12]]
    ASSERT_EQ(y.dtype(), DType::bf16);
    const Tensor loss = sum(y);
    ASSERT_EQ(loss.dtype(), DType::f32);
    loss.backward();
    // dw_j = sum_i x_ij [x_ij w_j > 0] = {1 + 0.5, 0 + (-1), 0 + 4}
    ASSERT_TRUE(w.grad().defined());
    EXPECT_EQ(w.grad().dtype(), DType::f32);
    EXPECT_EQ(w.grad().to_vector<float>(), (std::vector<float>{1.5f, -1.f, 4.f}));
    // dx_ij = w_j [x_ij w_j > 0]
    ASSERT_TRUE(x.grad().defined());
    EXPECT_EQ(x.grad().dtype(), DType::bf16);
    EXPECT_EQ(floats_of(x.grad()), (std::vector<float>{0.5f, 0, 0, 0.5f, -1.25f, 3.f}));
}

TEST(Bf16Autograd, Bf16LeafGradientIsRoundedOnce) {
    // y = sum(float(x) * w) with w = 1 + 2^-8 + 2^-20 (f32): dx = w, which lies above the midpoint
    // of 1 and 1 + 2^-7 and so rounds to 1 + 2^-7 (0x3f81) as a bf16 gradient.
    Tensor x = Tensor::ones({1}, DType::bf16);
    x.set_requires_grad();
    const float wv = 1.f + std::ldexp(1.f, -8) + std::ldexp(1.f, -20);
    const Tensor w = Tensor::from_vector<float>({wv}, {1});
    sum(x.to(DType::f32) * w).backward();
    ASSERT_EQ(x.grad().dtype(), DType::bf16);
    EXPECT_EQ(x.grad().to_vector<bfloat16>()[0].bits, 0x3f81);
}

TEST(Bf16Autograd, MeanAndBroadcastSubSendBf16Gradients) {
    Tensor x = Tensor::zeros({4}, DType::bf16);
    x.set_requires_grad();
    const Tensor m = mean(x);
    ASSERT_EQ(m.dtype(), DType::f32);
    m.backward();
    EXPECT_EQ(x.grad().dtype(), DType::bf16);
    EXPECT_EQ(floats_of(x.grad()), std::vector<float>(4, 0.25f));

    // loss = sum_ij (a_ij - b_j): db_j = -(number of rows) = -2, summed over the broadcast rows.
    const Tensor a = Tensor::ones({2, 3}, DType::bf16);
    Tensor b = Tensor::zeros({3}, DType::bf16);
    b.set_requires_grad();
    sum(sum(a - b, 1)).backward();
    EXPECT_EQ(b.grad().dtype(), DType::bf16);
    EXPECT_EQ(floats_of(b.grad()), std::vector<float>(3, -2.f));
}

// Tensor::to(dtype, format): one copy casts and lays out; the gradient comes back in the source's
// dtype and format. (Conv2d's bf16 KRSC weight for channels-last input.)
TEST(Bf16Autograd, CastIntoAFormatSendsTheGradientBackInTheSourceFormat) {
    Tensor w = Tensor::from_vector<float>({0.5f, -1.25f, 3.f, 2.f, -0.75f, 1.5f}, {1, 3, 2, 1});
    w.set_requires_grad();
    EXPECT_TRUE(w.to(DType::f32, MemoryFormat::contiguous).is_same(w));
    const Tensor wb = w.to(DType::bf16, MemoryFormat::channels_last);
    EXPECT_EQ(wb.dtype(), DType::bf16);
    EXPECT_EQ(wb.memory_format(), MemoryFormat::channels_last);
    EXPECT_EQ(floats_of(wb), floats_of(w));  // all six values are exact in bf16
    // Upstream gradient 1, 2, ..., 6 in logical (N, C, H, W) order.
    const Tensor upstream = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {1, 3, 2, 1});
    sum(wb.to(DType::f32) * upstream).backward();
    ASSERT_TRUE(w.grad().defined());
    EXPECT_EQ(w.grad().dtype(), DType::f32);
    EXPECT_TRUE(w.grad().is_contiguous());
    EXPECT_EQ(w.grad().to_vector<float>(), (std::vector<float>{1, 2, 3, 4, 5, 6}));
    // Same dtype, other format: a layout copy with the same gradient rule.
    w.set_grad(Tensor());
    const Tensor wl = w.to(DType::f32, MemoryFormat::channels_last);
    EXPECT_EQ(wl.memory_format(), MemoryFormat::channels_last);
    sum(wl * upstream).backward();
    EXPECT_TRUE(w.grad().is_contiguous());
    EXPECT_EQ(w.grad().to_vector<float>(), (std::vector<float>{1, 2, 3, 4, 5, 6}));
}

}  // namespace
}  // namespace cbnn
