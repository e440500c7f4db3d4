// RunWriter (config.json, metrics.jsonl, resume truncation, overwrite refusal, atomic
// report.html with inline SVG and no URLs) and the terminal progress line.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "gtest/gtest.h"
#include "tensor/backend.h"
#include "tensor/error.h"
#include "tests/support/scratch.h"
#include "tests/train/run_test_support.h"
#include "train/report.h"

namespace cbnn::train {
namespace {

namespace fs = std::filesystem;

// A fresh folder under the system temp directory, removed at the end of the test.
class TempDir {
  public:
    TempDir() {
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        path_ = fs::temp_directory_path() /
                (std::string("cbnn_report_") + info->name() + "_" + std::to_string(::getpid()));
        fs::remove_all(path_);
    }
    ~TempDir() { fs::remove_all(path_); }
    const fs::path& path() const { return path_; }

  private:
    fs::path path_;
};

using testing::read_text;

using testing::json_lines;

size_t count(const std::string& text, const std::string& needle) {
    size_t n = 0;
    for (size_t pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1))
        ++n;
    return n;
}

EpochRecord record(int64_t epoch) {
    EpochRecord r;
    r.epoch = epoch;
    r.loss = 2.0 / static_cast<double>(epoch);
    r.lr = epoch < 3 ? 0.1 : 0.001;
    r.train_error = 0.5 / static_cast<double>(epoch);
    if (epoch % 2 == 0) r.test_error = 0.6 / static_cast<double>(epoch);  // odd epochs: no eval
    r.seconds = 10.0;
    r.images_per_second = 1234.5;
    return r;
}

EvalResult small_eval() {
    Evaluator ev(6, {500, 200, 80, 30, 10, 2});
    const std::vector<float> logits = {5, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0,
                                       5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 5, 0, 0, 0, 0};
    ev.add(Tensor::from_vector<float>(logits, {6, 6}),
           Tensor::from_vector<int64_t>({0, 1, 2, 3, 4, 5}, {6}), 0.7);
    return ev.result();
}

TEST(RunWriter, WritesConfigWithSettingsAndVersions) {
    TempDir tmp;
    const fs::path dir = tmp.path() / "nested" / "run";
    RunWriter run(dir);
    EXPECT_TRUE(fs::is_directory(dir));
    const nlohmann::json settings = {
        {"loss", "focal"}, {"beta", 0.9999}, {"epochs", 200}, {"lr_steps", {160, 180}}};
    run.write_config(settings);
    const nlohmann::json config = nlohmann::json::parse(read_text(run.config_path()));
    EXPECT_EQ(config.at("settings"), settings);
    const nlohmann::json& v = config.at("versions");
    EXPECT_TRUE(v.at("cbnn").is_string());
    EXPECT_TRUE(v.at("compiler").is_string());
    EXPECT_TRUE(v.at("device").is_string());
    EXPECT_FALSE(v.at("device").get<std::string>().empty());
    EXPECT_EQ(v.at("built_with_cuda").get<bool>(), built_with_cuda());
    if (built_with_cuda()) {
        EXPECT_TRUE(v.contains("cudnn_compiled"));
    }
}

TEST(RunWriter, RefusesToOverwriteAnExistingRun) {
    TempDir tmp;
    {
        RunWriter run(tmp.path());
        run.write_config({{"seed", 1}});
    }
    try {
        RunWriter again(tmp.path());
        FAIL() << "an existing run was accepted without resume";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("already holds a run"), std::string::npos) << e.what();
    }
    EXPECT_NO_THROW(RunWriter(tmp.path(), /*resume=*/true, 0));
}

