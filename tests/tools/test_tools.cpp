// The command-line tools, run as a user runs them: exit status and output, good and bad input.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "gtest/gtest.h"
#include "tensor/backend.h"
#include "tensor/npy.h"
#include "tests/support/run_tool.h"
#include "tests/support/scratch.h"

namespace cbnn {
namespace {

using testing::run_tool;
using testing::ToolRun;

std::string temp(const std::string& name) { return testing::scratch_path("tools", name); }

const char* kCifar10Counts = "5000,2997,1796,1077,645,387,232,139,83,50";

TEST(WeightsTool, PrintsThePaperWeightsAsJson) {
    const ToolRun r = run_tool("cbnn-weights",
                               std::string("--counts ") + kCifar10Counts + " --beta 0.9999 --json");
    ASSERT_EQ(r.status, 0) << r.output;
    const auto j = nlohmann::json::parse(r.output);
    const std::vector<double> expected = {0.0506, 0.0769, 0.1211, 0.1950, 0.3188,
                                          0.5246, 0.8683, 1.4426, 2.4092, 3.9927};  // PAPER.md 1.5
    const auto weights = j.at("weights").get<std::vector<double>>();
    ASSERT_EQ(weights.size(), expected.size());
    double total = 0;
    for (size_t i = 0; i < expected.size(); ++i) {
        EXPECT_NEAR(weights[i], expected[i], 5e-5) << "class " << i;
        total += weights[i];
    }
    EXPECT_NEAR(total, 10.0, 1e-12);
    // At least 9 significant digits: the JSON number round-trips the double.
    EXPECT_NE(r.output.find("0.0506"), std::string::npos);
}

TEST(WeightsTool, TableOutputAndBadInput) {
    const ToolRun table = run_tool("cbnn-weights", "--counts 10,5 --beta 0");
    ASSERT_EQ(table.status, 0) << table.output;
    EXPECT_NE(table.output.find("1.000000000"), std::string::npos) << table.output;

    const ToolRun zero = run_tool("cbnn-weights", "--counts 10,0,5 --beta 0.99");
    EXPECT_NE(zero.status, 0);
    EXPECT_NE(zero.output.find("cbnn-weights:"), std::string::npos) << zero.output;
    EXPECT_NE(zero.output.find("class 1"), std::string::npos) << zero.output;

    EXPECT_NE(run_tool("cbnn-weights", "--counts 10,5 --beta 1").status, 0);
    EXPECT_NE(run_tool("cbnn-weights", "--counts 10,abc --beta 0.9").status, 0);
    EXPECT_NE(run_tool("cbnn-weights", "--beta 0.9").status, 0);  // --counts is required
    const ToolRun help = run_tool("cbnn-weights", "--help");
    EXPECT_EQ(help.status, 0);
    EXPECT_NE(help.output.find("--counts"), std::string::npos);
}

class LossToolTest : public ::testing::Test {
  protected:
    void SetUp() override {
        // PAPER.md 1.5: z = (2, -1, 0.5), label 0, no class weighting.
        write_npy(logits_, Tensor::from_vector<float>({2.0f, -1.0f, 0.5f}, {1, 3}));
        write_npy(labels_, Tensor::from_vector<int64_t>({0}, {1}));
    }
    std::string base(const std::string& loss, const std::string& extra = "") {
        return "--loss " + loss + " --counts 1,1,1 --logits " + logits_ + " --labels " + labels_ +
               " " + extra;
    }
    std::string logits_ = temp("logits.npy"), labels_ = temp("labels.npy");
};

TEST_F(LossToolTest, FocalExampleLossAndGradient) {
    const std::string dlogits = temp("dlogits.npy");
    const ToolRun r =
        run_tool("cbnn-loss", base("focal", "--gamma 1 --json --dlogits-out " + dlogits));
    ASSERT_EQ(r.status, 0) << r.output;
    EXPECT_NEAR(nlohmann::json::parse(r.output).at("loss").get<double>(), 0.705703, 1e-6);
    const std::vector<float> g = read_npy(dlogits).to_vector<float>();
    ASSERT_EQ(g.size(), 3u);
    EXPECT_NEAR(g[0], -0.027536, 1e-6);
    EXPECT_NEAR(g[1], 0.133920, 1e-6);
    EXPECT_NEAR(g[2], 0.616367, 1e-6);
}

TEST_F(LossToolTest, SoftmaxExampleWithInt32LabelsAndFloat64Logits) {
    write_npy(logits_, Tensor::from_vector<double>({2.0, -1.0, 0.5}, {1, 3}));
    // int32 labels as NumPy writes them.
    {
        std::string header = "{'descr': '<i4', 'fortran_order': False, 'shape': (1,), }";
        header.append((64 - (10 + header.size() + 1) % 64) % 64, ' ');
        header += '\n';
        std::ofstream out(labels_, std::ios::binary);
        out << std::string("\x93NUMPY\x01\x00", 8) << static_cast<char>(header.size()) << '\0'
            << header << std::string(4, '\0');
    }
    const ToolRun r = run_tool("cbnn-loss", base("softmax", "--json"));
    ASSERT_EQ(r.status, 0) << r.output;
    EXPECT_NEAR(nlohmann::json::parse(r.output).at("loss").get<double>(), 0.241311, 1e-6);
}

TEST_F(LossToolTest, BadFilesAndFlagsGiveOneClearMessage) {
    const auto expect_failure = [&](const std::string& args, const std::string& fragment) {
        const ToolRun r = run_tool("cbnn-loss", args);
        EXPECT_NE(r.status, 0) << args;
        EXPECT_NE(r.output.find(fragment), std::string::npos) << args << "\n" << r.output;
    };
    const std::string text = temp("not_npy.npy");
    std::ofstream(text) << "plain text";
    expect_failure("--loss softmax --counts 1,1,1 --logits " + text + " --labels " + labels_,
                   "not a .npy file");
    expect_failure(
        "--loss softmax --counts 1,1,1 --logits " + temp("absent.npy") + " --labels " + labels_,
        "cannot open");
    const std::string one_d = temp("one_d.npy");
    write_npy(one_d, Tensor::from_vector<float>({1, 2, 3}, {3}));
    expect_failure("--loss softmax --counts 1,1,1 --logits " + one_d + " --labels " + labels_,
                   "shape (N, C)");
    const std::string bad_label = temp("bad_label.npy");
    write_npy(bad_label, Tensor::from_vector<int64_t>({3}, {1}));
    expect_failure("--loss softmax --counts 1,1,1 --logits " + logits_ + " --labels " + bad_label,
                   "label 3 at row 0 is outside [0, 3)");
    const std::string float_labels = temp("float_labels.npy");
    write_npy(float_labels, Tensor::from_vector<float>({0}, {1}));
    expect_failure(
        "--loss softmax --counts 1,1,1 --logits " + logits_ + " --labels " + float_labels,
        "labels must be int32 or int64");
    const std::string truncated = temp("truncated.npy");
    write_npy(truncated, Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3}));
    std::filesystem::resize_file(truncated, std::filesystem::file_size(truncated) - 4);
    expect_failure("--loss softmax --counts 1,1,1 --logits " + truncated + " --labels " + labels_,
                   "truncated");
    expect_failure("--loss softmax --counts 1,1 --logits " + logits_ + " --labels " + labels_,
                   "2 counts given for 3 classes");
    // A non-finite logit would make the loss NaN (printed as "-nan", exit 0, before): refused,
    // naming the first one.
    write_npy(temp("labels2.npy"), Tensor::from_vector<int64_t>({0, 2}, {2}));
    const std::string nan_logits = temp("nan_logits.npy");
    write_npy(nan_logits,
              Tensor::from_vector<float>({1, 2, 3, 4, std::nanf(""), -INFINITY}, {2, 3}));
    expect_failure(
        "--loss softmax --counts 1,1,1 --logits " + nan_logits + " --labels " + temp("labels2.npy"),
        nan_logits + ": logit (1, 1) is NaN; the logits must be finite");
    const std::string inf_logits = temp("inf_logits.npy");
    write_npy(inf_logits, Tensor::from_vector<double>({1, 2, INFINITY}, {1, 3}));
    expect_failure("--loss focal --counts 1,1,1 --logits " + inf_logits + " --labels " + labels_,
                   inf_logits + ": logit (0, 2) is +inf; the logits must be finite");
    expect_failure(base("focal", "--gamma -1"), "gamma");
    // Printed as "(beta 0, gamma 3)" and ignored before: only focal has a gamma.
    expect_failure(base("softmax", "--gamma 3"), "--gamma 3: only the focal loss has a gamma");
    expect_failure(base("sigmoid", "--gamma 0.5"), "--gamma 0.5: only the focal loss has a gamma");
    expect_failure(base("sigmoid", "--beta 1.5"), "beta");
    expect_failure(base("hinge"), "--loss");
    expect_failure(base("softmax", "--device tpu"), "unknown device");
    if (!cuda_available()) expect_failure(base("softmax", "--device cuda"), "CUDA was requested");
}

}  // namespace
}  // namespace cbnn
