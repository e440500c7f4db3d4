// ResNet-(6n+2) for CIFAR: parameter counts and names, shapes, the option-A shortcut by hand,
// head bias and Glorot init, train/eval propagation, determinism and state round trip, a float64
// gradient check through a whole tiny network, and a few SGD steps that lower the loss.
#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "autograd/functions.h"
#include "autograd/grad_mode.h"
#include "autograd/gradcheck.h"
#include "gtest/gtest.h"
#include "layers/state_io.h"
#include "losses/cb_loss.h"
#include "models/resnet_cifar.h"
#include "tests/support/expect_error.h"
#include "tests/support/random.h"
#include "tests/support/tolerance.h"

namespace cbnn {
namespace {

using testing::random_labels;
using testing::random_tensor;
using testing::throws_error;

ResNetCifarOptions options_for(int64_t depth, int64_t classes, HeadInit head = HeadInit::zero,
                               DType dtype = DType::f32) {
    ResNetCifarOptions o;
    o.depth = depth;
    o.num_classes = classes;
    o.head_init = head;
    o.dtype = dtype;
    return o;
}

void for_each_module(const Module& m, const std::function<void(const Module&)>& f) {
    f(m);
    for (const auto& [name, child] : m.children()) for_each_module(*child, f);
}

TEST(ResNetCifar, ParameterCountsMatchThePaper) {
    Generator gen(1);
    EXPECT_EQ(ResNetCifar(options_for(32, 10), gen).parameter_count(), 464154);
    EXPECT_EQ(ResNetCifar(options_for(32, 100), gen).parameter_count(), 470004);
    // Rows of the header's table.
    EXPECT_EQ(ResNetCifar(options_for(8, 10), gen).parameter_count(), 75290);
    EXPECT_EQ(ResNetCifar(options_for(20, 100), gen).parameter_count(), 275572);
}

TEST(ResNetCifar, ParameterNamesAreReadable) {
    Generator gen(1);
    ResNetCifar model(options_for(32, 10), gen);
    EXPECT_EQ(model.type_name(), "ResNet32");
    EXPECT_EQ(model.blocks_per_stage(), 5);
    const NamedTensors params = model.named_parameters();
    // Stem (3) + 15 blocks x 6 + fc (2).
    ASSERT_EQ(params.size(), 3u + 15u * 6u + 2u);
    const std::vector<std::string> first = {
        "stem.conv.weight",      "stem.bn.weight",      "stem.bn.bias",
        "stage1.0.conv1.weight", "stage1.0.bn1.weight", "stage1.0.bn1.bias",
        "stage1.0.conv2.weight", "stage1.0.bn2.weight", "stage1.0.bn2.bias"};
    for (size_t i = 0; i < first.size(); ++i) EXPECT_EQ(params[i].first, first[i]);
    EXPECT_EQ(params[params.size() - 3].first, "stage3.4.bn2.bias");
    EXPECT_EQ(params[params.size() - 2].first, "fc.weight");
    EXPECT_EQ(params.back().first, "fc.bias");
    EXPECT_TRUE(params.back().second.is_same(model.head_bias()));
    EXPECT_EQ(model.parameter("stage2.0.conv1.weight").shape(), (Shape{32, 16, 3, 3}));
    EXPECT_EQ(model.parameter("stage3.0.conv1.weight").shape(), (Shape{64, 32, 3, 3}));
    EXPECT_EQ(model.parameter("fc.weight").shape(), (Shape{10, 64}));
    // Every BN has its two running statistics.
    EXPECT_EQ(model.named_buffers().size(), 2u * (1u + 15u * 2u));
    EXPECT_EQ(model.named_buffers()[0].first, "stem.bn.running_mean");
}

TEST(ResNetCifar, ForwardShapes) {
    Generator gen(2);
    ResNetCifar model(options_for(32, 10), gen);
    EXPECT_EQ(model.forward(random_tensor({2, 3, 32, 32}, -1, 1, 1, DType::f32)).shape(),
              (Shape{2, 10}));
    ResNetCifar small(options_for(8, 100), gen);
    EXPECT_EQ(small.forward(random_tensor({3, 3, 16, 8}, -1, 1, 2, DType::f32)).shape(),
              (Shape{3, 100}));
}

TEST(ResNetCifar, BadOptionsAndInputsAreClearErrors) {
    Generator gen(3);
    for (int64_t depth : {33, 2, 0, -4})
        EXPECT_TRUE(throws_error([&] { ResNetCifar(options_for(depth, 10), gen); },
                                 {"6n + 2", std::to_string(depth)}));
    EXPECT_TRUE(throws_error([&] { ResNetCifar(options_for(8, 0), gen); }, {"num_classes", "0"}));
    EXPECT_TRUE(throws_error([&] { ResNetCifar(options_for(8, 1, HeadInit::prior), gen); },
                             {"-log(C - 1)", "C = 1"}));
    ResNetCifar model(options_for(8, 10), gen);
    EXPECT_TRUE(throws_error(
        [&] {
            model.forward(Tensor::zeros({2, 1, 32, 32}));
        },
        {"ResNet8", "[2, 1, 32, 32]"}));
    EXPECT_TRUE(throws_error(
        [&] {
            model.forward(Tensor::zeros({2, 3, 30, 32}));
        },
        {"divisible by 4", "[2, 3, 30, 32]"}));
}

TEST(ResNetCifar, OptionAShortcutAveragesThenPadsChannels) {
    // x[c, h, w] = 16 c + 4 h + w: each 2x2 window (rows 2i, 2i+1, cols 2j, 2j+1) averages to
    // 16 c + 8 i + 2 j + 2.5.
    std::vector<double> v(2 * 16);
    for (size_t k = 0; k < v.size(); ++k) v[k] = static_cast<double>(k);
    const Tensor x = Tensor::from_vector<double>(v, {1, 2, 4, 4});
    const Tensor y = option_a_shortcut(x, 6, 2);
    ASSERT_EQ(y.shape(), (Shape{1, 6, 2, 2}));
    std::vector<double> expected(6 * 4, 0.0);
    for (int c = 0; c < 2; ++c)
        for (int i = 0; i < 2; ++i)
            for (int j = 0; j < 2; ++j)
                expected[(c + 2) * 4 + i * 2 + j] = 16 * c + 8 * i + 2 * j + 2.5;
    EXPECT_EQ(y.to_vector<double>(), expected);
    EXPECT_TRUE(option_a_shortcut(x, 2, 1).is_same(x));
    EXPECT_TRUE(throws_error([&] { option_a_shortcut(x, 5, 2); }, {"2 -> 5", "even"}));
    EXPECT_TRUE(throws_error([&] { option_a_shortcut(x, 2, 2); }, {"stride 1", "2"}));
}

TEST(ResNetCifar, StridedBlockOfTheModelUsesTheAveragingShortcut) {
    // Depth 8: stage2.0 is the 16 -> 32, stride-2 block. With its bn2 gamma and beta at 0 the
    // residual branch is exactly 0, so the block returns ReLU(shortcut(x)) = shortcut(x) for x >=
    // 0.
    Generator gen(4);
    ResNetCifar model(options_for(8, 10, HeadInit::zero, DType::f64), gen);
    {
        NoGradGuard no_grad;
        model.parameter("stage2.0.bn2.weight").fill_(0.0);
        model.parameter("stage2.0.bn2.bias").fill_(0.0);
    }
    std::vector<double> v(2 * 16 * 4 * 4);
    for (size_t k = 0; k < v.size(); ++k) v[k] = static_cast<double>(k % 256) * 0.25;
    const Tensor x = Tensor::from_vector<double>(v, {2, 16, 4, 4});
    const Tensor y = (*model.stage(1))[0]->forward(x);
    ASSERT_EQ(y.shape(), (Shape{2, 32, 2, 2}));
    const std::vector<double> out = y.to_vector<double>();
    for (int n = 0; n < 2; ++n)
        for (int c = 0; c < 32; ++c)
            for (int i = 0; i < 2; ++i)
                for (int j = 0; j < 2; ++j) {
                    double want = 0.0;
                    if (c >= 8 && c < 24) {
                        const auto at = [&](int h, int w) {
                            return v[((n * 16 + (c - 8)) * 4 + h) * 4 + w];
                        };
                        want = (at(2 * i, 2 * j) + at(2 * i, 2 * j + 1) + at(2 * i + 1, 2 * j) +
                                at(2 * i + 1, 2 * j + 1)) /
                               4;
                    }
                    EXPECT_DOUBLE_EQ(out[((n * 32 + c) * 2 + i) * 2 + j], want)
                        << "n " << n << " c " << c << " (" << i << ", " << j << ")";
                }
}

TEST(ResNetCifar, HeadBiasInitialisation) {
    EXPECT_EQ(head_init_for(LossType::softmax), HeadInit::zero);
    EXPECT_EQ(head_init_for(LossType::sigmoid), HeadInit::prior);
    EXPECT_EQ(head_init_for(LossType::focal), HeadInit::prior);
    EXPECT_NEAR(head_bias_value(HeadInit::prior, 10), -2.1972, 5e-5);
    EXPECT_NEAR(head_bias_value(HeadInit::prior, 100), -4.5951, 5e-5);
    EXPECT_EQ(head_bias_value(HeadInit::zero, 1), 0.0);

    Generator gen(5);
    for (int64_t classes : {10, 100}) {
        ResNetCifar prior(options_for(8, classes, HeadInit::prior), gen);
        const float want = static_cast<float>(-std::log(static_cast<double>(classes - 1)));
        for (double b : testing::host_values(prior.head_bias())) EXPECT_EQ(b, want);
        ResNetCifar zero(options_for(8, classes), gen);
        for (double b : testing::host_values(zero.head_bias())) EXPECT_EQ(b, 0.0);
    }
    ResNetCifar c10(options_for(8, 10, HeadInit::prior), gen);
    EXPECT_NEAR(testing::host_values(c10.head_bias())[0], -2.1972, 5e-5);
}

TEST(ResNetCifar, GlorotUniformConvAndDenseWeightsAndBatchNormDefaults) {
    Generator gen(6);
    ResNetCifar model(options_for(32, 10), gen);
    const auto check_glorot = [](const Tensor& w, double fan_in, double fan_out) {
        const double a = std::sqrt(6.0 / (fan_in + fan_out));
        const std::vector<double> v = testing::host_values(w);
        double max_abs = 0.0, sum = 0.0, sum2 = 0.0;
        for (double x : v) {
            max_abs = std::max(max_abs, std::fabs(x));
            sum += x;
            sum2 += x * x;
        }
        const double n = static_cast<double>(v.size());
        EXPECT_LE(max_abs, a);
        EXPECT_GT(max_abs, 0.95 * a);  // the whole range is used
        EXPECT_NEAR(sum / n, 0.0, 4 * a / std::sqrt(3 * n));
        EXPECT_NEAR(sum2 / n, a * a / 3, 0.05 * a * a / 3);
    };
    check_glorot(model.parameter("stage3.4.conv2.weight"), 64 * 9, 64 * 9);
    check_glorot(model.parameter("stage2.0.conv1.weight"), 16 * 9, 32 * 9);
    check_glorot(model.parameter("stem.conv.weight"), 3 * 9, 16 * 9);
    const double a_fc = std::sqrt(6.0 / (64 + 10));
    for (double w : testing::host_values(model.parameter("fc.weight")))
        EXPECT_LE(std::fabs(w), a_fc);

    for (const auto& [name, t] : model.named_parameters()) {
        if (name.find(".bn") == std::string::npos && name.rfind("stem.bn", 0) != 0) continue;
        const bool gamma = name.size() > 7 && name.substr(name.size() - 7) == ".weight";
        for (double x : testing::host_values(t)) ASSERT_EQ(x, gamma ? 1.0 : 0.0) << name;
    }
    for (const auto& [name, t] : model.named_buffers()) {
        const bool var = name.find("running_var") != std::string::npos;
        for (double x : testing::host_values(t)) ASSERT_EQ(x, var ? 1.0 : 0.0) << name;
    }
    for_each_module(model, [](const Module& m) {
        if (const auto* bn = dynamic_cast<const BatchNorm2d*>(&m)) {
            EXPECT_EQ(bn->momentum(), 0.1);
            EXPECT_EQ(bn->eps(), 1e-5);
        }
    });
}

TEST(ResNetCifar, TrainAndEvalReachEveryBatchNorm) {
    Generator gen(7);
    ResNetCifar model(options_for(8, 10), gen);
    int bns = 0;
    for_each_module(model, [&](const Module& m) {
        EXPECT_TRUE(m.is_training()) << m.type_name();
        bns += dynamic_cast<const BatchNorm2d*>(&m) != nullptr;
    });
    EXPECT_EQ(bns, 7);  // stem + 3 blocks x 2
    model.eval();
    for_each_module(model, [](const Module& m) { EXPECT_FALSE(m.is_training()) << m.type_name(); });

    // Evaluation uses running statistics: a sample's logits do not depend on its batch, and the
    // statistics do not move.
    const Tensor x = random_tensor({4, 3, 16, 16}, -1, 1, 8, DType::f32);
    const std::vector<double> before = testing::host_values(model.named_buffers()[0].second);
    const std::vector<double> batch = testing::host_values(model.forward(x));
    const std::vector<double> alone =
        testing::host_values(model.forward(x.narrow(0, 2, 1).contiguous()));
    for (int j = 0; j < 10; ++j) EXPECT_EQ(alone[j], batch[2 * 10 + j]);
    EXPECT_EQ(testing::host_values(model.named_buffers()[0].second), before);

    model.train();
    for_each_module(model, [](const Module& m) { EXPECT_TRUE(m.is_training()) << m.type_name(); });
    model.forward(x);
    EXPECT_NE(testing::host_values(model.named_buffers()[0].second), before);
}

TEST(ResNetCifar, SameSeedSameWeightsAndStateRoundTrip) {
    Generator g1(42), g2(42), g3(43);
    ResNetCifar a(options_for(8, 10, HeadInit::prior), g1);
    ResNetCifar b(options_for(8, 10, HeadInit::prior), g2);
    ResNetCifar c(options_for(8, 10, HeadInit::prior), g3);
    const NamedTensors pa = a.named_parameters(), pb = b.named_parameters(),
                       pc = c.named_parameters();
    ASSERT_EQ(pa.size(), pb.size());
    for (size_t i = 0; i < pa.size(); ++i)
        EXPECT_EQ(testing::host_values(pa[i].second), testing::host_values(pb[i].second))
            << pa[i].first;
    EXPECT_NE(testing::host_values(pa[0].second), testing::host_values(pc[0].second));

    // Move a's running statistics away from their initial values, then copy its state into c.
    const Tensor x = random_tensor({4, 3, 16, 16}, -1, 1, 9, DType::f32);
    a.forward(x);
    a.forward(x * 0.5);
    deserialize_state(c, serialize_state(a));
    for (size_t i = 0; i < pa.size(); ++i)
        EXPECT_EQ(testing::host_values(pa[i].second), testing::host_values(pc[i].second))
            << pa[i].first;
    a.eval();
    c.eval();
    EXPECT_EQ(testing::host_values(a.forward(x)), testing::host_values(c.forward(x)));
    // A model of another shape refuses the state, naming the entry.
    ResNetCifar d(options_for(8, 100), g3);
    EXPECT_TRUE(throws_error([&] { deserialize_state(d, serialize_state(a)); }, {"fc.weight"}));
}

// L = sum(w * model(x)) in training mode, f64; returns analytic gradients of the parameters.
double objective(ResNetCifar& model, const Tensor& x, const Tensor& w) {
    NoGradGuard no_grad;
    return sum(model.forward(x) * w).item<double>();
}

TEST(ResNetCifar, GradcheckFloat64ThroughTheWholeNetwork) {
    Generator gen(10);
    ResNetCifar model(options_for(8, 5, HeadInit::prior, DType::f64), gen);
    const Tensor x = random_tensor({2, 3, 8, 8}, -1, 1, 11);

    // Input gradient: autograd::gradcheck, a few random directions over all 384 inputs.
    autograd::GradcheckOptions opts;
    opts.directions = 4;
    const auto r = autograd::gradcheck(
        [&](const std::vector<Tensor>& in) { return model.forward(in[0]); }, {x}, opts);
    EXPECT_TRUE(r.ok) << r.message;
    EXPECT_EQ(r.checked, 4);

    // Parameter gradients, the same directional test on the model's own parameters (gradcheck
    // differentiates copies of its inputs, so it cannot reach registered parameters).
    const Tensor w = random_tensor({2, 5}, -1, 1, 12);
    model.zero_grad();
    sum(model.forward(x) * w).backward();
    const std::vector<Tensor> params = model.parameters();
    std::vector<std::vector<double>> grads;
    for (const Tensor& p : params) {
        ASSERT_TRUE(p.grad().defined());
        grads.push_back(testing::host_values(p.grad()));
    }
    std::mt19937_64 rng(13);
    std::uniform_real_distribution<double> uniform(-1.0, 1.0);
    for (int d = 0; d < 4; ++d) {
        std::vector<Tensor> dir;
        double norm2 = 0.0, scale = 1.0;
        for (const Tensor& p : params) {
            std::vector<double> v(static_cast<size_t>(p.numel()));
            for (double& e : v) {
                e = uniform(rng);
                norm2 += e * e;
            }
            for (double e : testing::host_values(p)) scale = std::max(scale, std::fabs(e));
            dir.push_back(Tensor::from_vector<double>(v, p.shape()));
        }
        const double norm = std::sqrt(norm2);
        const double h = 1e-6 * scale;
        double analytic = 0.0;
        for (size_t i = 0; i < params.size(); ++i) {
            const std::vector<double> v = testing::host_values(dir[i]);
            for (size_t j = 0; j < v.size(); ++j) analytic += grads[i][j] * v[j] / norm;
        }
        const auto shift = [&](double amount) {
            NoGradGuard no_grad;
            for (size_t i = 0; i < params.size(); ++i) {
                Tensor p = params[i];
                p.copy_(p + dir[i] * (amount / norm));
            }
        };
        shift(h);
        const double plus = objective(model, x, w);
        shift(-2 * h);
        const double minus = objective(model, x, w);
        shift(h);
        const double numeric = (plus - minus) / (2 * h);
        // DESIGN.md's gradcheck criterion.
        EXPECT_LE(std::fabs(analytic - numeric), 1e-5 + 1e-3 * std::fabs(numeric))
            << "direction " << d << ": analytic " << analytic << ", numeric " << numeric;
    }
}

TEST(ResNetCifar, PlainSgdOnAFixedBatchLowersTheClassBalancedSoftmaxLoss) {
    Generator gen(14);
    ResNetCifar model(options_for(8, 4), gen);
    const Tensor x = random_tensor({8, 3, 16, 16}, -1, 1, 15, DType::f32);
    const Tensor labels = random_labels(8, 4, 16);
    const Tensor weights = Tensor::from_vector<float>({0.5f, 1.5f, 1.0f, 1.0f}, {4});
    const double lr = 0.1;
    std::vector<double> losses;
    for (int step = 0; step < 8; ++step) {
        model.zero_grad();
        const Tensor loss =
            class_balanced_loss(model.forward(x), labels, weights, LossType::softmax);
        losses.push_back(loss.item<float>());
        loss.backward();
        NoGradGuard no_grad;
        for (Tensor p : model.parameters()) p.copy_(p - p.grad() * lr);
    }
    for (double l : losses) ASSERT_TRUE(std::isfinite(l));
    EXPECT_LT(losses.back(), 0.5 * losses.front())
        << "first " << losses.front() << ", last " << losses.back();
}

}  // namespace
}  // namespace cbnn
