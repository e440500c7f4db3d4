// CUDA twin of tests/tensor/test_unary.cpp: every unary op and its backward on the GPU against
// the CPU f64 reference, and the overflow-free sigmoid/softplus on the device.
#include <cmath>
#include <vector>

#include "autograd/functions.h"
#include "gtest/gtest.h"
#include "tensor/unary.h"
#include "tests/support/gpu.h"
#include "tests/support/random.h"
#include "tests/support/tolerance.h"

namespace cbnn {
namespace {

using testing::all_close;
using testing::kCudaVsCpu;

struct Domain {
    UnaryOp op;
    double alpha, lo, hi;
};

const Domain kDomains[] = {
    {UnaryOp::neg, 0, -3, 3},
    {UnaryOp::exp, 0, -3, 3},
    {UnaryOp::log, 0, 0.1, 5},
    {UnaryOp::log1p, 0, -0.9, 5},
    {UnaryOp::sigmoid, 0, -8, 8},
    {UnaryOp::softplus, 0, -8, 8},
    {UnaryOp::relu, 0, -3, 3},
    {UnaryOp::abs, 0, -3, 3},
    {UnaryOp::sqrt, 0, 0.05, 5},
    {UnaryOp::square, 0, -3, 3},
    {UnaryOp::tanh, 0, -3, 3},
    {UnaryOp::add_scalar, 1.5, -3, 3},
    {UnaryOp::mul_scalar, -2.5, -3, 3},
    {UnaryOp::div_scalar, 4, -3, 3},
    {UnaryOp::rsub_scalar, 0.75, -3, 3},
    {UnaryOp::rdiv_scalar, 3, 0.2, 3},
    {UnaryOp::pow_scalar, 2.5, 0.1, 3},
};

TEST(UnaryCuda, EveryOpAndBackwardMatchTheCpuReference) {
    CBNN_REQUIRE_GPU();
    uint64_t seed = 1;
    for (const Domain& d : kDomains) {
        SCOPED_TRACE(unary_op_name(d.op));
        // Odd size: covers a partial last block. Inputs rounded to f32 before both runs.
        const Tensor x = testing::random_tensor({3, 1001}, d.lo, d.hi, seed++, DType::f32);
        const Tensor dy = testing::random_tensor({3, 1001}, -1, 1, seed++, DType::f32);
        const Tensor x64 = x.to(DType::f64), dy64 = dy.to(DType::f64);
        const Tensor ref = ops::unary(d.op, x64, d.alpha);
        const Tensor y = ops::unary(d.op, x.cuda(), d.alpha);
        EXPECT_TRUE(y.is_cuda());
        EXPECT_TRUE(all_close(y, ref, kCudaVsCpu));
        const Tensor dx = ops::unary_backward(d.op, x.cuda(), y, dy.cuda(), d.alpha);
        EXPECT_TRUE(all_close(dx, ops::unary_backward(d.op, x64, ref, dy64, d.alpha), kCudaVsCpu));
    }
}

TEST(UnaryCuda, NonContiguousInputOnTheDevice) {
    CBNN_REQUIRE_GPU();
    const Tensor x = testing::random_tensor({40, 30}, -2, 2, 3, DType::f32);
    const Tensor y = ops::unary(UnaryOp::tanh, x.cuda().t());
    EXPECT_TRUE(all_close(y, ops::unary(UnaryOp::tanh, x.to(DType::f64).t()), kCudaVsCpu));
}

TEST(UnaryCuda, SigmoidAndSoftplusStayFiniteForLargeInputs) {
    CBNN_REQUIRE_GPU();
    const std::vector<float> v = {1e4f, 88.f, 90.f, 100.f, -1e4f, -88.f, -90.f, -100.f};
    const Tensor x = Tensor::from_vector<float>(v, {8}, Device::cuda());
    const std::vector<float> s = sigmoid(x).to_vector<float>();
    const std::vector<float> sp = softplus(x).to_vector<float>();
    for (size_t i = 0; i < v.size(); ++i) {
        ASSERT_TRUE(std::isfinite(s[i]) && std::isfinite(sp[i])) << v[i];
        if (v[i] > 0) {
            EXPECT_EQ(s[i], 1.f);
            EXPECT_EQ(sp[i], v[i]);
        } else {
            EXPECT_LT(s[i], 1e-37f);
            EXPECT_GE(sp[i], 0.f);
            EXPECT_LT(sp[i], 1e-37f);
        }
    }
    Tensor xg = x.detach();
    xg.set_requires_grad();
    sum(sigmoid(xg) + softplus(xg)).backward();
    for (float g : xg.grad().to_vector<float>()) EXPECT_TRUE(std::isfinite(g));
}

TEST(UnaryCuda, AutogradGradientMatchesCpu) {
    CBNN_REQUIRE_GPU();
    const Tensor x0 = testing::random_tensor({257}, 0.2, 2, 4, DType::f32);
    const Tensor w = testing::random_tensor({257}, -1, 1, 5, DType::f32);
    auto grad_on = [&](Device device) {
        Tensor x = x0.to(device).detach();
        x.set_requires_grad();
        sum(w.to(device) * (log(x) + sqrt(x) * 2.0 - 1.0 / x + pow(x, 1.5) + tanh(x))).backward();
        return x.grad();
    };
    const Tensor g = grad_on(Device::cuda());
    EXPECT_TRUE(g.is_cuda());
    EXPECT_TRUE(all_close(g, grad_on(Device::cpu()), kCudaVsCpu));
}

}  // namespace
}  // namespace cbnn
