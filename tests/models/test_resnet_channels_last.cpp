// ResNets fed channels-last (NHWC) inputs on the CPU (tensor/memory_format.h): the format flows
// through every layer (convolutions, batch norm with the fused ReLU and residual add, the
// option-A shortcut's pooling and padding, ResNet-50's max pool and projections), and logits,
// parameter gradients and running statistics equal those of the NCHW model: the CPU runs the same
// NCHW kernels on copies, so only the head's global average (summed in another order) can differ,
// by f64 rounding. The CUDA twin is test_resnet_channels_last_cuda.cpp.
#include <memory>
#include <vector>

#include "autograd/functions.h"
#include "gtest/gtest.h"
#include "losses/cb_loss.h"
#include "models/resnet.h"
#include "models/resnet_cifar.h"
#include "tests/support/random.h"
#include "tests/support/tolerance.h"

namespace cbnn {
namespace {

constexpr MemoryFormat kNhwc = MemoryFormat::channels_last;

struct Pass {
    Tensor logits;
    NamedTensors grads, buffers;
};

Pass forward_backward(Layer& model, const Tensor& x, int64_t classes) {
    const ClassBalancedLoss loss_fn({LossType::focal, 0.999, 1.0},
                                    std::vector<int64_t>(static_cast<size_t>(classes), 3),
                                    x.dtype());
    const Tensor logits = model.forward(x);
    loss_fn(logits, testing::random_labels(x.size(0), classes, 5)).backward();
    NamedTensors grads;
    for (const auto& [name, p] : model.named_parameters()) grads.emplace_back(name, p.grad());
    return {logits, grads, model.named_buffers()};
}

// `tol`: f64 rounding of the head's reordered average, carried through the backward.
void expect_same(const Pass& got, const Pass& ref, testing::Tolerance tol) {
    EXPECT_TRUE(testing::all_close(got.logits, ref.logits, tol));
    ASSERT_EQ(got.grads.size(), ref.grads.size());
    for (size_t i = 0; i < got.grads.size(); ++i) {
        ASSERT_TRUE(got.grads[i].second.defined()) << got.grads[i].first;
        EXPECT_TRUE(got.grads[i].second.is_contiguous()) << got.grads[i].first;
        EXPECT_TRUE(testing::all_close(got.grads[i].second, ref.grads[i].second, tol))
            << got.grads[i].first;
    }
    for (size_t i = 0; i < got.buffers.size(); ++i)
        EXPECT_TRUE(testing::all_close(got.buffers[i].second, ref.buffers[i].second, tol))
            << got.buffers[i].first;
}

TEST(ResNetChannelsLast, CifarResNet8EqualsTheNchwModel) {
    ResNetCifarOptions o;
    o.depth = 8;
    o.dtype = DType::f64;
    Generator g1(31), g2(31);
    ResNetCifar nchw(o, g1), nhwc(o, g2);
    const Tensor x = testing::random_tensor({4, 3, 16, 16}, -1, 1, 32);
    expect_same(forward_backward(nhwc, x.contiguous(kNhwc), 10), forward_backward(nchw, x, 10),
                testing::kF64Exact);
}

TEST(ResNetChannelsLast, EveryCifarBlockKeepsTheFormat) {
    ResNetCifarOptions o;
    o.depth = 8;
    o.dtype = DType::f64;
    Generator gen(33);
    ResNetCifar model(o, gen);
    Tensor h = testing::random_tensor({2, 3, 16, 16}, -1, 1, 34).contiguous(kNhwc);
    // stem, then the three stages (the second and third widen through the option-A shortcut)
    for (const auto& [name, child] : model.children()) {
        if (name == "fc") break;
        h = std::dynamic_pointer_cast<Layer>(child)->forward(h);
        EXPECT_EQ(h.memory_format(), kNhwc) << "after " << name << ": strides " << h.strides();
    }
}

TEST(ResNetChannelsLast, ResNet50EqualsTheNchwModel) {
    ResNetOptions o;
    o.depth = 50;
    o.num_classes = 10;
    o.dtype = DType::f64;
    Generator g1(35), g2(35);
    ResNet nchw(o, g1), nhwc(o, g2);
    const Tensor x = testing::random_tensor({2, 3, 32, 32}, -1, 1, 36);
    expect_same(forward_backward(nhwc, x.contiguous(kNhwc), 10), forward_backward(nchw, x, 10),
                testing::kF64Exact);
}

}  // namespace
}  // namespace cbnn
