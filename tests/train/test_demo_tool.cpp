// cbnn-demo (train/demo_main.cpp) run as a user runs it: a short run, and every out-of-range or
// non-finite value refused with one readable message and exit status 1.
#include <string>

#include "gtest/gtest.h"
#include "tests/support/run_tool.h"

namespace cbnn {
namespace {

using testing::run_tool;
using testing::ToolRun;

const char* kTool = "cbnn-demo";

TEST(DemoTool, ShortRunPrintsBothTrainingsAndTheComparison) {
    const ToolRun r = run_tool(kTool, "--steps 5 --classes 3 --max-per-class 50");
    ASSERT_EQ(r.status, 0) << r.output;
    for (const char* part :
         {"seed 0", "[softmax] step", "[CB softmax] step", "class  2:", "mean (balanced test set)"})
        EXPECT_NE(r.output.find(part), std::string::npos) << part << "\n" << r.output;
}

// "nan" passed CLI11's PositiveNumber and Range checks: the run went on with NaN losses, exit 0.
TEST(DemoTool, NonFiniteValuesAreRefused) {
    for (const char* flag : {"--lr", "--imbalance", "--beta"}) {
        for (const char* value : {"nan", "inf"}) {
            const ToolRun r = run_tool(kTool, std::string(flag) + " " + value);
            EXPECT_EQ(r.status, 1) << flag << " " << value << "\n" << r.output;
            EXPECT_NE(r.output.find(std::string(flag) + ": '" + value + "' is not a finite number"),
                      std::string::npos)
                << r.output;
            EXPECT_EQ(r.output.find("step"), std::string::npos) << r.output;  // nothing trained
        }
    }
}

// The messages name the allowed range as a user writes it (CLI::Range printed "Value 1 not in
// range 0.000000 to 1.000000", and PositiveNumber a 309-digit upper bound).
TEST(DemoTool, OutOfRangeValuesGetReadableMessages) {
    const auto expect_message = [](const std::string& args, const std::string& message) {
        const ToolRun r = run_tool(kTool, args);
        EXPECT_EQ(r.status, 1) << args << "\n" << r.output;
        EXPECT_NE(r.output.find(message), std::string::npos) << args << "\n" << r.output;
        EXPECT_LT(r.output.size(), 200u) << r.output;
    };
    expect_message("--lr 0", "--lr: 0 is not > 0");
    expect_message("--lr=-0.5", "--lr: -0.5 is not > 0");
    expect_message("--beta 1", "--beta: 1 is not in [0, 1)");
    expect_message("--beta=-0.1", "--beta: -0.1 is not in [0, 1)");
    expect_message("--imbalance 0.5", "--imbalance: 0.5 is not in [1, 1000]");
    expect_message("--classes 65", "--classes: 65 is not in [2, 64]");
    expect_message("--steps 4", "--steps: 4 is not in [5, 100000]");
    expect_message("--max-per-class 1", "--max-per-class: 1 is not in [2, 100000]");
    expect_message("--classes 2.5", "--classes: '2.5' is not a whole number");
    expect_message("--seed -1", "--seed: '-1' is not a whole number from 0 to");
}

}  // namespace
}  // namespace cbnn
