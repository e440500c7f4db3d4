// scripts/reproduce.sh's tables beside the paper and the reference (scripts/sweep_references.py):
// on the committed GPU runs (softmax and CB focal, one seed each, IF 100), the paper's Table 2 in
// the layout of cbnn's, and the reference on this data with issue 8's verdicts; then with a second
// softmax seed written here, the verdict that needs two seeds.
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/support/run_tool.h"
#include "tests/support/scratch.h"

namespace cbnn {
namespace {

namespace fs = std::filesystem;
using testing::read_text;

const fs::path kCommitted = fs::path(CBNN_SOURCE_DIR) / "docs/measurements/reproduce";

testing::ToolRun collect(const fs::path& runs) {
    return testing::run_command(std::string("bash ") + CBNN_SOURCE_DIR +
                                "/scripts/reproduce.sh --collect-only --runs " + runs.string());
}

// A copy of a committed run's config and metrics under `name`, with `settings` merged into the
// config's settings and, when given, the last epoch's test error changed.
void write_run(const fs::path& runs, const std::string& from, const std::string& name,
               const nlohmann::json& settings, std::optional<double> test_error = std::nullopt) {
    fs::create_directories(runs / name);
    nlohmann::json config = nlohmann::json::parse(read_text(kCommitted / from / "config.json"));
    config["settings"].update(settings);
    std::ofstream(runs / name / "config.json") << config.dump(2);
    std::istringstream lines(read_text(kCommitted / from / "metrics.jsonl"));
    std::vector<nlohmann::json> records;
    for (std::string line; std::getline(lines, line);)
        if (!line.empty()) records.push_back(nlohmann::json::parse(line));
    if (test_error) records.back()["test_error"] = *test_error;
    std::ofstream out(runs / name / "metrics.jsonl");
    for (const nlohmann::json& r : records) out << r.dump() << "\n";
}

// The same run with another seed and last test error.
void write_seed(const fs::path& runs, const std::string& from, const std::string& name, int seed,
                double test_error) {
    write_run(runs, from, name, {{"seed", seed}}, test_error);
}

TEST(ReproduceTables, ThePaperAndTheReferenceBesideTheCommittedRuns) {
    const fs::path runs = testing::scratch_dir("reproduce_tables");
    for (const char* name : {"cifar10-if100-softmax-s0", "cifar10-if100-focal-g1-cb0.9999-s0"}) {
        fs::create_directories(runs / name);
        for (const char* file : {"config.json", "metrics.jsonl"})
            fs::copy_file(kCommitted / name / file, runs / name / file);
    }
    const testing::ToolRun r = collect(runs);
    ASSERT_EQ(r.status, 0) << r.output;
    const std::string md = read_text(runs / "results.md");
    // Table 2's IF 100 column for these rows; its best plain loss is sigmoid's 29.55.
    for (const char* line : {
             "| paper, top-1 error % | IF 100 |",
             "| Softmax | 29.64 |",
             "| CB focal γ=1, β=0.9999 | 25.43 |",
             "| best plain loss | 29.55 |",
             "| best class-balanced | 25.43 (CB focal γ=1, β=0.9999) |",
             "| CB gain (points) | 4.12 |",
             "| Softmax | 34.26 (1 seed) | 35.45 (2 seeds) | -1.19 | outside, 1 seed of 2 |",
             "| CB focal γ=1, β=0.9999 | 29.55 (1 seed) | 30.37 (1 seed) | -0.82 | within, 1 seed "
             "of 2 |",
             "| CB softmax, β=0.9999 | not run | 30.27 (1 seed) | – | – |",
             "CB gain at IF 100 (Softmax - CB focal γ=1, β=0.9999): 4.71 points (means of 1 and 1 "
             "seeds), the target of 4 met.",
         }) {
        EXPECT_NE(md.find(std::string(line) + "\n"), std::string::npos) << line << "\n" << md;
    }

    // A second softmax seed at 36.00 %: mean 35.13, 0.32 from the reference's 35.45, two seeds.
    write_seed(runs, "cifar10-if100-softmax-s0", "cifar10-if100-softmax-s1", 1, 0.36);
    ASSERT_EQ(collect(runs).status, 0);
    const std::string two = read_text(runs / "results.md");
    EXPECT_NE(two.find("| Softmax | 35.13 (2 seeds) | 35.45 (2 seeds) | -0.32 | within |\n"),
              std::string::npos)
        << two;
    EXPECT_NE(two.find("5.58 points (means of 2 and 1 seeds), the target of 4 met."),
              std::string::npos)
        << two;
}

// A gain under 4 points says so; a dataset or IF without a reference gets no reference table.
TEST(ReproduceTables, AGainUnderTheTargetAndNoReferenceElsewhere) {
    const fs::path runs = testing::scratch_dir("reproduce_tables_gain");
    write_seed(runs, "cifar10-if100-softmax-s0", "cifar10-if100-softmax-s0", 0, 0.3226);
    write_seed(runs, "cifar10-if100-focal-g1-cb0.9999-s0", "cifar10-if100-focal-g1-cb0.9999-s0", 0,
               0.2955);
    ASSERT_EQ(collect(runs).status, 0);
    const std::string md = read_text(runs / "results.md");
    EXPECT_NE(md.find("2.71 points (means of 1 and 1 seeds), the target of 4 not met."),
              std::string::npos)
        << md;

    const fs::path other = testing::scratch_dir("reproduce_tables_if10");
    write_run(other, "cifar10-if100-softmax-s0", "cifar10-if10-softmax-s0",
              {{"subset_list", "/data/cifar10-lt/train_if10.txt"}});
    ASSERT_EQ(collect(other).status, 0);
    const std::string if10 = read_text(other / "results.md");
    EXPECT_NE(if10.find("| paper, top-1 error % | IF 10 |\n|---|---|\n| Softmax | 13.61 |"),
              std::string::npos)
        << if10;
    EXPECT_NE(if10.find("| best class-balanced | 12.51 (CB sigmoid, β=0.9999) |"),
              std::string::npos)
        << if10;
    EXPECT_EQ(if10.find("Against the reference"), std::string::npos) << if10;

    // A list whose name carries no imbalance factor: the run is listed, no table has its column.
    const fs::path unnamed = testing::scratch_dir("reproduce_tables_unnamed");
    write_run(unnamed, "cifar10-if100-softmax-s0", "cifar10-mylist-softmax-s0",
              {{"subset_list", "/data/mylist.txt"}});
    const testing::ToolRun listed = collect(unnamed);
    ASSERT_EQ(listed.status, 0) << listed.output;
    const std::string md_unnamed = read_text(unnamed / "results.md");
    EXPECT_NE(md_unnamed.find("No run has an imbalance factor"), std::string::npos) << md_unnamed;
    EXPECT_NE(md_unnamed.find("| cifar10-mylist-softmax-s0 | 34.26 |"), std::string::npos)
        << md_unnamed;
}

}  // namespace
}  // namespace cbnn
