// The thread that writes a run's epoch files (train/background_writer.h): jobs in order, at most
// one in hand, errors back on the submitting thread, the job in hand finished by the destructor.
#include <atomic>
#include <chrono>
#include <future>
#include <stdexcept>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "train/background_writer.h"

namespace cbnn::train {
namespace {

using namespace std::chrono_literals;

TEST(BackgroundWriter, RunsJobsInTheOrderSubmittedOffTheCallingThread) {
    std::vector<int> order;
    std::vector<std::thread::id> threads;
    {
        BackgroundWriter writer;
        for (int i = 0; i < 20; ++i)
            writer.submit([&, i] {
                order.push_back(i);  // one job at a time: no lock needed
                threads.push_back(std::this_thread::get_id());
            });
        writer.wait();
        ASSERT_EQ(order.size(), 20u);
    }
    for (int i = 0; i < 20; ++i) EXPECT_EQ(order[i], i);
    for (const auto& id : threads) EXPECT_NE(id, std::this_thread::get_id());
}

// submit() returns at once while the writer is idle, and waits for the job in hand otherwise:
// the second submit cannot return before the first job is let go.
TEST(BackgroundWriter, SubmitWaitsForTheJobInHand) {
    BackgroundWriter writer;
    std::promise<void> release;
    std::shared_future<void> released = release.get_future().share();
    std::atomic<bool> first_done{false};
    writer.submit([&] {
        released.wait();
        first_done = true;
    });
    std::atomic<bool> second_submitted{false};
    std::thread submitter([&] {
        writer.submit([] {});
        second_submitted = true;
    });
    std::this_thread::sleep_for(50ms);
    EXPECT_FALSE(second_submitted);  // still waiting for the first job
    release.set_value();
    submitter.join();
    EXPECT_TRUE(first_done);
    EXPECT_TRUE(second_submitted);
    EXPECT_GE(writer.wait(), 0.0);
}

// A failed job's error comes back from the next submit (whose job is then not run) and from
// wait(), as the job threw it.
TEST(BackgroundWriter, AJobsErrorComesBackAndStopsLaterJobs) {
    BackgroundWriter writer;
    bool later_ran = false;
    writer.submit([] { throw std::runtime_error("disk full"); });
    try {
        writer.submit([&] { later_ran = true; });
        ADD_FAILURE() << "submit after a failed job returned";
    } catch (const std::runtime_error& e) {
        EXPECT_STREQ(e.what(), "disk full");
    }
    EXPECT_THROW(writer.wait(), std::runtime_error);
    EXPECT_FALSE(later_ran);
}

// The destructor lets the job in hand finish (its epoch's files are wanted), even when the run
// leaves by an exception, and does not throw a job's error.
TEST(BackgroundWriter, DestructorFinishesTheJobInHand) {
    std::atomic<bool> finished{false};
    {
        BackgroundWriter writer;
        writer.submit([&] {
            std::this_thread::sleep_for(50ms);
            finished = true;
        });
    }
    EXPECT_TRUE(finished);
    EXPECT_NO_THROW({
        BackgroundWriter writer;
        writer.submit([] { throw std::runtime_error("ignored"); });
    });
}

}  // namespace
}  // namespace cbnn::train
