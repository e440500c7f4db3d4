#pragma once
// Classification metrics for evaluation: an Evaluator accumulates batches of logits and labels and
// produces top-1/top-5 error, mean loss, per-class accuracy, balanced accuracy,
// many/medium/few-shot accuracy and the confusion matrix.
//
// Conventions (shared with report.h and the trainer):
// - logits: (N, C) f32 or f64, CPU or CUDA (copied to the host once per batch); labels: (N) i64
//   on any device, each in [0, C). C must equal the Evaluator's num_classes.
// - Ties: classes are ranked by logit, descending, and equal logits by class index, ascending. The
//   top-1 prediction is therefore the lowest index among the maximal logits, and a sample is a
//   top-k hit iff fewer than k classes rank before its label, i.e. fewer than k classes j have
//   logit_j > logit_y, or logit_j == logit_y and j < y. A NaN logit is a cbnn::Error (a diverged
//   model must not be scored as correct by accident).
// - Per-class accuracy of a class with no evaluated sample is NaN. Balanced accuracy is the mean of
//   the per-class accuracies over the classes that have samples.
// - Shot groups (Liu et al. 2019, "OLTR") by the class's number of TRAINING images n:
//   many n > 100, medium 20 <= n <= 100, few n < 20. A group's accuracy is the mean per-class
//   accuracy over its classes that have evaluated samples; a group with no such class reports NaN
//   (JSON writers turn NaN into null). Without training counts every group is NaN.
// - Errors are fractions in [0, 1] (not percent).
// - top5_error is NaN when C <= 5 (has_top5 is false): every label is then among the top 5, so
//   the error would be 0 whatever the model. JSON writers give null, text "n/a (fewer than 6
//   classes)" (kTop5NotApplicable).

#include <cstdint>
#include <vector>

#include "tensor/tensor.h"

namespace cbnn::train {

enum class ShotGroup { many, medium, few };

// Whether top-5 error is measured for `num_classes` classes (more than 5).
bool has_top5(int64_t num_classes);
// What the text outputs print for top-5 error where has_top5 is false.
inline constexpr const char* kTop5NotApplicable = "n/a (fewer than 6 classes)";

// many (> 100), medium (20..100), few (< 20) training images.
ShotGroup shot_group(int64_t train_count);
const char* shot_group_name(ShotGroup group);

struct GroupAccuracy {
    double accuracy = 0.0;  // NaN when no class of the group has evaluated samples
    int64_t classes = 0;    // classes of the group that have evaluated samples
    int64_t samples = 0;    // evaluated samples in those classes
};

struct EvalResult {
    int64_t num_classes = 0;
    int64_t samples = 0;
    double top1_error = 0.0;
    double top5_error = 0.0;  // NaN when num_classes <= 5 (has_top5)
    double mean_loss = 0.0;   // NaN when no batch came with a loss
    double balanced_accuracy = 0.0;
    std::vector<double> per_class_accuracy;  // C entries, NaN where a class has no sample
    std::vector<int64_t> per_class_samples;  // C entries: evaluated samples per true class
    std::vector<int64_t> train_counts;       // C entries, or empty when not given
    GroupAccuracy many, medium, few;
    std::vector<int64_t> confusion;  // C x C row-major: confusion[true * C + predicted]

    int64_t confusion_at(int64_t true_class, int64_t predicted) const;
    const GroupAccuracy& group(ShotGroup g) const;
};

class Evaluator {
  public:
    // train_counts: training images per class (C entries, each >= 0) for the shot groups; may be
    // empty, then many/medium/few are NaN.
    explicit Evaluator(int64_t num_classes, std::vector<int64_t> train_counts = {});

    // Adds one batch. batch_mean_loss, when given, is the batch's mean loss; the result's
    // mean_loss is the sample-weighted mean over the batches that gave one.
    void add(const Tensor& logits, const Tensor& labels);
    void add(const Tensor& logits, const Tensor& labels, double batch_mean_loss);
    void reset();

    int64_t num_classes() const { return num_classes_; }
    int64_t samples() const { return samples_; }
    EvalResult result() const;

  private:
    void add_impl(const Tensor& logits, const Tensor& labels);

    int64_t num_classes_;
    std::vector<int64_t> train_counts_;
    std::vector<int64_t> confusion_;
    int64_t samples_ = 0;
    int64_t top1_hits_ = 0;
    int64_t top5_hits_ = 0;
    double loss_sum_ = 0.0;
    int64_t loss_samples_ = 0;
};

}  // namespace cbnn::train
