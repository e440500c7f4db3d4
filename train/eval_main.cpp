// cbnn-eval: evaluates a training checkpoint (<out>/checkpoint.bin of cbnn-train-cifar) on the
// test split of its dataset (train/eval_checkpoint.h). The summary (or, with --json, one JSON
// object) goes to stdout, errors to stderr. Exit status: 0 done, 1 bad input or error.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <system_error>

#include "tensor/error.h"
#include "tensor/file_io.h"
#include "train/cli_parse.h"
#include "train/eval_checkpoint.h"
#include "train/report.h"

namespace {

// --out names a file other than the checkpoint, which the JSON would replace: the same file when
// both exist, else the same absolute path.
void check_out_file(const std::string& out, const std::string& checkpoint) {
    namespace fs = std::filesystem;
    CBNN_CHECK(!out.empty(), "--out: empty file name");
    std::error_code ec;
    bool same = false;
    if (fs::exists(out, ec) && fs::exists(checkpoint, ec)) {
        same = fs::equivalent(out, checkpoint, ec);
    } else {
        std::error_code ec_out, ec_checkpoint;
        const fs::path a = fs::absolute(out, ec_out), b = fs::absolute(checkpoint, ec_checkpoint);
        same = !ec_out && !ec_checkpoint && a.lexically_normal() == b.lexically_normal();
    }
    CBNN_CHECK(!same, "--out ", out, " is the checkpoint itself (--checkpoint ", checkpoint,
               "): the JSON would replace it; write it to another file");
}

}  // namespace

int main(int argc, char** argv) {
    cbnn::train::CheckpointEvalOptions options;
    int64_t batch_size = 0;
    bool json = false, confusion = false;
    std::string out;
    CLI::App app{
        "cbnn-eval: evaluate a training checkpoint (checkpoint.bin written by cbnn-train-cifar) "
        "on the test split of its dataset.\n"
        "The model is rebuilt from the run config stored in the checkpoint (dataset, depth, "
        "loss), its weights and batch-norm running statistics are loaded, and it is evaluated in "
        "evaluation mode exactly as the trainer evaluates (with the run's recorded kernel "
        "choices, TF32 and --eval-precision). Prints top-1 / top-5 error, the test "
        "loss (the run's class-balanced loss), many/medium/few-shot accuracy (> 100, 20-100, < 20 "
        "training images per class), per-class accuracy with each class's training and test "
        "counts, and with --confusion the confusion matrix. Supported datasets: cifar10, "
        "cifar100.\n"
        "Exit status: 0 done, 1 bad input or error (missing or corrupt checkpoint, weights that "
        "do not fit the model of its config, unknown dataset, missing data folder, CUDA not "
        "available, bad flag value)."};
    app.add_option("--checkpoint", options.checkpoint, "checkpoint file (<run>/checkpoint.bin)")
        ->required();
    app.add_option("--data", options.data_dir,
                   "dataset folder to read the test split from (default: the data folder "
                   "recorded in the checkpoint's config)");
    app.add_option("--device", options.device, "cpu, cuda or cuda:N")->capture_default_str();
    cbnn::cli::add_number(
        app, "--batch-size", batch_size,
        "evaluation batch size >= 1 (default: as the trainer evaluates: 1000 on CUDA, "
        "the run's batch size on the CPU)");
    app.add_flag("--json", json,
                 "print one JSON object instead of the summary: checkpoint, dataset, model, "
                 "epoch, top1_error, top5_error, test_loss, balanced_accuracy, per_class [{name, "
                 "train_count, test_count, accuracy}], many/medium/few {accuracy, classes, "
                 "samples}, confusion (with --confusion); errors and accuracies are fractions, "
                 "NaN is null");
    app.add_option("--out", out,
                   "also write that JSON object to this file (atomically: a temporary file "
                   "renamed over it); not the checkpoint itself");
    app.add_flag("--confusion", confusion,
                 "include the confusion matrix (rows: true class, columns: predicted class)");
    if (const std::optional<int> status = cbnn::cli::parse(app, argc, argv)) return *status;

    try {
        if (app.count("--batch-size") > 0) options.batch_size = batch_size;
        if (app.count("--out") > 0) check_out_file(out, options.checkpoint);
        const cbnn::train::CheckpointEval eval = cbnn::train::evaluate_checkpoint(options);
        const std::string text =
            cbnn::train::json_text(cbnn::train::checkpoint_eval_json(eval, confusion)) + "\n";
        if (!out.empty()) cbnn::write_file_atomic(out, text, "--out");
        const std::string shown = json ? text : cbnn::train::checkpoint_eval_text(eval, confusion);
        std::fputs(shown.c_str(), stdout);
    } catch (const std::exception& e) {  // cbnn::Error, and anything else: one line, not an abort
        std::fprintf(stderr, "cbnn-eval: %s\n", e.what());
        return 1;
    }
    return 0;
}
