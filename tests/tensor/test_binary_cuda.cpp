// CUDA twin of tests/tensor/test_binary.cpp: binary ops with broadcasting and strided operands,
// comparisons and where on the GPU against the CPU reference.
#include <vector>

#include "autograd/functions.h"
#include "gtest/gtest.h"
#include "tensor/binary.h"
#include "tests/support/gpu.h"
#include "tests/support/random.h"
#include "tests/support/tolerance.h"

namespace cbnn {
namespace {

using testing::all_close;
using testing::kCudaVsCpu;

const BinaryOp kOps[] = {BinaryOp::add, BinaryOp::sub,     BinaryOp::mul,
                         BinaryOp::div, BinaryOp::maximum, BinaryOp::minimum};

struct Case {
    Shape a, b;
};

const Case kCases[] = {
    {{64, 33}, {64, 33}}, {{64, 33}, {33}}, {{33}, {64, 33}},    {{64, 33}, {64, 1}},
    {{64, 33}, {1, 33}},  {{64, 33}, {}},   {{2, 1, 3}, {4, 1}}, {{5, 1, 7}, {1, 6, 1}},
};

TEST(BinaryCuda, EveryOpWithBroadcastingMatchesCpu) {
    CBNN_REQUIRE_GPU();
    uint64_t seed = 1;
    for (const Case& c : kCases) {
        const Tensor a = testing::random_tensor(c.a, -2, 2, seed++, DType::f32);
        const Tensor b = testing::random_tensor(c.b, 0.5, 2, seed++, DType::f32);
        for (BinaryOp op : kOps) {
            SCOPED_TRACE(::testing::Message() << binary_op_name(op) << " " << c.a << " " << c.b);
            const Tensor y = ops::binary(op, a.cuda(), b.cuda());
            ASSERT_TRUE(y.is_cuda());
            EXPECT_TRUE(
                all_close(y, ops::binary(op, a.to(DType::f64), b.to(DType::f64)), kCudaVsCpu));
        }
    }
}

TEST(BinaryCuda, StridedOperandsMatchCpu) {
    CBNN_REQUIRE_GPU();
    const Tensor a = testing::random_tensor({48, 32}, -2, 2, 10, DType::f32);
    const Tensor b = testing::random_tensor({32, 48}, 0.5, 2, 11, DType::f32);
    const Tensor a64 = a.to(DType::f64), b64 = b.to(DType::f64);
    const Tensor ad = a.cuda(), bd = b.cuda();
    for (BinaryOp op : kOps) {
        SCOPED_TRACE(binary_op_name(op));
        EXPECT_TRUE(
            all_close(ops::binary(op, ad.t(), bd), ops::binary(op, a64.t(), b64), kCudaVsCpu));
        EXPECT_TRUE(all_close(ops::binary(op, ad.narrow(1, 3, 20), bd.t().narrow(1, 5, 20)),
                              ops::binary(op, a64.narrow(1, 3, 20), b64.t().narrow(1, 5, 20)),
                              kCudaVsCpu));
        // A transposed operand that is also broadcast: (48, 1) from a (1, 48) row.
        EXPECT_TRUE(all_close(ops::binary(op, bd.narrow(0, 0, 1).t(), ad),
                              ops::binary(op, b64.narrow(0, 0, 1).t(), a64), kCudaVsCpu));
    }
}

TEST(BinaryCuda, CompareAndWhereMatchCpu) {
    CBNN_REQUIRE_GPU();
    const Tensor a = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
    const Tensor b = Tensor::from_vector<float>({3, 2, 1}, {3});
    const CompareOp cmps[] = {CompareOp::eq, CompareOp::ne, CompareOp::lt,
                              CompareOp::le, CompareOp::gt, CompareOp::ge};
    for (CompareOp op : cmps) {
        SCOPED_TRACE(compare_op_name(op));
        EXPECT_EQ(ops::compare(op, a.cuda(), b.cuda()).to_vector<uint8_t>(),
                  ops::compare(op, a, b).to_vector<uint8_t>());
        const Tensor ia = a.to(DType::i64), ib = b.to(DType::i64);
        EXPECT_EQ(ops::compare(op, ia.cuda(), ib.cuda()).to_vector<uint8_t>(),
                  ops::compare(op, ia, ib).to_vector<uint8_t>());
        const Tensor ua = a.to(DType::u8), ub = b.to(DType::u8);
        EXPECT_EQ(ops::compare(op, ua.cuda().t(), ub.cuda().unsqueeze(1)).to_vector<uint8_t>(),
                  ops::compare(op, ua.t(), ub.unsqueeze(1)).to_vector<uint8_t>());
    }
    const Tensor cond = Tensor::from_vector<uint8_t>({1, 0}, {2, 1});
    EXPECT_EQ(where(cond.cuda(), a.cuda(), b.cuda()).to_vector<float>(),
              where(cond, a, b).to_vector<float>());
}

TEST(BinaryCuda, AutogradWithBroadcastingMatchesCpu) {
    CBNN_REQUIRE_GPU();
    const Tensor a0 = testing::random_tensor({37, 5}, -2, 2, 20, DType::f32);
    const Tensor b0 = testing::random_tensor({5}, 0.5, 2, 21, DType::f32);
    const Tensor w = testing::random_tensor({37, 5}, -1, 1, 22, DType::f32);
    auto grads = [&](Device device) {
        Tensor a = a0.to(device).detach(), b = b0.to(device).detach();
        a.set_requires_grad();
        b.set_requires_grad();
        const Tensor cond = gt(a, Tensor::zeros({}, DType::f32, device));
        sum(w.to(device) *
            (a * b + a / b - maximum(a, b) + minimum(a, b) * 2.0 + where(cond, a, b)))
            .backward();
        return std::vector<Tensor>{a.grad(), b.grad()};
    };
    const std::vector<Tensor> gpu = grads(Device::cuda()), cpu = grads(Device::cpu());
    EXPECT_EQ(gpu[1].shape(), (Shape{5}));
    EXPECT_TRUE(all_close(gpu[0], cpu[0], kCudaVsCpu));
    EXPECT_TRUE(all_close(gpu[1], cpu[1], testing::f32_sum_tolerance(37)));
}

TEST(BinaryCuda, F64OnTheDeviceIsAClearError) {
    CBNN_REQUIRE_GPU();
    const Tensor d = Tensor::zeros({2}, DType::f64).cuda();
    EXPECT_THROW(ops::add(d, d), Error);
    EXPECT_THROW(ops::add(Tensor::zeros({2}).cuda(), Tensor::zeros({2})), Error);
}

}  // namespace
}  // namespace cbnn
