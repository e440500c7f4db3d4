// The CIFAR trainer on the CPU, on the 200-image cifar10-mini sample: the loss falls over two
// epochs, the run folder is complete, and 1 epoch + resume + 1 epoch equals 2 epochs bit for bit.
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "gtest/gtest.h"
#include "models/resnet_cifar.h"
#include "tests/data/data_test_support.h"
#include "tests/support/expect_error.h"
#include "tests/train/run_test_support.h"
#include "train/trainer.h"

namespace cbnn::train {
namespace {

TrainConfig small_config(const std::string& out) {
    TrainConfig c;
    c.data_dir = testing::data_dir() + "/cifar10-mini";
    c.out_dir = testing::scratch_dir(out);
    c.depth = 8;
    c.epochs = 2;
    c.batch_size = 32;
    c.lr = 0.4;  // 0.1 at batch 32
    c.warmup_epochs = 0;
    c.lr_steps = {};
    c.lr_factors = {};
    c.threads = 1;
    return c;
}

// Trains `c` for 1 epoch, then resumes it to 2 epochs; `c` becomes the resumed run's config.
TrainResult one_epoch_then_resume(TrainConfig& c, std::ostream& log) {
    c.epochs = 1;
    const TrainResult first = train_cifar(c, log);
    if (first.diverged) return first;
    c.epochs = 2;
    c.resume = true;
    return train_cifar(c, log);
}

testing::LoadedRun load(const TrainConfig& c) {
    ResNetCifarOptions o;
    o.depth = c.depth;
    o.num_classes = 10;
    Generator gen(99);
    return testing::load_run(std::make_shared<ResNetCifar>(o, gen), checkpoint_path(c));
}

// Two epochs straight: the loss falls and the run folder is complete. Then 1 epoch + resume +
// 1 epoch gives the same weights, BN statistics and momentum bit for bit.
TEST(Trainer, TwoEpochsLowerTheLossAndResumeEqualsTheUninterruptedRun) {
    CBNN_REQUIRE_DATA("cifar10-mini");
    // Focal loss on a long-tailed subset: exercises the class weights, the prior head bias and
    // the fc.bias weight-decay exclusion too.
    auto configure = [](const std::string& name) {
        TrainConfig c = small_config(name);
        c.loss = "focal";
        c.beta = 0.99;
        c.gamma = 1.0;
        c.imbalance = 5;
        c.warmup_epochs = 1;
        c.lr_steps = {1.5};
        c.lr_factors = {0.1};
        c.eval_every = 2;
        return c;
    };
    std::ostringstream log;
    const TrainConfig straight = configure("trainer_straight");
    const TrainResult r = train_cifar(straight, log);
    ASSERT_FALSE(r.diverged) << r.message;
    EXPECT_EQ(r.epochs_done, 2);
    ASSERT_EQ(r.epoch_losses.size(), 2u);
    EXPECT_LT(r.epoch_losses[1], r.epoch_losses[0]) << log.str();
    EXPECT_GE(r.final_test_error, 0.0);
    EXPECT_LE(r.final_test_error, 1.0);
    EXPECT_EQ(r.final_eval.samples, 200);
    const std::filesystem::path dir(straight.out_dir);
    EXPECT_TRUE(std::filesystem::exists(dir / "config.json"));
    EXPECT_TRUE(std::filesystem::exists(dir / "report.html"));
    EXPECT_TRUE(std::filesystem::exists(dir / "checkpoint.bin"));
    EXPECT_EQ(testing::lines_of(dir / "metrics.jsonl"), 2);
    EXPECT_NE(log.str().find("epoch 2/2"), std::string::npos) << log.str();
    // The run ends with where its time went (eval_every 2: one evaluation, in epoch 2's record).
    EXPECT_NE(log.str().find(", 1 evaluation "), std::string::npos) << log.str();
    EXPECT_NE(log.str().find("time: "), std::string::npos) << log.str();
    const std::vector<nlohmann::json> epochs = testing::json_lines(dir / "metrics.jsonl");
    ASSERT_EQ(epochs.size(), 2u);
    EXPECT_TRUE(epochs[0].at("eval_seconds").is_null());
    EXPECT_GE(epochs[1].at("eval_seconds").get<double>(), 0.0);
    EXPECT_LE(epochs[1].at("eval_seconds").get<double>(), epochs[1].at("seconds").get<double>());
    // eval.json: the last evaluation with its per-class accuracies and training counts.
    std::ifstream eval_file(dir / "eval.json");
    const nlohmann::json eval = nlohmann::json::parse(eval_file);
    EXPECT_EQ(eval.at("epoch"), 2);
    EXPECT_DOUBLE_EQ(eval.at("top1_error").get<double>(), r.final_test_error);
    ASSERT_EQ(eval.at("per_class").size(), 10u);
    // Classes named as the dataset names them (cbnn-eval does the same), in label order.
    EXPECT_EQ(eval.at("per_class")[0].at("name"), "airplane");
    EXPECT_EQ(eval.at("per_class")[9].at("name"), "truck");
    for (size_t c = 0; c < 10; ++c) {
        EXPECT_EQ(eval.at("per_class")[c].at("train_count"), r.final_eval.train_counts[c]);
        EXPECT_DOUBLE_EQ(eval.at("per_class")[c].at("accuracy").get<double>(),
                         r.final_eval.per_class_accuracy[c]);
    }

    TrainConfig second = configure("trainer_resumed");
    const TrainResult resumed = one_epoch_then_resume(second, log);
    ASSERT_FALSE(resumed.diverged);
    EXPECT_EQ(resumed.epochs_done, 2);
    EXPECT_EQ(testing::lines_of(std::filesystem::path(second.out_dir) / "metrics.jsonl"), 2);

    testing::expect_same_run(load(straight), load(second));

    // A resumed run must keep the settings that decide the result.
    TrainConfig changed = second;
    changed.epochs = 3;
    changed.seed = 1;
    EXPECT_TRUE(
        testing::throws_error([&] { train_cifar(changed, log); }, {"--resume", "seed 0 -> 1"}));
    // Named before the weights are read: not "the tensors do not fit".
    changed = second;
    changed.depth = 14;
    EXPECT_TRUE(
        testing::throws_error([&] { train_cifar(changed, log); }, {"--resume", "depth 8 -> 14"}));
}

// Stream batching (--preset paper's): floor(E N / B) full steps in all, each epoch the steps
// whose last sample falls in it, and 1 epoch + resume + 1 epoch still equals 2 epochs bit for bit
// (the resume lands inside a batch that straddles the epoch end's samples).
TEST(Trainer, StreamBatchingRunsTheOfficialStepCountAndResumesExactly) {
    CBNN_REQUIRE_DATA("cifar10-mini");
    auto configure = [](const std::string& name) {
        TrainConfig c = small_config(name);
        c.batching = "stream";
        c.batch_size = 24;
        c.lr = 0.1 * 128 / 24;
        return c;
    };
    std::ostringstream log;
    const TrainConfig straight = configure("trainer_stream_straight");
    const TrainResult r = train_cifar(straight, log);
    ASSERT_FALSE(r.diverged) << r.message;
    int64_t n = 0;
    for (int64_t count : r.train_counts) n += count;
    ASSERT_EQ(n, 200);
    EXPECT_EQ(r.steps_done, 2 * 200 / 24);  // 16, where epochs batching makes 2 x 9 = 18
    EXPECT_NE(log.str().find("epoch 1/2  batch 8/8 "), std::string::npos) << log.str();
    EXPECT_NE(log.str().find("epoch 2/2  batch 8/8 "), std::string::npos) << log.str();

    TrainConfig second = configure("trainer_stream_resumed");
    const TrainResult resumed = one_epoch_then_resume(second, log);
    ASSERT_FALSE(resumed.diverged);
    EXPECT_EQ(resumed.steps_done, r.steps_done);
    testing::expect_same_run(load(straight), load(second));

    // The batching decides the batches: a resume may not change it.
    TrainConfig changed = second;
    changed.epochs = 3;
    changed.batching = "epochs";
    EXPECT_TRUE(testing::throws_error([&] { train_cifar(changed, log); },
                                      {"--resume", "batching \"stream\" -> \"epochs\""}));
}

TEST(Trainer, DivergenceStopsTheRunWithoutACheckpoint) {
    CBNN_REQUIRE_DATA("cifar10-mini");
    TrainConfig c = small_config("trainer_diverges");
    c.lr = 1e30;
    c.progress_every = 1;
    std::ostringstream log;
    const TrainResult r = train_cifar(c, log);
    EXPECT_TRUE(r.diverged);
    EXPECT_NE(r.message.find("step "), std::string::npos) << r.message;
    EXPECT_EQ(r.epochs_done, 0);
    EXPECT_NE(log.str().find("training diverged"), std::string::npos) << log.str();
    EXPECT_FALSE(std::filesystem::exists(checkpoint_path(c)));
}

TEST(Trainer, BadConfigurationsAreRejected) {
    TrainConfig c;
    c.data_dir = "x";
    c.out_dir = "y";
    c.depth = 10;
    EXPECT_TRUE(testing::throws_error([&] { c.validate(); }, {"depth 10"}));
    c.depth = 8;
    c.loss = "hinge";
    EXPECT_TRUE(testing::throws_error([&] { c.validate(); }, {"hinge"}));
    c.loss = "softmax";
    c.lr_factors = {0.1};
    EXPECT_TRUE(testing::throws_error([&] { c.validate(); }, {"lr-steps"}));
    c.lr_factors = {0.1, 0.01};  // the default two steps
    c.conv_search = "fastest";
    EXPECT_TRUE(testing::throws_error([&] { c.validate(); }, {"'fastest'"}));
    c.conv_search = "timed";
    c.conv_algos = "fast";
    EXPECT_TRUE(testing::throws_error([&] { c.validate(); }, {"'fast'", "deterministic, fastest"}));
    c.conv_algos = "fastest";
    c.conv_kernels = "cutlass";
    EXPECT_TRUE(testing::throws_error([&] { c.validate(); }, {"'cutlass'", "cudnn, cbnn"}));
    c.conv_kernels = "cbnn";
    c.bn_kernels = "miopen";
    EXPECT_TRUE(testing::throws_error([&] { c.validate(); }, {"'miopen'"}));
    c.bn_kernels = "cbnn";
    c.cuda_graph = true;  // c.device is the CPU
    EXPECT_TRUE(testing::throws_error([&] { c.validate(); }, {"--cuda-graph", "cpu"}));
    c.cuda_graph = false;
    c.precision = "fp16";
    EXPECT_TRUE(testing::throws_error([&] { c.validate(); }, {"precision 'fp16'", "bf16"}));
    c.precision = "bf16";
    c.layout = "NHWC";
    EXPECT_TRUE(testing::throws_error([&] { c.validate(); }, {"'NHWC'", "nchw", "nhwc"}));
    c.layout = "nhwc";
    c.eval_precision = "bf16";
    EXPECT_TRUE(testing::throws_error([&] { c.validate(); }, {"'bf16'", "fp32, train"}));
    c.eval_precision = "train";
    c.validate();
    EXPECT_EQ(c.to_json().at("precision"), "bf16");
    EXPECT_EQ(c.to_json().at("layout"), "nhwc");
    EXPECT_EQ(c.to_json().at("conv_search"), "timed");
    EXPECT_EQ(c.to_json().at("bn_kernels"), "cbnn");
    EXPECT_EQ(c.to_json().at("conv_algos"), "fastest");
    EXPECT_EQ(loop_settings(c, 100, {}).conv_algos, ConvAlgorithms::fastest);
    EXPECT_EQ(loop_settings(TrainConfig{}, 100, {}).conv_algos, ConvAlgorithms::deterministic);
    EXPECT_EQ(c.to_json().at("conv_kernels"), "cbnn");
    EXPECT_EQ(loop_settings(c, 100, {}).conv_kernels, ConvKernels::cbnn);
    EXPECT_EQ(loop_settings(TrainConfig{}, 100, {}).conv_kernels, ConvKernels::cudnn);
    EXPECT_EQ(c.to_json().at("eval_precision"), "train");
    EXPECT_EQ(TrainConfig{}.to_json().at("eval_precision"), "fp32");
}

// --eval-precision train evaluates in the training step's dtype and layout; fp32 (the default)
// in f32 NCHW whatever they are.
TEST(TrainConfig, EvaluationInputFollowsTheEvalPrecision) {
    TrainConfig c;
    c.precision = "bf16";
    c.layout = "nhwc";
    const EvalInput fp32 = evaluation_input(loop_settings(c, 100, {}));
    EXPECT_EQ(fp32.dtype, DType::f32);
    EXPECT_EQ(fp32.format, MemoryFormat::contiguous);
    c.eval_precision = "train";
    const EvalInput train = evaluation_input(loop_settings(c, 100, {}));
    EXPECT_EQ(train.dtype, DType::bf16);
    EXPECT_EQ(train.format, MemoryFormat::channels_last);
    c.precision = "tf32";  // TF32 is the run's math setting, not an input dtype
    c.layout = "nchw";
    const EvalInput tf32 = evaluation_input(loop_settings(c, 100, {}));
    EXPECT_EQ(tf32.dtype, DType::f32);
    EXPECT_EQ(tf32.format, MemoryFormat::contiguous);
}

}  // namespace
}  // namespace cbnn::train
