// ResNet-32 and ResNet-50 on CUDA against the CPU: Module::to(cuda), forward logits, running
// statistics and backward gradients of a class-balanced softmax loss. Skips without a GPU.
//
// Tolerance (UNVERIFIED: written without access to a GPU, never run): the comparisons are
// norm-relative, ||cuda - cpu|| / ||cpu||, because a deep network's elementwise errors do not stay
// at one f32 rounding: cuDNN picks other convolution algorithms (other summation orders) and 31
// batch norms rescale each difference by 1/std of their channel. Bounds: 1e-4 for logits and
// running statistics, 1e-3 for gradients (a backward through 33 layers compounds the forward's
// errors once more). FP32 math throughout (TF32 off, the default).
#include <cmath>
#include <string>
#include <vector>

#include "autograd/grad_mode.h"
#include "gtest/gtest.h"
#include "losses/cb_loss.h"
#include "models/resnet.h"
#include "models/resnet_cifar.h"
#include "tests/support/gpu.h"
#include "tests/support/random.h"
#include "tests/support/tolerance.h"

namespace cbnn {
namespace {

using testing::random_labels;
using testing::random_tensor;

::testing::AssertionResult relative_close(const Tensor& cuda, const Tensor& cpu, double bound,
                                          const std::string& what) {
    const std::vector<double> a = testing::host_values(cuda), b = testing::host_values(cpu);
    if (a.size() != b.size()) return ::testing::AssertionFailure() << what << ": sizes differ";
    double diff2 = 0.0, ref2 = 0.0;
    for (size_t i = 0; i < a.size(); ++i) {
        if (!std::isfinite(a[i])) return ::testing::AssertionFailure() << what << ": not finite";
        diff2 += (a[i] - b[i]) * (a[i] - b[i]);
        ref2 += b[i] * b[i];
    }
    const double rel = std::sqrt(diff2) / std::max(std::sqrt(ref2), 1e-30);
    if (rel <= bound) return ::testing::AssertionSuccess() << what << ": " << rel;
    return ::testing::AssertionFailure() << what << ": relative error " << rel << " > " << bound;
}

constexpr double kLogitBound = 1e-4;
constexpr double kGradBound = 1e-3;

TEST(ResNetCifarCuda, ToCudaMovesEveryTensorInPlace) {
    CBNN_REQUIRE_GPU();
    Generator gen(1);
    ResNetCifarOptions o;
    ResNetCifar model(o, gen);
    const Tensor bias = model.head_bias();
    model.to(Device::cuda());
    for (const auto& [name, t] : model.named_parameters()) EXPECT_TRUE(t.is_cuda()) << name;
    for (const auto& [name, t] : model.named_buffers()) EXPECT_TRUE(t.is_cuda()) << name;
    EXPECT_TRUE(bias.is_same(model.head_bias()));
    EXPECT_TRUE(bias.is_cuda());
    const Tensor y = model.forward(random_tensor({2, 3, 32, 32}, -1, 1, 2, DType::f32).cuda());
    EXPECT_TRUE(y.is_cuda());
    EXPECT_EQ(y.shape(), (Shape{2, 10}));
}

TEST(ResNetCifarCuda, Resnet32ForwardAndBackwardMatchTheCpu) {
    CBNN_REQUIRE_GPU();
    Generator g_cpu(3), g_cuda(3);
    ResNetCifarOptions o;
    ResNetCifar cpu_model(o, g_cpu), cuda_model(o, g_cuda);
    cuda_model.to(Device::cuda());
    const Tensor x = random_tensor({8, 3, 32, 32}, -1, 1, 4, DType::f32);
    const Tensor labels = random_labels(8, 10, 5);
    const Tensor weights = Tensor::ones({10});

    const Tensor x_cpu = x.clone().set_requires_grad();
    const Tensor x_cuda = x.cuda().set_requires_grad();
    const Tensor logits_cpu = cpu_model.forward(x_cpu);
    const Tensor logits_cuda = cuda_model.forward(x_cuda);
    EXPECT_TRUE(relative_close(logits_cuda, logits_cpu, kLogitBound, "logits"));
    class_balanced_loss(logits_cpu, labels, weights, LossType::softmax).backward();
    class_balanced_loss(logits_cuda, labels.cuda(), weights.cuda(), LossType::softmax).backward();

    EXPECT_TRUE(relative_close(x_cuda.grad(), x_cpu.grad(), kGradBound, "dx"));
    const NamedTensors pc = cpu_model.named_parameters(), pg = cuda_model.named_parameters();
    for (size_t i = 0; i < pc.size(); ++i)
        EXPECT_TRUE(relative_close(pg[i].second.grad(), pc[i].second.grad(), kGradBound,
                                   "d" + pc[i].first));
    const NamedTensors bc = cpu_model.named_buffers(), bg = cuda_model.named_buffers();
    for (size_t i = 0; i < bc.size(); ++i)
        EXPECT_TRUE(relative_close(bg[i].second, bc[i].second, kLogitBound, bc[i].first));

    cpu_model.eval();
    cuda_model.eval();
    NoGradGuard no_grad;
    EXPECT_TRUE(relative_close(cuda_model.forward(x.cuda()), cpu_model.forward(x), kLogitBound,
                               "eval logits"));
}

TEST(ResNetCuda, Resnet50ForwardMatchesTheCpu) {
    CBNN_REQUIRE_GPU();
    Generator g_cpu(6), g_cuda(6);
    ResNetOptions o;
    o.num_classes = 10;
    ResNet cpu_model(o, g_cpu), cuda_model(o, g_cuda);
    cuda_model.to(Device::cuda());
    const Tensor x = random_tensor({2, 3, 64, 64}, -1, 1, 7, DType::f32);
    NoGradGuard no_grad;
    const Tensor y = cuda_model.forward(x.cuda());
    EXPECT_EQ(y.shape(), (Shape{2, 10}));
    EXPECT_TRUE(relative_close(y, cpu_model.forward(x), kLogitBound, "ResNet-50 logits"));
}

}  // namespace
}  // namespace cbnn
