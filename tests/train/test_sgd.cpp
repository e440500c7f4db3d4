// Sgd and cpu::sgd_update: hand-computed steps (heavy-ball, Nesterov, weight decay), exclusions,
// parameters without grads, f32 vs f64, a quadratic bowl, state round trip, option errors.
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "autograd/functions.h"
#include "autograd/grad_mode.h"
#include "gtest/gtest.h"
#include "layers/batchnorm2d.h"
#include "layers/linear.h"
#include "layers/module.h"
#include "tests/support/expect_error.h"
#include "tests/support/random.h"
#include "tests/support/tolerance.h"
#include "train/sgd.h"

namespace cbnn {
namespace {

using testing::all_close;
using testing::kF32VsF64;
using testing::kF64Exact;
using testing::random_values;
using testing::throws_error;

// Parameters "w" and "bias" (f64, 2 elements each) plus children "fc" (Linear 2->2) and "bn".
class Net : public Module {
  public:
    Net() {
        Generator gen(7);
        w_ = register_parameter("w", Tensor::from_vector<double>({1.0, -2.0}, {2}));
        bias_ = register_parameter("bias", Tensor::from_vector<double>({0.5, 3.0}, {2}));
        register_module("fc", std::make_shared<Linear>(2, 2, true, gen, DType::f64));
        register_module("bn", std::make_shared<BatchNorm2d>(2, 0.1, 1e-5, DType::f64));
    }
    std::string type_name() const override { return "Net"; }
    Tensor w_, bias_;
};

Tensor vec(std::vector<double> v) {
    const int64_t n = static_cast<int64_t>(v.size());
    return Tensor::from_vector<double>(v, {n});
}

TEST(Sgd, HeavyBallWithWeightDecayHandComputed) {
    Net net;
    SgdOptions opt;
    opt.momentum = 0.9;
    opt.weight_decay = 0.01;
    Sgd sgd(net.named_parameters(), opt);
    const uint64_t version = net.w_.version();
    // d = g + wd p = [0.51, 0.23]; v = d; p = [1, -2] - 0.1 v.
    net.w_.set_grad(vec({0.5, 0.25}));
    sgd.step(0.1);
    EXPECT_TRUE(all_close(testing::host_values(net.w_), {0.949, -2.023}, kF64Exact));
    EXPECT_GT(net.w_.version(), version);
    // d = [0.50949, 0.22977]; v = 0.9 [0.51, 0.23] + d = [0.96849, 0.43677].
    sgd.step(0.1);
    EXPECT_TRUE(all_close(testing::host_values(net.w_), {0.852151, -2.066677}, kF64Exact));
    EXPECT_TRUE(
        all_close(testing::host_values(sgd.state()[0].second), {0.96849, 0.43677}, kF64Exact));
}

TEST(Sgd, StepUsesTheRateSetLast) {
    Net net;
    SgdOptions opt;
    opt.momentum = 0.0;
    Sgd sgd(net.named_parameters(), opt);
    net.w_.set_grad(vec({0.5, 0.25}));
    sgd.set_learning_rate(0.1);
    sgd.step();  // p = [1, -2] - 0.1 g
    EXPECT_TRUE(all_close(testing::host_values(net.w_), {0.95, -2.025}, kF64Exact));
    sgd.step();  // the same rate again
    EXPECT_TRUE(all_close(testing::host_values(net.w_), {0.9, -2.05}, kF64Exact));
    sgd.set_learning_rate(0.5);
    sgd.step();
    EXPECT_TRUE(all_close(testing::host_values(net.w_), {0.65, -2.175}, kF64Exact));
}

TEST(Sgd, NesterovHandComputed) {
    Net net;
    SgdOptions opt;
    opt.momentum = 0.9;
    opt.nesterov = true;
    Sgd sgd(net.named_parameters(), opt);
    net.w_.set_grad(vec({0.5, 0.25}));
    // v = g; p -= 0.1 (g + 0.9 v) = 0.19 g.
    sgd.step(0.1);
    EXPECT_TRUE(all_close(testing::host_values(net.w_), {0.905, -2.0475}, kF64Exact));
    // v = 1.9 g; p -= 0.1 (g + 0.9 * 1.9 g) = 0.271 g.
    sgd.step(0.1);
    EXPECT_TRUE(all_close(testing::host_values(net.w_), {0.7695, -2.11525}, kF64Exact));
}

TEST(Sgd, ZeroMomentumIsPlainGradientDescent) {
    Net net;
    SgdOptions opt;
    opt.momentum = 0.0;
    opt.weight_decay = 0.5;
    Sgd sgd(net.named_parameters(), opt);
    net.w_.set_grad(vec({1.0, 1.0}));
    sgd.step(0.5);  // p -= 0.5 (1 + 0.5 p)
    EXPECT_TRUE(all_close(testing::host_values(net.w_), {0.25, -2.0}, kF64Exact));
}

TEST(Sgd, ExcludedNamesGetNoWeightDecay) {
    Net net;
    SgdOptions opt;
    opt.momentum = 0.0;
    opt.weight_decay = 0.1;
    opt.no_decay_names = {"fc.bias"};
    opt.no_decay_suffixes = {"bn.weight"};
    opt.no_decay = [](const std::string& name) { return name == "bias"; };
    Sgd sgd(net.named_parameters(), opt);
    EXPECT_TRUE(sgd.decays("w"));
    EXPECT_TRUE(sgd.decays("fc.weight"));
    EXPECT_FALSE(sgd.decays("fc.bias"));
    EXPECT_FALSE(sgd.decays("bn.weight"));
    EXPECT_TRUE(sgd.decays("bn.bias"));
    EXPECT_FALSE(sgd.decays("bias"));
    // With a zero gradient only weight decay moves a parameter.
    for (const auto& [name, p] : net.named_parameters())
        p.set_grad(Tensor::zeros(p.shape(), p.dtype()));
    const std::vector<double> w0 = testing::host_values(net.w_),
                              bias0 = testing::host_values(net.bias_);
    const std::vector<double> fc_bias0 = testing::host_values(net.parameter("fc.bias"));
    sgd.step(1.0);
    EXPECT_EQ(testing::host_values(net.bias_), bias0);
    EXPECT_EQ(testing::host_values(net.parameter("fc.bias")), fc_bias0);
    EXPECT_TRUE(all_close(testing::host_values(net.w_), {w0[0] * 0.9, w0[1] * 0.9}, kF64Exact));
}

TEST(Sgd, BatchNormParameterNames) {
    Net net;
    EXPECT_EQ(batchnorm_parameter_names(net), (std::vector<std::string>{"bn.weight", "bn.bias"}));
    SgdOptions opt;
    opt.weight_decay = 1e-4;
    opt.no_decay_names = batchnorm_parameter_names(net);
    Sgd sgd(net.named_parameters(), opt);
    EXPECT_FALSE(sgd.decays("bn.weight"));
    EXPECT_FALSE(sgd.decays("bn.bias"));
    EXPECT_TRUE(sgd.decays("fc.bias"));
}

TEST(Sgd, ParametersWithoutGradAreUntouched) {
    Net net;
    SgdOptions opt;
    opt.weight_decay = 0.1;
    Sgd sgd(net.named_parameters(), opt);
    const std::vector<double> bias0 = testing::host_values(net.bias_);
    const uint64_t bias_version = net.bias_.version();
    net.w_.set_grad(vec({1.0, 1.0}));
    sgd.step(0.1);
    EXPECT_EQ(testing::host_values(net.bias_), bias0);
    EXPECT_EQ(net.bias_.version(), bias_version);
    EXPECT_EQ(testing::host_values(sgd.state()[1].second), (std::vector<double>{0.0, 0.0}));
    sgd.zero_grad();
    EXPECT_FALSE(net.w_.grad().defined());
}

TEST(Sgd, StepWorksWithoutGradModeGuardAndKeepsHandles) {
    Net net;
    Sgd sgd(net.named_parameters(), SgdOptions{});
    ASSERT_TRUE(autograd::grad_enabled());
    const Tensor before = net.w_;
    net.w_.set_grad(vec({1.0, 1.0}));
    sgd.step(0.1);
    EXPECT_TRUE(net.parameter("w").is_same(before));
    EXPECT_TRUE(net.w_.requires_grad());
    EXPECT_TRUE(autograd::grad_enabled());
}

TEST(Sgd, StepInvalidatesGraphsThatSavedTheParameter) {
    Net net;
    Sgd sgd(net.named_parameters(), SgdOptions{});
    const Tensor loss = sum(net.w_ * net.w_);
    net.w_.set_grad(vec({1.0, 1.0}));
    sgd.step(0.1);
    EXPECT_TRUE(throws_error([&] { loss.backward(); }, {"version"}));
}

TEST(SgdUpdate, FloatMatchesDouble) {
    const int64_t n = 1000;
    for (bool nesterov : {false, true}) {
        std::vector<double> p = random_values(n, -1, 1, 1), g = random_values(n, -1, 1, 2),
                            v = random_values(n, -1, 1, 3);
        std::vector<float> pf(p.begin(), p.end()), gf(g.begin(), g.end()), vf(v.begin(), v.end());
        for (int s = 0; s < 3; ++s) {
            cpu::sgd_update<double>(p.data(), g.data(), v.data(), n, 0.1, 0.9, 2e-4, nesterov);
            cpu::sgd_update<float>(pf.data(), gf.data(), vf.data(), n, 0.1f, 0.9f, 2e-4f, nesterov);
        }
        EXPECT_TRUE(all_close(std::vector<double>(pf.begin(), pf.end()), p, kF32VsF64));
        EXPECT_TRUE(all_close(std::vector<double>(vf.begin(), vf.end()), v, kF32VsF64));
    }
}

TEST(Sgd, F32ParametersMatchF64) {
    const Tensor init = testing::random_tensor({64}, -1, 1, 5);
    const Tensor grad = testing::random_tensor({64}, -1, 1, 6);
    std::vector<Tensor> results;
    for (DType dtype : {DType::f64, DType::f32}) {
        Tensor p = init.clone().to(dtype).detach().set_requires_grad();
        SgdOptions opt;
        opt.weight_decay = 1e-3;
        Sgd sgd({{"p", p}}, opt);
        for (int s = 0; s < 5; ++s) {
            p.set_grad(grad.to(dtype));
            sgd.step(0.05);
        }
        results.push_back(p);
    }
    EXPECT_TRUE(all_close(results[1], results[0], kF32VsF64));
}

TEST(Sgd, QuadraticBowlConverges) {
    // loss = sum(a (p - c)^2), minimum at c; curvature 2a in [0.2, 2].
    const Tensor a = testing::random_tensor({10}, 0.1, 1.0, 11);
    const Tensor c = testing::random_tensor({10}, -3, 3, 12);
    for (bool nesterov : {false, true}) {
        Tensor p = Tensor::zeros({10}, DType::f64).set_requires_grad();
        SgdOptions opt;
        opt.nesterov = nesterov;
        Sgd sgd({{"p", p}}, opt);
        // Heavy-ball contracts by sqrt(momentum) ~ 0.95 per step at this curvature.
        for (int s = 0; s < 600; ++s) {
            sgd.zero_grad();
            sum(a * square(p - c)).backward();
            sgd.step(0.1);
        }
        EXPECT_TRUE(all_close(p, c, {1e-8, 0})) << "nesterov " << nesterov;
    }
}

TEST(Sgd, StateRoundTripContinuesIdentically) {
    SgdOptions opt;
    opt.weight_decay = 0.01;
    opt.nesterov = true;
    const std::vector<double> g1 = {0.3, -0.7}, g2 = {-0.2, 0.4};
    Net a;
    Sgd sgd_a(a.named_parameters(), opt);
    for (int s = 0; s < 3; ++s) {
        a.w_.set_grad(vec(g1));
        a.bias_.set_grad(vec(g2));
        sgd_a.step(0.1);
    }
    const NamedTensors saved = sgd_a.state();
    Net b;
    {
        NoGradGuard no_grad;
        b.w_.copy_(a.w_);
        b.bias_.copy_(a.bias_);
    }
    Sgd sgd_b(b.named_parameters(), opt);
    sgd_b.load_state(saved);
    for (int s = 0; s < 3; ++s) {
        for (Net* net : {&a, &b}) {
            net->w_.set_grad(vec(g2));
            net->bias_.set_grad(vec(g1));
        }
        sgd_a.step(0.05);
        sgd_b.step(0.05);
    }
    EXPECT_EQ(testing::host_values(a.w_), testing::host_values(b.w_));
    EXPECT_EQ(testing::host_values(a.bias_), testing::host_values(b.bias_));
    // load_state copies: the loaded buffers do not alias the saved tensors.
    EXPECT_FALSE(sgd_b.state()[0].second.shares_storage(saved[0].second));
}

// Buffers that exist are loaded into, not replaced: a captured training step (CUDA graph) keeps
// their addresses.
TEST(Sgd, LoadStateKeepsExistingBuffersInPlace) {
    Net net;
    Sgd sgd(net.named_parameters(), SgdOptions{});
    net.w_.set_grad(vec({0.3, -0.7}));
    net.bias_.set_grad(vec({0.5, 1.0}));
    sgd.step(0.1);
    const Tensor buffer = sgd.state()[0].second;
    const void* where = buffer.raw_data();
    NamedTensors loaded = sgd.state();
    loaded[0].second = vec({1.5, -2.5});
    loaded[1].second = vec({0.25, 0.75});
    sgd.load_state(loaded);
    EXPECT_EQ(sgd.state()[0].second.raw_data(), where);
    EXPECT_EQ(testing::host_values(sgd.state()[0].second), (std::vector<double>{1.5, -2.5}));
    EXPECT_EQ(testing::host_values(sgd.state()[1].second), (std::vector<double>{0.25, 0.75}));
}

TEST(Sgd, LoadStateChecksNamesAndShapes) {
    Net net;
    Sgd sgd(net.named_parameters(), SgdOptions{});
    NamedTensors state = sgd.state();
    NamedTensors short_state(state.begin(), state.begin() + 2);
    EXPECT_TRUE(throws_error([&] { sgd.load_state(short_state); }, {"2 momentum buffers", "6"}));
    NamedTensors renamed = state;
    renamed[1].first = "bias2";
    EXPECT_TRUE(throws_error([&] { sgd.load_state(renamed); }, {"'bias2'", "'bias'"}));
    NamedTensors reshaped = state;
    reshaped[0].second = Tensor::zeros({3}, DType::f64);
    EXPECT_TRUE(throws_error([&] { sgd.load_state(reshaped); }, {"'w'", "[3]", "[2]"}));
}

TEST(Sgd, InvalidOptionsAreClearErrors) {
    Net net;
    auto make = [&](SgdOptions opt) { Sgd sgd(net.named_parameters(), opt); };
    SgdOptions opt;
    opt.momentum = 1.0;
    EXPECT_TRUE(throws_error([&] { make(opt); }, {"momentum", "[0, 1)", "1"}));
    opt.momentum = -0.1;
    EXPECT_TRUE(throws_error([&] { make(opt); }, {"momentum", "-0.1"}));
    opt.momentum = std::nan("");
    EXPECT_TRUE(throws_error([&] { make(opt); }, {"momentum", "nan"}));
    opt = SgdOptions{};
    opt.weight_decay = -1e-4;
    EXPECT_TRUE(throws_error([&] { make(opt); }, {"weight_decay", "-0.0001"}));
    opt = SgdOptions{};
    opt.momentum = 0.0;
    opt.nesterov = true;
    EXPECT_TRUE(throws_error([&] { make(opt); }, {"Nesterov", "momentum > 0"}));
    opt = SgdOptions{};
    opt.no_decay_names = {"fc.bais"};
    EXPECT_TRUE(throws_error([&] { make(opt); }, {"'fc.bais'"}));
    Sgd sgd(net.named_parameters(), SgdOptions{});
    EXPECT_TRUE(throws_error([&] { sgd.step(-0.1); }, {"learning rate", "-0.1"}));
    EXPECT_TRUE(throws_error([&] { sgd.step(std::nan("")); }, {"learning rate", "nan"}));
    EXPECT_TRUE(throws_error([&] { sgd.step(); }, {"step()", "set_learning_rate"}));
    EXPECT_TRUE(throws_error([&] { sgd.set_learning_rate(-1.0); }, {"learning rate", "-1"}));
    EXPECT_TRUE(throws_error([&] { sgd.decays("nope"); }, {"'nope'"}));
    EXPECT_TRUE(throws_error(
        [&] {
            Sgd bad({{"x", Tensor::zeros({2})}}, SgdOptions{});
        },
        {"'x'", "requires grad"}));
    Tensor p = Tensor::zeros({2}, DType::f64).set_requires_grad();
    EXPECT_TRUE(throws_error(
        [&] {
            Sgd bad({{"x", p}, {"x", p}}, SgdOptions{});
        },
        {"'x'", "twice"}));
    const Tensor v = Tensor::zeros({2}, DType::f64);
    EXPECT_TRUE(throws_error(
        [&] { ops::sgd_update(p, Tensor::zeros({3}, DType::f64), v, 0.1, 0.9, 0.0, false); },
        {"shapes", "[3]", "[2]"}));
    EXPECT_TRUE(throws_error(
        [&] { ops::sgd_update(p, Tensor::zeros({2}), v, 0.1, 0.9, 0.0, false); }, {"dtypes"}));
}

}  // namespace
}  // namespace cbnn
