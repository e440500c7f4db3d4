#pragma once
// Test-set evaluation of a classifier, shared by the trainers (every eval_every epochs and at the
// end of a run) and cbnn-eval (a saved checkpoint), so both report the same numbers.
//
//   EvalOptions o;  o.batch_size = 128;  o.device = Device::parse("cuda");
//   EvalResult r = evaluate(model, test_set, train_counts, o, &criterion);
//
// The model runs in evaluation mode (batch norm uses its running statistics) under NoGradGuard;
// its previous training/evaluation mode is restored afterwards. The test set is read in order
// (no shuffle, no augmentation: data/loader.h with train = false) in batches of batch_size, the
// last one partial. Logits and labels go to an Evaluator (train/metrics.h); with a criterion the
// result's mean_loss is the sample-weighted mean of the batch losses, else NaN.

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/loader.h"
#include "layers/module.h"
#include "losses/cb_loss.h"
#include "tensor/device.h"
#include "train/metrics.h"

namespace cbnn::train {

struct EvalOptions {
    int64_t batch_size = 128;
    uint64_t seed = 0;  // the loader's seed (no randomness is drawn when evaluating)
    Device device = Device::cpu();
};

// train_counts: training images per class for the shot groups (may be empty: groups are NaN).
EvalResult evaluate(Layer& model, const Dataset& test, const std::vector<int64_t>& train_counts,
                    const EvalOptions& options, const ClassBalancedLoss* criterion = nullptr);

// The same over `batches` batches from `next` (any loader: the image trainers' lazy loader).
EvalResult evaluate_batches(Layer& model, int64_t batches, const std::function<Batch()>& next,
                            int64_t num_classes, const std::vector<int64_t>& train_counts,
                            const ClassBalancedLoss* criterion = nullptr);

// One JSON object (NaN -> null; errors and accuracies are fractions in [0, 1]):
//   {"samples", "top1_error", "top5_error", "test_loss", "balanced_accuracy",
//    "per_class": [{"name", "train_count", "test_count", "accuracy"}, ...],
//    "many"|"medium"|"few": {"accuracy", "classes", "samples"},
//    "confusion": [[...], ...]  (only with_confusion: rows true class, columns predicted)}
// class_names must have num_classes entries; train_count is null without training counts.
nlohmann::json eval_result_json(const EvalResult& result,
                                const std::vector<std::string>& class_names, bool with_confusion);

}  // namespace cbnn::train
