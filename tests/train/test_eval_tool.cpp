// cbnn-eval (train/eval_checkpoint.h, train/eval_main.cpp): a checkpoint trained for two epochs on
// cifar10-mini evaluates to exactly the trainer's own final evaluation (through the tool and
// through the library, with and without the stored training counts), and every bad input gives
// one message naming it and exit status 1.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "models/resnet_cifar.h"
#include "tensor/backend.h"
#include "tests/data/data_test_support.h"
#include "tests/support/expect_error.h"
#include "tests/support/run_tool.h"
#include "tests/train/trainer_test_support.h"
#include "train/checkpoint.h"
#include "train/eval_checkpoint.h"
#include "train/trainer.h"

namespace cbnn::train {
namespace {

using testing::run_tool;
using testing::ToolRun;

const char* kTool = "cbnn-eval";

std::string mini() { return testing::data_dir() + "/cifar10-mini"; }

// NaN as JSON writes it (null), for comparing a metric with the tool's output.
nlohmann::json as_json(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); }

// The last line of metrics.jsonl.
nlohmann::json last_epoch_record(const std::string& dir) {
    std::ifstream in(std::filesystem::path(dir) / "metrics.jsonl");
    std::string line, last;
    while (std::getline(in, line))
        if (!line.empty()) last = line;
    return nlohmann::json::parse(last);
}

void expect_matches(const nlohmann::json& j, const TrainResult& trained) {
    const EvalResult& want = trained.final_eval;
    EXPECT_EQ(j.at("samples"), want.samples);
    EXPECT_EQ(j.at("top1_error"), as_json(want.top1_error));
    EXPECT_EQ(j.at("top5_error"), as_json(want.top5_error));
    EXPECT_EQ(j.at("test_loss"), as_json(want.mean_loss));
    EXPECT_EQ(j.at("balanced_accuracy"), as_json(want.balanced_accuracy));
    ASSERT_EQ(j.at("per_class").size(), 10u);
    for (size_t c = 0; c < 10; ++c) {
        const nlohmann::json& row = j.at("per_class")[c];
        EXPECT_EQ(row.at("train_count"), trained.train_counts[c]) << c;
        EXPECT_EQ(row.at("test_count"), want.per_class_samples[c]) << c;
        EXPECT_EQ(row.at("accuracy"), as_json(want.per_class_accuracy[c])) << c;
    }
    for (ShotGroup g : {ShotGroup::many, ShotGroup::medium, ShotGroup::few}) {
        const nlohmann::json& group = j.at(shot_group_name(g));
        EXPECT_EQ(group.at("accuracy"), as_json(want.group(g).accuracy)) << shot_group_name(g);
        EXPECT_EQ(group.at("classes"), want.group(g).classes) << shot_group_name(g);
        EXPECT_EQ(group.at("samples"), want.group(g).samples) << shot_group_name(g);
    }
}

// Two epochs of ResNet-8 with class-balanced focal loss on a long-tailed cifar10-mini subset
// (trainer_test_support.h), then cbnn-eval on its checkpoint: every number equals the trainer's
// final evaluation and the last line of metrics.jsonl.
TEST(EvalTool, EqualsTheTrainersFinalEvaluation) {
    CBNN_REQUIRE_DATA("cifar10-mini");
    const TrainConfig c = testing::mini_focal_config(testing::scratch_dir("eval_trained") + "/run");
    std::ostringstream log;
    const TrainResult trained = train_cifar(c, log);
    ASSERT_FALSE(trained.diverged) << trained.message;
    const std::string ckpt = checkpoint_path(c);

    const std::string out = testing::scratch_path("eval_trained", "eval.json");
    const ToolRun r = run_tool(kTool, "--checkpoint " + ckpt + " --json --confusion --out " + out,
                               /*stdout_only=*/true);
    ASSERT_EQ(r.status, 0) << r.output;
    const nlohmann::json j = nlohmann::json::parse(r.output);
    expect_matches(j, trained);
    EXPECT_EQ(j.at("confusion").get<std::vector<std::vector<int64_t>>>().size(), 10u);
    std::vector<int64_t> confusion;
    for (const auto& row : j.at("confusion"))
        for (const auto& v : row) confusion.push_back(v.get<int64_t>());
    EXPECT_EQ(confusion, trained.final_eval.confusion);
    EXPECT_EQ(j.at("epoch"), 2);
    EXPECT_EQ(j.at("dataset"), "cifar10");
    EXPECT_EQ(j.at("model"), "ResNet8");
    EXPECT_EQ(j.at("train_counts_source"), "checkpoint");
    EXPECT_EQ(j.at("per_class")[3].at("name"), "cat");
    const nlohmann::json record = last_epoch_record(c.out_dir);
    EXPECT_EQ(j.at("top1_error"), record.at("test_error"));
    EXPECT_EQ(j.at("top5_error"), record.at("top5"));
    EXPECT_EQ(j.at("few").at("accuracy"), record.at("few"));

    std::ifstream file(out);
    EXPECT_EQ(nlohmann::json::parse(file), j);  // --out holds the printed object
    EXPECT_FALSE(std::filesystem::exists(out + ".tmp"));

    // The summary: same top-1 error, per-class table, no confusion matrix unless asked.
    const ToolRun text = run_tool(kTool, "--checkpoint " + ckpt);
    ASSERT_EQ(text.status, 0) << text.output;
    char top1[64];
    std::snprintf(top1, sizeof top1, "top-1 error %.4f", trained.final_eval.top1_error);
    EXPECT_NE(text.output.find(top1), std::string::npos) << text.output;
    for (const char* part : {"top-5 error", "many", "medium", "few", "airplane", "truck"})
        EXPECT_NE(text.output.find(part), std::string::npos) << part << "\n" << text.output;
    EXPECT_EQ(text.output.find("confusion"), std::string::npos) << text.output;
    EXPECT_NE(run_tool(kTool, "--checkpoint " + ckpt + " --confusion").output.find("confusion"),
              std::string::npos);

    // A checkpoint without "train_counts" (written before they were stored): the counts are
    // rebuilt from the config's long-tail subset and the result is the same.
    ResNetCifarOptions o;
    o.depth = 8;
    o.head_init = HeadInit::prior;
    Generator gen(7);
    ResNetCifar model(o, gen);
    Sgd sgd(model.named_parameters(), SgdOptions{});
    nlohmann::json meta = load_checkpoint(ckpt, model, sgd);
    meta.erase("train_counts");
    const std::string old_ckpt = testing::scratch_path("eval_trained", "old.bin");
    save_checkpoint(old_ckpt, model, sgd, meta);
    CheckpointEvalOptions options;
    options.checkpoint = old_ckpt;
    options.batch_size = 32;
    const CheckpointEval rebuilt = evaluate_checkpoint(options);
    EXPECT_EQ(rebuilt.train_counts_source, "rebuilt from the training split");
    expect_matches(checkpoint_eval_json(rebuilt, false), trained);
}

// A freshly initialised model saved as a checkpoint of a run with `config` (no training needed
// for the error paths).
std::string write_checkpoint(const std::string& name, const nlohmann::json& config,
                             int64_t depth = 8) {
    ResNetCifarOptions o;
    o.depth = depth;
    Generator gen(1);
    ResNetCifar model(o, gen);
    Sgd sgd(model.named_parameters(), SgdOptions{});
    const std::string path = testing::scratch_path("eval_bad", name);
    save_checkpoint(path, model, sgd, {{"epoch", 1}, {"step", 4}, {"config", config}});
    return path;
}

nlohmann::json config_json(const std::string& data_dir) {
    TrainConfig c;
    c.data_dir = data_dir;
    c.out_dir = "unused";
    c.depth = 8;
    return c.to_json();
}

// Bad input through the tool: exit status 1 and one "cbnn-eval: " message naming the problem.
void expect_rejected(const std::string& args, const std::vector<std::string>& parts) {
    const ToolRun r = run_tool(kTool, args);
    EXPECT_EQ(r.status, 1) << args << "\n" << r.output;
    for (const std::string& part : parts)
        EXPECT_NE(r.output.find(part), std::string::npos) << part << "\n" << r.output;
}

// A run trained in bf16 channels-last and evaluated so (--eval-precision train): cbnn-eval
// evaluates its checkpoint as the trainer did, bf16 NHWC batches, and gets every number again. An
// f32 NCHW evaluation of the same weights gives another test loss (the trainer's own fp32
// evaluation of the same training, second run).
TEST(EvalTool, EvaluatesInTheRunsOwnPrecisionAndLayout) {
    CBNN_REQUIRE_DATA("cifar10-mini");
    TrainConfig c = testing::mini_focal_config(testing::scratch_dir("eval_bf16") + "/run");
    c.epochs = 1;
    c.precision = "bf16";
    c.layout = "nhwc";
    c.eval_precision = "train";
    TrainConfig f32_eval = c;
    f32_eval.out_dir = testing::scratch_dir("eval_bf16_f32") + "/run";
    f32_eval.eval_precision = "fp32";
    std::ostringstream log;
    const TrainResult trained = train_cifar(c, log), trained_f32_eval = train_cifar(f32_eval, log);
    ASSERT_FALSE(trained.diverged) << trained.message;
    ASSERT_FALSE(trained_f32_eval.diverged) << trained_f32_eval.message;
    ASSERT_NE(trained.final_eval.mean_loss, trained_f32_eval.final_eval.mean_loss);

    const ToolRun r =
        run_tool(kTool, "--checkpoint " + checkpoint_path(c) + " --json", /*stdout_only=*/true);
    ASSERT_EQ(r.status, 0) << r.output;
    expect_matches(nlohmann::json::parse(r.output), trained);
}

TEST(EvalTool, HelpDocumentsEveryFlagAndTheExitStatus) {
    const ToolRun help = run_tool(kTool, "--help");
    ASSERT_EQ(help.status, 0) << help.output;
    for (const char* part : {"--checkpoint", "--data", "--device", "--batch-size", "--json",
                             "--out", "--confusion", "Exit status", "cifar10", "cifar100"})
        EXPECT_NE(help.output.find(part), std::string::npos) << part;
}

TEST(EvalTool, MissingOrCorruptCheckpointIsRejected) {
    const std::string dir = testing::scratch_dir("eval_bad");
    expect_rejected("--checkpoint " + dir + "/none.bin", {"cbnn-eval: ", dir + "/none.bin"});
    expect_rejected("", {"--checkpoint"});

    const std::string path = write_checkpoint("corrupt.bin", config_json(dir));
    std::vector<uint8_t> bytes = testing::read_bytes(path);
    bytes[bytes.size() / 2] ^= 0x40;
    testing::write_bytes(path, bytes);
    expect_rejected("--checkpoint " + path, {"cbnn-eval: ", path, "checksum"});

    testing::write_text(dir + "/text.bin", "not a checkpoint");
    expect_rejected("--checkpoint " + dir + "/text.bin", {"not a cbnn checkpoint"});
}

TEST(EvalTool, WeightsThatDoNotFitTheConfigsModelAreRejected) {
    const std::string dir = testing::scratch_dir("eval_bad");
    nlohmann::json config = config_json(dir);
    config["depth"] = 20;  // the file holds ResNet-8 weights
    const std::string deeper = write_checkpoint("deeper.bin", config);
    expect_rejected("--checkpoint " + deeper, {"do not match", "ResNet20"});

    config = config_json(dir);
    config["dataset"] = "cifar100";  // 10-class head in the file
    const std::string wider = write_checkpoint("wider.bin", config);
    expect_rejected("--checkpoint " + wider, {"do not match", "100 classes", "fc.weight"});

    // A depth no CIFAR ResNet has is refused before any model is built.
    config = config_json(dir);
    config["depth"] = 6000000002;
    expect_rejected("--checkpoint " + write_checkpoint("huge.bin", config),
                    {"depth 6000000002", "1202"});
}

TEST(EvalTool, UnknownDatasetOrConfigIsNamed) {
    const std::string dir = testing::scratch_dir("eval_bad");
    nlohmann::json config = config_json(dir);
    config["dataset"] = "imagenet";
    expect_rejected("--checkpoint " + write_checkpoint("imagenet.bin", config),
                    {"dataset 'imagenet'", "cifar10, cifar100"});
    expect_rejected("--checkpoint " + write_checkpoint("noconfig.bin", nlohmann::json::object()),
                    {"names no dataset"});

    config = config_json(dir);
    config.erase("depth");
    EXPECT_TRUE(testing::throws_error(
        [&] {
            CheckpointEvalOptions o;
            o.checkpoint = write_checkpoint("nodepth.bin", config);
            evaluate_checkpoint(o);
        },
        {"nodepth.bin", "'depth'"}));
}

TEST(EvalTool, MissingDataFolderIsRejected) {
    const std::string dir = testing::scratch_dir("eval_bad");
    const std::string path = write_checkpoint("nodata.bin", config_json(dir + "/gone"));
    expect_rejected("--checkpoint " + path, {"data folder '" + dir + "/gone'", "give --data"});
    expect_rejected("--checkpoint " + path + " --data " + dir + "/also-gone",
                    {"data folder '" + dir + "/also-gone' (--data)"});
}

TEST(EvalTool, BadDeviceOrBatchSizeIsRejected) {
    testing::scratch_dir("eval_bad");
    const std::string path = write_checkpoint("flags.bin", config_json(mini()));
    expect_rejected("--checkpoint " + path + " --batch-size 0", {"batch size 0: must be >= 1"});
    expect_rejected("--checkpoint " + path + " --batch-size=-3", {"batch size -3"});
    expect_rejected("--checkpoint " + path + " --batch-size abc", {"--batch-size"});
    expect_rejected("--checkpoint " + path + " --device tpu", {"cbnn-eval: ", "tpu"});
    if (cuda_available()) GTEST_SKIP() << "a GPU is present: --device cuda is valid here";
    expect_rejected("--checkpoint " + path + " --device cuda", {"cbnn-eval: ", "CUDA"});
}

// --out would replace the checkpoint with the JSON (exit 0): refused however the same file is
// named, before anything is evaluated; so is an empty --out, which used to be ignored.
TEST(EvalTool, OutMayNotBeTheCheckpointNorEmpty) {
    const std::string path = write_checkpoint("self.bin", config_json("unused"));
    const std::string dir = std::filesystem::path(path).parent_path().string();
    const std::string link = dir + "/link.bin";
    std::filesystem::remove(link);
    std::filesystem::create_symlink(path, link);
    const std::vector<uint8_t> bytes = testing::read_bytes(path);
    for (const std::string& out :
         {path, dir + "/./self.bin", dir + "/../eval_bad/self.bin", link}) {
        expect_rejected("--checkpoint " + path + " --out " + out,
                        {"cbnn-eval: --out " + out + " is the checkpoint itself"});
        EXPECT_EQ(testing::read_bytes(path), bytes) << out;
    }
    // Neither exists yet: the same path, spelt otherwise.
    expect_rejected("--checkpoint " + dir + "/none.bin --out " + dir + "/sub/../none.bin",
                    {"is the checkpoint itself"});
    expect_rejected("--checkpoint " + path + " --out \"\"", {"cbnn-eval: --out: empty file name"});
}

// An --out that cannot be written is named once, after the tool's prefix ("cbnn-eval: cbnn-eval
// --out: ..." before).
TEST(EvalTool, UnwritableOutIsNamedOnce) {
    CBNN_REQUIRE_DATA("cifar10-mini");
    const std::string path = write_checkpoint("unwritable.bin", config_json(mini()));
    const std::string out = testing::scratch_dir("eval_unwritable") + "/missing/eval.json";
    const ToolRun r = run_tool(kTool, "--checkpoint " + path + " --batch-size 100 --out " + out);
    EXPECT_EQ(r.status, 1) << r.output;
    EXPECT_EQ(r.output.rfind("cbnn-eval: --out: cannot create '" + out + ".tmp'", 0), 0u)
        << r.output;
    EXPECT_EQ(r.output.find("cbnn-eval", 1), std::string::npos) << r.output;
}

// Without a GPU, evaluation of an untrained checkpoint on the data it names works with any batch
// size and the summary names the rebuilt training counts (no "train_counts" in this meta).
TEST(EvalTool, EvaluatesAnyBatchSizeOnTheRecordedData) {
    CBNN_REQUIRE_DATA("cifar10-mini");
    const std::string path = write_checkpoint("fresh.bin", config_json(mini()));
    const ToolRun r = run_tool(kTool, "--checkpoint " + path + " --batch-size 7 --json", true);
    ASSERT_EQ(r.status, 0) << r.output;
    const nlohmann::json j = nlohmann::json::parse(r.output);
    EXPECT_EQ(j.at("batch_size"), 7);
    EXPECT_EQ(j.at("samples"), 200);
    EXPECT_EQ(j.at("train_counts_source"), "rebuilt from the training split");
    EXPECT_FALSE(j.contains("confusion"));
    int64_t train_total = 0;
    for (const auto& row : j.at("per_class")) train_total += row.at("train_count").get<int64_t>();
    EXPECT_EQ(train_total, 200);  // imbalance 1: the whole training split
}

}  // namespace
}  // namespace cbnn::train
