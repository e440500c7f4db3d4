#pragma once
// A thread of its own for a training run's epoch-end file writes (eval.json, the checkpoint, the
// metrics line, report.html, in that order), so that the training thread goes on with the next
// epoch while they are serialized, checksummed, written and fsynced.
//
// Why: a ResNet-32 checkpoint (3.7 MB) took 17 ms on the 2-vCPU development machine, 12 ms of it
// serializing and checksumming and 5 ms writing and fsyncing: 3.4 s of a 200-epoch run that
// checkpoints every epoch, on the training thread. What stays there is taking the snapshot (host
// copies of the weights, train/checkpoint.h's CheckpointSnapshot): 0.7 ms on the same machine.
//
// Guarantees, which the run folder's crash safety rests on:
// - jobs run one at a time, in the order submitted, so an epoch's checkpoint is on disk before
//   its metrics line and each epoch's files before the next epoch's;
// - at most one job waits or runs at a time: submit() first waits for the previous one, so a
//   crash loses at most the epoch being written (the work since the last checkpoint on disk) and
//   the run holds at most two snapshots;
// - a job's exception is kept and rethrown by every later submit() and wait() on the
//   submitting thread; jobs are not run after a failed one (their files would follow a missing
//   one);
// - the destructor waits for the job in hand (its epoch finished; its files are wanted) and
//   swallows its error: a run that already failed reports the first error, not this one.
//
// Use:
//   BackgroundWriter writer;
//   for each epoch: ...; writer.submit([snapshot = ..., record]{ save...; append...; });
//   writer.wait();  // before the run reports success

#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>

namespace cbnn::train {

class BackgroundWriter {
  public:
    BackgroundWriter();
    ~BackgroundWriter();
    BackgroundWriter(const BackgroundWriter&) = delete;
    BackgroundWriter& operator=(const BackgroundWriter&) = delete;

    // Waits for the previous job, rethrows its error if it failed, then hands `job` over.
    // Returns the seconds it waited (the time the writes cost the training thread).
    double submit(std::function<void()> job);
    // Waits until the job in hand has run; rethrows its error. Returns the seconds it waited.
    double wait();

  private:
    void work();
    double wait_idle(std::unique_lock<std::mutex>& lock);  // rethrows a kept error

    std::mutex mutex_;
    std::condition_variable changed_;
    std::function<void()> job_;  // empty: none in hand
    bool busy_ = false;          // job_ is waiting or running
    bool stopping_ = false;
    std::exception_ptr error_;
    std::thread thread_;  // last: started once the members above exist
};

}  // namespace cbnn::train
