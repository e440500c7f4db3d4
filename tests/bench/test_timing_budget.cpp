// repeats_within (bench/timing_budget.h): the number of timed calls per benchmark case.
#include <limits>

#include "bench/timing_budget.h"
#include "gtest/gtest.h"

namespace cbnn::bench {
namespace {

TEST(TimingBudget, RepeatsFillTheBudget) {
    // 20 ms of a 50 us kernel: 400 calls; of a 3.4 ms one: 6 (the last call may pass the budget).
    EXPECT_EQ(repeats_within(50e-6, 0.02, 5, 1000), 400);
    EXPECT_EQ(repeats_within(3.4e-3, 0.02, 5, 1000), 6);
}

TEST(TimingBudget, RepeatsStayWithinTheirBounds) {
    EXPECT_EQ(repeats_within(1e-6, 0.02, 5, 1000), 1000);  // launch-bound: capped
    EXPECT_EQ(repeats_within(0.5, 0.02, 5, 1000), 5);      // slower than the budget: the least
}

TEST(TimingBudget, AnUnmeasurableCallGetsTheMost) {
    EXPECT_EQ(repeats_within(0.0, 0.02, 5, 1000), 1000);
    EXPECT_EQ(repeats_within(-1e-3, 0.02, 5, 1000), 1000);
    EXPECT_EQ(repeats_within(std::numeric_limits<double>::quiet_NaN(), 0.02, 5, 1000), 1000);
}

}  // namespace
}  // namespace cbnn::bench
