// cbnn-eval: evaluates a training checkpoint (<out>/checkpoint.bin of cbnn-train-cifar) on the
// test split of its dataset (train/eval_checkpoint.h). The summary (or, with --json, one JSON
// object) goes to stdout, errors to stderr. Exit status: 0 done, 1 bad input or error.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>

#include "tensor/error.h"
#include "tensor/file_io.h"
#include "train/eval_checkpoint.h"

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
    app.add_option("--batch-size", batch_size,
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
                   "renamed over it)");
    app.add_flag("--confusion", confusion,
                 "include the confusion matrix (rows: true class, columns: predicted class)");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        // --help exits 0; every bad flag or value is the documented status 1.
        return app.exit(e) == 0 ? 0 : 1;
    }

    try {
        if (app.count("--batch-size") > 0) options.batch_size = batch_size;
        const cbnn::train::CheckpointEval eval = cbnn::train::evaluate_checkpoint(options);
        const std::string text = cbnn::train::checkpoint_eval_json(eval, confusion).dump(2) + "\n";
        if (!out.empty()) cbnn::write_file_atomic(out, text, "cbnn-eval --out");
        const std::string shown = json ? text : cbnn::train::checkpoint_eval_text(eval, confusion);
        std::fputs(shown.c_str(), stdout);
    } catch (const cbnn::Error& e) {
        std::fprintf(stderr, "cbnn-eval: %s\n", e.what());
        return 1;
    }
    return 0;
}
