// train/cli_parse.h through every tool that parses with it: a bad command line exits with the
// documented status 1 (not CLI11's own 104-114) and --help with 0; numbers mean exactly what was
// typed (no wrap-around, saturation, octal or dropped list items) and reals are finite.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/support/run_tool.h"

namespace cbnn {
namespace {

using testing::run_tool;
using testing::ToolRun;

// Rejected with exit status 1 and a message holding `fragment`, said once.
void expect_rejected(const std::string& tool, const std::string& args,
                     const std::string& fragment) {
    const ToolRun r = run_tool(tool, args);
    EXPECT_EQ(r.status, 1) << tool << " " << args << "\n" << r.output;
    const size_t at = r.output.find(fragment);
    EXPECT_NE(at, std::string::npos) << tool << " " << args << "\n" << r.output;
    EXPECT_EQ(r.output.rfind(fragment), at) << tool << " " << args << "\n" << r.output;
}

// Flags a trainer needs to get past parsing; the data folder is never read (each command line
// here fails before).
const std::string kTrainerBase = "--data /nonexistent/data --out /nonexistent/run";

// Each tool with command lines CLI11 itself refuses: a missing required flag, an unknown flag, a
// value not in the allowed set, a value of the wrong type.
TEST(CliParse, EveryToolExitsWithOneOnABadCommandLineAndZeroOnHelp) {
    const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
        {"cbnn-weights", {"--counts 10,5", "--counts 10,5 --beta 0.5 --bogus"}},
        {"cbnn-loss", {"--loss hinge --counts 1 --logits a.npy --labels b.npy", "--bogus"}},
        {"cbnn-data", {"--data x", "--dataset imagenet --data x"}},
        {"cbnn-demo", {"--bogus", "--device"}},
        {"cbnn-eval", {"", "--checkpoint c.bin --json=maybe"}},
        {"cbnn-train-cifar", {"--data x", kTrainerBase + " --loss hinge"}},
        {"cbnn-train-imagenet", {"--out x", kTrainerBase + " --preset smoke"}},
        {"cbnn-train-inat", {"--out x", kTrainerBase + " --bogus"}},
    };
    for (const auto& [tool, bad] : cases) {
        const ToolRun help = run_tool(tool, "--help");
        EXPECT_EQ(help.status, 0) << tool << "\n" << help.output;
        EXPECT_NE(help.output.find("Usage"), std::string::npos) << tool << "\n" << help.output;
        for (const std::string& args : bad) expect_rejected(tool, args, "Run with --help");
    }
}

TEST(CliParse, WholeNumbersOutsideTheirTypeAreRejectedNotWrappedOrSaturated) {
    const std::string seed_range =
        "--seed: '-1' is not a whole number from 0 to "
        "18446744073709551615";
    expect_rejected("cbnn-demo", "--seed -1", seed_range);
    expect_rejected("cbnn-data", "--dataset cifar10 --data x --seed -1", seed_range);
    for (const char* trainer : {"cbnn-train-cifar", "cbnn-train-imagenet", "cbnn-train-inat"}) {
        expect_rejected(trainer, kTrainerBase + " --seed -1", seed_range);
        expect_rejected(trainer, kTrainerBase + " --seed 18446744073709551616",
                        "--seed: '18446744073709551616' is not a whole number");
        expect_rejected(trainer, kTrainerBase + " --epochs 99999999999999999999",
                        "--epochs: '99999999999999999999' is not a whole number");
        expect_rejected(trainer, kTrainerBase + " --batch-size 0x10",
                        "--batch-size: '0x10' is not a whole number");
    }
    expect_rejected("cbnn-weights", "--counts 99999999999999999999,1 --beta 0.5",
                    "--counts: '99999999999999999999' is not a whole number");
    expect_rejected("cbnn-loss", "--loss softmax --counts 1,-1e3 --logits a.npy --labels b.npy",
                    "--counts: '-1e3' is not a whole number");
    expect_rejected("cbnn-eval", "--checkpoint c.bin --batch-size 1.5",
                    "--batch-size: '1.5' is not a whole number");
}

// CLI11's delimiter drops empty items ("5,,3" was two classes) and read "" as one count of 0.
TEST(CliParse, ListsWithEmptyItemsAreRejected) {
    for (const char* counts : {"\"\"", "5,,3", "5,3,", ",5"})
        expect_rejected("cbnn-weights", std::string("--beta 0.5 --counts ") + counts,
                        "--counts: '' is not a whole number");
    expect_rejected("cbnn-train-cifar", kTrainerBase + " --lr-steps \"\" --lr-factors \"\"",
                    "--lr-steps: '' is not a finite number");
    expect_rejected("cbnn-train-inat", kTrainerBase + " --lr-steps 30,60 --lr-factors 0.1,,0.01",
                    "--lr-factors: '' is not a finite number (in '0.1,,0.01')");
}

// The value a tool runs with is the decimal number typed: "010" is ten (CLI11's base-0 reading
// made it eight), and lists may still be given comma-separated, space-separated or repeated.
TEST(CliParse, NumbersAreReadAsTheDecimalsTyped) {
    const auto counts = [](const std::string& args) {
        const ToolRun r = run_tool("cbnn-weights", args + " --beta 0 --json", true);
        EXPECT_EQ(r.status, 0) << args << "\n" << r.output;
        return r.status == 0 ? nlohmann::json::parse(r.output).at("counts").get<std::vector<int>>()
                             : std::vector<int>{};
    };
    EXPECT_EQ(counts("--counts 010,5"), (std::vector<int>{10, 5}));
    EXPECT_EQ(counts("--counts=7,6,5"), (std::vector<int>{7, 6, 5}));
    EXPECT_EQ(counts("--counts 7 6"), (std::vector<int>{7, 6}));
    EXPECT_EQ(counts("--counts 7 --counts 6,5"), (std::vector<int>{7, 6, 5}));

    const ToolRun demo = run_tool("cbnn-demo", "--steps 5 --classes 2 --seed 010");
    EXPECT_EQ(demo.status, 0) << demo.output;
    EXPECT_NE(demo.output.find("seed 10:"), std::string::npos) << demo.output;
    const ToolRun top = run_tool("cbnn-demo", "--steps 5 --classes 2 --seed 18446744073709551615");
    EXPECT_EQ(top.status, 0) << top.output;
    EXPECT_NE(top.output.find("seed 18446744073709551615:"), std::string::npos) << top.output;
}

TEST(CliParse, RealsMustBeFinite) {
    expect_rejected("cbnn-weights", "--counts 10,5 --beta 1e400",
                    "--beta: '1e400' is not a finite number");
    expect_rejected("cbnn-loss", "--loss focal --gamma inf --counts 1 --logits a --labels b",
                    "--gamma: 'inf' is not a finite number");
    expect_rejected("cbnn-data", "--dataset cifar10 --data x --imbalance nan",
                    "--imbalance: 'nan' is not a finite number");
    for (const char* trainer : {"cbnn-train-cifar", "cbnn-train-imagenet", "cbnn-train-inat"}) {
        expect_rejected(trainer, kTrainerBase + " --lr nan", "--lr: 'nan' is not a finite number");
        expect_rejected(trainer, kTrainerBase + " --weight-decay -inf",
                        "--weight-decay: '-inf' is not a finite number");
        expect_rejected(trainer, kTrainerBase + " --lr-steps 1,nan --lr-factors 0.1,0.1",
                        "--lr-steps: 'nan' is not a finite number");
    }
}

}  // namespace
}  // namespace cbnn
