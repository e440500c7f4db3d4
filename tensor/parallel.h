#pragma once
// CPU parallelism for kernels. parallel_for(n, grain, fn) splits [0, n) into at most cpu_threads()
// contiguous chunks of at least `grain` indices and runs fn(begin, end) on each, one chunk on the
// calling thread and the others on a small persistent pool of worker threads; it returns when
// every chunk is done, rethrowing the first exception a chunk threw.
//
// Determinism: a kernel that uses it computes each output inside one index, in the same order
// whatever the split, so its results do not depend on the thread count (the CPU GEMM is bitwise
// equal to its single-threaded reference). Calls from inside a chunk, or while another thread is
// using the pool, run serially on the calling thread instead of waiting.
//
// cpu_threads() is CBNN_CPU_THREADS from the environment when set (>= 1), else the hardware
// concurrency; set_cpu_threads changes it for the process (tests, benchmarks).

#include <cstdint>
#include <functional>

#include "tensor/scoped_setting.h"

namespace cbnn {

int cpu_threads();
void set_cpu_threads(int threads);
// Sets cpu_threads() for a scope (tensor/scoped_setting.h).
using CpuThreadsSetting = ScopedSetting<int, cpu_threads, set_cpu_threads>;

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

}  // namespace cbnn
