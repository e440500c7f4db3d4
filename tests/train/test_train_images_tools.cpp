// cbnn-train-imagenet and cbnn-train-inat run as a user runs them: --help, bad input (missing
// data, bad depth, bad JSON) with one message and a non-zero exit, and a one-epoch run.
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "gtest/gtest.h"
#include "tests/support/run_tool.h"
#include "tests/train/tiny_image_set.h"
#include "tests/train/trainer_flags.h"

namespace cbnn {
namespace {

using testing::run_tool;
using testing::ToolRun;

TEST(TrainImagesTools, HelpDocumentsEveryFlagAndThePaperValues) {
    for (const char* tool : {"cbnn-train-imagenet", "cbnn-train-inat"}) {
        const ToolRun help = run_tool(tool, "--help");
        ASSERT_EQ(help.status, 0) << help.output;
        for (const char* flag : testing::kCommonTrainerFlags)
            EXPECT_NE(help.output.find(flag), std::string::npos) << tool << " " << flag;
        for (const char* flag : {"--image-size", "--skip-bad-images", "--zero-init-residual",
                                 "PAPER.md 3.5", "30,60,80", "Nesterov", "batch/256"})
            EXPECT_NE(help.output.find(flag), std::string::npos) << tool << " " << flag;
    }
    const ToolRun inat = run_tool("cbnn-train-inat", "--help");
    for (const char* flag : {"--train-json", "--val-json", "train2018.json", "val2018.json"})
        EXPECT_NE(inat.output.find(flag), std::string::npos) << flag;
}

TEST(TrainImagesTools, BadInputGivesOneMessageAndFails) {
    const auto set = testing::write_tiny_image_set("tools_bad_input", {2, 2, 2});
    const std::string out = set.root + "/runs";

    const ToolRun missing =
        run_tool("cbnn-train-imagenet", "--data " + set.root + "/nothing --out " + out + "/a");
    EXPECT_EQ(missing.status, 1) << missing.output;
    EXPECT_NE(missing.output.find("cbnn-train-imagenet: "), std::string::npos) << missing.output;
    EXPECT_NE(missing.output.find("nothing"), std::string::npos) << missing.output;

    const ToolRun depth =
        run_tool("cbnn-train-imagenet", "--data " + set.root + " --out " + out + "/b --depth 34");
    EXPECT_EQ(depth.status, 1) << depth.output;
    EXPECT_NE(depth.output.find("cbnn-train-imagenet: depth 34"), std::string::npos)
        << depth.output;

    const ToolRun inat_depth =
        run_tool("cbnn-train-inat", "--data " + set.root + " --out " + out + "/c --depth 18");
    EXPECT_EQ(inat_depth.status, 1) << inat_depth.output;
    EXPECT_NE(inat_depth.output.find("depth 18"), std::string::npos) << inat_depth.output;

    testing::write_text(set.root + "/broken.json", "{\"images\": [");
    const ToolRun json =
        run_tool("cbnn-train-inat", "--data " + set.root + " --out " + out + "/d --train-json " +
                                        set.root + "/broken.json --image-size 32");
    EXPECT_EQ(json.status, 1) << json.output;
    EXPECT_NE(json.output.find("broken.json"), std::string::npos) << json.output;

    // A folder given as the annotation file.
    const ToolRun dir_json =
        run_tool("cbnn-train-inat", "--data " + set.root + " --out " + out + "/i --train-json " +
                                        set.root + " --image-size 32");
    EXPECT_EQ(dir_json.status, 1) << dir_json.output;
    EXPECT_NE(dir_json.output.find("cbnn-train-inat: iNat file " + set.root + " is a directory"),
              std::string::npos)
        << dir_json.output;

    const ToolRun no_json = run_tool(
        "cbnn-train-inat", "--data " + set.root + "/train --out " + out + "/e --image-size 32");
    EXPECT_EQ(no_json.status, 1) << no_json.output;
    EXPECT_NE(no_json.output.find("train2018.json"), std::string::npos) << no_json.output;

    // A class folder only in val/ would shift the labels: refused.
    testing::write_bytes(set.root + "/val/class9/extra.png",
                         testing::encode_image(testing::pattern(8, 8, 0), 8, 8, 0));
    const ToolRun classes = run_tool("cbnn-train-imagenet",
                                     "--data " + set.root + " --out " + out + "/h --image-size 32");
    EXPECT_EQ(classes.status, 1) << classes.output;
    EXPECT_NE(classes.output.find("same classes"), std::string::npos) << classes.output;

    EXPECT_NE(run_tool("cbnn-train-imagenet", "--data " + set.root).status, 0);   // no --out
    EXPECT_NE(run_tool("cbnn-train-imagenet", "--out " + out + "/f").status, 0);  // no --data
    EXPECT_NE(
        run_tool("cbnn-train-inat", "--data " + set.root + " --out " + out + "/g --loss hinge")
            .status,
        0);
}

TEST(TrainImagesTools, OneEpochRunWritesTheRunFolder) {
    const auto set = testing::write_tiny_image_set("tools_run", {3, 2, 1});
    const std::string out = set.root + "/runs/inat";
    const ToolRun r = run_tool("cbnn-train-inat",
                               "--preset paper --data " + set.root + " --out " + out +
                                   " --epochs 1 --batch-size 4 --image-size 32 --seed 5 "
                                   "--threads 2 --lr-steps 5 --lr-factors 0.1 --warmup-epochs 0");
    ASSERT_EQ(r.status, 0) << r.output;
    EXPECT_NE(r.output.find("seed 5"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("\"loss\": \"focal\""), std::string::npos) << r.output;  // preset
    EXPECT_NE(r.output.find("\"beta\": 0.999"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("\"epochs\": 1"), std::string::npos) << r.output;  // flag wins
    EXPECT_NE(r.output.find("final test error"), std::string::npos) << r.output;
    for (const char* f : {"config.json", "metrics.jsonl", "report.html", "checkpoint.bin"})
        EXPECT_TRUE(std::filesystem::exists(out + "/" + f)) << f;
    // 3 classes: every label is in the top 5, so there is no top-5 error to print (was "nan").
    EXPECT_NE(r.output.find(", top-5 n/a (fewer than 6 classes), after 1 epochs"),
              std::string::npos)
        << r.output;
    EXPECT_EQ(r.output.find("nan"), std::string::npos) << r.output;
    // eval.json: null top-5 as in metrics.jsonl, classes named by the annotation's categories.
    const nlohmann::json eval = nlohmann::json::parse(testing::read_text(out + "/eval.json"));
    EXPECT_TRUE(eval.at("top5_error").is_null());
    ASSERT_EQ(eval.at("per_class").size(), 3u);
    for (size_t c = 0; c < 3; ++c)
        EXPECT_EQ(eval.at("per_class")[c].at("name"), "class" + std::to_string(c));
}

// An iNaturalist category with no training image: one message naming the class (it came from the
// class-balanced weights before, with a 1 - beta^0 the user never asked about).
TEST(TrainImagesTools, ClassWithoutTrainingImagesIsNamed) {
    const auto set = testing::write_tiny_image_set("tools_empty_class", {2, 2, 0});
    const ToolRun r = run_tool("cbnn-train-inat", "--data " + set.root + " --out " + set.root +
                                                      "/runs/a --image-size 32 --batch-size 2");
    EXPECT_EQ(r.status, 1) << r.output;
    EXPECT_NE(r.output.find("cbnn-train-inat: class 2 (class2) has no training images; every "
                            "class needs at least one\n"),
              std::string::npos)
        << r.output;
}

}  // namespace
}  // namespace cbnn
