// Module::to(cuda) and back: data moves in place, so handles taken before the move (a layer's
// members, an optimiser's list) see the moved data; grads are dropped; training still works.
#include <memory>
#include <string>

#include "autograd/functions.h"
#include "gtest/gtest.h"
#include "layers/linear.h"
#include "layers/module.h"
#include "tensor/rng.h"
#include "tests/support/gpu.h"

namespace cbnn {
namespace {

class WithBuffer : public Layer {
  public:
    WithBuffer() {
        Generator gen(3);
        fc_ = register_module("fc", std::make_shared<Linear>(4, 2, true, gen));
        count_ = register_buffer("count", Tensor::from_vector<int64_t>({7}, {1}));
    }
    std::string type_name() const override { return "WithBuffer"; }
    Tensor forward(const Tensor& x) override { return fc_->forward(x); }
    std::shared_ptr<Linear> fc_;
    Tensor count_;
};

TEST(ModuleCuda, ToCudaMovesDataInPlaceAndKeepsHandlesValid) {
    CBNN_REQUIRE_GPU();
    WithBuffer m;
    const Tensor weight = m.fc_->weight();  // handles taken before the move
    const Tensor count = m.named_buffers()[0].second;
    const std::vector<float> before = weight.to_vector<float>();
    sum(m.forward(Tensor::ones({1, 4}))).backward();
    ASSERT_TRUE(weight.grad().defined());

    m.to(Device::cuda());
    EXPECT_TRUE(weight.is_cuda());
    EXPECT_TRUE(weight.requires_grad());
    EXPECT_TRUE(weight.is_same(m.fc_->weight()));
    EXPECT_FALSE(weight.grad().defined());  // a CPU grad does not match a CUDA parameter
    EXPECT_EQ(weight.to_vector<float>(), before);
    EXPECT_TRUE(count.is_cuda());
    EXPECT_EQ(count.to_vector<int64_t>(), (std::vector<int64_t>{7}));

    sum(m.forward(Tensor::ones({3, 4}, DType::f32, Device::cuda()))).backward();
    ASSERT_TRUE(weight.grad().defined());
    EXPECT_TRUE(weight.grad().is_cuda());
    // d/dW sum(x W^T + b) with x = ones(3, 4): every element is 3.
    EXPECT_EQ(weight.grad().to_vector<float>(), std::vector<float>(8, 3.f));

    m.to(Device::cpu());
    EXPECT_TRUE(weight.device().is_cpu());
    EXPECT_EQ(weight.to_vector<float>(), before);
}

}  // namespace
}  // namespace cbnn
