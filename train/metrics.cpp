#include "train/metrics.h"

#include <cmath>
#include <limits>

#include "tensor/error.h"

namespace cbnn::train {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr int64_t kTop5 = 5;

std::vector<double> logits_to_host(const Tensor& logits) {
    if (logits.dtype() == DType::f32) {
        const std::vector<float> values = logits.to_vector<float>();
        return std::vector<double>(values.begin(), values.end());
    }
    return logits.to_vector<double>();
}

// Classes ranked before `label` under the order (logit desc, index asc); stops counting at `cap`.
int64_t rank_of_label(const double* row, int64_t classes, int64_t label, int64_t cap) {
    const double target = row[label];
    int64_t before = 0;
    for (int64_t j = 0; j < classes && before < cap; ++j) {
        if (row[j] > target || (row[j] == target && j < label)) ++before;
    }
    return before;
}

int64_t argmax_lowest_index(const double* row, int64_t classes) {
    int64_t best = 0;
    for (int64_t j = 1; j < classes; ++j) {
        if (row[j] > row[best]) best = j;
    }
    return best;
}

}  // namespace

bool has_top5(int64_t num_classes) { return num_classes > kTop5; }

ShotGroup shot_group(int64_t train_count) {
    if (train_count > 100) return ShotGroup::many;
    if (train_count >= 20) return ShotGroup::medium;
    return ShotGroup::few;
}

const char* shot_group_name(ShotGroup group) {
    switch (group) {
        case ShotGroup::many:
            return "many";
        case ShotGroup::medium:
            return "medium";
        case ShotGroup::few:
            return "few";
    }
    return "?";
}

int64_t EvalResult::confusion_at(int64_t true_class, int64_t predicted) const {
    CBNN_CHECK(
        true_class >= 0 && true_class < num_classes && predicted >= 0 && predicted < num_classes,
        "confusion_at: class (", true_class, ", ", predicted, ") out of range for ", num_classes,
        " classes");
    return confusion[static_cast<size_t>(true_class * num_classes + predicted)];
}

const GroupAccuracy& EvalResult::group(ShotGroup g) const {
    switch (g) {
        case ShotGroup::many:
            return many;
        case ShotGroup::medium:
            return medium;
        case ShotGroup::few:
            return few;
    }
    return few;
}

Evaluator::Evaluator(int64_t num_classes, std::vector<int64_t> train_counts)
    : num_classes_(num_classes), train_counts_(std::move(train_counts)) {
    CBNN_CHECK(num_classes > 0, "Evaluator: num_classes must be positive, got ", num_classes);
    CBNN_CHECK(train_counts_.empty() || static_cast<int64_t>(train_counts_.size()) == num_classes,
               "Evaluator: train_counts has ", train_counts_.size(), " entries, expected ",
               num_classes, " (one per class) or none");
    for (size_t c = 0; c < train_counts_.size(); ++c) {
        CBNN_CHECK(train_counts_[c] >= 0, "Evaluator: train_counts[", c, "] is negative (",
                   train_counts_[c], ")");
    }
    reset();
}

void Evaluator::reset() {
    confusion_.assign(static_cast<size_t>(num_classes_ * num_classes_), 0);
    samples_ = top1_hits_ = top5_hits_ = loss_samples_ = 0;
    loss_sum_ = 0.0;
}

void Evaluator::add(const Tensor& logits, const Tensor& labels) { add_impl(logits, labels); }

void Evaluator::add(const Tensor& logits, const Tensor& labels, double batch_mean_loss) {
    add_impl(logits, labels);
    const int64_t n = labels.size(0);
    loss_sum_ += batch_mean_loss * static_cast<double>(n);
    loss_samples_ += n;
}

