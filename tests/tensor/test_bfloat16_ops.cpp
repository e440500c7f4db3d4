// Ops on bf16 tensors (CPU): unary (relu forward and backward above all), add/sub/mul with
// broadcasting, sum/mean to f32, each against a float reference rounded once; and the clear
// errors of ops without a bf16 path.
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tensor/bfloat16.h"
#include "tensor/binary.h"
#include "tensor/index.h"
#include "tensor/matmul.h"
#include "tensor/npy.h"
#include "tensor/reduce.h"
#include "tensor/rng.h"
#include "tensor/unary.h"
#include "tests/support/expect_error.h"
#include "tests/support/scratch.h"

namespace cbnn {
namespace {

using testing::throws_error;

// Random finite bf16 values in [-4, 4): float draws rounded to bf16.
std::vector<bfloat16> random_bf16(int64_t n, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<float> dist(-4.f, 4.f);
    std::vector<bfloat16> v(static_cast<size_t>(n));
    for (bfloat16& x : v) x = float_to_bf16(dist(rng));
    return v;
}

Tensor bf16_tensor(const std::vector<bfloat16>& v, const Shape& shape) {
    return Tensor::from_vector<bfloat16>(v, shape);
}

Tensor bf16_of(const std::vector<float>& v, const Shape& shape) {
    return Tensor::from_vector<float>(v, shape).to(DType::bf16);
}

std::vector<uint16_t> bits_of(const Tensor& t) {
    std::vector<uint16_t> out;
    for (bfloat16 v : t.to_vector<bfloat16>()) out.push_back(v.bits);
    return out;
}

TEST(Bf16Ops, ReluForwardAndBackward) {
    const std::vector<bfloat16> x = random_bf16(257, 1), dy = random_bf16(257, 2);
    const Tensor tx = bf16_tensor(x, {257}), tdy = bf16_tensor(dy, {257});
    const Tensor y = ops::unary(UnaryOp::relu, tx);
    const Tensor dx = ops::unary_backward(UnaryOp::relu, tx, y, tdy);
    ASSERT_EQ(y.dtype(), DType::bf16);
    ASSERT_EQ(dx.dtype(), DType::bf16);
    const std::vector<uint16_t> yb = bits_of(y), dxb = bits_of(dx);
    for (size_t i = 0; i < x.size(); ++i) {
        const bool positive = bf16_to_float(x[i]) > 0.f;
        EXPECT_EQ(yb[i], positive ? x[i].bits : 0) << i;
        // dy * 0 in float: a zero with dy's sign, as in f32.
        EXPECT_EQ(dxb[i], positive ? dy[i].bits : dy[i].bits & 0x8000) << i;
    }
}

TEST(Bf16Ops, EveryUnaryOpRoundsTheFloatResultOnce) {
    // The f32 op on the widened input, rounded to bf16, is what the bf16 op must give bit for bit.
    const Tensor x = bf16_tensor(random_bf16(64, 3), {64});
    const Tensor xp = ops::unary(UnaryOp::abs, x);  // positive for log, sqrt, pow
    const UnaryOp ops_list[] = {UnaryOp::neg,        UnaryOp::exp,        UnaryOp::sigmoid,
                                UnaryOp::softplus,   UnaryOp::abs,        UnaryOp::square,
                                UnaryOp::tanh,       UnaryOp::add_scalar, UnaryOp::mul_scalar,
                                UnaryOp::div_scalar, UnaryOp::log,        UnaryOp::sqrt};
    for (UnaryOp op : ops_list) {
        SCOPED_TRACE(unary_op_name(op));
        const bool positive_domain = op == UnaryOp::log || op == UnaryOp::sqrt;
        const Tensor in = positive_domain ? xp : x;
        const Tensor y = ops::unary(op, in, 0.3);
        const Tensor ref = ops::unary(op, in.to(DType::f32), 0.3).to(DType::bf16);
        EXPECT_EQ(bits_of(y), bits_of(ref));
    }
}

// Reference: out[i, j] = round(float(a[i, j]) op float(b[j])) for a (R, C) and b (C).
std::vector<uint16_t> broadcast_reference(BinaryOp op, const std::vector<bfloat16>& a,
                                          const std::vector<bfloat16>& b, int64_t rows,
                                          int64_t cols) {
    std::vector<uint16_t> out;
    for (int64_t i = 0; i < rows; ++i) {
        for (int64_t j = 0; j < cols; ++j) {
            const float x = bf16_to_float(a[static_cast<size_t>(i * cols + j)]);
            const float y = bf16_to_float(b[static_cast<size_t>(j)]);
            const float r = op == BinaryOp::add ? x + y : op == BinaryOp::sub ? x - y : x * y;
            out.push_back(float_to_bf16(r).bits);
        }
    }
    return out;
}

TEST(Bf16Ops, AddSubMulBroadcastAgainstAFloatReferenceRoundedOnce) {
    const int64_t rows = 5, cols = 33;
    const std::vector<bfloat16> a = random_bf16(rows * cols, 4), b = random_bf16(cols, 5);
    const Tensor ta = bf16_tensor(a, {rows, cols}), tb = bf16_tensor(b, {cols});
    for (BinaryOp op : {BinaryOp::add, BinaryOp::sub, BinaryOp::mul}) {
        SCOPED_TRACE(binary_op_name(op));
        const Tensor out = ops::binary(op, ta, tb);
        ASSERT_EQ(out.dtype(), DType::bf16);
        ASSERT_EQ(out.shape(), (Shape{rows, cols}));
        EXPECT_EQ(bits_of(out), broadcast_reference(op, a, b, rows, cols));
        // Broadcast on the left and through a strided (transposed) operand as well.
        const Tensor left = ops::binary(op, tb.view({1, cols}), ta);
        const Tensor tt = ta.t().contiguous().t();  // same values, column-major strides
        EXPECT_EQ(bits_of(ops::binary(op, tt, tb)), bits_of(out));
        if (op != BinaryOp::sub) EXPECT_EQ(bits_of(left), bits_of(out));  // commutative
    }
}

TEST(Bf16Ops, OneRoundingOfTheExactResult) {
    // 1 + 1.5 * 2^-8 = 1 + 0.75 * 2^-7: above the midpoint of 1 and 1 + 2^-7, so 0x3f81.
    EXPECT_EQ(bits_of(ops::add(bf16_of({1.f}, {1}), bf16_of({0.005859375f}, {1}))),
              (std::vector<uint16_t>{0x3f81}));
    // 1 + 2^-8 is the midpoint itself: ties to even, 1.0.
    EXPECT_EQ(bits_of(ops::add(bf16_of({1.f}, {1}), bf16_of({0.00390625f}, {1}))),
              (std::vector<uint16_t>{0x3f80}));
    // (1 + 2^-7)^2 = 1 + 2^-6 + 2^-14: rounds down to 1 + 2^-6 = 0x3f82.
    EXPECT_EQ(bits_of(ops::mul(bf16_of({1.0078125f}, {1}), bf16_of({1.0078125f}, {1}))),
              (std::vector<uint16_t>{0x3f82}));
}

TEST(Bf16Ops, SumAndMeanAccumulateBeyondBf16AndReturnF32) {
    // 1000 ones: a bf16 accumulator would stop at 256 (256 + 1 rounds back to 256).
    const Tensor ones = Tensor::ones({4, 1000}, DType::bf16);
    const Tensor s = ops::sum(ones, 1);
    EXPECT_EQ(s.dtype(), DType::f32);
    EXPECT_EQ(s.to_vector<float>(), std::vector<float>(4, 1000.f));
    EXPECT_EQ(ops::sum_all(ones).item<float>(), 4000.f);
    const Tensor m = ops::mean(ones, 0);
    EXPECT_EQ(m.dtype(), DType::f32);
    EXPECT_EQ(m.to_vector<float>(), std::vector<float>(1000, 1.f));
    // Random values against a double sum of the same (exactly widened) elements.
    const std::vector<bfloat16> v = random_bf16(3 * 50, 6);
    const std::vector<float> got = ops::sum(bf16_tensor(v, {3, 50}), 1).to_vector<float>();
    for (int64_t r = 0; r < 3; ++r) {
        double ref = 0;
        for (int64_t k = 0; k < 50; ++k) ref += bf16_to_float(v[static_cast<size_t>(r * 50 + k)]);
        EXPECT_EQ(got[static_cast<size_t>(r)], static_cast<float>(ref)) << r;
    }
}

TEST(Bf16Ops, SumToKeepsTheDtype) {
    // The gradient of a broadcast bf16 operand: summed in f32, rounded to bf16 once at the end.
    const Tensor g = Tensor::full({300, 2}, 1.0, DType::bf16);
    const Tensor r = ops::sum_to(g, {2});
    EXPECT_EQ(r.dtype(), DType::bf16);
    EXPECT_EQ(r.to(DType::f32).to_vector<float>(), (std::vector<float>{300.f, 300.f}));
}

TEST(Bf16Ops, OpsWithoutABf16PathSayWhich) {
    const Tensor x = Tensor::ones({2, 3}, DType::bf16);
    const Tensor i = Tensor::zeros({2, 1}, DType::i64);
    EXPECT_TRUE(throws_error([&] { ops::max(x, 1); }, {"max", "bf16"}));
    EXPECT_TRUE(throws_error([&] { ops::matmul(x, x.t()); }, {"matmul", "bf16"}));
    EXPECT_TRUE(throws_error([&] { ops::binary(BinaryOp::add, x, x.to(DType::f32)); },
                             {"add", "bf16[2, 3]", "f32[2, 3]"}));
    EXPECT_TRUE(throws_error([&] { ops::compare(CompareOp::lt, x, x); }, {"lt", "bf16"}));
    EXPECT_TRUE(throws_error([&] { ops::where(ops::compare(CompareOp::eq, i, i), x, x); },
                             {"where", "bf16"}));
    EXPECT_TRUE(throws_error([&] { ops::gather(x, 1, i); }, {"gather", "bf16"}));
    Tensor u = Tensor::empty({4}, DType::bf16);
    Generator gen(1);
    EXPECT_TRUE(throws_error([&] { uniform_(u, gen); }, {"uniform_", "bf16"}));
    const std::string path = testing::scratch_path("bf16_ops", "x.npy");
    EXPECT_TRUE(throws_error([&] { write_npy(path, x); }, {"write_npy", "NumPy has no bf16"}));
}

}  // namespace
}  // namespace cbnn
