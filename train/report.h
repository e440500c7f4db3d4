#pragma once
// The output folder of a training run and the terminal progress line.
//
// Folder layout (all written by RunWriter):
//   config.json    {"settings": <what the trainer passed>, "versions": build_versions()}
//   metrics.jsonl  one JSON object per epoch (EpochRecord::to_json), appended and flushed line by
//                  line so a killed run keeps every finished epoch; NaN values are written as null
//   report.html    self-contained page (inline CSS + SVG, no scripts, no fonts, no URLs): loss,
//                  error and LR curves, per-class test accuracy against the training count, a
//                  many/medium/few table and a final summary; rewritten atomically (temporary
//                  file in the same folder + rename) by write_report()
//
// Typical use by a trainer:
//   RunWriter run(out_dir, resume, resume ? checkpoint_epoch : 0);
//   run.write_config(settings_json);
//   for each epoch e (1-based): ... run.append_epoch(record); run.write_report(&eval_result);
//
// Resume: RunWriter(dir, true, last_epoch) keeps the metrics.jsonl lines with epoch <= last_epoch
// (the epochs the checkpoint covers) and drops the rest, including a torn last line, so the
// resumed run appends without duplicates. Without resume, a folder that already holds a
// config.json is refused with a cbnn::Error (never silently overwritten).

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "train/metrics.h"

namespace cbnn::train {

// The JSON value of a measurement: the number, or null when it is NaN or infinite (JSON has no
// NaN), as in metrics.jsonl.
nlohmann::json number_or_null(double v);

// The epochs a run folder's metrics.jsonl holds in order from its start, as a resume reads them
// (up to the first line that does not parse); empty when the file is missing.
std::vector<int64_t> recorded_epochs(const std::filesystem::path& dir);

// One line of metrics.jsonl. Values not measured in an epoch (no test evaluation, no top-5)
// stay NaN and are written as null. Errors and accuracies are fractions in [0, 1].
struct EpochRecord {
    int64_t epoch = 0;  // 1-based
    double loss = 0.0;  // mean training loss
    double lr = 0.0;    // learning rate at the end of the epoch
    double train_error = 0.0;
    double test_error = 0.0;
    double top5 = 0.0;          // top-5 test error (NaN for 5 classes or fewer: has_top5)
    double seconds = 0.0;       // the epoch's training steps and its evaluation, if any
    double eval_seconds = 0.0;  // the evaluation alone (NaN: none this epoch)
    double images_per_second = 0.0;
    double many = 0.0, medium = 0.0, few = 0.0;  // shot-group test accuracies

    EpochRecord();  // every measured value NaN, epoch 0
    nlohmann::json to_json() const;
    static EpochRecord from_json(const nlohmann::json& j);  // null -> NaN; missing -> NaN
};

// `j` as JSON text indented by `indent` (-1: one line); a string that is not UTF-8 (a class named
// by its folder, a path: any bytes) is written with U+FFFD in place of the bad bytes instead of
// making the dump throw.
std::string json_text(const nlohmann::json& j, int indent = 2);

// cbnn version (CBNN_VERSION if the build defines it, else "unknown"), compiler, C++ standard,
// and in CUDA builds the CUDA runtime/driver and cuDNN versions and the GPU name (absent
// fields when no GPU); "device" is the GPU name, or the CPU model name from /proc/cpuinfo.
nlohmann::json build_versions();

// What report.html shows. last_eval may be null (no evaluation yet).
struct ReportInput {
    std::string title = "cbnn run";
    nlohmann::json settings;  // shown as a key/value table (objects flattened one level)
    std::vector<EpochRecord> epochs;
    const EvalResult* last_eval = nullptr;
    std::vector<std::string> class_names;  // index = label; empty: classes named by index only
};
std::string render_report_html(const ReportInput& input);

// Creates the run folder `dir` (and its parents) if missing; throws naming it when that fails or
// `dir` is not a folder.
void create_run_folder(const std::filesystem::path& dir);
// create_run_folder, and without `resume` refuses a folder that already holds a run (a
// config.json). RunWriter's constructor starts with it; the trainers' command lines call it
// before reading any data, so that a bad --out fails at once.
void prepare_run_folder(const std::filesystem::path& dir, bool resume);

class RunWriter {
  public:
    // Creates `dir` if missing. resume == false: throws if dir/config.json exists. resume ==
    // true: truncates metrics.jsonl to epochs <= resume_epoch and reloads them for the report.
    RunWriter(std::filesystem::path dir, bool resume = false, int64_t resume_epoch = 0);