TEST(RunWriter, MetricsLinesParseAndNaNIsNull) {
    TempDir tmp;
    RunWriter run(tmp.path());
    for (int64_t e = 1; e <= 3; ++e) {
        run.append_epoch(record(e));
        EXPECT_EQ(json_lines(run.metrics_path()).size(),
                  static_cast<size_t>(e));  // flushed per line
    }
    const auto lines = json_lines(run.metrics_path());
    for (const char* key : {"epoch", "loss", "lr", "train_error", "test_error", "top5", "seconds",
                            "eval_seconds", "images_per_second", "many", "medium", "few"}) {
        EXPECT_TRUE(lines[0].contains(key)) << key;
    }
    EXPECT_EQ(lines[1].at("epoch"), 2);
    EXPECT_DOUBLE_EQ(lines[1].at("test_error").get<double>(), 0.3);
    EXPECT_TRUE(lines[0].at("test_error").is_null());
    const EpochRecord back = EpochRecord::from_json(lines[1]);
    EXPECT_DOUBLE_EQ(back.loss, 1.0);
    EXPECT_TRUE(std::isnan(back.top5));
    EXPECT_THROW(run.append_epoch(record(3)), Error);  // epochs must increase
}

TEST(RunWriter, ResumeDropsEpochsPastTheCheckpointAndATornLine) {
    TempDir tmp;
    {
        RunWriter run(tmp.path());
        run.write_config({{"seed", 1}});
        for (int64_t e = 1; e <= 5; ++e) run.append_epoch(record(e));
    }
    {
        std::ofstream torn(tmp.path() / "metrics.jsonl", std::ios::app);
        torn << "{\"epoch\": 6, \"loss\": 0.";  // a kill in the middle of a write
    }
    RunWriter resumed(tmp.path(), /*resume=*/true, 3);
    ASSERT_EQ(resumed.epochs().size(), 3u);
    EXPECT_EQ(resumed.epochs().back().epoch, 3);
    EXPECT_EQ(json_lines(resumed.metrics_path()).size(), 3u);
    resumed.append_epoch(record(4));
    const auto lines = json_lines(resumed.metrics_path());
    ASSERT_EQ(lines.size(), 4u);
    EXPECT_EQ(lines[3].at("epoch"), 4);

    // Resuming past every epoch keeps them all, except the torn line.
    TempDir other;
    {
        RunWriter run(other.path());
        run.append_epoch(record(1));
    }
    RunWriter all(other.path(), true, 100);
    EXPECT_EQ(all.epochs().size(), 1u);
}

TEST(RunWriter, ReportIsSelfContainedSvgAndWrittenAtomically) {
    TempDir tmp;
    RunWriter run(tmp.path());
    run.write_config({{"loss", "focal"}, {"note", "<b>&</b>"}});
    run.write_report();  // before any epoch: must not fail
    for (int64_t e = 1; e <= 4; ++e) run.append_epoch(record(e));
    const EvalResult eval = small_eval();
    run.write_report(&eval, "CIFAR-10-LT <IF 100>");

    const std::string html = read_text(run.report_path());
    EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
    EXPECT_NE(html.find("</html>"), std::string::npos);
    EXPECT_EQ(count(html, "<svg"), 4u);  // loss, error, lr, per-class
    EXPECT_EQ(count(html, "<svg"), count(html, "</svg>"));
    EXPECT_GE(count(html, "<polyline"), 5u);      // loss, train, test, lr, training counts
    EXPECT_EQ(count(html, "<rect x="), 6u + 3u);  // one bar per class + 3 legend swatches
    EXPECT_EQ(html.find("http://"), std::string::npos);
    EXPECT_EQ(html.find("https://"), std::string::npos);
    EXPECT_EQ(html.find("<script"), std::string::npos);
    EXPECT_EQ(html.find("<link"), std::string::npos);
    EXPECT_EQ(html.find("@import"), std::string::npos);
    EXPECT_NE(html.find("CIFAR-10-LT &lt;IF 100&gt;"), std::string::npos);  // escaped title
    EXPECT_NE(html.find("&lt;b&gt;&amp;&lt;/b&gt;"), std::string::npos);    // escaped setting
    EXPECT_NE(html.find("many"), std::string::npos);
    EXPECT_NE(html.find("500 training images"), std::string::npos);
    EXPECT_EQ(html.find("nan"), std::string::npos);  // missing values print as a dash
    // Only the three files, no temporary left behind.
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(tmp.path()))
        names.push_back(entry.path().filename());
    std::sort(names.begin(), names.end());
    EXPECT_EQ(names, (std::vector<std::string>{"config.json", "metrics.jsonl", "report.html"}));
}

