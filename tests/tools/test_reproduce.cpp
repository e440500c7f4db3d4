// scripts/reproduce.sh (the Table 2 sweep runner), run as a user runs it, on grids of tiny
// cbnn-train-cifar runs (ResNet-8, 1-2 epochs on cifar10-mini / a CIFAR-100 file written here): a
// part of the grid, the rest (complete runs skipped), a run killed before its first checkpoint
// (restarted), a longer schedule (resumed from the checkpoint), shards, the collected tables, and
// bad input refused once, before any run folder exists.
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/data/data_test_support.h"
#include "tests/support/run_tool.h"
#include "tests/support/scratch.h"

namespace cbnn {
namespace {

namespace fs = std::filesystem;
using testing::run_command;
using testing::ToolRun;

// Small and quick: no loader threads (the CPU suite runs two tests at a time on 2 cores).
const std::string kTiny = " --preset smoke --depth 8 --threads 0 --progress-every 1000";

ToolRun reproduce(const std::string& runs, const std::string& args) {
    return run_command(std::string("bash ") + CBNN_SOURCE_DIR + "/scripts/reproduce.sh --trainer " +
                       CBNN_BINARY_DIR + "/cbnn-train-cifar --runs " + runs + " " + args);
}

using testing::read_text;

nlohmann::json last_metrics(const fs::path& run) {
    std::ifstream in(run / "metrics.jsonl");
    std::string line, last;
    while (std::getline(in, line))
        if (!line.empty()) last = line;
    return last.empty() ? nlohmann::json() : nlohmann::json::parse(last);
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        if (!line.empty() && line.back() == '\r') line.pop_back();  // CSV rows end in \r\n
        if (!line.empty()) out.push_back(line);
    }
    return out;
}

TEST(Reproduce, RunsPartOfAGridSkipsRestartsResumesAndCollects) {
    CBNN_REQUIRE_DATA("cifar10-mini");
    const fs::path runs = testing::scratch_dir("reproduce_grid");
    const std::string grid = "--data " + testing::data_dir() +
                             "/cifar10-mini --imbalance 10 --loss softmax,focal --gamma 1 "
                             "--beta 0,0.9999 --seed 0" +
                             kTiny;
    const std::vector<std::string> names = {
        "cifar10-if10-softmax-s0", "cifar10-if10-softmax-cb0.9999-s0", "cifar10-if10-focal-g1-s0",
        "cifar10-if10-focal-g1-cb0.9999-s0"};

    const ToolRun part = reproduce(runs, grid + " --epochs 1 --only softmax");
    ASSERT_EQ(part.status, 0) << part.output;
    EXPECT_NE(part.output.find("2 selected: 0 already complete, 2 new"), std::string::npos)
        << part.output;
    EXPECT_TRUE(fs::exists(runs / names[0] / "report.html"));
    EXPECT_TRUE(fs::exists(runs / names[1] / "report.html"));
    EXPECT_FALSE(fs::exists(runs / names[2]));

    // Killed during its first epoch: config.json written, no checkpoint, no metrics yet.
    fs::remove(runs / names[0] / "checkpoint.bin");
    fs::remove(runs / names[0] / "metrics.jsonl");
    const ToolRun rest = reproduce(runs, grid + " --epochs 1");
    ASSERT_EQ(rest.status, 0) << rest.output;
    EXPECT_NE(rest.output.find("4 selected: 1 already complete, 2 new, 0 resumed, 1 restarted"),
              std::string::npos)
        << rest.output;
    for (const auto& name : names) {
        const nlohmann::json last = last_metrics(runs / name);
        ASSERT_FALSE(last.is_null()) << name;
        EXPECT_EQ(last.at("epoch"), 1) << name;
        EXPECT_TRUE(last.at("test_error").is_number()) << name;
    }

    // A longer schedule: every run has a checkpoint after epoch 1 and continues from it.
    const ToolRun longer = reproduce(runs, grid + " --epochs 2 --only focal-g1-s0");
    ASSERT_EQ(longer.status, 0) << longer.output;
    EXPECT_NE(longer.output.find("1 selected: 0 already complete, 0 new, 1 resumed"),
              std::string::npos)
        << longer.output;
    EXPECT_EQ(last_metrics(runs / names[2]).at("epoch"), 2);
    EXPECT_NE(read_text(runs / names[2] / "train.log").find("resumed from"), std::string::npos);
    const auto sweep = nlohmann::json::parse(read_text(runs / names[2] / "sweep.json"));
    EXPECT_EQ(sweep.at("attempts"), 2);
    EXPECT_GT(sweep.at("wall_seconds").get<double>(), 0.0);

    // Collected: one CSV row per finished run (3 at 1 epoch, 1 at 2), the Table 2 layout.
    const std::vector<std::string> csv = lines_of(read_text(runs / "results.csv"));
    ASSERT_EQ(csv.size(), 5u) << read_text(runs / "results.csv");
    EXPECT_EQ(csv[0].rfind("run,dataset,imbalance,loss,beta,gamma,seed,epochs,top1_error_pct", 0),
              0u);
    for (const auto& name : names) {
        bool found = false;
        for (const auto& row : csv) found = found || row.rfind(name + ",cifar10,10.0,", 0) == 0;
        EXPECT_TRUE(found) << name << "\n" << read_text(runs / "results.csv");
    }
    const std::string md = read_text(runs / "results.md");
    for (const char* text :
         {"## CIFAR-10-LT", "| top-1 error % | IF 10 |", "| Softmax | ", "| Focal γ=1 | ",
          "| CB softmax, β=0.9999 | ", "| CB focal γ=1, β=0.9999 | ", "| CB gain (points) | "})
        EXPECT_NE(md.find(text), std::string::npos) << text << "\n" << md;

    const std::string plot = read_text(runs / "error_vs_if-cifar10.svg");
    EXPECT_NE(md.find("![error against IF](error_vs_if-cifar10.svg)"), std::string::npos) << md;
    EXPECT_EQ(plot.rfind("<svg", 0), 0u) << plot;
    EXPECT_NE(plot.find("<polyline"), std::string::npos) << plot;

    // Per-class accuracy of softmax and the best CB loss (from each run's eval.json).
    EXPECT_NE(md.find("![per-class accuracy](per_class-cifar10-if10.svg)"), std::string::npos)
        << md;
    const std::string per_class = read_text(runs / "per_class-cifar10-if10.svg");
    EXPECT_EQ(per_class.rfind("<svg", 0), 0u) << per_class;
    EXPECT_NE(per_class.find("Softmax (1 seed)"), std::string::npos) << per_class;

    // Everything complete now: nothing runs.
    const ToolRun again = reproduce(runs, grid + " --epochs 1");
    ASSERT_EQ(again.status, 0) << again.output;
    EXPECT_NE(again.output.find("4 already complete, 0 new"), std::string::npos) << again.output;
}

// --jobs 2: both runs at once, each complete, each recording that it shared the machine, and the
// table's wall time saying so (a concurrent run's wall time is not a solo run's).
// A run that finished its own epochs and lost its checkpoint (--remove-finished-checkpoints) is
// never deleted to restart it when a longer schedule is asked for: it is reported as blocked.
TEST(Reproduce, AFinishedRunWithoutItsCheckpointIsNeverDeleted) {
    CBNN_REQUIRE_DATA("cifar10-mini");
    const fs::path runs = testing::scratch_dir("reproduce_blocked");
    const std::string grid = "--data " + testing::data_dir() +
                             "/cifar10-mini --imbalance 10 --loss softmax --beta 0 --seed 0" +
                             kTiny;
    const fs::path run = runs / "cifar10-if10-softmax-s0";
    ASSERT_EQ(reproduce(runs, grid + " --epochs 1").status, 0);
    fs::remove(run / "checkpoint.bin");
    const ToolRun more = reproduce(runs, grid + " --epochs 2");
    EXPECT_NE(more.status, 0) << more.output;
    EXPECT_NE(more.output.find("finished its own epochs but has no checkpoint.bin"),
              std::string::npos)
        << more.output;
    EXPECT_NE(more.output.find("0 restarted, 1 blocked"), std::string::npos) << more.output;
    EXPECT_EQ(last_metrics(run).at("epoch"), 1);
    EXPECT_TRUE(fs::exists(run / "report.html"));
}

// A run folder whose run.lock a trainer holds (another sweep's) is left alone: not deleted to
// restart it, not started a second time, not trimmed.
TEST(Reproduce, ARunAnotherTrainerHoldsIsLeftAlone) {
    CBNN_REQUIRE_DATA("cifar10-mini");
    const fs::path runs = testing::scratch_dir("reproduce_busy");
    const std::string grid = "--data " + testing::data_dir() +
                             "/cifar10-mini --imbalance 10 --loss softmax --beta 0 --seed 0" +
                             kTiny;
    const fs::path run = runs / "cifar10-if10-softmax-s0";
    fs::create_directories(run);
    testing::write_text((run / "config.json").string(), "{}");  // a run in its first epochs
    const int fd = ::open((run / "run.lock").c_str(), O_RDWR | O_CREAT, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::flock(fd, LOCK_EX | LOCK_NB), 0);
    const ToolRun busy = reproduce(runs, grid + " --epochs 1");
    ::close(fd);
    EXPECT_EQ(busy.status, 0) << busy.output;
    EXPECT_NE(busy.output.find("is being trained by another process"), std::string::npos)
        << busy.output;
    EXPECT_NE(busy.output.find("0 restarted, 1 busy elsewhere"), std::string::npos) << busy.output;
    EXPECT_TRUE(fs::exists(run / "config.json"));
    EXPECT_FALSE(fs::exists(run / "metrics.jsonl"));
    // Released: the sweep restarts it.
    const ToolRun after = reproduce(runs, grid + " --epochs 1");
    EXPECT_EQ(after.status, 0) << after.output;
    EXPECT_NE(after.output.find("1 restarted"), std::string::npos) << after.output;
}

TEST(Reproduce, RunsSeveralTrainersAtOnce) {
    CBNN_REQUIRE_DATA("cifar10-mini");
    const fs::path runs = testing::scratch_dir("reproduce_jobs");
    const ToolRun r = reproduce(runs.string(), "--data " + testing::data_dir() +
                                                   "/cifar10-mini --imbalance 10 --seed 0,1 "
                                                   "--epochs 1 --jobs 2" +
                                                   kTiny);
    ASSERT_EQ(r.status, 0) << r.output;
    EXPECT_NE(r.output.find("2 selected: 0 already complete, 2 new"), std::string::npos)
        << r.output;
    for (const char* name : {"cifar10-if10-softmax-s0", "cifar10-if10-softmax-s1"}) {
        EXPECT_EQ(last_metrics(runs / name).at("epoch"), 1) << name;
        const auto sweep = nlohmann::json::parse(read_text(runs / name / "sweep.json"));
        EXPECT_EQ(sweep.at("concurrent_jobs"), 2) << name;
    }
    EXPECT_NE(read_text(runs / "results.md").find(" (2 at once) |"), std::string::npos)
        << read_text(runs / "results.md");

    // Checkpoints: kept while a run can still go on (complete means 2 epochs here), removed
    // once it is complete (1 epoch).
    const std::string collect = "--collect-only --remove-finished-checkpoints --epochs ";
    ASSERT_EQ(reproduce(runs.string(), collect + "2").status, 0);
    EXPECT_TRUE(fs::exists(runs / "cifar10-if10-softmax-s0" / "checkpoint.bin"));
    const ToolRun pruned = reproduce(runs.string(), collect + "1");
    ASSERT_EQ(pruned.status, 0) << pruned.output;
    EXPECT_NE(pruned.output.find("removed the checkpoints of 2 complete runs"), std::string::npos)
        << pruned.output;
    EXPECT_FALSE(fs::exists(runs / "cifar10-if10-softmax-s0" / "checkpoint.bin"));
    EXPECT_TRUE(fs::exists(runs / "cifar10-if10-softmax-s0" / "eval.json"));

    // Complete runs move to another folder (as GPU runs brought back move into the committed
    // ones), which then has the tables; a second move finds nothing left.
    const fs::path kept = testing::scratch_dir("reproduce_jobs_kept");
    const ToolRun moved =
        reproduce(runs.string(), "--collect-only --epochs 1 --move-finished " + kept.string());
    ASSERT_EQ(moved.status, 0) << moved.output;
    EXPECT_NE(moved.output.find("moved 2 complete runs"), std::string::npos) << moved.output;
    EXPECT_TRUE(fs::exists(kept / "cifar10-if10-softmax-s1" / "metrics.jsonl"));
    EXPECT_FALSE(fs::exists(runs / "cifar10-if10-softmax-s1"));
    EXPECT_NE(read_text(kept / "results.md").find("cifar10-if10-softmax-s0"), std::string::npos);
    const ToolRun again =
        reproduce(runs.string(), "--collect-only --epochs 1 --move-finished " + kept.string());
    EXPECT_NE(again.output.find("moved 0 complete runs"), std::string::npos) << again.output;

    const ToolRun bad = reproduce(runs.string(), "--jobs 0 --list");
    EXPECT_NE(bad.status, 0);
    EXPECT_NE(bad.output.find("--jobs: expected a whole number of at least 1, got '0'"),
              std::string::npos)
        << bad.output;
}

// SIGTERM (what `timeout` sends) stops the sweep and the trainers it started, rather than leaving
// them running into the folders about to be packed.
TEST(Reproduce, SigtermStopsTheRunningTrainers) {
    CBNN_REQUIRE_DATA("cifar10-mini");
    const fs::path runs = testing::scratch_dir("reproduce_sigterm");
    // Matches the trainers' command lines (--out <runs>/cifar10-if10-softmax-s0 and -s1) but not
    // the shell's own, which holds the pattern with its brackets.
    const std::string trainers = runs.filename().string() + "/cifar10-if10-softmax-s[01]";
    const ToolRun r = run_command(
        std::string("bash ") + CBNN_SOURCE_DIR + "/scripts/reproduce.sh --trainer " +
        CBNN_BINARY_DIR + "/cbnn-train-cifar --runs " + runs.string() + " --data " +
        testing::data_dir() + "/cifar10-mini --imbalance 10 --seed 0,1 --jobs 2 --epochs 1000" +
        kTiny + " > " + runs.string() + "/sweep.log 2>&1 & pid=$!; sleep 4; kill -TERM $pid; " +
        "wait $pid; echo \"status=$?\"; sleep 1; if pgrep -f -- '" + trainers +
        "' >/dev/null; then echo trainer-left; pkill -f -- '" + trainers +
        "'; else echo no-trainer-left; fi");
    EXPECT_NE(r.output.find("status=1"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("no-trainer-left"), std::string::npos) << r.output;
    const std::string log = read_text(runs / "sweep.log");
    EXPECT_NE(log.find("interrupted; run the same command again"), std::string::npos) << log;
    EXPECT_NE(log.find("cifar10-if10-softmax-s1: running"), std::string::npos) << log;
}

// The committed GPU runs predate eval.json: their per-class accuracies come from the labels of
// report.html's per-class chart.
TEST(Reproduce, CollectsThePerClassPlotOfCommittedRuns) {
    const fs::path committed = fs::path(CBNN_SOURCE_DIR) / "docs/measurements/reproduce";
    const fs::path runs = testing::scratch_dir("reproduce_committed");
    for (const char* name : {"cifar10-if100-softmax-s0", "cifar10-if100-focal-g1-cb0.9999-s0"}) {
        fs::create_directories(runs / name);
        for (const char* file : {"config.json", "metrics.jsonl", "report.html"})
            fs::copy_file(committed / name / file, runs / name / file);
    }
    const ToolRun collect = reproduce(runs.string(), "--collect-only");
    ASSERT_EQ(collect.status, 0) << collect.output;
    const std::string svg = read_text(runs / "per_class-cifar10-if100.svg");
    EXPECT_NE(svg.find("Softmax (1 seed)"), std::string::npos) << svg;
    EXPECT_NE(svg.find("CB focal γ=1, β=0.9999 (1 seed)"), std::string::npos) << svg;
    size_t polylines = 0;
    for (size_t at = svg.find("<polyline"); at != std::string::npos;
         at = svg.find("<polyline", at + 1))
        ++polylines;
    EXPECT_EQ(polylines, 2u);
    // Class 0 has 5000 training images and softmax's accuracy on it is 95.60 % (report.html):
    // the first point, at y = 340 - 300 * 0.956.
    EXPECT_NE(svg.find(">5000</text>"), std::string::npos);
    EXPECT_NE(svg.find("<circle cx=\"84.0\" cy=\"53.2\""), std::string::npos) << svg;
}

// Each run's arithmetic (--precision, and layout, conv kernels, evaluation precision when not
// the defaults; fp32 for runs made before the flags; epoch batches for runs not cut as the
// paper's stream) is in the CSV and the run table, and a results.md whose runs differ in it says
// so above the tables.
TEST(Reproduce, RecordsEachRunsArithmetic) {
    const fs::path committed = fs::path(CBNN_SOURCE_DIR) / "docs/measurements/reproduce";
    const fs::path runs = testing::scratch_dir("reproduce_arithmetic");
    const std::string fp32_run = "cifar10-if100-softmax-s0", bf16_run = "cifar10-if100-softmax-s1";
    for (const std::string& name : {fp32_run, bf16_run}) {
        fs::create_directories(runs / name);
        for (const char* file : {"config.json", "metrics.jsonl", "report.html"})
            fs::copy_file(committed / fp32_run / file, runs / name / file);
    }
    nlohmann::json config = nlohmann::json::parse(read_text(runs / bf16_run / "config.json"));
    config["settings"]["seed"] = 1;
    config["settings"]["precision"] = "bf16";
    config["settings"]["layout"] = "nhwc";
    config["settings"]["conv_kernels"] = "cbnn";
    config["settings"]["eval_precision"] = "train";
    config["settings"]["batching"] = "stream";
    std::ofstream(runs / bf16_run / "config.json") << config.dump(2);

    const ToolRun collect = reproduce(runs.string(), "--collect-only");
    ASSERT_EQ(collect.status, 0) << collect.output;
    const std::vector<std::string> csv = lines_of(read_text(runs / "results.csv"));
    ASSERT_EQ(csv.size(), 3u);
    EXPECT_EQ(csv[0].substr(csv[0].rfind(',') + 1), "arithmetic");
    EXPECT_EQ(csv[1].substr(csv[1].rfind(',') + 1), "fp32 epoch batches") << csv[1];
    EXPECT_EQ(csv[2].substr(csv[2].rfind(',') + 1), "bf16 nhwc cbnn convs eval bf16") << csv[2];
    const std::string md = read_text(runs / "results.md");
    EXPECT_NE(md.find("Arithmetic of the runs (the last table says which run used which): 1 bf16 "
                      "nhwc cbnn convs eval bf16, 1 fp32 epoch batches."),
              std::string::npos)
        << md;
    EXPECT_NE(md.find("| bf16 nhwc cbnn convs eval bf16 |"), std::string::npos) << md;

    // One arithmetic throughout: no such line.
    fs::remove_all(runs / bf16_run);
    ASSERT_EQ(reproduce(runs.string(), "--collect-only").status, 0);
    EXPECT_EQ(read_text(runs / "results.md").find("Arithmetic of the runs"), std::string::npos);
}

TEST(Reproduce, ShardsSplitTheDefaultGridAndBadInputIsRefused) {
    const fs::path runs = testing::scratch_dir("reproduce_shards");
    const ToolRun all = reproduce(runs, "--list");
    ASSERT_EQ(all.status, 0) << all.output;
    const std::vector<std::string> names = lines_of(all.output);
    EXPECT_EQ(names.size(), 85u);  // issue 8's grid (scripts/grids/table2-cifar10.json)
    std::multiset<std::string> shards;
    for (const char* shard : {"1/3", "2/3", "3/3"}) {
        const ToolRun part = reproduce(runs, std::string("--list --shard ") + shard);
        ASSERT_EQ(part.status, 0) << part.output;
        for (const auto& name : lines_of(part.output)) shards.insert(name);
    }
    EXPECT_EQ(shards, std::multiset<std::string>(names.begin(), names.end()));
    const ToolRun column = reproduce(runs, "--list --only '*-if100-*-s1'");
    EXPECT_EQ(lines_of(column.output).size(), 10u) << column.output;

    const auto refused = [&](const std::string& args, const std::string& fragment) {
        const ToolRun r = reproduce(runs, args);
        EXPECT_NE(r.status, 0) << args;
        EXPECT_NE(r.output.find(fragment), std::string::npos) << args << "\n" << r.output;
    };
    refused("--list --loss hinge", "softmax, sigmoid or focal");
    refused("--list --beta 1", "--beta '1': expected a number in [0, 1)");
    refused("--list --shard 3/2", "--shard");
    refused("--dry-run --dataset cifar100", "CIFAR-100 is not in shared/data");
    refused("--list --grid " + runs.string() + "/absent.json", "cannot read the grid");
}

// What every run would refuse is refused once, before any run folder exists, with one message
// and no Python traceback: values no trainer accepts (from the flags or a grid file), a grid with
// nothing in it, an --epochs that is no number, an option that is neither the sweep's nor the
// trainer's (a mistyped --shard), one the sweep sets itself, a --data or --move-finished that is
// no folder. The trainer is a stand-in that answers --help as cbnn-train-cifar does and logs any
// other start.
TEST(Reproduce, BadInputIsRefusedOnceBeforeAnyRunStarts) {
    const fs::path dir = testing::scratch_dir("reproduce_bad_input");
    const fs::path runs = dir / "runs", log = dir / "trainer.log";
    testing::write_script(dir / "trainer", std::string("[[ ${1-} == --help ]] && exec ") +
                                               CBNN_BINARY_DIR + "/cbnn-train-cifar --help\n" +
                                               "echo \"$*\" >> " + log.string() + "\nexit 1\n");
    fs::create_directories(dir / "data");
    testing::write_text((dir / "file").string(), "not a folder\n");
    const auto grid = [&](const std::string& name, const std::string& json) {
        testing::write_text((dir / name).string(), json);
        return "--grid " + (dir / name).string();
    };
    const std::pair<std::string, std::string> cases[] = {
        {"--imbalance abc", "reproduce: --imbalance 'abc': expected a number of at least 1"},
        {"--imbalance 0.5", "reproduce: --imbalance '0.5': expected a number of at least 1"},
        {"--seed x", "reproduce: --seed 'x': expected a whole number of at least 0"},
        {"--seed 1.7", "reproduce: --seed '1.7': expected a whole number of at least 0"},
        {"--loss focal --gamma -1", "reproduce: --gamma '-1': expected a number of at least 0"},
        {grid("null.json", R"([{"loss": "softmax", "beta": null}])"),
         "null.json, block 1: beta null: expected a number in [0, 1)"},
        {grid("empty.json", R"({"blocks": [{"loss": "softmax", "seed": []}]})"),
         "empty.json is empty: block 1's seed is an empty list"},
        {"--seed 0 --epochs abc",
         "reproduce: --epochs 'abc': expected a whole number of at least 1"},
        {"--seed 0 --shards 1/2",
         "reproduce: --shards is neither an option of the sweep (scripts/reproduce.sh --help) nor "
         "of the trainer"},
        {"--seed 0 --out elsewhere", "reproduce: --out is set by the sweep for each run"},
        {"--seed 0 --data " + (dir / "absent").string(), "absent: no such folder"},
        {"--collect-only --move-finished " + (dir / "file").string(),
         "reproduce: --move-finished " + (dir / "file").string() + ": exists and is not a folder"},
    };
    for (const auto& [args, message] : cases) {
        SCOPED_TRACE(args);
        const ToolRun r = run_command("bash " + std::string(CBNN_SOURCE_DIR) +
                                      "/scripts/reproduce.sh --trainer " +
                                      (dir / "trainer").string() + " --runs " + runs.string() +
                                      " --data " + (dir / "data").string() + " " + args);
        EXPECT_EQ(r.status, 1) << r.output;
        EXPECT_NE(r.output.find(message), std::string::npos) << r.output;
        EXPECT_EQ(r.output.find("Traceback"), std::string::npos) << r.output;
        EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
        EXPECT_FALSE(fs::exists(runs)) << args;
        EXPECT_FALSE(fs::exists(log)) << read_text(log);
    }
}

// Run files that cannot be read count their run as not finished, with a warning that names the
// file, never a traceback: a metrics.jsonl that is not text, a config.json that is not JSON.
TEST(Reproduce, UnreadableRunFilesAreNamedAndCountAsNotFinished) {
    const fs::path committed = fs::path(CBNN_SOURCE_DIR) / "docs/measurements/reproduce";
    const fs::path runs = testing::scratch_dir("reproduce_unreadable");
    for (const char* name : {"cifar10-if100-softmax-s0", "cifar10-if100-focal-g1-cb0.9999-s0"}) {
        fs::create_directories(runs / name);
        for (const char* file : {"config.json", "metrics.jsonl"})
            fs::copy_file(committed / name / file, runs / name / file);
    }
    std::vector<uint8_t> binary;
    for (int i = 0; i < 2000; ++i) binary.push_back(static_cast<uint8_t>((i * 37 + 200) % 256));
    const fs::path metrics = runs / "cifar10-if100-softmax-s0" / "metrics.jsonl";
    testing::write_bytes(metrics.string(), binary);
    testing::write_text((runs / "garbage" / "config.json").string(), "{not json\n");

    const ToolRun r = reproduce(runs, "--collect-only");
    ASSERT_EQ(r.status, 0) << r.output;
    EXPECT_EQ(r.output.find("Traceback"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("reproduce: warning: " + metrics.string() +
                            ": not UTF-8 text; the run counts as not finished"),
              std::string::npos)
        << r.output;
    EXPECT_NE(r.output.find("reproduce: warning: " + (runs / "garbage" / "config.json").string() +
                            ": not JSON"),
              std::string::npos)
        << r.output;
    EXPECT_NE(r.output.find("1 finished runs"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("not finished: 2"), std::string::npos) << r.output;
}

// The CIFAR-100 binary format (1 coarse + 1 fine label byte per record), written here: 100
// classes, 2 training images and 1 test image each.
TEST(Reproduce, RunsOnCifar100BinaryFiles) {
    const fs::path data = testing::scratch_dir("reproduce_cifar100_data");
    const fs::path runs = testing::scratch_dir("reproduce_cifar100_runs");
    const auto records = [](int per_class) {
        std::vector<uint8_t> bytes;
        for (int i = 0; i < 100 * per_class; ++i) {
            bytes.push_back(static_cast<uint8_t>(i % 100 / 5));  // coarse
            bytes.push_back(static_cast<uint8_t>(i % 100));      // fine
            for (int k = 0; k < 3072; ++k) bytes.push_back(static_cast<uint8_t>((k + 7 * i) % 256));
        }
        return bytes;
    };
    testing::write_bytes((data / "train.bin").string(), records(2));
    testing::write_bytes((data / "test.bin").string(), records(1));

    const ToolRun r = reproduce(runs, "--dataset cifar100 --data " + data.string() +
                                          " --imbalance 2 --loss sigmoid --beta 0.9 --seed 0" +
                                          kTiny + " --epochs 1");
    ASSERT_EQ(r.status, 0) << r.output;
    const fs::path run = runs / "cifar100-if2-sigmoid-cb0.9-s0";
    EXPECT_TRUE(last_metrics(run).at("test_error").is_number()) << r.output;
    const auto config = nlohmann::json::parse(read_text(run / "config.json"));
    EXPECT_EQ(config.at("settings").at("dataset"), "cifar100");
    const std::string md = read_text(runs / "results.md");
    EXPECT_NE(md.find("## CIFAR-100-LT"), std::string::npos) << md;
    EXPECT_NE(md.find("| CB sigmoid, β=0.9 | "), std::string::npos) << md;
}

}  // namespace
}  // namespace cbnn
