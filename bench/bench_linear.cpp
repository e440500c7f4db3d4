// Linear (cuBLAS) on the classifier heads, at FP32 and TF32 math:
//   ResNet-32 head   128 x 64   -> 10 (CIFAR-10), -> 100 (CIFAR-100)
//   ResNet-50 head   128 x 2048 -> 1000 (ImageNet), 512 x 2048 -> 8142 (iNaturalist 2018)
// forward           y = x W^T + b, under NoGradGuard (evaluation)          2 N in out FLOPs
// forward_backward  y = x W^T + b, then dx, dW, db for an upstream dy       6 N in out FLOPs
//                   (x requires grad, as the pooled features of a backbone do)
// The TFLOP/s counter counts the GEMM FLOPs above over GPU time (bias adds and the db reduction
// are left out: they are O(N out)).
//
// Before timing, each benchmark checks slices of its result against the CPU float64 reference:
// the first rows of y and dx, the first rows of dW, and all of db (a full f64 CPU reference of the
// iNaturalist shape would take longer than the benchmark). Error is measured relative to the
// largest reference magnitude: FP32 must be within 1e-4 (the f32 bound K * 6e-8 for K <= 2048 is
// 1.2e-4 in the worst case and far smaller for random data), TF32 within 1e-2 (inputs rounded
// to 10 mantissa bits, 2^-11 relative per product).
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "autograd/functions.h"
#include "autograd/grad_mode.h"
#include "bench/bench_util.h"
#include "layers/linear.h"
#include "tensor/backend.h"
#include "tensor/rng.h"

namespace cbnn::bench {
namespace {

constexpr int64_t kCheckedRows = 8;

struct Problem {
    Linear fc;
    Tensor x, dy;  // on the GPU
    Problem(int64_t n, int64_t in, int64_t out, Generator& gen)
        : fc(in, out, true, gen),
          x(randn({n, in}, gen, DType::f32, Device::cuda())),
          dy(randn({n, out}, gen, DType::f32, Device::cuda())) {
        fc.to(Device::cuda());
        NoGradGuard no_grad;
        Tensor bias = fc.bias();
        uniform_(bias, gen, -1.0, 1.0);
        x.set_requires_grad();
    }
    void zero_grad() {
        fc.zero_grad();
        x.set_grad(Tensor());
    }
};

Tensor rows(const Tensor& t, int64_t count) {
    return t.detach().narrow(0, 0, std::min(count, t.size(0))).cpu().to(DType::f64);
}

// Largest |got - ref| over the largest |ref|.
double relative_error(const Tensor& got, const Tensor& ref) {
    double scale = 0;
    for (double v : ref.to_vector<double>()) scale = std::max(scale, std::fabs(v));
    return max_abs_diff(got, ref) / std::max(scale, 1e-30);
}

// Empty when every checked slice is within tolerance, else what differs.
std::string check(Problem& p, bool tf32, bool backward) {
    const double tol = tf32 ? 1e-2 : 1e-4;
    const Tensor w = p.fc.weight().detach().cpu().to(DType::f64);
    const Tensor b = p.fc.bias().detach().cpu().to(DType::f64);
    const Tensor x = p.x.detach().cpu().to(DType::f64);
    const Tensor dy = p.dy.detach().cpu().to(DType::f64);
    p.zero_grad();
    const Tensor y = p.fc(p.x);
    std::vector<std::pair<std::string, double>> errors = {
        {"y", relative_error(rows(y, kCheckedRows), linear(rows(x, kCheckedRows), w, b))}};
    if (backward) {
        y.backward(p.dy);
        const int64_t r = std::min(kCheckedRows, w.size(0));
        errors.emplace_back("dx", relative_error(rows(p.x.grad(), kCheckedRows),
                                                 matmul(rows(dy, kCheckedRows), w)));
        errors.emplace_back(
            "dW", relative_error(rows(p.fc.weight().grad(), r), matmul(dy.narrow(1, 0, r).t(), x)));
        errors.emplace_back("db", relative_error(p.fc.bias().grad(), sum(dy, 0)));
        p.zero_grad();
    }
    for (const auto& [name, err] : errors) {
        if (!(err <= tol)) {
            return name + " differs from the f64 reference: relative error " + std::to_string(err) +
                   " > " + std::to_string(tol);
        }
    }
    return "";
}

void set_flops(benchmark::State& state, double flops_per_call) {
    state.counters["TFLOP/s"] =
        benchmark::Counter(flops_per_call * 1e-12, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_Linear(benchmark::State& state, bool tf32, bool backward) {
    if (skip_without_gpu(state)) return;
    const int64_t n = state.range(0), in = state.range(1), out = state.range(2);
    const Tf32Setting math(tf32);
    Generator gen(2019);
    Problem p(n, in, out, gen);
    const std::string bad = check(p, tf32, backward);
    if (!bad.empty()) return skip_with(state, bad);
    if (backward) {
        time_cuda(
            state,
            [&] {
                p.zero_grad();
                p.fc(p.x).backward(p.dy);
            },
            10);
    } else {
        NoGradGuard no_grad;
        time_cuda(state, [&] { benchmark::DoNotOptimize(p.fc(p.x)); });
    }
    set_flops(state, (backward ? 6.0 : 2.0) * static_cast<double>(n * in * out));
}

void head_shapes(benchmark::internal::Benchmark* b) {
    for (const auto& s : std::vector<std::vector<int64_t>>{
             {128, 64, 10}, {128, 64, 100}, {128, 2048, 1000}, {512, 2048, 8142}})
        b->Args(s);
    b->ArgNames({"N", "in", "out"})->UseManualTime()->Unit(benchmark::kMicrosecond);
}

BENCHMARK_CAPTURE(BM_Linear, forward_fp32, false, false)->Apply(head_shapes);
BENCHMARK_CAPTURE(BM_Linear, forward_tf32, true, false)->Apply(head_shapes);
BENCHMARK_CAPTURE(BM_Linear, forward_backward_fp32, false, true)->Apply(head_shapes);
BENCHMARK_CAPTURE(BM_Linear, forward_backward_tf32, true, true)->Apply(head_shapes);

}  // namespace
}  // namespace cbnn::bench

BENCHMARK_MAIN();
