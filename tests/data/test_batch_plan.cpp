// BatchPlan: how the epochs and stream batchings cut the sample stream (data/batch_plan.h),
// checked against the definitions written out by hand and against the paper's step count.
#include <cstdint>

#include "data/batch_plan.h"
#include "gtest/gtest.h"
#include "tests/support/expect_error.h"

namespace cbnn {
namespace {

using testing::throws_error;

TEST(BatchPlan, EpochsBatchingKeepsEachEpochApartWithAPartialLastBatch) {
    const BatchPlan plan(10, 4, false, Batching::epochs, "test");
    // Epoch 1 = stream positions 10..19: [10, 14), [14, 18), [18, 20).
    EXPECT_EQ(plan.batches_in(1), 3);
    EXPECT_EQ(plan.first_batch(1), 3);
    EXPECT_EQ(plan.span(3).start, 10);
    EXPECT_EQ(plan.span(4).start, 14);
    EXPECT_EQ(plan.span(5).start, 18);
    EXPECT_EQ(plan.span(5).length, 2);
    EXPECT_EQ(plan.state_of(5), (LoaderState{1, 2}));

    const BatchPlan drop(10, 4, true, Batching::epochs, "test");
    EXPECT_EQ(drop.batches_in(0), 2);
    EXPECT_EQ(drop.span(2).start, 10);  // positions 8 and 9 are never used
    EXPECT_EQ(drop.span(2).length, 4);
}

TEST(BatchPlan, StreamBatchesAreFullAndBelongToTheEpochOfTheirLastSample) {
    // N = 10, B = 4: batch g is positions [4g, 4g + 4). Batch 2 = [8, 12) ends in epoch 1, so
    // epoch 0 is batches 0-1, epoch 1 batches 2-4 ([8, 20)), epoch 2 batches 5-6 ([20, 28)),
    // epoch 3 batches 7-9 ([28, 40)).
    const BatchPlan plan(10, 4, false, Batching::stream, "test");
    const int64_t firsts[] = {0, 2, 5, 7, 10};
    for (int64_t e = 0; e < 5; ++e) EXPECT_EQ(plan.first_batch(e), firsts[e]) << e;
    EXPECT_EQ(plan.batches_in(1), 3);
    EXPECT_EQ(plan.batches_in(2), 2);
    for (int64_t g = 0; g < 40; ++g) {
        EXPECT_EQ(plan.span(g).start, 4 * g);
        EXPECT_EQ(plan.span(g).length, 4);
        const LoaderState s = plan.state_of(g);
        EXPECT_EQ(s.epoch, (4 * g + 3) / 10) << g;  // the epoch of its last sample
        EXPECT_EQ(plan.batch_of(s), g) << g;
    }
}

TEST(BatchPlan, StateRoundTripsInBothBatchings) {
    for (Batching batching : {Batching::epochs, Batching::stream}) {
        const BatchPlan plan(37, 8, false, batching, "test");
        for (int64_t e = 0; e < 6; ++e)
            for (int64_t k = 0; k < plan.batches_in(e); ++k) {
                const int64_t g = plan.batch_of({e, k});
                EXPECT_EQ(g, plan.first_batch(e) + k);
                EXPECT_EQ(plan.state_of(g), (LoaderState{e, k})) << batching_name(batching);
            }
    }
}

// PAPER.md 3.3: "Total steps are N*200 // 128: 19,384 steps for CIFAR-10 IF100 and 16,948 for
// CIFAR-100 IF100" (12,406 and 10,847 training images).
TEST(BatchPlan, StreamGivesTheOfficialStepCount) {
    EXPECT_EQ(BatchPlan(12406, 128, false, Batching::stream, "t").first_batch(200), 19384);
    EXPECT_EQ(BatchPlan(10847, 128, false, Batching::stream, "t").first_batch(200), 16948);
    EXPECT_EQ(BatchPlan(12406, 128, false, Batching::epochs, "t").first_batch(200), 19400);
}

TEST(BatchPlan, ErrorsNameTheCaller) {
    EXPECT_TRUE(throws_error([] { BatchPlan(10, 0, false, Batching::epochs, "who"); },
                             {"who", "batch_size >= 1"}));
    EXPECT_TRUE(
        throws_error([] { BatchPlan(0, 4, false, Batching::stream, "who"); }, {"who", "empty"}));
    EXPECT_TRUE(throws_error([] { BatchPlan(10, 4, true, Batching::stream, "who"); },
                             {"who", "drop_last", "stream"}));
    EXPECT_TRUE(throws_error([] { BatchPlan(10, 16, true, Batching::epochs, "who"); },
                             {"drop_last", "16", "leaves no batch"}));
    EXPECT_TRUE(throws_error([] { BatchPlan(10, 16, false, Batching::stream, "who"); },
                             {"stream batching with batch_size 16 > dataset size 10"}));
    const BatchPlan plan(10, 4, false, Batching::stream, "who");
    EXPECT_TRUE(throws_error([&] { plan.batch_of({1, 3}); }, {"who", "batch 3", "[0, 3)"}));
    EXPECT_TRUE(throws_error([&] { plan.batch_of({-1, 0}); }, {"epoch -1"}));
    EXPECT_EQ(parse_batching("stream"), Batching::stream);
    EXPECT_EQ(parse_batching("epochs"), Batching::epochs);
    EXPECT_TRUE(throws_error([] { parse_batching("full"); }, {"'full'", "epochs, stream"}));
}

}  // namespace
}  // namespace cbnn
