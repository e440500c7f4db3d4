#pragma once
// How many calls of a GPU benchmark case to time, for a fixed cost per case.
//
// Google Benchmark with manual time re-runs a case's whole function with more iterations until
// the reported (per-call) time adds up to --benchmark_min_time. A case that times `repeats` calls
// per iteration but reports the time of one therefore runs `repeats` times the minimum, and every
// re-run repeats its set-up and its check against the CPU reference: about 0.6 s per batch-norm
// case on an H100 (docs/measurements, run 3), too much for a binary of a few hundred cases within
// scripts/gpu-check.sh's per-binary timeout. Cases registered with Iterations(1) instead time
// repeats_within(...) calls once: about `budget_seconds` of GPU work whatever the kernel's speed.
//
// Free of Google Benchmark and CUDA, so the CPU tests check it
// (tests/bench/test_timing_budget.cpp).
#include <algorithm>
#include <cmath>

namespace cbnn::bench {

// ceil(budget_seconds / seconds_per_call) clamped to [least, most]; `most` when the estimate is
// not a positive number (a call too fast for the events to see).
inline int repeats_within(double seconds_per_call, double budget_seconds, int least, int most) {
    if (!(seconds_per_call > 0.0)) return most;
    const double wanted = std::ceil(budget_seconds / seconds_per_call);
    return static_cast<int>(
        std::clamp(wanted, static_cast<double>(least), static_cast<double>(most)));
}

}  // namespace cbnn::bench
