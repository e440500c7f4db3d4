// The worker pool behind parallel_for (tensor/parallel.h). One job at a time: the caller publishes
// it under the pool mutex, workers and caller take chunk indices from an atomic counter, the last
// chunk to finish wakes the caller. Workers are created on first use and live for the process:
// the pool is never destroyed (between jobs its workers only wait on its condition variable, and
// the process ends them at exit).
#include "tensor/parallel.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "tensor/error.h"

namespace cbnn {

namespace {

int default_threads() {
    if (const char* env = std::getenv("CBNN_CPU_THREADS")) {
        const int n = std::atoi(env);
        if (n >= 1) return n;
    }
    return std::max(1u, std::thread::hardware_concurrency());
}

std::atomic<int> g_threads{default_threads()};
thread_local bool t_inside_chunk = false;

class Pool {
  public:
    // Runs chunks [0, chunks) of `fn` over [0, n) with `workers` pool threads helping.
    void run(int64_t n, int64_t chunks, int workers,
             const std::function<void(int64_t, int64_t)>& fn) {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            while (static_cast<int>(threads_.size()) < workers)
                threads_.emplace_back([this] { work(); });
            fn_ = &fn;
            n_ = n;
            chunks_ = chunks;
            next_.store(0);
            pending_ = chunks;
            error_ = nullptr;
            ++generation_;
        }
        wake_.notify_all();
        take_chunks();
        std::unique_lock<std::mutex> lock(mutex_);
        done_.wait(lock, [this] { return pending_ == 0; });
        fn_ = nullptr;
        if (error_) std::rethrow_exception(error_);
    }

  private:
    void work() {
        uint64_t seen = 0;
        for (;;) {
            {
                std::unique_lock<std::mutex> lock(mutex_);
                wake_.wait(lock, [&] { return generation_ != seen && fn_ != nullptr; });
                seen = generation_;
            }
            take_chunks();
        }
    }

    void take_chunks() {
        for (;;) {
            const int64_t c = next_.fetch_add(1);
            if (c >= chunks_) return;
            const int64_t begin = c * n_ / chunks_, end = (c + 1) * n_ / chunks_;
            t_inside_chunk = true;
            try {
                (*fn_)(begin, end);
            } catch (...) {
                std::lock_guard<std::mutex> lock(mutex_);
                if (!error_) error_ = std::current_exception();
            }
            t_inside_chunk = false;
            std::lock_guard<std::mutex> lock(mutex_);
            if (--pending_ == 0) done_.notify_one();
        }
    }

    std::mutex mutex_;
    std::condition_variable wake_, done_;
    std::vector<std::thread> threads_;
    const std::function<void(int64_t, int64_t)>* fn_ = nullptr;
    int64_t n_ = 0, chunks_ = 0, pending_ = 0;
    std::atomic<int64_t> next_{0};
    uint64_t generation_ = 0;
    std::exception_ptr error_;
};

Pool& pool() {
    static Pool* p = new Pool();  // never destroyed: its workers must not outlive it
    return *p;
}

std::mutex g_pool_in_use;

}  // namespace

int cpu_threads() { return g_threads.load(); }

void set_cpu_threads(int threads) {
    CBNN_CHECK(threads >= 1, "set_cpu_threads: expected at least 1 thread, got ", threads);
    g_threads = threads;
}

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
    if (n <= 0) return;
    const int64_t by_grain = std::max<int64_t>(1, n / std::max<int64_t>(grain, 1));
    const int64_t chunks = std::min<int64_t>(cpu_threads(), by_grain);
    if (chunks <= 1 || t_inside_chunk) return fn(0, n);
    std::unique_lock<std::mutex> exclusive(g_pool_in_use, std::try_to_lock);
    if (!exclusive.owns_lock()) return fn(0, n);
    pool().run(n, chunks, static_cast<int>(chunks) - 1, fn);
}

}  // namespace cbnn
