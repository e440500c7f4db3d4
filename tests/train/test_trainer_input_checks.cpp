// Trainer settings that used to run silently wrong: a gamma with a loss that has none (softmax,
// sigmoid trained as if it were not given), and a CIFAR ResNet depth without an upper bound
// (--depth 6000000002 began building a billion blocks). Checked in both configs' validate() and
// through the tools; the image trainers' --preset paper gives its gamma to the focal loss only.
#include <string>

#include "gtest/gtest.h"
#include "tests/support/expect_error.h"
#include "tests/support/run_tool.h"
#include "train/image_trainer.h"
#include "train/trainer.h"

namespace cbnn::train {
namespace {

using testing::run_tool;
using testing::ToolRun;

template <class Config>
Config named(Config c) {
    c.data_dir = "data";
    c.out_dir = "out";
    return c;
}

template <class Config>
void expect_gamma_only_for_focal(Config c) {
    c.gamma = 2.0;
    c.loss = "focal";
    c.validate();
    for (const char* loss : {"softmax", "sigmoid"}) {
        c.loss = loss;
        EXPECT_TRUE(testing::throws_error([&] { c.validate(); },
                                          {"gamma 2", "only the focal loss has a gamma", loss}));
    }
    c.gamma = 0.0;
    c.validate();
}

TEST(TrainerInputChecks, GammaIsRefusedForLossesWithoutOne) {
    expect_gamma_only_for_focal(named(TrainConfig{}));
    expect_gamma_only_for_focal(named(ImageTrainConfig{}));
}

TEST(TrainerInputChecks, CifarDepthIsCappedAt1202) {
    TrainConfig c = named(TrainConfig{});
    c.depth = 1202;
    c.validate();
    for (int64_t depth : {int64_t{1208}, int64_t{6000000002}}) {
        c.depth = depth;
        EXPECT_TRUE(testing::throws_error([&] { c.validate(); },
                                          {"depth " + std::to_string(depth), "8 to 1202"}));
    }
}

const std::string kBase = "--data /nonexistent/data --out /nonexistent/run";

TEST(TrainerInputChecks, ToolsRefuseGammaWithoutFocalAndTooDeepResNets) {
    for (const std::string tool : {"cbnn-train-cifar", "cbnn-train-imagenet", "cbnn-train-inat"}) {
        const ToolRun r = run_tool(tool, kBase + " --loss softmax --gamma 5");
        EXPECT_EQ(r.status, 1) << tool << "\n" << r.output;
        EXPECT_NE(r.output.find(tool + ": gamma 5: only the focal loss has a gamma, not softmax"),
                  std::string::npos)
            << r.output;
    }
    const ToolRun deep = run_tool("cbnn-train-cifar", kBase + " --depth 6000000002");
    EXPECT_EQ(deep.status, 1) << deep.output;
    EXPECT_NE(deep.output.find("cbnn-train-cifar: depth 6000000002: must be 6n + 2 from 8 to 1202"),
              std::string::npos)
        << deep.output;
}

// --preset paper sets CB focal (beta 0.999, gamma 0.5); with --loss softmax it keeps beta and
// leaves gamma at 0 instead of failing on the preset's own gamma. Both runs stop at the missing
// annotation file, after printing the configuration.
TEST(TrainerInputChecks, ImagePaperPresetGivesGammaToFocalOnly) {
    const ToolRun softmax = run_tool("cbnn-train-inat", kBase + " --preset paper --loss softmax");
    EXPECT_EQ(softmax.status, 1) << softmax.output;
    EXPECT_EQ(softmax.output.find("only the focal loss"), std::string::npos) << softmax.output;
    for (const char* part : {"\"loss\": \"softmax\"", "\"gamma\": 0.0", "\"beta\": 0.999"})
        EXPECT_NE(softmax.output.find(part), std::string::npos) << part << "\n" << softmax.output;

    const ToolRun focal = run_tool("cbnn-train-inat", kBase + " --preset paper");
    EXPECT_EQ(focal.status, 1) << focal.output;
    for (const char* part : {"\"loss\": \"focal\"", "\"gamma\": 0.5", "\"beta\": 0.999"})
        EXPECT_NE(focal.output.find(part), std::string::npos) << part << "\n" << focal.output;
}

}  // namespace
}  // namespace cbnn::train
