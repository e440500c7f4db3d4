// LR schedules: the paper's CIFAR and ImageNet/iNat schedules at and around every boundary,
// cosine endpoints, per-step fractional epochs, total steps, validation errors.
#include <cmath>
#include <vector>

#include "gtest/gtest.h"
#include "tests/support/expect_error.h"
#include "train/lr_schedule.h"

namespace cbnn {
namespace {

using testing::throws_error;

// Exact formulas evaluated in double (tests/support/tolerance.h kF64Exact).
void expect_lr(const LrSchedule& s, double epoch, double expected) {
    EXPECT_NEAR(s.lr(epoch), expected, 1e-12 + 1e-10 * std::abs(expected)) << "epoch " << epoch;
}

TEST(LrSchedule, PaperCifarAtEveryBoundary) {
    const LrSchedule s = paper_cifar_schedule(128);
    expect_lr(s, 0.0, 0.0);
    expect_lr(s, 2.5, 0.05);
    expect_lr(s, 4.999, 0.1 * 4.999 / 5);
    expect_lr(s, 5.0, 0.1);
    expect_lr(s, 100.0, 0.1);
    expect_lr(s, 159.99, 0.1);
    expect_lr(s, 160.0, 1e-3);
    expect_lr(s, 179.99, 1e-3);
    expect_lr(s, 180.0, 1e-5);
    expect_lr(s, 200.0, 1e-5);
    EXPECT_EQ(s.describe(), "multistep: base 0.1, warm-up 5 epochs, x0.01 at 160, x0.0001 at 180");
}

TEST(LrSchedule, PaperCifarScalesWithBatch) {
    const LrSchedule s = paper_cifar_schedule(256);
    expect_lr(s, 2.5, 0.1);
    expect_lr(s, 10.0, 0.2);
    expect_lr(s, 170.0, 2e-3);
}

TEST(LrSchedule, PerStepFractionalEpochsForCifar10Imbalance100) {
    // PAPER.md 3.3: N = 12,406, batch 128, 200 epochs -> 12406 * 200 // 128 = 19,384 steps.
    const int64_t n = 12406, batch = 128;
    const int64_t steps = total_steps(n, 200, batch);
    EXPECT_EQ(steps, 19384);
    EXPECT_EQ(total_steps(10847, 200, batch), 16948);  // CIFAR-100 IF100
    const LrSchedule s = paper_cifar_schedule(batch);
    EXPECT_EQ(fractional_epoch(0, batch, n), 0.0);
    expect_lr(s, fractional_epoch(1, batch, n), 0.1 * (128.0 / 12406.0) / 5.0);
    // The warm-up ends inside step 485 (484.6 steps per 5 epochs): no hard epoch boundary.
    EXPECT_LT(s.lr(fractional_epoch(484, batch, n)), 0.1);
    expect_lr(s, fractional_epoch(485, batch, n), 0.1);
    // Epoch 160 is at step 15,507.5: step 15,507 is the last at 0.1, 15,508 the first at 1e-3.
    expect_lr(s, fractional_epoch(15507, batch, n), 0.1);
    expect_lr(s, fractional_epoch(15508, batch, n), 1e-3);
    // Epoch 180 is at step 17,445.9.
    expect_lr(s, fractional_epoch(17445, batch, n), 1e-3);
    expect_lr(s, fractional_epoch(17446, batch, n), 1e-5);
    expect_lr(s, fractional_epoch(steps - 1, batch, n), 1e-5);
    // The lr never increases after the warm-up.
    double previous = s.lr(fractional_epoch(485, batch, n));
    for (int64_t step = 486; step < steps; step += 97) {
        const double lr = s.lr(fractional_epoch(step, batch, n));
        EXPECT_LE(lr, previous);
        previous = lr;
    }
}

TEST(LrSchedule, PaperImagenet) {
    const LrSchedule ilsvrc = paper_imagenet_schedule(1024, PaperDataset::ilsvrc2012);
    const LrSchedule inat = paper_imagenet_schedule(1024, PaperDataset::inat2018);
    expect_lr(ilsvrc, 0.0, 0.0);
    expect_lr(ilsvrc, 2.5, 0.4);
    expect_lr(ilsvrc, 5.0, 0.8);
    expect_lr(ilsvrc, 29.99, 0.8);
    expect_lr(ilsvrc, 30.0, 0.08);
    expect_lr(ilsvrc, 60.0, 0.008);
    expect_lr(ilsvrc, 80.0, 0.0008);
    expect_lr(ilsvrc, 90.0, 0.0008);
    expect_lr(inat, 10.0, 1.6);
    expect_lr(inat, 85.0, 0.0016);
    expect_lr(paper_imagenet_schedule(256, PaperDataset::inat2017), 10.0, 0.4);
}

TEST(LrSchedule, CosineEndpoints) {
    const LrSchedule s = LrSchedule::cosine(0.2, 5.0, 105.0);
    expect_lr(s, 0.0, 0.0);
    expect_lr(s, 2.5, 0.1);
    expect_lr(s, 5.0, 0.2);
    expect_lr(s, 55.0, 0.1);
    expect_lr(s, 105.0, 0.0);
    expect_lr(s, 200.0, 0.0);
    EXPECT_LT(s.lr(104.9), 1e-5);
    expect_lr(LrSchedule::cosine(1.0, 0.0, 10.0), 0.0, 1.0);
}

TEST(LrSchedule, NoWarmupStartsAtBase) {
    const LrSchedule s = LrSchedule::multistep(0.5, 0.0, {}, {});
    expect_lr(s, 0.0, 0.5);
    expect_lr(s, 1000.0, 0.5);
}

TEST(LrSchedule, InvalidArgumentsAreClearErrors) {
    EXPECT_TRUE(throws_error(
        [] {
            LrSchedule::multistep(0.1, 5, {160, 180}, {0.01});
        },
        {"2 decay epochs", "1 factors"}));
    EXPECT_TRUE(throws_error(
        [] {
            LrSchedule::multistep(0.1, 5, {180, 160}, {0.1, 0.1});
        },
        {"increase", "180", "160"}));
    EXPECT_TRUE(throws_error([] { LrSchedule::multistep(0.1, 5, {3}, {0.1}); },
                             {"decay epoch 3", "warm-up"}));
    EXPECT_TRUE(throws_error([] { LrSchedule::multistep(0.0, 5, {}, {}); }, {"base_lr", "0"}));
    EXPECT_TRUE(
        throws_error([] { LrSchedule::multistep(std::nan(""), 5, {}, {}); }, {"base_lr", "nan"}));
    EXPECT_TRUE(
        throws_error([] { LrSchedule::multistep(0.1, -1, {}, {}); }, {"warmup_epochs", "-1"}));
    EXPECT_TRUE(
        throws_error([] { LrSchedule::multistep(0.1, 0, {10}, {-0.1}); }, {"factor", "-0.1"}));
    EXPECT_TRUE(throws_error([] { LrSchedule::cosine(0.1, 5, 5); }, {"total_epochs", "5"}));
    EXPECT_TRUE(throws_error([] { paper_cifar_schedule(0).lr(1.0); }, {"batch_size", "0"}));
    EXPECT_TRUE(throws_error([] { paper_cifar_schedule(128).lr(-1.0); }, {"epoch", "-1"}));
    EXPECT_TRUE(throws_error([] { fractional_epoch(1, 128, 0); }, {"num_examples", "0"}));
    EXPECT_TRUE(throws_error([] { total_steps(100, 0, 128); }, {"epochs", "0"}));
}

}  // namespace
}  // namespace cbnn
