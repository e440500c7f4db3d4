#pragma once
// Kernel-by-kernel profiles of a benchmark case (scripts/gpu-check.sh, CBNN_PROFILE_CASES). With
// CBNN_PROFILE_STEPS=N set, a case that supports it runs its step N more times after its warm-up,
// untimed, between cudaProfilerStart and cudaProfilerStop. A profiler started with profiling off
// (ncu --profile-from-start off, nsys --capture-range=cudaProfilerApi) then records exactly those
// steps' kernels, not the warm-up's algorithm searches and graph capture, nor the timed steps;
// without a profiler they are plain extra steps.
#include <cstdlib>
#include <string>

#include "tensor/error.h"

#ifdef CBNN_WITH_CUDA
#include <cuda_profiler_api.h>
#include <cuda_runtime_api.h>

#include "tensor/cuda_check.h"
#endif

namespace cbnn::bench {

inline constexpr int kMaxProfiledSteps = 100;

// CBNN_PROFILE_STEPS: 0 when unset or empty, else a whole number from 1 to kMaxProfiledSteps
// (anything else throws, naming the value).
inline int profiled_steps() {
    const char* env = std::getenv("CBNN_PROFILE_STEPS");
    if (env == nullptr || *env == '\0') return 0;
    const std::string text(env);
    const bool digits =
        text.size() <= 3 && text.find_first_not_of("0123456789") == std::string::npos;
    const long steps = digits ? std::strtol(text.c_str(), nullptr, 10) : 0;
    CBNN_CHECK(steps >= 1 && steps <= kMaxProfiledSteps,
               "CBNN_PROFILE_STEPS: expected a whole number from 1 to ", kMaxProfiledSteps,
               ", got '", text, "'");
    return static_cast<int>(steps);
}

// Runs `step` profiled_steps() times inside the profiler's range (nothing when that is 0). The
// device is idle on entry and on exit, so the range holds these steps' kernels and no others.
template <class F>
void run_profiled_steps(F&& step) {
    const int steps = profiled_steps();
    if (steps == 0) return;
#ifdef CBNN_WITH_CUDA
    CBNN_CUDA_CHECK(cudaDeviceSynchronize());
    CBNN_CUDA_CHECK(cudaProfilerStart());
    for (int i = 0; i < steps; ++i) step();
    CBNN_CUDA_CHECK(cudaDeviceSynchronize());
    CBNN_CUDA_CHECK(cudaProfilerStop());
#else
    for (int i = 0; i < steps; ++i) step();
#endif
}

}  // namespace cbnn::bench
