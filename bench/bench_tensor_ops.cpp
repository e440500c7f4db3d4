// Memory-bound tensor ops on the GPU against the copy bandwidth of the card:
//   copy     contiguous f32 copy of N*C floats (read + write); the floor for any (N, C) -> (N, C)
//   op exp      unary elementwise                 (read + write) add_row  (N, C) + (C) broadcast
//   add        (read + write; the row stays in cache) sum_rows (N, C) -> (N) deterministic row sum
//   (read)
// Shapes: the class-balanced loss shapes (N, C) of DESIGN.md.
#include <algorithm>
#include <cmath>
#include <vector>

#include "autograd/functions.h"
#include "autograd/grad_mode.h"
#include "bench/bench_util.h"
#include "tensor/binary.h"
#include "tensor/copy.h"
#include "tensor/reduce.h"
#include "tensor/unary.h"

namespace cbnn::bench {
namespace {

const std::vector<std::vector<int64_t>> kLossShapes = {{128, 10},   {128, 100},  {1024, 1000},
                                                       {512, 5089}, {512, 8142}, {4096, 8142}};

Tensor random_input(int64_t n, int64_t c) {
    std::vector<float> v(static_cast<size_t>(n * c));
    for (size_t i = 0; i < v.size(); ++i)
        v[i] = static_cast<float>((i * 2654435761u) % 1000) * 1e-3f - 0.5f;
    return Tensor::from_vector<float>(v, {n, c}, Device::cuda());
}

template <class Op>
void run(benchmark::State& state, Op op, double bytes_per_element, double check_tolerance) {
    if (skip_without_gpu(state)) return;
#ifdef CBNN_WITH_CUDA
    NoGradGuard no_grad;
    const int64_t n = state.range(0), c = state.range(1);
    const Tensor x = random_input(n, c);
    const double err = max_abs_diff(op(x), op(x.cpu().to(DType::f64)));
    if (!(err <= check_tolerance)) {
        skip_with(state, "result differs from the CPU reference by " + std::to_string(err));
        return;
    }
    time_cuda(state, [&] { benchmark::DoNotOptimize(op(x)); });
    set_bandwidth(state, bytes_per_element * static_cast<double>(n * c));
#endif
}

void BM_Copy(benchmark::State& state) {
    run(
        state, [](const Tensor& x) { return ops::contiguous_copy(x); }, 8.0, 0.0);
}

void BM_Exp(benchmark::State& state) {
    run(
        state, [](const Tensor& x) { return ops::unary(UnaryOp::exp, x); }, 8.0, 1e-5);
}

void BM_AddRow(benchmark::State& state) {
    run(
        state,
        [](const Tensor& x) { return ops::add(x, x.narrow(0, 0, 1).squeeze(0).contiguous()); }, 8.0,
        1e-6);
}

void BM_SumRows(benchmark::State& state) {
    run(
        state, [](const Tensor& x) { return ops::sum(x, 1); }, 4.0, 1e-3);
}

void loss_shapes(benchmark::internal::Benchmark* b) {
    for (const auto& s : kLossShapes) b->Args({s[0], s[1]});
    b->ArgNames({"N", "C"})->UseManualTime()->Unit(benchmark::kMicrosecond);
}

BENCHMARK(BM_Copy)->Apply(loss_shapes);
BENCHMARK(BM_Exp)->Apply(loss_shapes);
BENCHMARK(BM_AddRow)->Apply(loss_shapes);
BENCHMARK(BM_SumRows)->Apply(loss_shapes);

}  // namespace
}  // namespace cbnn::bench

BENCHMARK_MAIN();
