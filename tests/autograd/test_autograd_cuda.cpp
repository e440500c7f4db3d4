// A composed graph with broadcasting, views and reductions: gradients computed on the GPU match
// the CPU f64 reference.
#include <vector>

#include "autograd/functions.h"
#include "gtest/gtest.h"
#include "tests/support/gpu.h"
#include "tests/support/random.h"
#include "tests/support/tolerance.h"

namespace cbnn {
namespace {

using testing::all_close;

struct Inputs {
    Tensor x, y, w;  // (N, C), (C), (N, C)
};

std::vector<Tensor> gradients(const Inputs& in, Device device, DType dtype) {
    // detach: for CPU f64 the conversions return the inputs themselves, which must stay leaves
    // that do not require grad.
    Tensor x = in.x.to(dtype).to(device).detach(), y = in.y.to(dtype).to(device).detach();
    const Tensor w = in.w.to(dtype).to(device);
    x.set_requires_grad();
    y.set_requires_grad();
    const Tensor composed = w * sigmoid(x) * softplus(y) / (1.0 + square(x));
    const Tensor rest = logsumexp(x.t(), 0) * 0.5 + max(x * y, 1) - mean(x.narrow(1, 2, 5), 1);
    (sum(composed) + sum(rest * sum(w, 1))).backward();
    return {x.grad(), y.grad()};
}

TEST(AutogradCuda, ComposedGraphGradientsMatchTheCpuF64Reference) {
    CBNN_REQUIRE_GPU();
    constexpr int64_t N = 33, C = 10;
    const Inputs in{testing::random_tensor({N, C}, -2, 2, 1), testing::random_tensor({C}, -2, 2, 2),
                    testing::random_tensor({N, C}, -1, 1, 3)};
    const std::vector<Tensor> gpu = gradients(in, Device::cuda(), DType::f32);
    const std::vector<Tensor> ref = gradients(in, Device::cpu(), DType::f64);
    ASSERT_TRUE(gpu[0].is_cuda());
    EXPECT_EQ(gpu[1].shape(), (Shape{C}));
    EXPECT_TRUE(all_close(gpu[0], ref[0], testing::kCudaVsCpu));
    // y's gradient sums N broadcast terms.
    EXPECT_TRUE(all_close(gpu[1], ref[1], testing::f32_sum_tolerance(N)));
}

TEST(AutogradCuda, ErrorsForMixedDevices) {
    CBNN_REQUIRE_GPU();
    const Tensor a = Tensor::zeros({2}, DType::f32, Device::cuda());
    const Tensor b = Tensor::zeros({2});
    try {
        add(a, b);
        FAIL() << "expected an error";
    } catch (const Error& e) {
        const std::string message = e.what();
        EXPECT_NE(message.find("cuda:0"), std::string::npos) << message;
        EXPECT_NE(message.find("cpu"), std::string::npos) << message;
    }
}

}  // namespace
}  // namespace cbnn