    const std::filesystem::path& dir() const { return dir_; }
    std::filesystem::path config_path() const { return dir_ / "config.json"; }
    std::filesystem::path metrics_path() const { return dir_ / "metrics.jsonl"; }
    std::filesystem::path report_path() const { return dir_ / "report.html"; }
    std::filesystem::path eval_path() const { return dir_ / "eval.json"; }

    // Writes config.json atomically: {"settings": settings, "versions": build_versions()}.
    void write_config(const nlohmann::json& settings);
    // Appends one line to metrics.jsonl and flushes and fsyncs it. Epochs must increase.
    void append_epoch(const EpochRecord& record);
    // The dataset's class names (index = label) for eval.json and report.html, as cbnn-eval
    // names them; without them (empty, the default) classes are named by index ("0", "1", ...).
    void set_class_names(std::vector<std::string> names) { class_names_ = std::move(names); }
    // Writes eval.json atomically: {"epoch": epoch} and eval_result_json (train/evaluate.h) of
    // `result`, per-class accuracy and training counts included (the latest evaluation of the
    // run, for tools such as scripts/reproduce.py, which read per_class in index order).
    void write_eval(const EvalResult& result, int64_t epoch);
    // Regenerates report.html atomically from the epochs so far and the given evaluation.
    void write_report(const EvalResult* last_eval = nullptr, const std::string& title = "");

    const std::vector<EpochRecord>& epochs() const { return epochs_; }

  private:
    std::filesystem::path dir_;
    nlohmann::json settings_;
    std::vector<EpochRecord> epochs_;
    std::vector<std::string> class_names_;
};

// "epoch 12/200  batch 57/96  loss 0.8123  18,250 img/s  ETA 1:02:13". The ETA is h:mm:ss
// (rounded to whole seconds); a negative or non-finite ETA prints "ETA --:--:--", a
// non-finite loss "loss nan"/"loss inf", images_per_second is rounded and grouped by thousands.
std::string format_progress(int64_t epoch, int64_t epochs, int64_t batch, int64_t batches,
                            double loss, double images_per_second, double eta_seconds);
// h:mm:ss of a non-negative number of seconds (e.g. 3733 -> "1:02:13").
std::string format_duration(double seconds);

// Where a run's wall time went, for the line the trainers print at the end (issue 7 asks for a
// whole run's time, evaluations included): the epochs' training steps (each epoch's time less
// its evaluation; the steps' progress lines wait for the GPU, so this is GPU time too), the
// evaluations, the epochs' files (eval.json, checkpoint, metrics line, report.html: written on
// train/background_writer.h's thread, so what counts here is what the training thread spent on
// them, the checkpoints' snapshots and any wait for the writer), and the rest of the run (the
// loop's bookkeeping).
class RunTimes {
  public:
    void add_training(double seconds) { training_ += seconds; }
    void add_evaluation(double seconds) {
        evaluation_ += seconds;
        ++evaluations_;
    }
    void add_files(double seconds, int64_t checkpoints) {
        files_ += seconds;
        checkpoints_ += checkpoints;
    }
    // "time: 150.2 s: training 77.1 s, 100 evaluations 30.3 s, files 0.4 s (200 checkpoints),
    // other 42.4 s" for a run of `total` seconds (the part no category took is "other").
    std::string describe(double total) const;

  private:
    double training_ = 0, evaluation_ = 0, files_ = 0;
    int64_t evaluations_ = 0, checkpoints_ = 0;
};
// 18250.4 -> "18,250".
std::string format_thousands(double value);

}  // namespace cbnn::train
