#pragma once
// Learning-rate schedules as a function of the fractional epoch (PAPER.md 3.3: the reference input
// pipeline has no hard epoch boundaries, "epoch" means step * batch / N, and the warm-up is
// computed per step):
//
//   warm-up    epoch < warmup_epochs:  lr = base * epoch / warmup_epochs   (linear from 0)
//   multistep  otherwise:              lr = base * factors[k], k = the number of decay epochs
//                                      <= epoch (factor 1 before the first); a decay applies from
//                                      its epoch on (PyTorch MultiStepLR), so lr(160) is decayed
//   cosine     otherwise:              lr = base * (1 + cos(pi * (epoch - w) / (total - w))) / 2,
//                                      w = warmup_epochs, reaching 0 at total_epochs and 0 after
//
// Factors are relative to base, not cumulative: the paper's CIFAR schedule is base 0.1, factors
// {0.01, 0.0001} at epochs {160, 180}, i.e. 0.1 -> 1e-3 -> 1e-5.
//
//   LrSchedule schedule = paper_cifar_schedule(128);
//   for (int64_t step = 0; step < total_steps(n, 200, 128); ++step)
//       sgd.step(schedule.lr(fractional_epoch(step, 128, n)));

#include <cstdint>
#include <string>
#include <vector>

namespace cbnn {

class LrSchedule {
  public:
    // Throws naming the values: base_lr > 0 and finite, warmup_epochs >= 0, decay_epochs strictly
    // increasing and >= warmup_epochs, factors the same length as decay_epochs and >= 0.
    static LrSchedule multistep(double base_lr, double warmup_epochs,
                                std::vector<double> decay_epochs, std::vector<double> factors);
    // total_epochs > warmup_epochs.
    static LrSchedule cosine(double base_lr, double warmup_epochs, double total_epochs);

    // The learning rate at a fractional epoch (>= 0, finite; throws otherwise).
    double lr(double epoch) const;

    double base_lr() const { return base_lr_; }
    double warmup_epochs() const { return warmup_epochs_; }
    bool is_cosine() const { return cosine_; }
    const std::vector<double>& decay_epochs() const { return decay_epochs_; }
    const std::vector<double>& factors() const { return factors_; }
    // "multistep: base 0.1, warm-up 5 epochs, x0.01 at 160, x0.0001 at 180" (for logs).
    std::string describe() const;

  private:
    LrSchedule() = default;

    double base_lr_ = 0.0;
    double warmup_epochs_ = 0.0;
    bool cosine_ = false;
    double total_epochs_ = 0.0;  // cosine only
    std::vector<double> decay_epochs_;
    std::vector<double> factors_;
};

// step * batch_size / num_examples (the epoch reached after `step` steps; step 0 is epoch 0).
double fractional_epoch(int64_t step, int64_t batch_size, int64_t num_examples);
// floor(num_examples * epochs / batch_size): PAPER.md 3.3's N * 200 // 128 (19,384 for CIFAR-10
// IF100 with N = 12,406).
int64_t total_steps(int64_t num_examples, double epochs, int64_t batch_size);

// PAPER.md 3.3: base 0.1 * batch/128, warm-up 5 epochs, x0.01 at 160 and x0.0001 at 180
// (0.1 -> 1e-3 -> 1e-5 for batch 128); train for 200 epochs.
LrSchedule paper_cifar_schedule(int64_t batch_size);

enum class PaperDataset : uint8_t { ilsvrc2012, inat2017, inat2018 };

// PAPER.md 3.5 (Goyal et al.'s recipe used with focal loss): base = flag * batch/256 with the
// scripts' flag 0.2 for ILSVRC 2012 and 0.4 for iNat 2017/2018 (2x and 4x the usual 0.1 per 256
// images; 0.8 and 1.6 at batch 1024), warm-up 5 epochs, x0.1 at 30, 60 and 80 (factors 0.1, 0.01,
// 0.001 relative to base); train for 90 epochs.
LrSchedule paper_imagenet_schedule(int64_t batch_size, PaperDataset dataset);

}  // namespace cbnn
