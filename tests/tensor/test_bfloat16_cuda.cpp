// CUDA twin of tests/tensor/test_bfloat16.cpp and test_bfloat16_ops.cpp: casts and the bf16
// elementwise ops on the GPU give the same bits as the CPU (both round the same float result with
// the same CBNN_HD conversion; relu and a single add/sub/mul leave no room for FMA contraction);
// sums return f32 within the f32 summation tolerance; the autograd cast works across devices.
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "autograd/functions.h"
#include "gtest/gtest.h"
#include "tensor/bfloat16.h"
#include "tensor/binary.h"
#include "tensor/reduce.h"
#include "tensor/unary.h"
#include "tests/support/expect_error.h"
#include "tests/support/gpu.h"
#include "tests/support/tolerance.h"

namespace cbnn {
namespace {

std::vector<uint16_t> bits_of(const Tensor& t) {
    std::vector<uint16_t> out;
    for (bfloat16 v : t.to_vector<bfloat16>()) out.push_back(v.bits);
    return out;
}

// Random float bit patterns (NaNs, infinities and subnormals included) plus every bf16 pattern
// widened and every widened pattern with each possible low half that decides the rounding.
std::vector<float> float_patterns() {
    std::vector<float> v;
    std::mt19937_64 rng(11);
    const uint32_t lows[] = {0x0000, 0x0001, 0x7fff, 0x8000, 0x8001, 0xffff};
    for (uint32_t p = 0; p <= 0xffff; ++p) {
        for (uint32_t low : lows) {
            const uint32_t u = p << 16 | low;
            float f;
            std::memcpy(&f, &u, 4);
            v.push_back(f);
        }
    }
    for (int i = 0; i < 100000; ++i) {
        const auto u = static_cast<uint32_t>(rng());
        float f;
        std::memcpy(&f, &u, 4);
        v.push_back(f);
    }
    return v;
}

// Finite bf16 values in [-4, 4).
Tensor random_bf16(const Shape& shape, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<float> dist(-4.f, 4.f);
    std::vector<float> v(static_cast<size_t>(shape_numel(shape)));
    for (float& x : v) x = dist(rng);
    return Tensor::from_vector<float>(v, shape).to(DType::bf16);
}

TEST(Bf16Cuda, CastsMatchTheCpuBitwise) {
    CBNN_REQUIRE_GPU();
    const std::vector<float> values = float_patterns();
    const auto n = static_cast<int64_t>(values.size());
    const Tensor f = Tensor::from_vector<float>(values, {n});
    const Tensor cpu_b = f.to(DType::bf16);
    const Tensor gpu_b = f.cuda().to(DType::bf16);
    EXPECT_EQ(bits_of(gpu_b), bits_of(cpu_b));
    // bf16 -> f32 exact on both (compared as bits, so NaNs compare too).
    const std::vector<float> a = gpu_b.to(DType::f32).to_vector<float>();
    const std::vector<float> b = cpu_b.to(DType::f32).to_vector<float>();
    EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0);
    // f64 -> bf16 (one rounding) on both, from doubles near bf16 midpoints.
    std::vector<double> d;
    std::mt19937_64 rng(12);
    std::uniform_real_distribution<double> dist(-1e6, 1e6);
    for (int i = 0; i < 100000; ++i) d.push_back(dist(rng));
    // NaNs with payloads and signs: built from the bits on both sides, not by the hardware.
    for (uint64_t bits : {0x7ff8000000000000ull, 0xfff4000000000000ull, 0x7ff0000000000001ull,
                          0xfffe123456789abcull}) {
        double nan;
        std::memcpy(&nan, &bits, sizeof nan);
        d.push_back(nan);
    }
    const Tensor td = Tensor::from_vector<double>(d, {static_cast<int64_t>(d.size())});
    EXPECT_EQ(bits_of(td.cuda().to(DType::bf16)), bits_of(td.to(DType::bf16)));
    // Integers both ways.
    const Tensor ti = Tensor::from_vector<int64_t>({-300, 257, 259, 1 << 20}, {4});
    EXPECT_EQ(bits_of(ti.cuda().to(DType::bf16)), bits_of(ti.to(DType::bf16)));
    const Tensor r = random_bf16({1000}, 5);
    EXPECT_EQ(r.cuda().to(DType::i64).to_vector<int64_t>(), r.to(DType::i64).to_vector<int64_t>());
    EXPECT_EQ(bits_of(Tensor::full({3}, 1.0 / 3.0, DType::bf16, Device::cuda())),
              bits_of(Tensor::full({3}, 1.0 / 3.0, DType::bf16)));
}

TEST(Bf16Cuda, ElementwiseOpsMatchTheCpuBitwise) {
    CBNN_REQUIRE_GPU();
    const Tensor x = random_bf16({7, 1001}, 1), dy = random_bf16({7, 1001}, 2);
    const Tensor y = ops::unary(UnaryOp::relu, x);
    const Tensor gy = ops::unary(UnaryOp::relu, x.cuda());
    EXPECT_EQ(gy.dtype(), DType::bf16);
    EXPECT_EQ(bits_of(gy), bits_of(y));
    EXPECT_EQ(bits_of(ops::unary_backward(UnaryOp::relu, x.cuda(), gy, dy.cuda())),
              bits_of(ops::unary_backward(UnaryOp::relu, x, y, dy)));
    const Tensor row = random_bf16({1001}, 3);
    for (BinaryOp op : {BinaryOp::add, BinaryOp::sub, BinaryOp::mul}) {
        SCOPED_TRACE(binary_op_name(op));
        EXPECT_EQ(bits_of(ops::binary(op, x.cuda(), dy.cuda())), bits_of(ops::binary(op, x, dy)));
        EXPECT_EQ(bits_of(ops::binary(op, x.cuda(), row.cuda())), bits_of(ops::binary(op, x, row)));
    }
}

TEST(Bf16Cuda, SumsReturnF32CloseToTheCpu) {
    CBNN_REQUIRE_GPU();
    const Tensor x = random_bf16({33, 2000}, 4);
    for (int64_t dim : {0, 1}) {
        const Tensor g = ops::sum(x.cuda(), dim);
        EXPECT_EQ(g.dtype(), DType::f32);
        EXPECT_TRUE(testing::all_close(testing::host_values(g),
                                       testing::host_values(ops::sum(x, dim)),
                                       testing::f32_sum_tolerance(x.size(dim))));
    }
}

TEST(Bf16Cuda, MasterWeightGradientOnTheGpu) {
    CBNN_REQUIRE_GPU();
    Tensor w = Tensor::from_vector<float>({0.5f, -1.25f, 3.f}, {3}, Device::cuda());
    w.set_requires_grad();
    const Tensor x =
        Tensor::from_vector<float>({1, 2, -3, 0.5f, -1, 4}, {2, 3}, Device::cuda()).to(DType::bf16);
    sum(relu(x * w.to(DType::bf16))).backward();
    EXPECT_EQ(w.grad().dtype(), DType::f32);
    EXPECT_EQ(w.grad().to_vector<float>(), (std::vector<float>{1.5f, -1.f, 4.f}));
}

TEST(Bf16Cuda, OpsWithoutABf16KernelSayWhich) {
    CBNN_REQUIRE_GPU();
    const Tensor x = Tensor::ones({2, 3}, DType::bf16, Device::cuda());
    EXPECT_TRUE(testing::throws_error([&] { ops::max(x, 1); }, {"max", "bf16"}));
    EXPECT_TRUE(testing::throws_error([&] { ops::compare(CompareOp::eq, x, x); }, {"eq", "bf16"}));
}

}  // namespace
}  // namespace cbnn
