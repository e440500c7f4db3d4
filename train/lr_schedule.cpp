#include "train/lr_schedule.h"

#include <cmath>
#include <numbers>
#include <sstream>
#include <utility>

#include "tensor/error.h"

namespace cbnn {

namespace {

void check_common(double base_lr, double warmup_epochs) {
    CBNN_CHECK(base_lr > 0.0 && std::isfinite(base_lr),
               "lr schedule: base_lr must be finite and > 0, got ", base_lr);
    CBNN_CHECK(warmup_epochs >= 0.0 && std::isfinite(warmup_epochs),
               "lr schedule: warmup_epochs must be finite and >= 0, got ", warmup_epochs);
}

void check_batch(int64_t batch_size, const char* what) {
    CBNN_CHECK(batch_size > 0, what, ": batch_size must be > 0, got ", batch_size);
}

}  // namespace

LrSchedule LrSchedule::multistep(double base_lr, double warmup_epochs,
                                 std::vector<double> decay_epochs, std::vector<double> factors) {
    check_common(base_lr, warmup_epochs);
    CBNN_CHECK(decay_epochs.size() == factors.size(), "lr schedule: ", decay_epochs.size(),
               " decay epochs but ", factors.size(), " factors");
    for (size_t i = 0; i < decay_epochs.size(); ++i) {
        CBNN_CHECK(std::isfinite(decay_epochs[i]) && decay_epochs[i] >= warmup_epochs,
                   "lr schedule: decay epoch ", decay_epochs[i],
                   " must be finite and >= the warm-up (", warmup_epochs, " epochs)");
        CBNN_CHECK(i == 0 || decay_epochs[i] > decay_epochs[i - 1],
                   "lr schedule: decay epochs must increase, got ", decay_epochs[i - 1], " then ",
                   decay_epochs[i]);
        CBNN_CHECK(std::isfinite(factors[i]) && factors[i] >= 0.0,
                   "lr schedule: factor must be finite and >= 0, got ", factors[i], " at epoch ",
                   decay_epochs[i]);
    }
    LrSchedule s;
    s.base_lr_ = base_lr;
    s.warmup_epochs_ = warmup_epochs;
    s.decay_epochs_ = std::move(decay_epochs);
    s.factors_ = std::move(factors);
    return s;
}

LrSchedule LrSchedule::cosine(double base_lr, double warmup_epochs, double total_epochs) {
    check_common(base_lr, warmup_epochs);
    CBNN_CHECK(std::isfinite(total_epochs) && total_epochs > warmup_epochs,
               "lr schedule: total_epochs must be finite and > warmup_epochs (", warmup_epochs,
               "), got ", total_epochs);
    LrSchedule s;
    s.base_lr_ = base_lr;
    s.warmup_epochs_ = warmup_epochs;
    s.cosine_ = true;
    s.total_epochs_ = total_epochs;
    return s;
}

double LrSchedule::lr(double epoch) const {
    CBNN_CHECK(epoch >= 0.0 && std::isfinite(epoch),
               "lr schedule: epoch must be finite and >= 0, got ", epoch);
    if (epoch < warmup_epochs_) return base_lr_ * epoch / warmup_epochs_;
    if (cosine_) {
        if (epoch >= total_epochs_) return 0.0;
        const double t = (epoch - warmup_epochs_) / (total_epochs_ - warmup_epochs_);
        return base_lr_ * 0.5 * (1.0 + std::cos(std::numbers::pi * t));
    }
    double factor = 1.0;
    for (size_t i = 0; i < decay_epochs_.size() && epoch >= decay_epochs_[i]; ++i) {
        factor = factors_[i];
    }
    return base_lr_ * factor;
}

std::string LrSchedule::describe() const {
    std::ostringstream os;
    os << (cosine_ ? "cosine" : "multistep") << ": base " << base_lr_ << ", warm-up "
       << warmup_epochs_ << " epochs";
    if (cosine_) os << ", to 0 at epoch " << total_epochs_;
    for (size_t i = 0; i < decay_epochs_.size(); ++i) {
        os << ", x" << factors_[i] << " at " << decay_epochs_[i];
    }
    return os.str();
}

double fractional_epoch(int64_t step, int64_t batch_size, int64_t num_examples) {
    CBNN_CHECK(step >= 0, "fractional_epoch: step must be >= 0, got ", step);
    check_batch(batch_size, "fractional_epoch");
    CBNN_CHECK(num_examples > 0, "fractional_epoch: num_examples must be > 0, got ", num_examples);
    return static_cast<double>(step) * static_cast<double>(batch_size) /
           static_cast<double>(num_examples);
}

int64_t total_steps(int64_t num_examples, double epochs, int64_t batch_size) {
    CBNN_CHECK(num_examples > 0, "total_steps: num_examples must be > 0, got ", num_examples);
    CBNN_CHECK(epochs > 0.0 && std::isfinite(epochs), "total_steps: epochs must be > 0, got ",
               epochs);
    check_batch(batch_size, "total_steps");
    return static_cast<int64_t>(
        std::floor(static_cast<double>(num_examples) * epochs / static_cast<double>(batch_size)));
}

LrSchedule paper_cifar_schedule(int64_t batch_size) {
    check_batch(batch_size, "paper_cifar_schedule");
    return LrSchedule::multistep(0.1 * static_cast<double>(batch_size) / 128.0, 5.0, {160.0, 180.0},
                                 {0.01, 0.0001});
}

LrSchedule paper_imagenet_schedule(int64_t batch_size, PaperDataset dataset) {
    check_batch(batch_size, "paper_imagenet_schedule");
    const double flag = dataset == PaperDataset::ilsvrc2012 ? 0.2 : 0.4;
    return LrSchedule::multistep(flag * static_cast<double>(batch_size) / 256.0, 5.0,
                                 {30.0, 60.0, 80.0}, {0.1, 0.01, 0.001});
}

}  // namespace cbnn
