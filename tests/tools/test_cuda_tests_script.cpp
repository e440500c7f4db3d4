// scripts/cuda-tests.sh, the sharded runner of the CUDA test binary, against a stand-in gtest
// binary (tests/tools/fake_gtest.h): every test runs exactly once over the shards and the counts
// add up; a test that crashes or hangs its process is named and left out, and only the tests its
// process had not run yet run again; running out of time is a timeout, not a failure to rerun;
// reruns alone respect the time budget; bad usage is refused.
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "tests/support/run_tool.h"
#include "tests/support/scratch.h"
#include "tests/tools/fake_gtest.h"

namespace cbnn {
namespace {

namespace fs = std::filesystem;

struct ScriptRun {
    testing::ToolRun result;
    fs::path logs;
};

// Writes a fake binary with `tests` and runs the script on it with `args`.
ScriptRun cuda_tests(const std::string& name, const std::vector<std::string>& tests,
                     const std::string& args) {
    const fs::path dir = testing::scratch_dir("cuda_tests_" + name);
    testing::write_fake_gtest(dir / "bin" / "cbnn_cuda_tests", tests);
    return {testing::run_command(
                "bash " + std::string(CBNN_SOURCE_DIR) + "/scripts/cuda-tests.sh " + args + " " +
                (dir / "bin" / "cbnn_cuda_tests").string() + " " + (dir / "logs").string()),
            dir / "logs"};
}

using testing::read_text;

// How often `test` started ("[ RUN ]" lines) in the merged log.
int runs_of(const ScriptRun& run, const std::string& test) {
    const std::string log = read_text(run.logs / "cuda_tests.log");
    const std::string line = "[ RUN      ] " + test + "\n";
    int n = 0;
    for (size_t at = log.find(line); at != std::string::npos; at = log.find(line, at + 1)) ++n;
    return n;
}

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

TEST(CudaTestsScript, ShardsRunEveryTestOnceAndTheCountsAddUp) {
    const std::vector<std::string> tests = {"A.P1 pass", "A.P2 pass",    "A.S skip",
                                            "B.P3 pass", "K/C.F/0 fail", "K/C.P4/1 pass",
                                            "D.P5 pass"};
    const ScriptRun run = cuda_tests("shards", tests, "--shards 3");
    const std::string& out = run.result.output;
    EXPECT_EQ(run.result.status, 1) << out;
    EXPECT_TRUE(contains(out, "7 tests in 3 processes at once")) << out;
    EXPECT_TRUE(contains(out, "counts: 5 passed, 1 failed, 1 skipped")) << out;
    for (const std::string& t : tests) EXPECT_EQ(runs_of(run, t.substr(0, t.find(' '))), 1) << t;
    for (int k = 0; k < 3; ++k)
        EXPECT_TRUE(
            fs::exists(run.logs / ("cuda_tests-shard" + std::to_string(k) + "-attempt1.log")))
            << k;
    // The parameterised failure ("K/C.F/0, where GetParam() = 0") names its suite for the rerun.
    EXPECT_TRUE(contains(out, "fail alone: K/C")) << out;
    EXPECT_TRUE(fs::exists(run.logs / "alone-K_C.log"));
    EXPECT_TRUE(contains(read_text(run.logs / "cuda_tests-summary.tsv"),
                         "counts\t5 passed, 1 failed, 1 skipped"));
}

TEST(CudaTestsScript, AllPassingIsSuccessWithoutReruns) {
    const ScriptRun run =
        cuda_tests("passing", {"A.P1 pass", "A.S skip", "B.P2 pass"}, "--shards 2");
    EXPECT_EQ(run.result.status, 0) << run.result.output;
    EXPECT_TRUE(contains(run.result.output, "counts: 2 passed, 0 failed, 1 skipped"))
        << run.result.output;
    EXPECT_FALSE(contains(run.result.output, "alone")) << run.result.output;
}

// After a crash the process runs again on what it had not run: A.P1 ran before the crash and
// does not run twice; the crashing test is left out.
TEST(CudaTestsScript, ACrashIsLeftOutAndOnlyTheUnrunTestsRunAgain) {
    const ScriptRun run =
        cuda_tests("crash", {"A.P1 pass", "A.Bad crash", "A.P2 pass", "B.P3 pass"}, "--shards 1");
    const std::string& out = run.result.output;
    EXPECT_EQ(run.result.status, 1) << out;
    EXPECT_TRUE(contains(out, "left out: A.Bad crashed the binary (exit 139)")) << out;
    EXPECT_TRUE(contains(out, "counts: 3 passed, 0 failed, 0 skipped")) << out;
    EXPECT_EQ(runs_of(run, "A.P1"), 1);
    EXPECT_EQ(runs_of(run, "A.Bad"), 1);
    EXPECT_EQ(runs_of(run, "B.P3"), 1);
    EXPECT_TRUE(fs::exists(run.logs / "cuda_tests-shard0-attempt2.log"));
    EXPECT_FALSE(contains(out, "alone")) << out;  // the culprit is named: no suite reruns
}

// A hung test is killed after --stall seconds of silence; the other process is not held up.
TEST(CudaTestsScript, AHangIsKilledForSilenceAndLeftOut) {
    const ScriptRun run = cuda_tests("hang", {"A.Hang hang", "A.P1 pass", "B.P2 pass", "B.P3 pass"},
                                     "--shards 2 --stall 2");
    const std::string& out = run.result.output;
    EXPECT_EQ(run.result.status, 1) << out;
    EXPECT_TRUE(contains(out, "left out: A.Hang hung")) << out;
    EXPECT_TRUE(contains(out, "counts: 3 passed, 0 failed, 0 skipped")) << out;
}

// Out of --timeout: a timeout (status 124), and no suite is rerun (the test is not to blame).
TEST(CudaTestsScript, RunningOutOfTimeIsATimeout) {
    const ScriptRun run =
        cuda_tests("timeout", {"A.P1 pass", "A.Hang hang"}, "--shards 1 --timeout 2");
    EXPECT_EQ(run.result.status, 124) << run.result.output;
    EXPECT_TRUE(contains(run.result.output, "counts: 1 passed, 0 failed, 0 skipped"))
        << run.result.output;
    EXPECT_FALSE(contains(run.result.output, "alone")) << run.result.output;
}

// A suite rerun alone must fit the --budget with 20 s to spare; here none does.
TEST(CudaTestsScript, RerunsAloneThatDoNotFitTheBudgetAreSkippedAndSaid) {
    const ScriptRun run = cuda_tests("budget", {"A.F fail", "B.P pass"}, "--shards 1 --budget 15");
    EXPECT_EQ(run.result.status, 1) << run.result.output;
    EXPECT_TRUE(contains(run.result.output, "not alone: A SKIPPED (time budget)"))
        << run.result.output;
    EXPECT_FALSE(fs::exists(run.logs / "alone-A.log"));
}

// A binary that lists no tests (it cannot start, say) runs once as it is, and that is a failure.
TEST(CudaTestsScript, ABinaryThatListsNothingRunsOnceAndFails) {
    const fs::path dir = testing::scratch_dir("cuda_tests_broken");
    testing::write_script(dir / "cbnn_cuda_tests",
                          "echo 'error while loading shared libraries: libcudnn.so.9'; exit 127\n");
    const testing::ToolRun r =
        testing::run_command("bash " + std::string(CBNN_SOURCE_DIR) + "/scripts/cuda-tests.sh " +
                             (dir / "cbnn_cuda_tests").string() + " " + (dir / "logs").string());
    EXPECT_EQ(r.status, 127) << r.output;
    EXPECT_TRUE(contains(r.output, "lists no tests")) << r.output;
    EXPECT_TRUE(contains(r.output, "libcudnn.so.9")) << r.output;
    EXPECT_TRUE(contains(r.output, "counts: no gtest summary")) << r.output;
}

TEST(CudaTestsScript, BadUsageIsRefusedWithAReason) {
    const std::string script = "bash " + std::string(CBNN_SOURCE_DIR) + "/scripts/cuda-tests.sh";
    const std::pair<std::string, std::string> refused[] = {
        {"", "expected BINARY and LOGDIR"},
        {" --shards two /bin/true /tmp", "'two' is not a whole number"},
        {" --timeout", "--timeout needs a value"},
        {" --shard 2 /bin/true /tmp", "unknown option --shard"},
        {" /no/such/binary /tmp", "/no/such/binary is not an executable file"},
    };
    for (const auto& [args, reason] : refused) {
        const testing::ToolRun r = testing::run_command(script + args);
        EXPECT_EQ(r.status, 2) << args;
        EXPECT_TRUE(contains(r.output, reason)) << args << ": " << r.output;
    }
    const testing::ToolRun help = testing::run_command(script + " --help");
    EXPECT_EQ(help.status, 0);
    EXPECT_TRUE(contains(help.output, "Usage: scripts/cuda-tests.sh")) << help.output;
}

}  // namespace
}  // namespace cbnn
