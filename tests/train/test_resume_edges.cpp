// Resuming a CIFAR run in the awkward places: stopped between its checkpoint and the epoch's
// metrics line, stopped before its first checkpoint, on another training set, from a checkpoint
// whose meta data is malformed, and with a second trainer on the same folder.
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "models/resnet_cifar.h"
#include "tests/data/data_test_support.h"
#include "tests/support/expect_error.h"
#include "tests/train/run_test_support.h"
#include "tests/train/trainer_test_support.h"
#include "train/checkpoint.h"
#include "train/run_lock.h"
#include "train/trainer.h"

namespace cbnn::train {
namespace {

namespace fs = std::filesystem;
using testing::throws_error;

TrainConfig one_epoch_run(const std::string& name) {
    TrainConfig c = testing::mini_focal_config(testing::scratch_dir(name));
    c.epochs = 1;
    c.eval_every = 1;
    c.checkpoint_every = 1;
    return c;
}

void write_lines(const fs::path& path, const std::vector<nlohmann::json>& lines) {
    std::ofstream out(path);
    for (const nlohmann::json& j : lines) out << j.dump() << "\n";
}

// Trains `c` (one epoch), then empties its metrics.jsonl as a kill just after the checkpoint's
// rename would have left it; returns the lines it held.
std::vector<nlohmann::json> train_then_lose_the_line(const TrainConfig& c, std::ostream& log) {
    EXPECT_FALSE(train_cifar(c, log).diverged);
    const fs::path metrics = fs::path(c.out_dir) / "metrics.jsonl";
    const std::vector<nlohmann::json> written = testing::json_lines(metrics);
    write_lines(metrics, {});
    return written;
}

// The checkpoint is written before its epoch's metrics line; a run stopped between the two gets
// the line back from the checkpoint when it resumes.
TEST(ResumeEdges, AMetricsLineLostAfterTheCheckpointComesBackFromIt) {
    CBNN_REQUIRE_DATA("cifar10-mini");
    std::ostringstream log;
    TrainConfig c = one_epoch_run("resume_edges_record");
    const fs::path metrics = fs::path(c.out_dir) / "metrics.jsonl";
    const std::vector<nlohmann::json> written = train_then_lose_the_line(c, log);
    ASSERT_EQ(written.size(), 1u);

    c.epochs = 2;
    c.resume = true;
    ASSERT_FALSE(train_cifar(c, log).diverged);
    const std::vector<nlohmann::json> resumed = testing::json_lines(metrics);
    ASSERT_EQ(resumed.size(), 2u);
    EXPECT_EQ(resumed[0], written[0]);
    EXPECT_EQ(resumed[1].at("epoch"), 2);
    EXPECT_EQ(log.str().find("warning: metrics.jsonl"), std::string::npos) << log.str();
}

// The same for the final epoch: a finished run that lost its last line gets it back from a
// resume with the same --epochs, which trains nothing (else the sweep would retry it forever).
TEST(ResumeEdges, AFinishedRunsLostLastLineComesBackWithoutTraining) {
    CBNN_REQUIRE_DATA("cifar10-mini");
    std::ostringstream log;
    TrainConfig c = one_epoch_run("resume_edges_last_record");
    const fs::path metrics = fs::path(c.out_dir) / "metrics.jsonl";
    const std::vector<nlohmann::json> written = train_then_lose_the_line(c, log);
    ASSERT_EQ(written.size(), 1u);
    c.resume = true;
    std::ostringstream resumed_log;
    const TrainResult r = train_cifar(c, resumed_log);
    ASSERT_FALSE(r.diverged);
    EXPECT_EQ(r.epochs_done, 1);
    EXPECT_DOUBLE_EQ(r.final_test_error, written[0].at("test_error").get<double>());
    EXPECT_EQ(testing::json_lines(metrics), written);
    EXPECT_NE(resumed_log.str().find("its last metrics line came back"), std::string::npos)
        << resumed_log.str();
    // With the line in place the run is simply finished.
    EXPECT_TRUE(throws_error([&] { train_cifar(c, log); }, {"already covers 1 epochs"}));
}

// The epoch's files are written on the writer's thread (train/background_writer.h) in the order
// eval.json, checkpoint, metrics line: a checkpoint that cannot be written (here its temporary
// file's name is taken by a folder) is the run's error, even at the last epoch, where nothing
// trains after it; eval.json already holds the epoch, and no metrics line claims it.
TEST(ResumeEdges, ACheckpointThatCannotBeWrittenFailsTheRunAfterItsEvalJson) {
    CBNN_REQUIRE_DATA("cifar10-mini");
    std::ostringstream log;
    const TrainConfig c = one_epoch_run("resume_edges_write_fails");
    fs::create_directories(fs::path(c.out_dir) / "checkpoint.bin.tmp");
    EXPECT_TRUE(throws_error([&] { train_cifar(c, log); }, {"checkpoint.bin.tmp"}));
    std::ifstream eval_file(fs::path(c.out_dir) / "eval.json");
    ASSERT_TRUE(eval_file.good());
    EXPECT_EQ(nlohmann::json::parse(eval_file).at("epoch"), 1);
    EXPECT_TRUE(testing::json_lines(fs::path(c.out_dir) / "metrics.jsonl").empty());
    EXPECT_FALSE(fs::exists(fs::path(c.out_dir) / "checkpoint.bin"));
}

// A line the resume cannot read (and every one after it) is said, not silently dropped.
TEST(ResumeEdges, MissingMetricsLinesAreReported) {
    CBNN_REQUIRE_DATA("cifar10-mini");
    std::ostringstream log;
    TrainConfig c = one_epoch_run("resume_edges_gap");
    c.epochs = 3;
    ASSERT_FALSE(train_cifar(c, log).diverged);
    const fs::path metrics = fs::path(c.out_dir) / "metrics.jsonl";
    std::vector<nlohmann::json> lines = testing::json_lines(metrics);
    ASSERT_EQ(lines.size(), 3u);
    std::ofstream(metrics) << lines[0].dump() << "\n{torn\n" << lines[2].dump() << "\n";
    c.epochs = 4;
    c.resume = true;
    std::ostringstream resumed_log;
    ASSERT_FALSE(train_cifar(c, resumed_log).diverged);
    EXPECT_NE(resumed_log.str().find("warning: metrics.jsonl holds 2 of the 3 epochs"),
              std::string::npos)
        << resumed_log.str();
}

// Stopped before its first checkpoint with no finished epoch: --resume starts it again (nothing
// is lost) instead of failing on the missing checkpoint while a plain start refuses the folder.
TEST(ResumeEdges, ARunWithoutACheckpointYetStartsAgain) {
    CBNN_REQUIRE_DATA("cifar10-mini");
    std::ostringstream log;
    TrainConfig c = one_epoch_run("resume_edges_no_checkpoint");
    ASSERT_FALSE(train_cifar(c, log).diverged);
    const fs::path dir(c.out_dir);
    fs::remove(dir / "checkpoint.bin");
    write_lines(dir / "metrics.jsonl", {});

    c.resume = true;
    std::ostringstream again;
    const TrainResult r = train_cifar(c, again);
    ASSERT_FALSE(r.diverged);
    EXPECT_NE(again.str().find("starting from epoch 0"), std::string::npos) << again.str();
    EXPECT_EQ(r.epochs_done, 1);
    EXPECT_EQ(testing::lines_of(dir / "metrics.jsonl"), 1);

    // Finished epochs without a checkpoint cannot be continued: said, nothing overwritten.
    fs::remove(dir / "checkpoint.bin");
    c.epochs = 2;
    EXPECT_TRUE(throws_error([&] { train_cifar(c, log); },
                             {"--resume", "no checkpoint.bin", "1 finished epoch"}));
    EXPECT_EQ(testing::lines_of(dir / "metrics.jsonl"), 1);
    // No run at all in the folder.
    TrainConfig empty = c;
    empty.out_dir = testing::scratch_dir("resume_edges_empty");
    EXPECT_TRUE(throws_error([&] { train_cifar(empty, log); }, {"--resume", "no run to continue"}));
}

// --data may move between a run and its resume, but not to another training set.
TEST(ResumeEdges, AnotherTrainingSetIsRefused) {
    CBNN_REQUIRE_DATA("cifar10-mini");
    std::ostringstream log;
    TrainConfig c = one_epoch_run("resume_edges_other_data");
    c.imbalance = 1;
    ASSERT_FALSE(train_cifar(c, log).diverged);
    // The same files with the first 100 training records only.
    const fs::path mini = c.data_dir, cut = testing::scratch_dir("resume_edges_cut_data");
    for (const char* f : {"batches.meta.txt", "test_batch.bin"}) fs::copy_file(mini / f, cut / f);
    std::vector<uint8_t> train = testing::read_bytes((mini / "data_batch_1.bin").string());
    train.resize(100 * (1 + 3072));
    testing::write_bytes((cut / "data_batch_1.bin").string(), train);

    c.data_dir = cut.string();
    c.epochs = 2;
    c.resume = true;
    EXPECT_TRUE(throws_error([&] { train_cifar(c, log); },
                             {"--resume", "training set differs", "images per class"}));
    c.data_dir = mini.string();  // the same data from the same place resumes
    EXPECT_FALSE(train_cifar(c, log).diverged);
}

// A checkpoint whose checksum holds but whose meta data lacks what a resume reads: one message,
// not an uncaught JSON exception.
TEST(ResumeEdges, MalformedCheckpointMetaIsOneError) {
    CBNN_REQUIRE_DATA("cifar10-mini");
    std::ostringstream log;
    const TrainConfig c = one_epoch_run("resume_edges_bad_meta");
    ASSERT_FALSE(train_cifar(c, log).diverged);
    Generator gen(1);
    ResNetCifar model(cifar_model_options(c), gen);
    SgdOptions options;
    options.momentum = 0.9;
    Sgd sgd(model.named_parameters(), options);
    const nlohmann::json good = load_checkpoint(checkpoint_path(c), model, sgd);
    TrainConfig again = c;
    again.epochs = 2;
    again.resume = true;
    for (const char* broken : {"loader", "epoch", "config"}) {
        nlohmann::json meta = good;
        meta.erase(broken);
        save_checkpoint(checkpoint_path(c), model, sgd, meta);
        EXPECT_TRUE(throws_error([&] { train_cifar(again, log); }, {"--resume", "meta data"}))
            << broken;
    }
    // A loader state that does not follow the checkpoint's epoch (one that would overflow the
    // batch arithmetic included) is refused before it reaches the loader.
    for (const int64_t epoch : {int64_t{2}, int64_t{1} << 62}) {
        nlohmann::json meta = good;
        meta["loader"]["epoch"] = epoch;
        save_checkpoint(checkpoint_path(c), model, sgd, meta);
        EXPECT_TRUE(throws_error([&] { train_cifar(again, log); },
                                 {"--resume", "loader state (epoch " + std::to_string(epoch),
                                  "do not follow its epoch 1"}))
            << epoch;
    }
}

// One trainer per run folder: a second one is refused while the first holds the lock, and the
// lock goes with its holder.
TEST(ResumeEdges, RunFolderLockAdmitsOneProcessAtATime) {
    const fs::path dir = testing::scratch_dir("resume_edges_lock");
    {
        const RunLock first(dir);
        EXPECT_TRUE(throws_error([&] { RunLock second(dir); }, {"in use", "run.lock"}));
        CBNN_REQUIRE_DATA("cifar10-mini");
        TrainConfig c = one_epoch_run("resume_edges_lock_unused");
        c.out_dir = dir.string();
        std::ostringstream log;
        EXPECT_TRUE(throws_error([&] { train_cifar(c, log); }, {"in use by another"}));
    }
    const RunLock after(dir);  // released
    EXPECT_TRUE(fs::exists(RunLock::path_in(dir)));
}

}  // namespace
}  // namespace cbnn::train
