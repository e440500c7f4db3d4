// scripts/gpu-check.sh's CUDA-test step, run against a stand-in for cbnn_cuda_tests (a shell
// script that prints what a gtest binary prints): a failing run reruns each failing suite alone
// and the summary says which suites fail alone; a passing run does not. The GPU steps themselves
// (nvidia-smi, benchmarks) fail or find nothing here, which the script reports and this test
// ignores.
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "gtest/gtest.h"
#include "tests/support/run_tool.h"
#include "tests/support/scratch.h"

namespace cbnn {
namespace {

namespace fs = std::filesystem;

// A fake cbnn_cuda_tests in `dir`: suite SuiteA passes alone, Kernels/SuiteB fails alone; the
// whole run fails both (as a poisoned CUDA context would) unless `all_pass`.
void write_fake_tests(const fs::path& dir, bool all_pass) {
    fs::create_directories(dir);
    const fs::path bin = dir / "cbnn_cuda_tests";
    std::ofstream(bin)
        << "#!/bin/bash\n"
           "for a in \"$@\"; do case $a in\n"
           "  --gtest_list_tests) printf 'SuiteA.\\n  T1\\nKernels/SuiteB.\\n  T2/0\\n';"
           " exit 0;;\n"
           "  --gtest_filter=SuiteA.*) echo '[  PASSED  ] 1 test.'; exit 0;;\n"
           "  --gtest_filter=Kernels/SuiteB.*) echo '[  PASSED  ] 0 tests.';"
           " echo '[  FAILED  ] Kernels/SuiteB.T2/0'; exit 1;;\n"
           "esac; done\n"
        << (all_pass ? "echo '[  PASSED  ] 2 tests.'; exit 0\n"
                     : "echo '[  PASSED  ] 0 tests.'\n"
                       "echo '[  FAILED  ] SuiteA.T1'\n"
                       "echo '[  FAILED  ] Kernels/SuiteB.T2/0'; exit 1\n");
    fs::permissions(bin, fs::perms::owner_all);
}

// `env`: further VAR=value settings for the script.
testing::ToolRun gpu_check(const fs::path& build, const fs::path& logs,
                           const std::string& env = "") {
    return testing::run_command("CBNN_BUILD_DIR=" + build.string() + " LOGDIR=" + logs.string() +
                                " " + env + " bash " + CBNN_SOURCE_DIR + "/scripts/gpu-check.sh");
}

std::string read_text(const fs::path& path) {
    std::ifstream in(path);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(GpuCheckScript, FailingSuitesRunAgainAloneAndTheSummaryNamesThem) {
    const fs::path dir = testing::scratch_dir("gpu_check_failing");
    write_fake_tests(dir / "build", false);
    const testing::ToolRun r = gpu_check(dir / "build", dir / "logs");
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
    fs::create_directories(dir / "bin");
    std::ofstream(dir / "bin" / "nvidia-smi") << "#!/bin/bash\necho 'Fake GPU, 1.0'\n";
    fs::permissions(dir / "bin" / "nvidia-smi", fs::perms::owner_all);
    const testing::ToolRun r =
        gpu_check(dir / "build", dir / "logs",
                  "PATH=" + (dir / "bin").string() + ":$PATH CBNN_TOTAL_BUDGET=30");
    EXPECT_NE(r.status, 0) << r.output;
    EXPECT_NE(r.output.find("cuda tests               SKIPPED (time budget)"), std::string::npos)
        << r.output;
    EXPECT_EQ(r.output.find("2 passed"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("INCOMPLETE"), std::string::npos) << r.output;
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

}  // namespace
}  // namespace cbnn
