// cbnn-train-cifar run as a user runs it: --help, bad flags and values, a one-epoch smoke run.
#include <filesystem>
#include <string>

#include "gtest/gtest.h"
#include "tests/data/data_test_support.h"
#include "tests/support/run_tool.h"
#include "tests/train/trainer_flags.h"

namespace cbnn {
namespace {

using testing::run_tool;
using testing::ToolRun;

const char* kTool = "cbnn-train-cifar";

TEST(TrainCifarTool, HelpDocumentsEveryFlag) {
    const ToolRun help = run_tool(kTool, "--help");
    ASSERT_EQ(help.status, 0) << help.output;
    for (const char* flag : testing::kCommonTrainerFlags)
        EXPECT_NE(help.output.find(flag), std::string::npos) << flag;
    for (const char* flag : {"--dataset", "--imbalance", "--subset-list", "paper", "smoke",
                             "overrides", "timed", "cbnn", "bf16", "fastest", "cudnn", "train"})
        EXPECT_NE(help.output.find(flag), std::string::npos) << flag;
}

TEST(TrainCifarTool, BadInputGivesOneMessageAndFails) {
    const std::string out = testing::scratch_dir("tool_bad_input");
    const std::string data = testing::data_dir() + "/cifar10-mini";
    const std::string base = "--data " + data + " --out " + out + "/run";

    const ToolRun loss = run_tool(kTool, base + " --loss hinge");
    EXPECT_NE(loss.status, 0);
    EXPECT_NE(loss.output.find("hinge"), std::string::npos) << loss.output;

    // A path that is not UTF-8 (a run records its settings as JSON): named, not a crash, and
    // refused before anything is written.
    const ToolRun latin1 = run_tool(kTool, "--data " + data + " --out 'scratch-r\xfe'");
    EXPECT_EQ(latin1.status, 1) << latin1.output;
    EXPECT_NE(latin1.output.find("cbnn-train-cifar: --out \"scratch-r\\xfe\": not valid UTF-8"),
              std::string::npos)
        << latin1.output;
    EXPECT_FALSE(std::filesystem::exists("scratch-r\xfe"));

    const ToolRun depth = run_tool(kTool, base + " --depth 10");
    EXPECT_NE(depth.status, 0);
    EXPECT_NE(depth.output.find("cbnn-train-cifar: depth 10"), std::string::npos) << depth.output;

    const ToolRun steps = run_tool(kTool, base + " --lr-steps 1,2 --lr-factors 0.1");
    EXPECT_NE(steps.status, 0);
    EXPECT_NE(steps.output.find("lr-steps"), std::string::npos) << steps.output;

    const ToolRun beta = run_tool(kTool, base + " --beta 1");
    EXPECT_NE(beta.status, 0);
    EXPECT_NE(beta.output.find("beta"), std::string::npos) << beta.output;

    const ToolRun graph = run_tool(kTool, base + " --cuda-graph --device cpu");
    EXPECT_NE(graph.status, 0);
    EXPECT_NE(graph.output.find("--cuda-graph needs a CUDA device"), std::string::npos)
        << graph.output;

    const ToolRun algos = run_tool(kTool, base + " --conv-algos fast");
    EXPECT_NE(algos.status, 0);
    const size_t said = algos.output.find("--conv-algos: fast not in {deterministic,fastest}");
    EXPECT_NE(said, std::string::npos) << algos.output;
    EXPECT_EQ(algos.output.rfind("--conv-algos"), said) << algos.output;  // said once

    const ToolRun kernels = run_tool(kTool, base + " --conv-kernels cutlass");
    EXPECT_NE(kernels.status, 0);
    const size_t named = kernels.output.find("--conv-kernels: cutlass not in {cudnn,cbnn}");
    EXPECT_NE(named, std::string::npos) << kernels.output;
    EXPECT_EQ(kernels.output.rfind("--conv-kernels"), named) << kernels.output;  // said once

    const ToolRun eval = run_tool(kTool, base + " --eval-precision bf16");
    EXPECT_NE(eval.status, 0);
    const size_t told = eval.output.find("--eval-precision: bf16 not in {fp32,train}");
    EXPECT_NE(told, std::string::npos) << eval.output;
    EXPECT_EQ(eval.output.rfind("--eval-precision"), told) << eval.output;  // said once

    const ToolRun batching = run_tool(kTool, base + " --batching full");
    EXPECT_NE(batching.status, 0);
    const size_t cut = batching.output.find("--batching: full not in {epochs,stream}");
    EXPECT_NE(cut, std::string::npos) << batching.output;
    EXPECT_EQ(batching.output.rfind("--batching"), cut) << batching.output;  // said once

    // A batch larger than the training set (the sample has 200 images), in either batching.
    for (const char* batching : {"stream", "epochs"}) {
        const ToolRun small =
            run_tool(kTool, base + " --batch-size 512 --batching " + std::string(batching));
        EXPECT_NE(small.status, 0);
        EXPECT_NE(small.output.find("batch size 512 is larger than the training set (200 images)"),
                  std::string::npos)
            << small.output;
    }

    // A bad --out fails before any data is read (here there is none to read).
    testing::write_text(out + "/a-file", "x");
    const ToolRun file_out = run_tool(kTool, "--data " + out + "/nothing --out " + out + "/a-file");
    EXPECT_EQ(file_out.status, 1);
    EXPECT_NE(file_out.output.find("cannot create output folder " + out + "/a-file"),
              std::string::npos)
        << file_out.output;

    EXPECT_NE(run_tool(kTool, "--data " + data).status, 0);  // --out is required
    EXPECT_NE(run_tool(kTool, base + " --epochs abc").status, 0);
    const ToolRun missing = run_tool(kTool, "--data " + out + "/nothing --out " + out + "/r2");
    EXPECT_NE(missing.status, 0);
    EXPECT_NE(missing.output.find("cbnn-train-cifar:"), std::string::npos) << missing.output;
}

TEST(TrainCifarTool, SmokeRunPrintsSeedConfigAndFinalError) {
    CBNN_REQUIRE_DATA("cifar10-mini");
    const std::string out = testing::scratch_dir("tool_smoke") + "/run";
    const std::string data = testing::data_dir() + "/cifar10-mini/../cifar10-mini";
    const ToolRun r = run_tool(kTool, "--preset smoke --epochs 1 --data " + data + " --out " + out +
                                          " --seed 3 --threads 1");
    ASSERT_EQ(r.status, 0) << r.output;
    EXPECT_NE(r.output.find("seed 3"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("\"depth\": 8"), std::string::npos) << r.output;   // from the preset
    EXPECT_NE(r.output.find("\"epochs\": 1"), std::string::npos) << r.output;  // explicit flag wins
    // The default kernel choice is recorded with the rest of the configuration.
    EXPECT_NE(r.output.find("\"conv_kernels\": \"cudnn\""), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("\"batching\": \"epochs\""), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("\"eval_every\": 1"), std::string::npos) << r.output;
    // How long reading the images took: part of the run's wall time, outside its `time:` line.
    EXPECT_NE(r.output.find("testing on 200 (read in "), std::string::npos) << r.output;
    // The data folder is recorded absolute and canonical, for cbnn-eval from any folder.
    const std::string recorded =
        std::filesystem::weakly_canonical(std::filesystem::absolute(data)).string();
    EXPECT_NE(r.output.find("\"data_dir\": \"" + recorded + "\""), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("final test error"), std::string::npos) << r.output;
    EXPECT_TRUE(std::filesystem::exists(out + "/checkpoint.bin"));
    EXPECT_TRUE(std::filesystem::exists(out + "/metrics.jsonl"));
}

// Bad training sets, each with one message: a class the imbalance leaves empty (the mini set has
// 20 images per class: IF 1000 leaves deer..truck none), a folder or a binary file given as the
// subset list (the line is quoted escaped and cut, not echoed raw).
TEST(TrainCifarTool, BadTrainingSetsAreNamed) {
    CBNN_REQUIRE_DATA("cifar10-mini");
    const std::string out = testing::scratch_dir("tool_bad_sets");
    const std::string base = "--preset smoke --data " + testing::data_dir() + "/cifar10-mini";
    const ToolRun empty = run_tool(kTool, base + " --out " + out + "/a --imbalance 1000");
    EXPECT_EQ(empty.status, 1) << empty.output;
    EXPECT_NE(empty.output.find("cbnn-train-cifar: class 4 (deer) has no training images; every "
                                "class needs at least one\n"),
              std::string::npos)
        << empty.output;

    const ToolRun dir = run_tool(kTool, base + " --out " + out + "/b --subset-list " + out);
    EXPECT_EQ(dir.status, 1) << dir.output;
    EXPECT_NE(dir.output.find("cbnn-train-cifar: subset list " + out + " is a directory"),
              std::string::npos)
        << dir.output;

    std::string binary(200, '\x07');
    binary[3] = '\xfe';
    testing::write_text(out + "/list.bin", binary);
    const ToolRun raw =
        run_tool(kTool, base + " --out " + out + "/c --subset-list " + out + "/list.bin");
    EXPECT_EQ(raw.status, 1) << raw.output;
    EXPECT_NE(raw.output.find("line 1: \"\\x07\\x07\\x07\\xfe\\x07"), std::string::npos)
        << raw.output;
    EXPECT_NE(raw.output.find("...\" (200 bytes) is not an image of the dataset"),
              std::string::npos)
        << raw.output;
    EXPECT_EQ(raw.output.find('\x07'), std::string::npos) << raw.output;
}

// --preset paper cuts batches as the official pipeline (stream: 200 images at batch 64 make 3 full
// batches in the first epoch); an explicit --batching epochs wins (4 batches, the last of 8).
TEST(TrainCifarTool, PaperPresetBatchesAsTheOfficialPipeline) {
    CBNN_REQUIRE_DATA("cifar10-mini");
    const std::string out = testing::scratch_dir("tool_paper_batching");
    const std::string base =
        "--preset paper --epochs 1 --depth 8 --batch-size 64 --threads 1 "
        "--data " +
        testing::data_dir() + "/cifar10-mini --out " + out;
    const ToolRun stream = run_tool(kTool, base + "/stream");
    ASSERT_EQ(stream.status, 0) << stream.output;
    EXPECT_NE(stream.output.find("\"batching\": \"stream\""), std::string::npos) << stream.output;
    EXPECT_NE(stream.output.find("epoch 1/1  batch 3/3 "), std::string::npos) << stream.output;

    const ToolRun epochs = run_tool(kTool, base + "/epochs --batching epochs");
    ASSERT_EQ(epochs.status, 0) << epochs.output;
    EXPECT_NE(epochs.output.find("\"batching\": \"epochs\""), std::string::npos) << epochs.output;
    EXPECT_NE(epochs.output.find("epoch 1/1  batch 4/4 "), std::string::npos) << epochs.output;
}

// The paper's protocol evaluates on the test set every 2 epochs (PAPER.md 3.4: the official
// code), and at the end; so do --preset paper and the defaults without a preset. An explicit
// --eval-every wins.
TEST(TrainCifarTool, PaperProtocolEvaluatesEveryTwoEpochsAndAtTheEnd) {
    CBNN_REQUIRE_DATA("cifar10-mini");
    const std::string out = testing::scratch_dir("tool_paper_eval_every");
    const std::string base =
        "--epochs 3 --depth 8 --batch-size 64 --threads 1 --batching epochs --data " +
        testing::data_dir() + "/cifar10-mini --out " + out;
    const auto evaluated = [](const std::string& output, int epoch) {
        return output.find("epoch " + std::to_string(epoch) + ": test error") != std::string::npos;
    };
    for (const std::string preset : {"--preset paper ", ""}) {
        const ToolRun r =
            run_tool(kTool, preset + base + "/" + (preset.empty() ? "none" : "paper"));
        ASSERT_EQ(r.status, 0) << r.output;
        EXPECT_NE(r.output.find("\"eval_every\": 2"), std::string::npos) << r.output;
        EXPECT_FALSE(evaluated(r.output, 1)) << r.output;
        EXPECT_TRUE(evaluated(r.output, 2)) << r.output;
        EXPECT_TRUE(evaluated(r.output, 3)) << r.output;  // the end
    }
    const ToolRun every = run_tool(kTool, "--preset paper --eval-every 1 " + base + "/every");
    ASSERT_EQ(every.status, 0) << every.output;
    EXPECT_TRUE(evaluated(every.output, 1)) << every.output;
}

TEST(TrainCifarTool, DivergenceExitsWithStatus3) {
    CBNN_REQUIRE_DATA("cifar10-mini");
    const std::string out = testing::scratch_dir("tool_diverges") + "/run";
    const ToolRun r = run_tool(
        kTool, "--preset smoke --epochs 1 --lr 1e30 --warmup-epochs 0 --progress-every 1 --data " +
                   testing::data_dir() + "/cifar10-mini --out " + out);
    EXPECT_EQ(r.status, 3) << r.output;
    // The cause once, in the tool's last line; the log line before it names the checkpoint.
    const std::string prefix = "cbnn-train-cifar: training diverged: ";
    const size_t cause = r.output.find(prefix + "step ");
    ASSERT_NE(cause, std::string::npos) << r.output;
    const size_t from = cause + prefix.size();
    const std::string message = r.output.substr(from, r.output.find('\n', from) - from);
    EXPECT_EQ(r.output.find(message), from) << r.output;  // said once
    EXPECT_NE(r.output.find("training diverged; the last good checkpoint (none written yet)"),
              std::string::npos)
        << r.output;
    EXPECT_FALSE(std::filesystem::exists(out + "/checkpoint.bin"));
}

}  // namespace
}  // namespace cbnn