void Evaluator::add_impl(const Tensor& logits, const Tensor& labels) {
    check_defined(logits, "Evaluator::add");
    check_defined(labels, "Evaluator::add");
    CBNN_CHECK(logits.dim() == 2, "Evaluator::add: logits must be (N, C), got ",
               logits.description());
    CBNN_CHECK(is_floating(logits.dtype()), "Evaluator::add: logits must be f32 or f64, got ",
               logits.description());
    CBNN_CHECK(logits.size(1) == num_classes_, "Evaluator::add: logits have ", logits.size(1),
               " classes, the evaluator ", num_classes_, " (", logits.description(), ")");
    CBNN_CHECK(labels.dim() == 1 && labels.size(0) == logits.size(0),
               "Evaluator::add: labels must be (N) with N = ", logits.size(0), ", got ",
               labels.description());
    CBNN_CHECK(labels.dtype() == DType::i64, "Evaluator::add: labels must be i64, got ",
               labels.description());

    const int64_t n = logits.size(0);
    const int64_t c = num_classes_;
    const std::vector<double> host = logits_to_host(logits);
    const std::vector<int64_t> y = labels.to_vector<int64_t>();
    for (int64_t i = 0; i < n; ++i) {
        CBNN_CHECK(y[i] >= 0 && y[i] < c, "Evaluator::add: label ", y[i], " of sample ", i,
                   " is out of range [0, ", c, ")");
        const double* row = host.data() + i * c;
        for (int64_t j = 0; j < c; ++j) {
            CBNN_CHECK(!std::isnan(row[j]), "Evaluator::add: logit (", i, ", ", j, ") is NaN");
        }
    }
    // Only committed after the whole batch passed the checks.
    for (int64_t i = 0; i < n; ++i) {
        const double* row = host.data() + i * c;
        const int64_t predicted = argmax_lowest_index(row, c);
        ++confusion_[static_cast<size_t>(y[i] * c + predicted)];
        if (predicted == y[i]) ++top1_hits_;
        if (has_top5(c) && rank_of_label(row, c, y[i], kTop5) < kTop5) ++top5_hits_;
    }
    samples_ += n;
}

EvalResult Evaluator::result() const {
    const int64_t c = num_classes_;
    EvalResult r;
    r.num_classes = c;
    r.samples = samples_;
    r.train_counts = train_counts_;
    r.confusion = confusion_;
    const double total = static_cast<double>(samples_);
    r.top1_error = samples_ > 0 ? 1.0 - static_cast<double>(top1_hits_) / total : kNaN;
    r.top5_error =
        (samples_ > 0 && has_top5(c)) ? 1.0 - static_cast<double>(top5_hits_) / total : kNaN;
    r.mean_loss = loss_samples_ > 0 ? loss_sum_ / static_cast<double>(loss_samples_) : kNaN;

    r.per_class_accuracy.assign(static_cast<size_t>(c), kNaN);
    r.per_class_samples.assign(static_cast<size_t>(c), 0);
    double class_sum = 0.0;
    int64_t classes_seen = 0;
    double group_sum[3] = {0.0, 0.0, 0.0};
    GroupAccuracy* groups[3] = {&r.many, &r.medium, &r.few};
    for (int64_t k = 0; k < c; ++k) {
        int64_t row_total = 0;
        for (int64_t j = 0; j < c; ++j) row_total += confusion_[static_cast<size_t>(k * c + j)];
        r.per_class_samples[static_cast<size_t>(k)] = row_total;
        if (row_total == 0) continue;
        const double acc = static_cast<double>(confusion_[static_cast<size_t>(k * c + k)]) /
                           static_cast<double>(row_total);
        r.per_class_accuracy[static_cast<size_t>(k)] = acc;
        class_sum += acc;
        ++classes_seen;
        if (!train_counts_.empty()) {
            const auto g = static_cast<size_t>(shot_group(train_counts_[static_cast<size_t>(k)]));
            group_sum[g] += acc;
            ++groups[g]->classes;
            groups[g]->samples += row_total;
        }
    }
    r.balanced_accuracy = classes_seen > 0 ? class_sum / static_cast<double>(classes_seen) : kNaN;
    for (size_t g = 0; g < 3; ++g) {
        groups[g]->accuracy =
            groups[g]->classes > 0 ? group_sum[g] / static_cast<double>(groups[g]->classes) : kNaN;
    }
    return r;
}

}  // namespace cbnn::train
