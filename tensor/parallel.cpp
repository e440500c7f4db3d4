// The worker pool behind parallel_for (tensor/parallel.h). One job at a time: the caller publishes
// it under the pool mutex, workers and caller take chunk indices from the job's atomic counter,
// and the caller waits until every chunk is done and every worker has let go of the job. Workers
// are created on first use and live for the process: the pool is never destroyed (between jobs its
// workers only wait on its condition variable, and the process ends them at exit).
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

// One parallel_for call. It lives on the caller's stack; the caller returns only when every
// chunk is done and no worker holds the job any more (active == 0), so workers never see a dead
// job. fn, n and chunks are written before the job is published under the pool mutex and never
// change afterwards; pending, active and error change under the mutex.
struct Job {
    Job(const std::function<void(int64_t, int64_t)>& f, int64_t size, int64_t count)
        : fn(&f), n(size), chunks(count), pending(count) {}
    const std::function<void(int64_t, int64_t)>* fn;
    int64_t n, chunks;
    std::atomic<int64_t> next{0};
    int64_t pending;
    int active = 0;
    std::exception_ptr error;
};

class Pool {
  public:
    // Runs the chunks of `fn` over [0, n) with `workers` pool threads helping the caller.
    void run(int64_t n, int64_t chunks, int workers,
             const std::function<void(int64_t, int64_t)>& fn) {
        Job job(fn, n, chunks);
        {
            std::lock_guard<std::mutex> lock(mutex_);
            while (static_cast<int>(threads_.size()) < workers)
                threads_.emplace_back([this] { work(); });
            job_ = &job;
            ++generation_;
        }
        wake_.notify_all();
        take_chunks(job);
        std::unique_lock<std::mutex> lock(mutex_);
        done_.wait(lock, [&] { return job.pending == 0 && job.active == 0; });
        job_ = nullptr;
        if (job.error) std::rethrow_exception(job.error);
    }

  private:
    void work() {
        uint64_t seen = 0;
        for (;;) {
            Job* job = nullptr;
            {
                std::unique_lock<std::mutex> lock(mutex_);
                wake_.wait(lock, [&] { return job_ != nullptr && generation_ != seen; });
                seen = generation_;
                job = job_;
                ++job->active;
            }
            take_chunks(*job);
            std::lock_guard<std::mutex> lock(mutex_);
            if (--job->active == 0) done_.notify_all();
        }
    }

    void take_chunks(Job& job) {
        for (;;) {
            const int64_t c = job.next.fetch_add(1);
            if (c >= job.chunks) return;
            t_inside_chunk = true;
            try {
                (*job.fn)(c * job.n / job.chunks, (c + 1) * job.n / job.chunks);
            } catch (...) {
                std::lock_guard<std::mutex> lock(mutex_);
                if (!job.error) job.error = std::current_exception();
            }
            t_inside_chunk = false;
            std::lock_guard<std::mutex> lock(mutex_);
            if (--job.pending == 0) done_.notify_all();
        }
    }

    std::mutex mutex_;
    std::condition_variable wake_, done_;
    std::vector<std::thread> threads_;
    Job* job_ = nullptr;
    uint64_t generation_ = 0;
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
