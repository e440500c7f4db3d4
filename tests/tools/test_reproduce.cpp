// scripts/reproduce.sh (the Table 2 sweep runner) and scripts/demo.sh, run as a user runs them.
// reproduce.sh on grids of tiny cbnn-train-cifar runs (ResNet-8, 1-2 epochs on cifar10-mini / a
// CIFAR-100 file written here): a part of the grid, the rest (complete runs skipped), a run killed
// before its first checkpoint (restarted), a longer schedule (resumed from the checkpoint),
// shards, and the collected tables.
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
// the defaults; fp32 for runs made before the flags) is in the CSV and the run table, and a
// results.md whose runs differ in it says so above the tables.
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
    std::ofstream(runs / bf16_run / "config.json") << config.dump(2);

    const ToolRun collect = reproduce(runs.string(), "--collect-only");
    ASSERT_EQ(collect.status, 0) << collect.output;
    const std::vector<std::string> csv = lines_of(read_text(runs / "results.csv"));
    ASSERT_EQ(csv.size(), 3u);
    EXPECT_EQ(csv[0].substr(csv[0].rfind(',') + 1), "arithmetic");
    EXPECT_EQ(csv[1].substr(csv[1].rfind(',') + 1), "fp32") << csv[1];
    EXPECT_EQ(csv[2].substr(csv[2].rfind(',') + 1), "bf16 nhwc cbnn convs eval bf16") << csv[2];
    const std::string md = read_text(runs / "results.md");
    EXPECT_NE(md.find("Arithmetic of the runs (the last table says which run used which): 1 bf16 "
                      "nhwc cbnn convs eval bf16, 1 fp32."),
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
    refused("--list --beta 1", "outside [0, 1)");
    refused("--list --shard 3/2", "--shard");
    refused("--dry-run --dataset cifar100", "CIFAR-100 is not in shared/data");
    refused("--list --grid " + runs.string() + "/absent.json", "cannot read the grid");
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

// scripts/demo.sh finds its data before building anything, so these run without a build. A copy
// of scripts/ in a scratch folder has no ../shared/data beside it: with an empty cache and a
// download that cannot connect, the demo stops with one message and exit status 1.
TEST(DemoScript, HelpAndNoDataOffline) {
    const ToolRun help =
        run_command(std::string("bash ") + CBNN_SOURCE_DIR + "/scripts/demo.sh --help");
    ASSERT_EQ(help.status, 0) << help.output;
    for (const char* text : {"--data DIR", "--full", "SHORT DEMO", "not the paper protocol",
                             "219 s and 29.55 %", "cifar-10-binary.tar.gz"})
        EXPECT_NE(help.output.find(text), std::string::npos) << text << "\n" << help.output;

    const fs::path repo = testing::scratch_dir("demo_offline");
    fs::create_directories(repo / "repo");
    fs::copy(fs::path(CBNN_SOURCE_DIR) / "scripts", repo / "repo" / "scripts",
             fs::copy_options::recursive);
    const ToolRun offline =
        run_command("env -u CBNN_DATA_DIR CBNN_CACHE_DIR=" + (repo / "cache").string() +
                    " CBNN_CIFAR10_URL=http://127.0.0.1:9/cifar-10-binary.tar.gz bash " +
                    (repo / "repo" / "scripts" / "demo.sh").string());
    EXPECT_EQ(offline.status, 1) << offline.output;
    EXPECT_NE(offline.output.find("no CIFAR-10 data found"), std::string::npos) << offline.output;
    EXPECT_NE(offline.output.find("--data DIR"), std::string::npos) << offline.output;
    EXPECT_FALSE(fs::exists(repo / "cache" / "cifar-10-binary.tar.gz.part"));
}

// scripts/check-report.sh on the report of the H100 run kept in docs/measurements: the static
// checks always, the headless render (DOM + screenshot) where a Chromium-family browser is
// installed. A copy with a <script> fails the static check; a copy whose body is hidden fails the
// render check when there is a browser.
TEST(CheckReportScript, MeasuredReportPassesBrokenCopiesFail) {
    const std::string script = std::string("bash ") + CBNN_SOURCE_DIR + "/scripts/check-report.sh ";
    const fs::path report = fs::path(CBNN_SOURCE_DIR) / "docs/measurements/reproduce" /
                            "cifar10-if100-focal-g1-cb0.9999-s0/report.html";
    const ToolRun good = run_command(script + report.string());
    ASSERT_EQ(good.status, 0) << good.output;
    EXPECT_NE(good.output.find("4 charts"), std::string::npos) << good.output;

    const fs::path dir = testing::scratch_dir("check_report");
    const std::string html = read_text(report);
    testing::write_text((dir / "script/report.html").string(),
                        std::string(html).insert(html.find("<body"), "<script>x=1</script>"));
    const ToolRun scripted = run_command(script + (dir / "script").string());
    EXPECT_EQ(scripted.status, 1) << scripted.output;
    EXPECT_NE(scripted.output.find("network reference or script"), std::string::npos)
        << scripted.output;

    if (good.output.find("rendered: ") == std::string::npos) {
        EXPECT_NE(good.output.find("no Chromium-family browser installed"), std::string::npos)
            << good.output;
        return;
    }
    EXPECT_NE(good.output.find("pixels of the first chart colour: ok"), std::string::npos)
        << good.output;
    std::string hidden = html;
    hidden.replace(hidden.find("<body>"), 6, "<body style=\"display:none\">");
    testing::write_text((dir / "hidden/report.html").string(), hidden);
    const ToolRun blank = run_command(script + (dir / "hidden").string());
    EXPECT_EQ(blank.status, 1) << blank.output;
    EXPECT_NE(blank.output.find("nothing rendered"), std::string::npos) << blank.output;
}

}  // namespace
}  // namespace cbnn