// eval.json and report.html name classes as the dataset does once given the names (cbnn-eval's
// names), by index without them; per_class stays in label order either way.
TEST(RunWriter, EvalAndReportNameTheDatasetsClasses) {
    TempDir tmp;
    const EvalResult eval = small_eval();
    {
        RunWriter by_index(tmp.path() / "by_index");
        by_index.write_eval(eval, 3);
        const nlohmann::json j = nlohmann::json::parse(read_text(by_index.eval_path()));
        EXPECT_EQ(j.at("per_class")[0].at("name"), "0");
        EXPECT_EQ(j.at("per_class")[5].at("name"), "5");
    }
    RunWriter run(tmp.path() / "named");
    run.set_class_names({"airplane", "automobile", "bird", "cat", "de\xff", "<dog>"});
    run.write_eval(eval, 3);
    const nlohmann::json j = nlohmann::json::parse(read_text(run.eval_path()));
    ASSERT_EQ(j.at("per_class").size(), 6u);
    EXPECT_EQ(j.at("per_class")[0].at("name"), "airplane");
    EXPECT_EQ(j.at("per_class")[4].at("name"), "de\uFFFD");  // not UTF-8: replaced
    EXPECT_EQ(j.at("per_class")[5].at("name"), "<dog>");
    EXPECT_EQ(j.at("per_class")[0].at("train_count"), 500);
    run.append_epoch(record(1));
    run.write_report(&eval);
    const std::string html = read_text(run.report_path());
    // The name leads the bar's tooltip; "class k: accuracy a%, n training images" is kept for
    // scripts/sweep_tables.py's reading of older reports.
    EXPECT_NE(html.find("<title>airplane, class 0: accuracy 100.00%, 500 training images"),
              std::string::npos);
    EXPECT_NE(html.find("<title>&lt;dog&gt;, class 5: accuracy"), std::string::npos);
}

// With 5 classes or fewer there is no top-5 error: the report says why instead of a dash.
TEST(RunWriter, ReportSaysWhyThereIsNoTop5ForFewClasses) {
    Evaluator ev(3, {50, 20, 5});
    ev.add(Tensor::from_vector<float>({5, 0, 0, 0, 0, 5}, {2, 3}),
           Tensor::from_vector<int64_t>({0, 1}, {2}), 0.5);
    const EvalResult r = ev.result();
    ReportInput in;
    in.last_eval = &r;
    in.epochs = {record(1), record(2)};
    const std::string html = render_report_html(in);
    EXPECT_EQ(count(html, "n/a (fewer than 6 classes)"), 2u) << html;  // last epoch, evaluation

    const EvalResult six = small_eval();
    in.last_eval = &six;
    EXPECT_EQ(render_report_html(in).find("fewer than 6 classes"), std::string::npos);
}

TEST(RunWriter, ReportScalesToManyClasses) {
    std::vector<int64_t> counts(1000);
    for (size_t k = 0; k < counts.size(); ++k)
        counts[k] = static_cast<int64_t>(1300 / (1 + k / 10));
    Evaluator ev(1000, counts);
    std::vector<float> logits(1000 * 1000, 0.f);
    std::vector<int64_t> labels(1000);
    for (int64_t i = 0; i < 1000; ++i) {
        labels[static_cast<size_t>(i)] = i;
        logits[static_cast<size_t>(i * 1000 + (i % 3 == 0 ? i : 0))] = 1.f;
    }
    ev.add(Tensor::from_vector<float>(logits, {1000, 1000}),
           Tensor::from_vector<int64_t>(labels, {1000}));
    const EvalResult r = ev.result();
    ReportInput in;
    in.last_eval = &r;
    in.epochs = {record(1), record(2)};
    const std::string html = render_report_html(in);
    EXPECT_EQ(count(html, "<svg"), 4u);
    EXPECT_NE(html.find("(log scale)"), std::string::npos);  // counts span 1300 .. 13
}

