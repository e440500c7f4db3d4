// Class-balanced losses, forward + backward (logits -> loss and dlogits), on the GPU:
//   fused  ops::class_balanced_loss: one pass over the logits, loss and dlogits together
//   naive  naive_class_balanced_loss + autograd backward (one kernel per framework op)
//   copy   a contiguous copy of N*C floats: the floor for reading logits and writing dlogits
// Counters: GB/s of the fused/naive work counted as 8*N*C bytes (read logits, write dlogits),
// "us_copy" = time of a copy of the logits measured in the same benchmark (divide the benchmark's
// time by it for the ratio to the copy), "us_floor" = 8*N*C bytes at the H100's measured
// 2,990 GB/s device-to-device bandwidth (ANCHORS.md).
// Each benchmark first checks its loss and dlogits against the CPU float64 reference.
#include <algorithm>
#include <cmath>
#include <vector>

#include "autograd/functions.h"
#include "autograd/grad_mode.h"
#include "bench/bench_util.h"
#include "losses/cb_loss.h"
#include "losses/class_weights.h"
#include "losses/naive_losses.h"
#include "tensor/copy.h"
#include "tensor/rng.h"

namespace cbnn::bench {
namespace {

constexpr double kH100CopyBandwidth = 2990e9;  // bytes/s, ANCHORS.md
constexpr double kBeta = 0.9999;
constexpr double kGamma = 0.5;

const std::vector<std::vector<int64_t>> kLossShapes = {{128, 10},   {128, 100},  {1024, 1000},
                                                       {512, 5089}, {512, 8142}, {4096, 8142}};

struct Problem {
    Tensor logits, labels, weights;  // on the GPU
};

// Logits ~ 3 * N(0, 1), labels uniform, weights from long-tailed counts (IF 100).
Problem make_problem(int64_t n, int64_t c) {
    Generator gen(7);
    std::vector<int64_t> counts(static_cast<size_t>(c)), labels(static_cast<size_t>(n));
    for (int64_t i = 0; i < c; ++i) {
        const double r =
            c > 1 ? std::pow(0.01, static_cast<double>(i) / static_cast<double>(c - 1)) : 1.0;
        counts[static_cast<size_t>(i)] = std::max<int64_t>(1, static_cast<int64_t>(1000 * r));
    }
    for (int64_t i = 0; i < n; ++i) labels[static_cast<size_t>(i)] = (i * 7919) % c;
    Problem p;
    p.logits = randn({n, c}, gen, DType::f32, Device::cuda()) * 3.0;
    p.labels = Tensor::from_vector<int64_t>(labels, {n}, Device::cuda());
    p.weights = class_balanced_weights_tensor(counts, kBeta, DType::f32, Device::cuda());
    return p;
}

// Loss within 1e-4 relative and dlogits within 1e-6 absolute (they are O(w/N)) of the f64 CPU
// reference; returns an empty string or what differs.
std::string check(const Problem& p, LossType type, const ops::LossResult& got) {
    const ops::LossResult ref =
        ops::class_balanced_loss(p.logits.cpu().to(DType::f64), p.labels.cpu(),
                                 p.weights.cpu().to(DType::f64), type, kGamma);
    const double loss_err =
        max_abs_diff(got.loss, ref.loss) / std::max(1.0, std::fabs(ref.loss.item<double>()));
    const double grad_err = max_abs_diff(got.dlogits, ref.dlogits);
    if (loss_err <= 1e-4 && grad_err <= 1e-6) return "";
    return "differs from the f64 reference: loss rel " + std::to_string(loss_err) + ", dlogits " +
           std::to_string(grad_err);
}

double copy_seconds(const Tensor& x) {
    for (int i = 0; i < 3; ++i) ops::contiguous_copy(x);
    return cuda_seconds_per_call([&] { ops::contiguous_copy(x); }, 50);
}

void set_counters(benchmark::State& state, int64_t n, int64_t c, double copy_time) {
    const double bytes = 8.0 * static_cast<double>(n * c);
    set_bandwidth(state, bytes);
    state.counters["us_floor"] = bytes / kH100CopyBandwidth * 1e6;
    if (copy_time > 0) state.counters["us_copy"] = copy_time * 1e6;
}

void BM_Fused(benchmark::State& state, LossType type) {
    if (skip_without_gpu(state)) return;
    const int64_t n = state.range(0), c = state.range(1);
    const Problem p = make_problem(n, c);
    const std::string bad =
        check(p, type, ops::class_balanced_loss(p.logits, p.labels, p.weights, type, kGamma));
    if (!bad.empty()) return skip_with(state, bad);
    const double copy_time = copy_seconds(p.logits);
    time_cuda(state, [&] {
        benchmark::DoNotOptimize(
            ops::class_balanced_loss(p.logits, p.labels, p.weights, type, kGamma));
    });
    set_counters(state, n, c, copy_time);
}

void BM_Naive(benchmark::State& state, LossType type) {
    if (skip_without_gpu(state)) return;
    const int64_t n = state.range(0), c = state.range(1);
    const Problem p = make_problem(n, c);
    auto forward_backward = [&] {
        Tensor logits = p.logits.detach();
        logits.set_requires_grad();
        const Tensor loss = naive_class_balanced_loss(logits, p.labels, p.weights, type, kGamma);
        loss.backward();
        return ops::LossResult{loss.detach(), logits.grad()};
    };
    const std::string bad = check(p, type, forward_backward());
    if (!bad.empty()) return skip_with(state, bad);
    const double copy_time = copy_seconds(p.logits);
    time_cuda(
        state, [&] { benchmark::DoNotOptimize(forward_backward()); }, 5);
    set_counters(state, n, c, copy_time);
}

void BM_Copy(benchmark::State& state) {
    if (skip_without_gpu(state)) return;
    const int64_t n = state.range(0), c = state.range(1);
    const Problem p = make_problem(n, c);
    time_cuda(state, [&] { benchmark::DoNotOptimize(ops::contiguous_copy(p.logits)); });
    set_counters(state, n, c, 0.0);
}

void loss_shapes(benchmark::internal::Benchmark* b) {
    for (const auto& s : kLossShapes) b->Args({s[0], s[1]});
    b->ArgNames({"N", "C"})->UseManualTime()->Unit(benchmark::kMicrosecond);
}

BENCHMARK(BM_Copy)->Apply(loss_shapes);
BENCHMARK_CAPTURE(BM_Fused, softmax, LossType::softmax)->Apply(loss_shapes);
BENCHMARK_CAPTURE(BM_Fused, sigmoid, LossType::sigmoid)->Apply(loss_shapes);
BENCHMARK_CAPTURE(BM_Fused, focal, LossType::focal)->Apply(loss_shapes);
BENCHMARK_CAPTURE(BM_Naive, softmax, LossType::softmax)->Apply(loss_shapes);
BENCHMARK_CAPTURE(BM_Naive, sigmoid, LossType::sigmoid)->Apply(loss_shapes);
BENCHMARK_CAPTURE(BM_Naive, focal, LossType::focal)->Apply(loss_shapes);

}  // namespace
}  // namespace cbnn::bench

BENCHMARK_MAIN();
