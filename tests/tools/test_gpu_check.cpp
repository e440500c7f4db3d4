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

testing::ToolRun gpu_check(const fs::path& build, const fs::path& logs) {
    return testing::run_command("CBNN_BUILD_DIR=" + build.string() + " LOGDIR=" + logs.string() +
                                " bash " + CBNN_SOURCE_DIR + "/scripts/gpu-check.sh");
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

}  // namespace
}  // namespace cbnn