// A realistic report left in the build folder for scripts/check-report.sh (headless browser).
TEST(RunWriter, WritesExampleReport) {
    const fs::path dir = fs::path(CBNN_BINARY_DIR) / "test-output" / "report-example";
    fs::remove_all(dir);
    RunWriter run(dir);
    run.write_config(
        {{"dataset", "example: 10 classes, IF 100"}, {"loss", "focal"}, {"beta", 0.9999}});
    std::vector<int64_t> counts;
    for (int k = 0; k < 10; ++k)
        counts.push_back(static_cast<int64_t>(5000 * std::pow(0.01, k / 9.0)));
    Evaluator ev(10, counts);
    std::vector<float> logits(100 * 10, 0.f);
    std::vector<int64_t> labels(100);
    for (int i = 0; i < 100; ++i) {
        const int label = i / 10;
        labels[static_cast<size_t>(i)] = label;
        // Class k is right for (10 - k) of its 10 samples: accuracy falls along the tail.
        logits[static_cast<size_t>(i * 10 + (i % 10 < 10 - label ? label : 0))] = 1.f;
    }
    ev.add(Tensor::from_vector<float>(logits, {100, 10}),
           Tensor::from_vector<int64_t>(labels, {100}), 0.9);
    const EvalResult r = ev.result();
    for (int64_t e = 1; e <= 30; ++e) {
        EpochRecord rec = record(e);
        rec.lr = e <= 20 ? 0.1 : e <= 25 ? 0.001 : 0.00001;
        rec.test_error = 0.7 / std::sqrt(static_cast<double>(e));
        rec.many = r.many.accuracy;
        rec.medium = r.medium.accuracy;
        rec.few = r.few.accuracy;
        run.append_epoch(rec);
    }
    run.write_report(&r, "example report");
    EXPECT_TRUE(fs::exists(run.report_path()));
}

TEST(Progress, FormatsTheTerminalLine) {
    EXPECT_EQ(format_progress(12, 200, 57, 96, 0.81234, 18250.4, 3733),
              "epoch 12/200  batch 57/96  loss 0.8123  18,250 img/s  ETA 1:02:13");
    EXPECT_EQ(format_progress(1, 2, 1, 3, NAN, 12.6, -1),
              "epoch 1/2  batch 1/3  loss nan  13 img/s  ETA --:--:--");
    EXPECT_EQ(format_progress(1, 1, 1, 1, INFINITY, 0, INFINITY),
              "epoch 1/1  batch 1/1  loss inf  0 img/s  ETA --:--:--");
    EXPECT_EQ(format_duration(0), "0:00:00");
    EXPECT_EQ(format_duration(59.6), "0:01:00");
    EXPECT_EQ(format_duration(100 * 3600 + 5), "100:00:05");
    EXPECT_EQ(format_thousands(999), "999");
    EXPECT_EQ(format_thousands(1000), "1,000");
    EXPECT_EQ(format_thousands(1234567.8), "1,234,568");
    EXPECT_EQ(format_thousands(-4321), "-4,321");
}

// The trainers' last line: the categories, counts with plurals, and the rest as "other".
TEST(RunTimes, DescribeSplitsTheWallTime) {
    RunTimes t;
    t.add_training(70.04);
    t.add_training(7.06);
    t.add_evaluation(60.3);
    t.add_files(0.25, 1);
    t.add_files(0.05, 0);
    t.add_files(0.1, 1);
    EXPECT_EQ(t.describe(150.2),
              "time: 150.2 s: training 77.1 s, 1 evaluation 60.3 s, "
              "files 0.4 s (2 checkpoints), other 12.4 s");
    // Parts measured separately can add up to more than the total: "other" stays at 0.
    RunTimes u;
    u.add_training(1.0);
    u.add_files(0.0, 1);
    EXPECT_EQ(u.describe(0.9),
              "time: 0.9 s: training 1.0 s, 0 evaluations 0.0 s, files 0.0 s "
              "(1 checkpoint), other 0.0 s");
}

}  // namespace
}  // namespace cbnn::train
