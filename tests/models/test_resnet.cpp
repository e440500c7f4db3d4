// ResNet-50/101/152: parameter counts (101 and 152 only counted, never run), names, the stride on
// the 3x3 conv, projection shortcuts, Kaiming / Glorot / N(0, 0.01^2) / zero-gamma init, and a
// ResNet-50 forward on a tiny input for shapes.
#include <cmath>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "models/resnet.h"
#include "tests/support/expect_error.h"
#include "tests/support/random.h"
#include "tests/support/tolerance.h"

namespace cbnn {
namespace {

using testing::random_tensor;
using testing::throws_error;

ResNetOptions options_for(int64_t depth, int64_t classes) {
    ResNetOptions o;
    o.depth = depth;
    o.num_classes = classes;
    return o;
}

struct Moments {
    double mean, stddev, max_abs;
};
Moments moments(const Tensor& t) {
    const std::vector<double> v = testing::host_values(t);
    double s = 0.0, s2 = 0.0, m = 0.0;
    for (double x : v) {
        s += x;
        s2 += x * x;
        m = std::max(m, std::fabs(x));
    }
    const double n = static_cast<double>(v.size());
    return {s / n, std::sqrt(s2 / n - (s / n) * (s / n)), m};
}

// The default ResNet-50 (C = 1000, Kaiming), built once: 25.6M parameters.
const ResNet& resnet50() {
    static Generator gen(50);
    static ResNet model(options_for(50, 1000), gen);
    return model;
}

TEST(ResNet, StageBlocksAndBadDepth) {
    EXPECT_EQ(resnet_stage_blocks(50), (std::array<int64_t, 4>{3, 4, 6, 3}));
    EXPECT_EQ(resnet_stage_blocks(101), (std::array<int64_t, 4>{3, 4, 23, 3}));
    EXPECT_EQ(resnet_stage_blocks(152), (std::array<int64_t, 4>{3, 8, 36, 3}));
    Generator gen(1);
    EXPECT_TRUE(
        throws_error([&] { ResNet(options_for(34, 1000), gen); }, {"50, 101 or 152", "34"}));
    ResNetOptions prior = options_for(50, 1);
    prior.head_init = HeadInit::prior;
    EXPECT_TRUE(throws_error([&] { ResNet(prior, gen); }, {"C = 1"}));
}

TEST(ResNet, ParameterCounts) {
    EXPECT_EQ(resnet50().parameter_count(), 25557032);
    EXPECT_EQ(resnet50().type_name(), "ResNet50");
    // Glorot draws once per weight (Kaiming redraws), which keeps these constructions short.
    Generator gen(2);
    ResNetOptions o = options_for(101, 1000);
    o.conv_init = ConvInit::glorot_uniform;
    EXPECT_EQ(ResNet(o, gen).parameter_count(), 44549160);
    o.depth = 152;
    EXPECT_EQ(ResNet(o, gen).parameter_count(), 60192808);
}

TEST(ResNet, NamesStridePlacementAndProjections) {
    const ResNet& m = resnet50();
    const NamedTensors params = m.named_parameters();
    EXPECT_EQ(params[0].first, "stem.conv.weight");
    EXPECT_EQ(params[0].second.shape(), (Shape{64, 3, 7, 7}));
    EXPECT_EQ(params[3].first, "stage1.0.conv1.weight");
    EXPECT_EQ(params[params.size() - 2].first, "fc.weight");
    EXPECT_EQ(params[params.size() - 2].second.shape(), (Shape{1000, 2048}));
    EXPECT_EQ(params.back().first, "fc.bias");
    EXPECT_TRUE(params.back().second.is_same(m.head_bias()));
    EXPECT_EQ(m.parameter("stage1.0.shortcut.conv.weight").shape(), (Shape{256, 64, 1, 1}));
    EXPECT_EQ(m.parameter("stage4.0.shortcut.conv.weight").shape(), (Shape{2048, 1024, 1, 1}));
    EXPECT_EQ(m.parameter("stage3.5.conv3.weight").shape(), (Shape{1024, 256, 1, 1}));

    // Only the first block of each stage projects; the stride sits on the 3x3 conv (TF TPU code).
    for (int s = 0; s < 4; ++s) {
        const Sequential& stage = *m.stage(s);
        for (size_t b = 0; b < stage.size(); ++b) {
            const auto* block = dynamic_cast<const Bottleneck*>(stage[b].get());
            ASSERT_NE(block, nullptr);
            EXPECT_EQ(block->has_projection(), b == 0) << "stage " << s + 1 << " block " << b;
            EXPECT_EQ(block->conv1()->stride(), 1);
            EXPECT_EQ(block->conv2()->stride(), (b == 0 && s > 0) ? 2 : 1);
        }
    }
}

TEST(ResNet, KaimingConvsNarrowHeadAndBatchNormDefaults) {
    const ResNet& m = resnet50();
    // 2.4M draws: the sample standard deviation lies within 1% of sqrt(2 / fan_in).
    const Moments k = moments(m.parameter("stage4.0.conv2.weight"));
    EXPECT_NEAR(k.stddev, std::sqrt(2.0 / (512 * 9)), 0.01 * std::sqrt(2.0 / (512 * 9)));
    EXPECT_NEAR(k.mean, 0.0, 1e-4);
    const Moments stem = moments(m.parameter("stem.conv.weight"));
    EXPECT_NEAR(stem.stddev, std::sqrt(2.0 / 147), 0.05 * std::sqrt(2.0 / 147));
    const Moments fc = moments(m.parameter("fc.weight"));
    EXPECT_NEAR(fc.stddev, 0.01, 1e-4);
    EXPECT_NEAR(fc.mean, 0.0, 1e-4);
    for (double b : testing::host_values(m.head_bias())) ASSERT_EQ(b, 0.0);
    for (double g : testing::host_values(m.parameter("stage2.3.bn3.weight"))) ASSERT_EQ(g, 1.0);
}

TEST(ResNet, GlorotOptionZeroLastGammaAndPriorBias) {
    Generator gen(3);
    ResNetOptions o = options_for(50, 100);
    o.conv_init = ConvInit::glorot_uniform;
    o.zero_init_last_bn = true;
    o.head_init = HeadInit::prior;
    const ResNet m(o, gen);
    const double a = std::sqrt(6.0 / (256 * 9 + 256 * 9));
    const Moments g = moments(m.parameter("stage3.2.conv2.weight"));
    EXPECT_LE(g.max_abs, a);
    EXPECT_GT(g.max_abs, 0.95 * a);
    EXPECT_NEAR(g.stddev, a / std::sqrt(3.0), 0.02 * a / std::sqrt(3.0));
    for (const auto& [name, t] : m.named_parameters()) {
        const bool last_gamma = name.find(".bn3.weight") != std::string::npos;
        const bool gamma = last_gamma || name.find("bn.weight") != std::string::npos ||
                           name.find(".bn1.weight") != std::string::npos ||
                           name.find(".bn2.weight") != std::string::npos;
        if (!gamma) continue;
        for (double x : testing::host_values(t)) ASSERT_EQ(x, last_gamma ? 0.0 : 1.0) << name;
    }
    const float want = static_cast<float>(-std::log(99.0));
    for (double b : testing::host_values(m.head_bias())) ASSERT_EQ(b, want);
    EXPECT_NEAR(testing::host_values(m.head_bias())[0], -4.5951, 5e-5);
}

TEST(ResNet, Resnet50ForwardOnATinyInput) {
    Generator gen(4);
    ResNet m(options_for(50, 10), gen);
    const Tensor x = random_tensor({1, 3, 64, 64}, -1, 1, 5, DType::f32);
    const Tensor y = m.forward(x);
    EXPECT_EQ(y.shape(), (Shape{1, 10}));
    for (double v : testing::host_values(y)) EXPECT_TRUE(std::isfinite(v));
    EXPECT_TRUE(throws_error(
        [&] {
            m.forward(Tensor::zeros({1, 3, 16, 16}));
        },
        {"ResNet50", "[1, 3, 16, 16]"}));
}

}  // namespace
}  // namespace cbnn
