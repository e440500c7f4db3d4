// Module, Layer and Sequential: registration and dotted names, bad names, parameters vs buffers,
// parameter_count, train/eval, zero_grad, to(cpu) and summary().
#include <memory>
#include <string>
#include <vector>

#include "autograd/functions.h"
#include "gtest/gtest.h"
#include "layers/linear.h"
#include "layers/module.h"
#include "tests/support/expect_error.h"

namespace cbnn {
namespace {

using testing::throws_error;

// y = x * scale + shift, with a step counter buffer: one parameter of each shape kind.
class Affine : public Layer {
  public:
    explicit Affine(int64_t n) {
        scale_ = register_parameter("scale", Tensor::full({n}, 2.0, DType::f64));
        shift_ = register_parameter("shift", Tensor::zeros({n}, DType::f64));
        steps_ = register_buffer("steps", Tensor::zeros({1}, DType::i64));
    }
    std::string type_name() const override { return "Affine"; }
    Tensor forward(const Tensor& x) override { return x * scale_ + shift_; }

    // Exposes the protected registration calls to the tests.
    void add_parameter(const std::string& name, Tensor t) { register_parameter(name, t); }
    void add_buffer(const std::string& name, Tensor t) { register_buffer(name, t); }
    void add_child(const std::string& name, std::shared_ptr<Module> m) {
        register_module(name, std::move(m));
    }
    const Tensor& scale() const { return scale_; }

  private:
    Tensor scale_, shift_, steps_;
};

// Two children, one of them a Sequential, plus an own parameter and buffer.
class Net : public Layer {
  public:
    Net() {
        gain_ = register_parameter("gain", Tensor::ones({1}, DType::f64));
        stem_ = register_module("stem", std::make_shared<Affine>(3));
        body_ = register_module("body",
                                std::make_shared<Sequential>(std::vector<std::shared_ptr<Layer>>{
                                    std::make_shared<Affine>(3), std::make_shared<Affine>(3)}));
        register_buffer("mean", Tensor::zeros({3}, DType::f32));
    }
    std::string type_name() const override { return "Net"; }
    Tensor forward(const Tensor& x) override { return body_->forward(stem_->forward(x)) * gain_; }

    std::shared_ptr<Affine> stem_;
    std::shared_ptr<Sequential> body_;

