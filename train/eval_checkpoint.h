#pragma once
// Evaluation of a saved training checkpoint (train/checkpoint.h) on a test set: what cbnn-eval
// does, as a library function so tests can call it directly.
//
//   CheckpointEvalOptions o;  o.checkpoint = "runs/cb_focal/checkpoint.bin";
//   CheckpointEval e = evaluate_checkpoint(o);
//   std::cout << checkpoint_eval_text(e, /*with_confusion=*/false);
//
// The checkpoint's meta holds the run's config (TrainConfig::to_json for CIFAR). Its "dataset"
// field picks the evaluator, which rebuilds the model exactly as the trainer built it (depth,
// classes from the dataset, head from the loss), loads weights and batch-norm running statistics
// (the checksum and every name and shape are checked first), loads the test split and runs
// train/evaluate.h's TestSet::evaluate, what the trainer's own evaluations run, with the run's
// recorded kernel choices and arithmetic (train_loop.h RunKernelSettings: TF32 for --precision
// tf32, conv and batch-norm kernels; --eval-precision train's bf16 / channels-last batches; runs
// older than a setting get its default): for the same checkpoint, data, device and batch size the
// result equals the trainer's evaluation after that epoch bit for bit, test loss included (the
// run's class-balanced loss). Not for --conv-search timed: the timing may pick other algorithms
// in another process, and the result then differs by their rounding.
//
// Training images per class (for the shot groups and the loss weights) come from the meta's
// "train_counts"; checkpoints written before it existed get them by rebuilding the training subset
// as the trainer did (train/trainer.h cifar_training_set) from the training split of the data.
//
// Datasets: cifar10, cifar100. Another dataset is one more entry in eval_checkpoint.cpp's table
// (a function from checkpoint bytes, meta and options to a CheckpointEval); a checkpoint of a
// dataset without one is an error naming the dataset and the ones supported.
//
// Errors (cbnn::Error, one message naming the file, value or field): unreadable, truncated or
// corrupt checkpoint (checksum), meta without a usable config, unknown dataset, weights that do not
// fit the model the config describes, missing data folder, CUDA asked for but not available,
// batch size < 1.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "train/metrics.h"

namespace cbnn::train {

struct CheckpointEvalOptions {
    std::string checkpoint;      // path of checkpoint.bin
    std::string data_dir;        // empty: the data_dir recorded in the checkpoint's config
    std::string device = "cpu";  // cpu | cuda | cuda:N
    // unset: the trainer's evaluation batch, eval_batch_size (train/evaluate.h): 1000 on CUDA,
    // the run's batch size on the CPU
    std::optional<int64_t> batch_size;
};

struct CheckpointEval {
    std::string checkpoint;
    nlohmann::json meta;  // as stored: epoch, step, config, ...
    std::string dataset;  // the config's "dataset"
    std::string model;    // e.g. "ResNet8"
    std::string data_dir;
    std::string data_description;     // e.g. "CIFAR-10 binary (test_batch.bin): 200 images"
    std::string train_counts_source;  // "checkpoint" or "rebuilt from the training split"
    std::string device;
    int64_t batch_size = 0;
    std::vector<std::string> class_names;
    EvalResult result;
};

CheckpointEval evaluate_checkpoint(const CheckpointEvalOptions& options);

// The datasets evaluate_checkpoint knows, sorted.
std::vector<std::string> checkpoint_eval_datasets();

// eval_result_json (train/evaluate.h) plus "checkpoint", "dataset", "model", "epoch", "step",
// "data_dir", "device", "batch_size" and "train_counts_source".
nlohmann::json checkpoint_eval_json(const CheckpointEval& eval, bool with_confusion);

// The human-readable summary cbnn-eval prints: header, top-1/top-5 error, test loss, shot groups,
// per-class table (training count, test count, accuracy) and optionally the confusion matrix.
std::string checkpoint_eval_text(const CheckpointEval& eval, bool with_confusion);

}  // namespace cbnn::train
