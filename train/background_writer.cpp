#include "train/background_writer.h"

#include <chrono>
#include <utility>

namespace cbnn::train {

BackgroundWriter::BackgroundWriter() : thread_([this] { work(); }) {}

BackgroundWriter::~BackgroundWriter() {
    {
        std::unique_lock lock(mutex_);
        changed_.wait(lock, [this] { return !busy_; });
        stopping_ = true;
    }
    changed_.notify_all();
    thread_.join();
}

double BackgroundWriter::wait_idle(std::unique_lock<std::mutex>& lock) {
    const auto start = std::chrono::steady_clock::now();
    changed_.wait(lock, [this] { return !busy_; });
    if (error_) std::rethrow_exception(error_);
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double BackgroundWriter::submit(std::function<void()> job) {
    std::unique_lock lock(mutex_);
    const double waited = wait_idle(lock);
    job_ = std::move(job);
    busy_ = true;
    lock.unlock();
    changed_.notify_all();
    return waited;
}

double BackgroundWriter::wait() {
    std::unique_lock lock(mutex_);
    return wait_idle(lock);
}

void BackgroundWriter::work() {
    std::unique_lock lock(mutex_);
    for (;;) {
        changed_.wait(lock, [this] { return busy_ || stopping_; });
        if (!busy_) return;  // stopping, nothing in hand
        std::function<void()> job = std::move(job_);
        job_ = nullptr;
        lock.unlock();
        std::exception_ptr failed;
        try {
            job();
        } catch (...) {
            failed = std::current_exception();
        }
        job = nullptr;  // the job's captures (a snapshot: megabytes) go before the next epoch's
        lock.lock();
        if (failed && !error_) error_ = failed;
        busy_ = false;
        changed_.notify_all();
    }
}

}  // namespace cbnn::train
