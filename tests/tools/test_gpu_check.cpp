// scripts/gpu-check.sh's CUDA-test step, run against a stand-in for cbnn_cuda_tests (a shell
// script that prints what a gtest binary prints): a failing run reruns each failing suite alone
// and the summary says which suites fail alone; a passing run does not. The GPU steps themselves
// (nvidia-smi, benchmarks) fail or find nothing here, which the script reports and this test
// ignores.
#include <filesystem>
#include <fstream>
#include <string>

#include "gtest/gtest.h"
#include "tests/support/run_tool.h"
#include "tests/support/scratch.h"
#include "tests/tools/fake_gtest.h"

namespace cbnn {
namespace {

namespace fs = std::filesystem;

using testing::write_fake_gtest;
using testing::write_script;

// A fake cbnn_cuda_tests in `dir` (tests/tools/fake_gtest.h): SuiteA passes alone, Kernels/SuiteB
// fails; in one process both fail (as a poisoned CUDA context would make them) unless `all_pass`.
void write_fake_tests(const fs::path& dir, bool all_pass) {
    if (all_pass) {
        write_fake_gtest(dir / "cbnn_cuda_tests", {"SuiteA.T1 pass", "Kernels/SuiteB.T2/0 pass"});
    } else {
        write_fake_gtest(dir / "cbnn_cuda_tests",
                         {"SuiteA.T1 fragile", "Kernels/SuiteB.T2/0 fail"});
    }
}

// A fake cbnn_cuda_tests whose test SuiteA.Bad hangs (`hang`) or crashes the process, after
// SuiteA.Good, which passes.
void write_fake_tests_with_bad_test(const fs::path& dir, bool hang) {
    write_fake_gtest(dir / "cbnn_cuda_tests",
                     {"SuiteA.Good pass", std::string("SuiteA.Bad ") + (hang ? "hang" : "crash")});
}

// `env`: further VAR=value settings for the script.
testing::ToolRun gpu_check(const fs::path& build, const fs::path& logs,
                           const std::string& env = "") {
    return testing::run_command("CBNN_BUILD_DIR=" + build.string() + " LOGDIR=" + logs.string() +
                                " " + env + " bash " + CBNN_SOURCE_DIR + "/scripts/gpu-check.sh");
}

using testing::read_text;

TEST(GpuCheckScript, FailingSuitesRunAgainAloneAndTheSummaryNamesThem) {
    const fs::path dir = testing::scratch_dir("gpu_check_failing");
    write_fake_tests(dir / "build", false);
    const testing::ToolRun r = gpu_check(dir / "build", dir / "logs", "CBNN_TEST_SHARDS=1");
    EXPECT_NE(r.status, 0) << r.output;
    EXPECT_NE(r.output.find("0 passed, 2 failed"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("Kernels/SuiteB alone: FAILED"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("SuiteA alone: ok"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("fail alone              Kernels/SuiteB"), std::string::npos)
        << r.output;
    EXPECT_NE(r.output.find("pass alone              SuiteA"), std::string::npos) << r.output;
    EXPECT_TRUE(fs::exists(dir / "logs" / "alone-Kernels_SuiteB.log"));
}

TEST(GpuCheckScript, PassingTestsAreNotRerun) {
    const fs::path dir = testing::scratch_dir("gpu_check_passing");
    write_fake_tests(dir / "build", true);
    const testing::ToolRun r = gpu_check(dir / "build", dir / "logs");
    EXPECT_NE(r.output.find("2 passed, 0 failed"), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("alone"), std::string::npos) << r.output;
}

// With OUT set (the device tool's output folder) the logs come back as two files, written after
// every step, so a call killed at its limit still returns what finished.
TEST(GpuCheckScript, OutGetsThePackedLogsAndTheSummary) {
    const fs::path dir = testing::scratch_dir("gpu_check_out");
    write_fake_tests(dir / "build", true);
    fs::create_directories(dir / "out");
    const testing::ToolRun r =
        gpu_check(dir / "build", dir / "logs", "OUT=" + (dir / "out").string());
    ASSERT_TRUE(fs::exists(dir / "out" / "gpu-logs.tar.gz")) << r.output;
    EXPECT_NE(read_text(dir / "out" / "summary.txt").find("2 passed, 0 failed"), std::string::npos);
    const testing::ToolRun listing =
        testing::run_command("tar -tzf " + (dir / "out" / "gpu-logs.tar.gz").string());
    EXPECT_NE(listing.output.find("cuda_tests.log"), std::string::npos) << listing.output;
    EXPECT_FALSE(fs::exists(dir / "out" / "gpu-logs.tar.gz.part"));
}

// A step that no longer fits CBNN_TOTAL_BUDGET (less 15 s for the packing) is not started; the
// summary says so and the run does not count as passed.
TEST(GpuCheckScript, StepsBeyondTheTimeBudgetAreSkippedAndReported) {
    const fs::path dir = testing::scratch_dir("gpu_check_budget");
    write_fake_tests(dir / "build", true);
    // A stand-in nvidia-smi, so that no step fails and the result line is about the budget.
    write_script(dir / "bin" / "nvidia-smi", "echo 'Fake GPU, 1.0'\n");
    // A benchmark, a kernel profile and a training run, each skipped the same way.
    write_script(dir / "build" / "bench_fake", "echo ran >> " + (dir / "ran").string() + "\n");
    ASSERT_EQ(testing::run_command("tar -cf " + (dir / "data.tar").string() + " -C " +
                                   dir.string() + " bin")
                  .status,
              0);
    const testing::ToolRun r = gpu_check(dir / "build", dir / "logs",
                                         "PATH=" + (dir / "bin").string() +
                                             ":$PATH CBNN_TOTAL_BUDGET=30 CBNN_PROFILE_CASES=x " +
                                             "CBNN_TRAIN_DATA=" + (dir / "data.tar").string());
    EXPECT_NE(r.status, 0) << r.output;
    for (const char* step : {"cuda tests", "bench_fake", "profile 1", "training 1"}) {
        EXPECT_NE(
            r.output.find(std::string(step) + std::string(25 - std::string(step).size(), ' ') +
                          "SKIPPED (time budget)"),
            std::string::npos)
            << step << "\n"
            << r.output;
    }
    EXPECT_FALSE(fs::exists(dir / "ran"));
    EXPECT_EQ(r.output.find("2 passed"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("INCOMPLETE"), std::string::npos) << r.output;
}

// CBNN_BENCH_REPETITIONS reaches every benchmark as --benchmark_repetitions; a bad value stops the
// script before the first step.
TEST(GpuCheckScript, BenchmarksRepeatAsAsked) {
    const fs::path dir = testing::scratch_dir("gpu_check_repetitions");
    write_fake_tests(dir / "build", true);
    write_script(dir / "build" / "bench_fake", "echo \"$*\" >> " + (dir / "args").string() + "\n");
    const testing::ToolRun r = gpu_check(dir / "build", dir / "logs", "CBNN_BENCH_REPETITIONS=3");
    EXPECT_NE(read_text(dir / "args").find(" --benchmark_repetitions=3 "), std::string::npos)
        << read_text(dir / "args") << r.output;
    for (const char* bad : {"0", "x", "-2"}) {
        const testing::ToolRun b = gpu_check(dir / "build", dir / "logs-bad",
                                             std::string("CBNN_BENCH_REPETITIONS=") + bad);
        EXPECT_EQ(b.status, 1) << b.output;
        EXPECT_EQ(b.output, std::string("gpu-check: CBNN_BENCH_REPETITIONS: expected a whole "
                                        "number of at least 1, got '") +
                                bad + "'\n");
    }
}

// scripts/gpu-prep.sh packs a build into one archive (the device tool carries at most 64 MiB, and
// the binaries as files are most of that); gpu-check.sh takes the archive as its build folder.
TEST(GpuCheckScript, RunsFromTheArchiveThatGpuPrepPacks) {
    const fs::path dir = testing::scratch_dir("gpu_check_archive");
    write_fake_tests(dir / "build", true);
    const fs::path archive = dir / "carry" / "build.tar.gz";
    const testing::ToolRun prep = testing::run_command(
        "CBNN_BUILD_DIR=" + (dir / "build").string() + " CBNN_GPU_ARCHIVE=" + archive.string() +
        " bash " + CBNN_SOURCE_DIR + "/scripts/gpu-prep.sh");
    ASSERT_EQ(prep.status, 0) << prep.output;
    ASSERT_TRUE(fs::exists(archive)) << prep.output;
    const testing::ToolRun r = gpu_check(archive, dir / "logs");
    EXPECT_NE(r.output.find("unpacked"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("2 passed, 0 failed"), std::string::npos) << r.output;
}

// Each training run's summary: its last progress line, last test error, how many steps a graph
// replayed and where the run's wall time went (the trainer's last lines; a fake trainer here).
TEST(GpuCheckScript, TrainingSummaryCarriesProgressResultGraphAndTimeSplit) {
    const fs::path dir = testing::scratch_dir("gpu_check_training");
    write_fake_tests(dir / "build", true);
    write_script(dir / "build" / "cbnn-train-cifar",
                 "echo 'epoch 2/2  batch 97/97  loss 0.6397  28,681 img/s  ETA 0:00:00'\n"
                 "echo 'epoch 2: test error 0.5634, training loss 0.639719'\n"
                 "echo 'cuda graph: 190 of 194 steps replayed'\n"
                 "echo 'time: 9.5 s: training 7.0 s, 2 evaluations 1.5 s, files 0.2 s (2 "
                 "checkpoints), other 0.8 s'\n");
    fs::create_directories(dir / "data" / "test");
    std::ofstream(dir / "data" / "test" / "x.txt") << "x";
    const testing::ToolRun tar = testing::run_command("tar -cf " + (dir / "data.tar").string() +
                                                      " -C " + (dir / "data").string() + " test");
    ASSERT_EQ(tar.status, 0) << tar.output;
    const testing::ToolRun r = gpu_check(
        dir / "build", dir / "logs",
        "CBNN_TRAIN_DATA=" + (dir / "data.tar").string() + " CBNN_TRAIN_ARGS='--epochs 2'");
    EXPECT_NE(r.output.find("training 1               --epochs 2: ok"), std::string::npos)
        << r.output;
    EXPECT_NE(r.output.find("  result                 epoch 2: test error 0.5634"),
              std::string::npos)
        << r.output;
    EXPECT_NE(r.output.find("  graph                  190 of 194 steps replayed"),
              std::string::npos)
        << r.output;
    EXPECT_NE(r.output.find("  split                  9.5 s: training 7.0 s, 2 evaluations 1.5 s, "
                            "files 0.2 s (2 checkpoints), other 0.8 s"),
              std::string::npos)
        << r.output;
}

// The archive carries shared/data's cifar10-mini for the real-data CUDA tests, and gpu-check
// points CBNN_DATA_DIR at it unless the caller set one.
TEST(GpuCheckScript, TheArchiveCarriesTheMiniDataSetForTheCudaTests) {
    const fs::path dir = testing::scratch_dir("gpu_check_data");
    write_fake_tests(dir / "build", true);
    fs::create_directories(dir / "shared" / "cifar10-mini");
    std::ofstream(dir / "shared" / "cifar10-mini" / "test_batch.bin") << "x";
    const fs::path archive = dir / "build.tar.gz";
    const testing::ToolRun prep = testing::run_command(
        "CBNN_BUILD_DIR=" + (dir / "build").string() + " CBNN_GPU_ARCHIVE=" + archive.string() +
        " CBNN_DATA_DIR=" + (dir / "shared").string() + " bash " + CBNN_SOURCE_DIR +
        "/scripts/gpu-prep.sh");
    ASSERT_EQ(prep.status, 0) << prep.output;
    EXPECT_NE(prep.output.find("adding data/cifar10-mini"), std::string::npos) << prep.output;

    const testing::ToolRun r = gpu_check(archive, dir / "logs", "CBNN_DATA_DIR=");
    const size_t line = r.output.find("CBNN_DATA_DIR:");
    ASSERT_NE(line, std::string::npos) << r.output;
    const std::string value = r.output.substr(line, r.output.find('\n', line) - line);
    EXPECT_EQ(value.substr(value.size() - 5), "/data") << value;

    const testing::ToolRun own = gpu_check(archive, dir / "logs2", "CBNN_DATA_DIR=/elsewhere");
    EXPECT_NE(own.output.find("CBNN_DATA_DIR:   /elsewhere"), std::string::npos) << own.output;
}

TEST(GpuCheckScript, GpuPrepRefusesAnArchiveNameItCannotUnpack) {
    const fs::path dir = testing::scratch_dir("gpu_prep_name");
    write_fake_tests(dir / "build", true);
    const testing::ToolRun prep =
        testing::run_command("CBNN_BUILD_DIR=" + (dir / "build").string() +
                             " CBNN_GPU_ARCHIVE=" + (dir / "build.zip").string() + " bash " +
                             CBNN_SOURCE_DIR + "/scripts/gpu-prep.sh");
    EXPECT_NE(prep.status, 0);
    EXPECT_NE(prep.output.find("must end in .tar.gz"), std::string::npos) << prep.output;
    EXPECT_FALSE(fs::exists(dir / "build.zip"));
}

// A hung test is killed after CBNN_TEST_STALL seconds of silence, named, and left out of a second
// run, so the tests after it still report; a test that crashes the binary likewise.
TEST(GpuCheckScript, AHungTestIsKilledNamedAndLeftOut) {
    const fs::path dir = testing::scratch_dir("gpu_check_hang");
    write_fake_tests_with_bad_test(dir / "build", true);
    const testing::ToolRun r = gpu_check(dir / "build", dir / "logs", "CBNN_TEST_STALL=2");
    EXPECT_NE(r.status, 0) << r.output;
    EXPECT_NE(r.output.find("left out               SuiteA.Bad hung"), std::string::npos)
        << r.output;
    EXPECT_NE(r.output.find("1 passed, 0 failed"), std::string::npos) << r.output;
    EXPECT_TRUE(fs::exists(dir / "logs" / "cuda_tests-shard0-attempt1.log"));
    EXPECT_EQ(r.output.find("alone"), std::string::npos) << r.output;
}

TEST(GpuCheckScript, ATestThatCrashesTheBinaryIsNamedAndLeftOut) {
    const fs::path dir = testing::scratch_dir("gpu_check_crash");
    write_fake_tests_with_bad_test(dir / "build", false);
    const testing::ToolRun r = gpu_check(dir / "build", dir / "logs");
    EXPECT_NE(r.status, 0) << r.output;
    EXPECT_NE(r.output.find("left out               SuiteA.Bad crashed the binary (exit 139)"),
              std::string::npos)
        << r.output;
    EXPECT_NE(r.output.find("1 passed, 0 failed"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace cbnn
