// scripts/gpu-sweep.sh (issue 8's sweep in what a GPU call has left), run on the CPU with this
// build's trainer on tiny runs (ResNet-8, cifar10-mini packed as the data archive): the sweep and
// the packed run folders, carried runs, a second call on the same machine, a sweep cut off by its
// time limit, and bad input refused with one message.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include "gtest/gtest.h"
#include "tests/data/data_test_support.h"
#include "tests/support/run_tool.h"
#include "tests/support/scratch.h"

namespace cbnn {
namespace {

namespace fs = std::filesystem;
using testing::read_text;
using testing::run_command;
using testing::ToolRun;

// One run of the grid (cifar10-if10-softmax-s0), small and quick.
const std::string kOneTinyRun =
    " --device cpu --imbalance 10 --loss softmax --beta 0 --seed 0 --preset smoke --depth 8 "
    "--threads 0 --progress-every 1000";

int64_t now_seconds() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// The data archive, an empty list folder (the runs draw --imbalance) and carried runs in `dir`.
void prepare(const fs::path& dir) {
    fs::create_directories(dir / "lists");
    fs::create_directories(dir / "carried" / "old-run");
    std::ofstream(dir / "carried" / "old-run" / "note.txt") << "carried\n";
    const ToolRun tar = run_command("tar -czf " + (dir / "data.tgz").string() + " -C " +
                                    testing::data_dir() + "/cifar10-mini .");
    ASSERT_EQ(tar.status, 0) << tar.output;
}

ToolRun gpu_sweep(const fs::path& dir, const std::string& args, const std::string& env = "") {
    return run_command("CBNN_BUILD_DIR=" + std::string(CBNN_BINARY_DIR) +
                       " CBNN_SWEEP_DATA=" + (dir / "data.tgz").string() + " CBNN_SWEEP_LISTS=" +
                       (dir / "lists").string() + " CBNN_SWEEP_RUNS=" + (dir / "carried").string() +
                       " CBNN_SWEEP_WORK=" + (dir / "work").string() +
                       " OUT=" + (dir / "out").string() + " " + env + " bash " + CBNN_SOURCE_DIR +
                       "/scripts/gpu-sweep.sh " + args);
}

// The names in out/runs.tgz, one per line.
std::string packed(const fs::path& dir) {
    const ToolRun list = run_command("tar -tzf " + (dir / "out" / "runs.tgz").string());
    EXPECT_EQ(list.status, 0) << list.output;
    return list.output;
}

TEST(GpuSweepScript, RunsTheSweepAndPacksTheRunFolders) {
    CBNN_REQUIRE_DATA("cifar10-mini");
    const fs::path dir = testing::scratch_dir("gpu_sweep_runs");
    prepare(dir);
    const std::string end = "--end " + std::to_string(now_seconds() + 300);
    const ToolRun r = gpu_sweep(dir, end + kOneTinyRun + " --epochs=1");
    ASSERT_EQ(r.status, 0) << r.output;
    EXPECT_NE(r.output.find("the sweep finished its runs"), std::string::npos) << r.output;
    const std::string names = packed(dir);
    EXPECT_NE(names.find("./cifar10-if10-softmax-s0/metrics.jsonl"), std::string::npos) << names;
    EXPECT_NE(names.find("./old-run/note.txt"), std::string::npos) << names;  // carried along
    EXPECT_NE(names.find("./results.md"), std::string::npos) << names;
    // Complete at the sweep's own --epochs: its checkpoint is not carried back.
    EXPECT_EQ(names.find("checkpoint.bin"), std::string::npos) << names;
    EXPECT_NE(read_text(dir / "out" / "sweep.log").find("packed 1 run folders"), std::string::npos);
    EXPECT_FALSE(fs::exists(dir / "out" / "runs.tgz.0"));  // small: one file

    // A second call on the same machine goes on from the first call's runs, not from the
    // (older) carried ones; with too little time left it runs nothing and packs them again.
    std::ofstream(dir / "carried" / "old-run" / "later.txt") << "not copied\n";
    const ToolRun again =
        gpu_sweep(dir, "--end=" + std::to_string(now_seconds() + 30) + kOneTinyRun + " --epochs 1");
    ASSERT_EQ(again.status, 0) << again.output;
    EXPECT_NE(again.output.find("going on from the runs of an earlier call"), std::string::npos)
        << again.output;
    EXPECT_NE(again.output.find("(under 60): skipped"), std::string::npos) << again.output;
    const std::string names_again = packed(dir);
    EXPECT_NE(names_again.find("./cifar10-if10-softmax-s0/metrics.jsonl"), std::string::npos);
    EXPECT_EQ(names_again.find("later.txt"), std::string::npos) << names_again;
}

// Cut off by its time limit (here ~6 s of a run of 10,000 epochs): the sweep stops its trainer,
// the script is done by --end, the call still succeeds, and the unfinished run is packed with its
// checkpoint, to be resumed next time.
TEST(GpuSweepScript, ASweepCutOffByTheLimitIsDoneByEndAndPacksItsRuns) {
    CBNN_REQUIRE_DATA("cifar10-mini");
    const fs::path dir = testing::scratch_dir("gpu_sweep_limit");
    prepare(dir);
    const int64_t end = now_seconds() + 26;  // the smallest margin, 20 s, leaves a 6 s sweep
    const ToolRun r =
        gpu_sweep(dir, "--end " + std::to_string(end) + kOneTinyRun + " --epochs 10000",
                  "CBNN_SWEEP_MARGIN=20 CBNN_SWEEP_MINIMUM=1");
    EXPECT_LE(now_seconds(), end);
    ASSERT_EQ(r.status, 0) << r.output;
    EXPECT_NE(r.output.find("stopped at the time limit"), std::string::npos) << r.output;
    const std::string names = packed(dir);
    EXPECT_NE(names.find("./cifar10-if10-softmax-s0/config.json"), std::string::npos) << names;
    const fs::path metrics = dir / "work" / "runs" / "cifar10-if10-softmax-s0" / "metrics.jsonl";
    if (fs::exists(metrics) && !read_text(metrics).empty())  // an epoch finished in the 6 s
        EXPECT_NE(names.find("./cifar10-if10-softmax-s0/checkpoint.bin"), std::string::npos)
            << names;
}

// A run that fails on its own (here an invalid depth the sweep cannot know) fails the call and is
// said, after the runs are packed.
TEST(GpuSweepScript, AFailedRunFailsTheCallAfterPacking) {
    CBNN_REQUIRE_DATA("cifar10-mini");
    const fs::path dir = testing::scratch_dir("gpu_sweep_failed_run");
    prepare(dir);
    const ToolRun r = gpu_sweep(dir, "--end " + std::to_string(now_seconds() + 300) + kOneTinyRun +
                                         " --epochs 1 --depth 10");
    EXPECT_EQ(r.status, 1) << r.output;
    EXPECT_NE(r.output.find("1 run(s) FAILED"), std::string::npos) << r.output;
    EXPECT_NE(packed(dir).find("./cifar10-if10-softmax-s0/train.log"), std::string::npos);
}

TEST(GpuSweepScript, BadInputGivesOneMessage) {
    const fs::path dir = testing::scratch_dir("gpu_sweep_bad");
    const ToolRun help = gpu_sweep(dir, "--help");
    EXPECT_EQ(help.status, 0) << help.output;
    EXPECT_NE(help.output.find("Usage: scripts/gpu-sweep.sh --end"), std::string::npos);
    EXPECT_FALSE(fs::exists(dir / "out"));  // --help does nothing else

    const struct {
        std::string args, message;
    } cases[] = {
        {"", "--end is required"},
        {"--end", "--end needs a value"},
        {"--end soon", "--end: expected a Unix time in whole seconds, got 'soon'"},
        {"--end=", "--end needs a value"},
        {"--end 1 --end=2", "--end given twice"},
        {"--end 99999999999", "--end 99999999999 is more than a day away"},
        {"--end 1 --runs elsewhere", "--runs is set by gpu-sweep itself"},
        {"--end 1 --dry-run", "--dry-run is set by gpu-sweep itself"},
        {"--end 1", "no data archive at"},  // the data archive of `dir` was never written
    };
    for (const auto& c : cases) {
        const ToolRun r = gpu_sweep(dir, c.args);
        EXPECT_EQ(r.status, 1) << c.args << "\n" << r.output;
        EXPECT_NE(r.output.find("gpu-sweep: " + c.message), std::string::npos) << c.args << "\n"
                                                                               << r.output;
        EXPECT_EQ(r.output.find('\n'), r.output.size() - 1) << c.args << "\n" << r.output;
    }
    for (const char* margin : {"x", "5"}) {
        const ToolRun r = gpu_sweep(dir, "--end 1", std::string("CBNN_SWEEP_MARGIN=") + margin);
        EXPECT_EQ(r.status, 1) << r.output;
        EXPECT_NE(r.output.find("CBNN_SWEEP_MARGIN (at least 20)"), std::string::npos) << r.output;
    }
}

}  // namespace
}  // namespace cbnn
