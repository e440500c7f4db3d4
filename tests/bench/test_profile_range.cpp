// bench/profile_range.h: CBNN_PROFILE_STEPS (how many steps a benchmark case runs inside the
// profiler's range) is read strictly, the steps run only when it is set, and bench_train_step
// refuses a bad value once, before any case.
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>

#include "bench/profile_range.h"
#include "gtest/gtest.h"
#include "tensor/backend.h"
#include "tests/support/expect_error.h"
#include "tests/support/run_tool.h"

namespace cbnn {
namespace {

// Sets CBNN_PROFILE_STEPS (or unsets it) for a scope.
class ProfileStepsEnv {
  public:
    explicit ProfileStepsEnv(const std::optional<std::string>& value) {
        if (const char* old = std::getenv(kName)) old_ = old;
        if (value)
            ::setenv(kName, value->c_str(), 1);
        else
            ::unsetenv(kName);
    }
    ~ProfileStepsEnv() {
        if (old_)
            ::setenv(kName, old_->c_str(), 1);
        else
            ::unsetenv(kName);
    }

  private:
    static constexpr const char* kName = "CBNN_PROFILE_STEPS";
    std::optional<std::string> old_;
};

TEST(ProfileRange, StepsComeFromTheEnvironment) {
    {
        const ProfileStepsEnv unset(std::nullopt);
        EXPECT_EQ(bench::profiled_steps(), 0);
    }
    {
        const ProfileStepsEnv empty("");
        EXPECT_EQ(bench::profiled_steps(), 0);
    }
    for (const auto& [text, steps] : {std::pair{"1", 1}, {"3", 3}, {"007", 7}, {"100", 100}}) {
        const ProfileStepsEnv env(std::string{text});
        EXPECT_EQ(bench::profiled_steps(), steps) << text;
    }
    for (const char* bad : {"0", "101", "-1", "+2", "2x", " 2", "1e2", "1000", "steps"}) {
        const ProfileStepsEnv env(std::string{bad});
        EXPECT_EQ(testing::error_message([] { bench::profiled_steps(); }),
                  "CBNN_PROFILE_STEPS: expected a whole number from 1 to 100, got '" +
                      std::string(bad) + "'");
    }
}

TEST(ProfileRange, StepsRunOnlyWhenAsked) {
    int calls = 0;
    {
        const ProfileStepsEnv unset(std::nullopt);
        bench::run_profiled_steps([&] { ++calls; });
        EXPECT_EQ(calls, 0);
    }
#ifdef CBNN_WITH_CUDA
    // The range starts and ends with a device synchronisation: a CUDA build needs a GPU.
    if (!cuda_available()) GTEST_SKIP() << "no GPU: " << cuda_unavailable_reason();
#endif
    const ProfileStepsEnv three("3");
    bench::run_profiled_steps([&] { ++calls; });
    EXPECT_EQ(calls, 3);
}

TEST(ProfileRange, BenchTrainStepRefusesABadCountBeforeAnyCase) {
    const std::string bench = std::string(CBNN_BINARY_DIR) + "/bench_train_step";
    if (!std::filesystem::exists(bench)) GTEST_SKIP() << bench << " is not built";
    const testing::ToolRun bad =
        testing::run_command("CBNN_PROFILE_STEPS=two " + bench + " --benchmark_list_tests");
    EXPECT_EQ(bad.status, 1) << bad.output;
    EXPECT_EQ(bad.output,
              "bench_train_step: CBNN_PROFILE_STEPS: expected a whole number from 1 to 100, got "
              "'two'\n");
    const testing::ToolRun good =
        testing::run_command("CBNN_PROFILE_STEPS=2 " + bench + " --benchmark_list_tests");
    EXPECT_EQ(good.status, 0) << good.output;
    EXPECT_NE(good.output.find("BM_TrainStep/depth:32/"), std::string::npos) << good.output;
}

}  // namespace
}  // namespace cbnn