  private:
    Tensor gain_;
};

std::vector<std::string> names(const NamedTensors& list) {
    std::vector<std::string> out;
    for (const auto& [name, t] : list) out.push_back(name);
    return out;
}

TEST(Module, DottedNamesInRegistrationOrderOwnEntriesFirst) {
    Net net;
    EXPECT_EQ(names(net.named_parameters()),
              (std::vector<std::string>{"gain", "stem.scale", "stem.shift", "body.0.scale",
                                        "body.0.shift", "body.1.scale", "body.1.shift"}));
    EXPECT_EQ(names(net.named_buffers()),
              (std::vector<std::string>{"mean", "stem.steps", "body.0.steps", "body.1.steps"}));
    ASSERT_EQ(net.children().size(), 2u);
    EXPECT_EQ(net.children()[0].first, "stem");
    EXPECT_EQ(net.children()[1].first, "body");
    // The registered tensors are the layer's own members, held by handle.
    EXPECT_TRUE(net.named_parameters()[1].second.is_same(net.stem_->scale()));
    EXPECT_EQ(net.parameters().size(), 7u);
}

TEST(Module, ParametersRequireGradAndBuffersDoNot) {
    Net net;
    for (const auto& [name, t] : net.named_parameters()) EXPECT_TRUE(t.requires_grad()) << name;
    for (const auto& [name, t] : net.named_buffers()) EXPECT_FALSE(t.requires_grad()) << name;
}

TEST(Module, ParameterCountSumsElementsOverAllParameters) {
    Net net;
    EXPECT_EQ(net.parameter_count(), 1 + 3 * (3 + 3));  // buffers are not parameters
    EXPECT_EQ(Sequential().parameter_count(), 0);
}

TEST(Module, DuplicateAndInvalidNamesAreRejected) {
    Affine m(2);
    EXPECT_TRUE(throws_error([&] { m.add_parameter("scale", Tensor::zeros({2})); },
                             {"Affine", "'scale'", "registered twice"}));
    EXPECT_TRUE(throws_error([&] { m.add_buffer("shift", Tensor::zeros({2})); },
                             {"'shift'", "registered twice"}));
    EXPECT_TRUE(throws_error([&] { m.add_child("steps", std::make_shared<Affine>(1)); },
                             {"'steps'", "registered twice"}));
    EXPECT_TRUE(
        throws_error([&] { m.add_parameter("", Tensor::zeros({2})); }, {"invalid name ''"}));
    EXPECT_TRUE(
        throws_error([&] { m.add_buffer("a.b", Tensor::zeros({2})); }, {"invalid name 'a.b'"}));
    EXPECT_TRUE(throws_error([&] { m.add_child("c", nullptr); }, {"'c'", "null"}));
    // Nothing was registered by the failed calls.
    EXPECT_EQ(m.named_parameters().size(), 2u);
    EXPECT_EQ(m.named_buffers().size(), 1u);
    EXPECT_TRUE(m.children().empty());
}

TEST(Module, ParametersMustBeFloatingDefinedLeaves) {
    Affine m(2);
    EXPECT_THROW(m.add_parameter("w", Tensor()), Error);
    EXPECT_TRUE(throws_error([&] { m.add_parameter("i", Tensor::zeros({2}, DType::i64)); },
                             {"floating", "i64"}));
    Tensor leaf = Tensor::ones({2}, DType::f64).set_requires_grad();
    const Tensor produced = leaf * 2.0;
    EXPECT_TRUE(throws_error([&] { m.add_parameter("p", produced); }, {"'p'", "leaf"}));
    // Integer buffers are fine: they are not trained.
    EXPECT_NO_THROW(m.add_buffer("count", Tensor::zeros({1}, DType::i64)));
}

TEST(Module, TrainAndEvalPropagateToEveryDescendant) {
    Net net;
    EXPECT_TRUE(net.is_training());
    net.eval();
    EXPECT_FALSE(net.is_training());
    EXPECT_FALSE(net.stem_->is_training());
    EXPECT_FALSE(net.body_->is_training());
    EXPECT_FALSE((*net.body_)[1]->is_training());
    net.body_->train();  // a subtree alone
    EXPECT_FALSE(net.is_training());
    EXPECT_TRUE((*net.body_)[0]->is_training());
    net.train(true);
    EXPECT_TRUE(net.stem_->is_training());
}

TEST(Module, BackwardFillsGradsAndZeroGradDropsThem) {
    Net net;
    const Tensor x = Tensor::from_vector<double>({1, 2, 3, 4, 5, 6}, {2, 3});
    sum(net.forward(x)).backward();
    for (const auto& [name, t] : net.named_parameters()) EXPECT_TRUE(t.grad().defined()) << name;
    // d/dgain of sum(body(stem(x)) * gain) with scale 2, shift 0: sum(8 x) = 8 * 21.
    EXPECT_DOUBLE_EQ(net.named_parameters()[0].second.grad().item<double>(), 168.0);
    net.zero_grad();
    for (const auto& [name, t] : net.named_parameters()) EXPECT_FALSE(t.grad().defined()) << name;
}

TEST(Module, ToCpuIsANoOpThatKeepsStorageAndGrads) {
    Net net;
    sum(net.forward(Tensor::ones({1, 3}, DType::f64))).backward();
    const Tensor gain = net.named_parameters()[0].second;
    const auto storage = gain.storage();
    net.to(Device::cpu());
    EXPECT_EQ(gain.storage(), storage);
    EXPECT_TRUE(gain.grad().defined());
    EXPECT_TRUE(gain.device().is_cpu());
}

TEST(Module, SequentialAppliesLayersInOrderAndNamesThemByIndex) {
    Sequential seq;
    seq.add(std::make_shared<Affine>(2)).add(std::make_shared<Affine>(2));
    EXPECT_EQ(seq.size(), 2u);
    EXPECT_EQ(seq.type_name(), "Sequential");
    EXPECT_EQ(names(seq.named_buffers()), (std::vector<std::string>{"0.steps", "1.steps"}));
    // Scale 2 twice: x * 4.
    const Tensor y = seq(Tensor::from_vector<double>({1, -3}, {2}));
    EXPECT_EQ(y.to_vector<double>(), (std::vector<double>{4, -12}));
    EXPECT_THROW(seq[2], std::out_of_range);
}

TEST(Module, SummaryListsEveryModuleIndentedWithItsOwnParameterCount) {
    Net net;
    EXPECT_EQ(net.summary(),
              "Net (1 parameters)\n"
              "  stem: Affine (6 parameters)\n"
              "  body: Sequential\n"
              "    0: Affine (6 parameters)\n"
              "    1: Affine (6 parameters)\n"
              "total: 19 parameters\n");
}

TEST(Module, SummaryGroupsThousands) {
    Generator gen(1);
    Sequential seq({std::make_shared<Linear>(1000, 1000, true, gen),
                    std::make_shared<Linear>(1000, 1, false, gen)});
    EXPECT_EQ(seq.summary(),
              "Sequential\n"
              "  0: Linear (1,001,000 parameters)\n"
              "  1: Linear (1,000 parameters)\n"
              "total: 1,002,000 parameters\n");
}

}  // namespace
}  // namespace cbnn
