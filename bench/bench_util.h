#pragma once
// Shared pieces of the Google Benchmark executables.
//
// GPU timing uses CUDA events recorded on cbnn's stream around the timed work (manual time), so
// the numbers are device time, not host launch time. Each benchmark checks its result against the
// CPU reference once before timing, and reports bytes moved as a GB/s counter. Without a GPU the
// CUDA benchmarks are skipped with a message, so the executables run anywhere.

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "data/augment.h"
#include "data/dataset.h"
#include "tensor/backend.h"
#include "tensor/tensor.h"

#ifdef CBNN_WITH_CUDA
#include <cuda_runtime_api.h>

#include "tensor/cuda_check.h"
#include "tensor/cuda_context.h"
#endif

namespace cbnn::bench {

// Skips the benchmark (returns true) when no GPU is usable.
inline bool skip_without_gpu(benchmark::State& state) {
    if (cuda_available()) return false;
    state.SkipWithError(("no GPU: " + cuda_unavailable_reason()).c_str());
    return true;
}

inline void skip_with(benchmark::State& state, const std::string& why) {
    state.SkipWithError(why.c_str());
}

// Largest |a - b| over all elements, both compared as f64 on the CPU (result checks before timing).
inline double max_abs_diff(const Tensor& a, const Tensor& b) {
    const auto x = a.cpu().to(DType::f64).to_vector<double>();
    const auto y = b.cpu().to(DType::f64).to_vector<double>();
    double m = 0;
    for (size_t i = 0; i < x.size(); ++i) m = std::max(m, std::fabs(x[i] - y[i]));
    return m;
}

// Bytes moved per call -> Google Benchmark's bytes_per_second counter, computed over the manual
// (GPU) time; printed with SI prefixes, e.g. "bytes_per_second=2.7T/s" is 2.7 TB/s.
inline void set_bandwidth(benchmark::State& state, double bytes_per_call) {
    state.SetBytesProcessed(static_cast<int64_t>(bytes_per_call) * state.iterations());
}

// Seconds per call of `work`, over `repeats` calls: on the GPU (CUDA events recorded on cbnn's
// stream around them) and on the host (wall time until the last call returned, before waiting for
// the GPU). Host time close to device time means the host's launches are the bottleneck.
struct CallSeconds {
    double device = 0.0;
    double host = 0.0;
};

template <class F>
CallSeconds cuda_and_host_seconds_per_call(F&& work, int repeats) {
#ifdef CBNN_WITH_CUDA
    cudaStream_t stream = cuda::current_stream();
    cudaEvent_t start, stop;
    CBNN_CUDA_CHECK(cudaEventCreate(&start));
    CBNN_CUDA_CHECK(cudaEventCreate(&stop));
    const auto host_start = std::chrono::steady_clock::now();
    CBNN_CUDA_CHECK(cudaEventRecord(start, stream));
    for (int r = 0; r < repeats; ++r) work();
    CBNN_CUDA_CHECK(cudaEventRecord(stop, stream));
    const auto host_stop = std::chrono::steady_clock::now();
    CBNN_CUDA_CHECK(cudaEventSynchronize(stop));
    float ms = 0.f;
    CBNN_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    CBNN_CUDA_CHECK_NOTHROW(cudaEventDestroy(start));
    CBNN_CUDA_CHECK_NOTHROW(cudaEventDestroy(stop));
    return {ms * 1e-3 / repeats,
            std::chrono::duration<double>(host_stop - host_start).count() / repeats};
#else
    (void)work;
    (void)repeats;
    CBNN_FAIL("GPU timing needs the CUDA backend");
#endif
}

// Seconds per call of `work` on the GPU: CUDA events around `repeats` calls after a warm-up
// (allocator cache, cuBLAS/cuDNN handles), so microsecond kernels are not lost in event overhead.
template <class F>
double cuda_seconds_per_call(F&& work, int repeats) {
    return cuda_and_host_seconds_per_call(work, repeats).device;
}

// A synthetic CIFAR-shaped dataset of n images (10 classes, label i % 10, pseudo-random pixels),
// built once per n: 12,406 is the size of CIFAR-10-LT IF 100, 50,000 the full training set.
inline const Dataset& synthetic_cifar(int64_t n) {
    static std::map<int64_t, std::unique_ptr<Dataset>> cache;
    auto& slot = cache[n];
    if (!slot) {
        slot = std::make_unique<Dataset>();
        for (int c = 0; c < 10; ++c) slot->class_names.push_back(std::to_string(c));
        slot->channels = 3;
        slot->height = slot->width = 32;
        slot->images.resize(static_cast<size_t>(n * kCifarImageBytes));
        uint32_t x = 12345;
        for (uint8_t& b : slot->images) {
            x = x * 1664525u + 1013904223u;
            b = static_cast<uint8_t>(x >> 24);
        }
        for (int64_t i = 0; i < n; ++i) slot->labels.push_back(i % 10);
    }
    return *slot;
}

// Manual-time loop: each benchmark iteration times `repeats` calls and reports time per call.
template <class F>
void time_cuda(benchmark::State& state, F&& work, int repeats = 20) {
    for (int i = 0; i < 3; ++i) work();  // warm-up
    for (auto _ : state) state.SetIterationTime(cuda_seconds_per_call(work, repeats));
}

}  // namespace cbnn::bench
