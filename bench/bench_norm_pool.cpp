// BatchNorm2d and pooling kernels on the GPU at the ResNets' real shapes, batch 128:
//   bn_fwd        training forward (batch statistics + running-stat update)
//   bn_fwd_bwd    training forward + backward (dx, dgamma, dbeta)
//                 each with cuDNN's kernels and with cbnn's own (layers/batchnorm2d.h)
//   bn_relu_fwd / bn_relu_fwd_bwd   y = relu(bn(x) + residual) (a ResNet block's tail) and its
//                 backward (dx, dgamma, dbeta, dresidual): the fused op (layers/batchnorm_relu.h)
//                 against the unfused ops (batch norm, add, relu; relu's backward, batch-norm
//                 backward), each with both kernel families (with cuDNN the fused op composes)
//   maxpool_fwd / maxpool_bwd   ResNet-50's stem: 3x3 stride 2 padding 1 on 64x112x112
//   shortcut_fwd / shortcut_bwd ResNet-32's option-A shortcut: 2x2 average pool stride 2, then
//                 zero padding of the channels (16 -> 32 and 32 -> 64)
// bytes_per_second counts the compulsory traffic: every tensor the step must read or write, once
// (f32 activations, i64 argmax), e.g. 8 bytes per element for bn_fwd (read x, write y). An
// implementation that reads x twice (statistics, then normalisation) moves more than it is
// credited with, so the counter shows the distance to a one-pass kernel.
// bn_relu counts 12 bytes per element forward (read x, residual; write y) and 32 forward+backward
// (plus read x, y, dy; write dx, dresidual), the same for fused and unfused, so their GB/s compare.
// Before timing, each benchmark runs the same step on batch 2 and checks it against the CPU
// float64 reference; the benchmark is skipped with the difference when it is off.
// The *_bf16 cases run the same steps with bf16 activations (x, residual, dy, y, dx, dresidual)
// and f32 parameters and statistics (issue 7's mixed precision): bytes are counted with 2-byte
// activations, and the check allows one bf16 rounding (layers/batchnorm2d_kernels.h).
// The *_nhwc cases are the batch-norm and BN + ReLU cases on channels-last activations (x,
// residual, dy and the outputs; cuDNN with NHWC descriptors, cbnn's NHWC kernels), the same bytes
// counted, so each compares directly with its NCHW twin on the same card. Should cuDNN refuse a
// dtype and layout, its cases run cbnn's kernels (layers/cudnn_fallback.h): their label says so.
// Time: one iteration per case (Iterations(1), whatever --benchmark_min_time says) of about
// kTimedSeconds of GPU work after a warm-up (bench/timing_budget.h); the `calls` counter says how
// many calls it averaged. 352 cases match scripts/gpu-check.sh's 'BM_BatchNormRelu|BM_BatchNorm'.
#include <algorithm>
#include <string>
#include <vector>

#include "bench/bench_main.h"
#include "bench/bench_util.h"
#include "bench/timing_budget.h"
#include "layers/batchnorm2d.h"
#include "layers/batchnorm_relu.h"
#include "layers/channel_pad.h"
#include "layers/pooling.h"
#include "tensor/binary.h"
#include "tensor/copy.h"
#include "tensor/rng.h"
#include "tensor/unary.h"

namespace cbnn::bench {
namespace {

constexpr int64_t kCheckBatch = 2;
constexpr double kMomentum = 0.1, kEps = 1e-5;

constexpr double kTimedSeconds = 0.02;
constexpr int kLeastCalls = 5, kMostCalls = 1000;

// Times about kTimedSeconds of `work` in the case's one iteration; the calls average out event
// overhead (a few microseconds) next to kernels of 8 us and up.
template <class F>
void time_within_budget(benchmark::State& state, F&& work) {
    for (int i = 0; i < 3; ++i) work();  // warm-up: allocator cache, library handles and plans
    const double estimate = cuda_seconds_per_call(work, 3);
    const int calls = repeats_within(estimate, kTimedSeconds, kLeastCalls, kMostCalls);
    for (auto _ : state) state.SetIterationTime(cuda_seconds_per_call(work, calls));
    state.counters["calls"] = calls;
}

Tensor f64(const Tensor& t) { return t.cpu().to(DType::f64); }

Tensor uniform(const Shape& shape, uint64_t seed, double lo, double hi) {
    Generator gen(seed);
    Tensor t = Tensor::empty(shape, DType::f32, Device::cuda());
    uniform_(t, gen, lo, hi);
    return t;
}

// An activation tensor of `dtype` (f32, or bf16: the f32 draws rounded; uniform_ has no bf16 fill)
// laid out in `format`.
Tensor activation(const Shape& shape, uint64_t seed, double lo, double hi, DType dtype,
                  MemoryFormat format = MemoryFormat::contiguous) {
    return ops::dense(uniform(shape, seed, lo, hi).to(dtype), format);
}

double bytes_per_element(DType dtype) { return dtype == DType::bf16 ? 2.0 : 4.0; }

// The check's relative bound: 1e-4 for f32 (f32 sums of up to N*H*W terms); for bf16 one rounding
// of each activation output (unit roundoff 2^-8 relative to the element, at most the scale), plus
// the f32 part.
double check_tolerance(DType dtype, double f32_tol) {
    return dtype == DType::bf16 ? 0.00390625 + f32_tol : f32_tol;
}

double numel(const Shape& s) { return static_cast<double>(shape_numel(s)); }

// Empty when every output agrees with the reference within tol * max(1, max |reference|), else
// what differs. The scale makes the bound relative for sums such as dgamma (O(sqrt(N*H*W))).
std::string compare(const std::vector<Tensor>& got, const std::vector<Tensor>& ref, double tol) {
    for (size_t i = 0; i < got.size(); ++i) {
        const Tensor zeros = Tensor::zeros(ref[i].shape(), DType::f64);
        const double scale = std::max(1.0, max_abs_diff(ref[i], zeros));
        const double err = max_abs_diff(got[i], ref[i]);
        if (!(err <= tol * scale)) {
            return "output " + std::to_string(i) + " differs from the f64 CPU reference by " +
                   std::to_string(err) + " (scale " + std::to_string(scale) + ")";
        }
    }
    return "";
}

// ---- batch norm -----------------------------------------------------------------------------

struct BnInputs {
    Tensor x, dy, gamma, beta, running_mean, running_var;
};

BnInputs bn_inputs(const Shape& shape, DType dtype, MemoryFormat format) {
    const int64_t C = shape[1];
    return {activation(shape, 1, -1, 2, dtype, format),
            activation(shape, 2, -1, 1, dtype, format),
            uniform({C}, 3, 0.5, 1.5),
            uniform({C}, 4, -1, 1),
            Tensor::zeros({C}, DType::f32, Device::cuda()),
            Tensor::ones({C}, DType::f32, Device::cuda())};
}

// The step on `in` (GPU or f64 CPU): y, then dx, dgamma, dbeta when `backward`.
std::vector<Tensor> bn_step(const BnInputs& in, bool backward) {
    const ops::BatchNormForward f = ops::batch_norm2d_training(
        in.x, in.gamma, in.beta, in.running_mean, in.running_var, kMomentum, kEps);
    if (!backward) return {f.y};
    const ops::BatchNormGrads g =
        ops::batch_norm2d_backward(in.x, in.dy, in.gamma, f.save_mean, f.save_invstd, kEps);
    return {f.y, g.dx, g.dgamma, g.dbeta};
}

std::string check_bn(Shape shape, bool backward, DType dtype, MemoryFormat format) {
    shape[0] = kCheckBatch;
    const BnInputs gpu = bn_inputs(shape, dtype, format);
    const BnInputs cpu{f64(gpu.x),    f64(gpu.dy),           f64(gpu.gamma),
                       f64(gpu.beta), f64(gpu.running_mean), f64(gpu.running_var)};
    return compare(bn_step(gpu, backward), bn_step(cpu, backward), check_tolerance(dtype, 1e-4));
}

// A cuDNN case whose dtype and layout cuDNN refused timed cbnn's kernels: its label says so.
void label_cudnn_refusal(benchmark::State& state, BatchNormKernels kernels, DType dtype,
                         MemoryFormat format) {
    if (kernels == BatchNormKernels::cudnn && batchnorm_cudnn_refused(dtype, format))
        state.SetLabel("cuDNN refused this dtype and layout: cbnn's kernels timed");
}

void BM_BatchNorm(benchmark::State& state, bool backward, BatchNormKernels kernels, DType dtype,
                  MemoryFormat format = MemoryFormat::contiguous) {
    if (skip_without_gpu(state)) return;
    const BatchNormKernelsSetting use(kernels);
    const Shape shape{state.range(0), state.range(1), state.range(2), state.range(3)};
    const std::string bad = check_bn(shape, backward, dtype, format);
    if (!bad.empty()) return skip_with(state, bad);
    const BnInputs in = bn_inputs(shape, dtype, format);
    time_within_budget(state, [&] { benchmark::DoNotOptimize(bn_step(in, backward)); });
    label_cudnn_refusal(state, kernels, dtype, format);
    // Forward: read x, write y; backward: read x, dy, write dx (5 tensors in all).
    set_bandwidth(state, (backward ? 5.0 : 2.0) * bytes_per_element(dtype) * numel(shape));
}

// ---- batch norm + ReLU (+ residual) --------------------------------------------------------

// Forward y, then with `backward` dx, dgamma, dbeta, dresidual: the fused op or the unfused ops.
std::vector<Tensor> bn_relu_step(const BnInputs& in, const Tensor& residual, bool fused,
                                 bool backward) {
    if (fused) {
        const ops::BatchNormForward f = ops::batch_norm_relu_training(
            in.x, residual, in.gamma, in.beta, in.running_mean, in.running_var, kMomentum, kEps);
        if (!backward) return {f.y};
        const ops::BatchNormReluGrads g = ops::batch_norm_relu_backward(
            in.x, f.y, in.dy, in.gamma, f.save_mean, f.save_invstd, kEps, true);
        return {f.y, g.dx, g.dgamma, g.dbeta, g.dresidual};
    }
    const ops::BatchNormForward f = ops::batch_norm2d_training(
        in.x, in.gamma, in.beta, in.running_mean, in.running_var, kMomentum, kEps);
    const Tensor pre = ops::add(f.y, residual);
    const Tensor y = ops::unary(UnaryOp::relu, pre);
    if (!backward) return {y};
    const Tensor g = ops::unary_backward(UnaryOp::relu, pre, y, in.dy);
    const ops::BatchNormGrads b =
        ops::batch_norm2d_backward(in.x, g, in.gamma, f.save_mean, f.save_invstd, kEps);
    return {y, b.dx, b.dgamma, b.dbeta, g};
}

// The GPU step against the f64 CPU reference; the reference backward masks with the GPU's y, so
// that a pre-activation rounded to the other side of 0 on the GPU is not reported as an error.
std::string check_bn_relu(Shape shape, bool fused, bool backward, DType dtype,
                          MemoryFormat format) {
    shape[0] = kCheckBatch;
    const BnInputs gpu = bn_inputs(shape, dtype, format);
    const Tensor residual = activation(shape, 5, -1, 1, dtype, format);
    const BnInputs cpu{f64(gpu.x),    f64(gpu.dy),           f64(gpu.gamma),
                       f64(gpu.beta), f64(gpu.running_mean), f64(gpu.running_var)};
    const std::vector<Tensor> got = bn_relu_step(gpu, residual, fused, backward);
    const ops::BatchNormForward f =
        ops::batch_norm_relu_training(cpu.x, f64(residual), cpu.gamma, cpu.beta, cpu.running_mean,
                                      cpu.running_var, kMomentum, kEps);
    std::vector<Tensor> ref{f.y};
    if (backward) {
        const ops::BatchNormReluGrads g = ops::batch_norm_relu_backward(
            cpu.x, f64(got[0]), cpu.dy, cpu.gamma, f.save_mean, f.save_invstd, kEps, true);
        ref.insert(ref.end(), {g.dx, g.dgamma, g.dbeta, g.dresidual});
    }
    // The unfused bf16 ops round bn(x) and the sum separately: up to two bf16 roundings.
    const double tol = check_tolerance(dtype, 1e-4) * (fused ? 1.0 : 2.0);
    return compare(got, ref, tol);
}

void BM_BatchNormRelu(benchmark::State& state, bool fused, bool backward, BatchNormKernels kernels,
                      DType dtype, MemoryFormat format = MemoryFormat::contiguous) {
    if (skip_without_gpu(state)) return;
    const BatchNormKernelsSetting use(kernels);
    const Shape shape{state.range(0), state.range(1), state.range(2), state.range(3)};
    const std::string bad = check_bn_relu(shape, fused, backward, dtype, format);
    if (!bad.empty()) return skip_with(state, bad);
    const BnInputs in = bn_inputs(shape, dtype, format);
    const Tensor residual = activation(shape, 5, -1, 1, dtype, format);
    time_within_budget(
        state, [&] { benchmark::DoNotOptimize(bn_relu_step(in, residual, fused, backward)); });
    label_cudnn_refusal(state, kernels, dtype, format);
    // Forward: read x, residual, write y; backward: read x, y, dy, write dx, dresidual.
    set_bandwidth(state, (backward ? 8.0 : 3.0) * bytes_per_element(dtype) * numel(shape));
}

// ---- max pool (ResNet-50 stem) ----------------------------------------------------------------

constexpr int64_t kStemKernel = 3, kStemStride = 2, kStemPadding = 1;

std::vector<Tensor> maxpool_step(const Tensor& x, const Tensor& dy, bool backward) {
    const ops::MaxPool2dResult r = ops::max_pool2d(x, kStemKernel, kStemStride, kStemPadding);
    if (!backward) return {r.values, r.indices};
    return {
        ops::max_pool2d_backward(dy, r.indices, x.shape(), kStemKernel, kStemStride, kStemPadding)};
}

Shape stem_output(const Shape& x) { return {x[0], x[1], (x[2] + 1) / 2, (x[3] + 1) / 2}; }

void BM_MaxPool(benchmark::State& state, bool backward, DType dtype) {
    if (skip_without_gpu(state)) return;
    const Shape shape{state.range(0), state.range(1), state.range(2), state.range(3)};
    Shape small = shape;
    small[0] = kCheckBatch;
    const Tensor xs = activation(small, 5, -1, 1, dtype);
    const Tensor dys = activation(stem_output(small), 6, -1, 1, dtype);
    // A maximum and its index are exact; dx adds up to four f32 values of dy (then, for bf16,
    // rounds the sum once).
    const std::string bad =
        compare(maxpool_step(xs, dys, backward), maxpool_step(f64(xs), f64(dys), backward),
                backward ? check_tolerance(dtype, 1e-6) : 0.0);
    if (!bad.empty()) return skip_with(state, bad);
    const Tensor x = activation(shape, 5, -1, 1, dtype);
    const Tensor dy = activation(stem_output(shape), 6, -1, 1, dtype);
    if (backward) {
        const Tensor argmax = ops::max_pool2d(x, kStemKernel, kStemStride, kStemPadding).indices;
        time_within_budget(state, [&] {
            benchmark::DoNotOptimize(ops::max_pool2d_backward(dy, argmax, shape, kStemKernel,
                                                              kStemStride, kStemPadding));
        });
    } else {
        time_within_budget(state, [&] {
            benchmark::DoNotOptimize(ops::max_pool2d(x, kStemKernel, kStemStride, kStemPadding));
        });
    }
    // Forward reads x, writes y and argmax (i64); backward reads dy and argmax, writes dx.
    const double e = bytes_per_element(dtype);
    set_bandwidth(state, e * numel(shape) + (e + 8.0) * numel(stem_output(shape)));
}

// ---- option-A shortcut (ResNet-32) ------------------------------------------------------------

// (N, C, H, W) -> (N, 2C, H/2, W/2): average 2x2 stride 2, then C/2 zero channels on each side.
std::vector<Tensor> shortcut_step(const Tensor& x, const Tensor& dy, bool backward) {
    const int64_t C = x.size(1);
    if (!backward) return {ops::pad_channels(ops::avg_pool2d(x, 2, 2, 0, true), C / 2, C / 2)};
    return {ops::avg_pool2d_backward(ops::pad_channels_backward(dy, C / 2, C), x.shape(), 2, 2, 0,
                                     true)};
}

Shape shortcut_output(const Shape& x) { return {x[0], 2 * x[1], x[2] / 2, x[3] / 2}; }

void BM_Shortcut(benchmark::State& state, bool backward, DType dtype) {
    if (skip_without_gpu(state)) return;
    const Shape shape{state.range(0), state.range(1), state.range(2), state.range(3)};
    Shape small = shape;
    small[0] = kCheckBatch;
    const Tensor xs = activation(small, 7, -1, 1, dtype);
    const Tensor dys = activation(shortcut_output(small), 8, -1, 1, dtype);
    const std::string bad =
        compare(shortcut_step(xs, dys, backward), shortcut_step(f64(xs), f64(dys), backward),
                check_tolerance(dtype, 1e-6));
    if (!bad.empty()) return skip_with(state, bad);
    const Tensor x = activation(shape, 7, -1, 1, dtype);
    const Tensor dy = activation(shortcut_output(shape), 8, -1, 1, dtype);
    time_within_budget(state, [&] { benchmark::DoNotOptimize(shortcut_step(x, dy, backward)); });
    // Forward reads x and writes y (half of x's size); backward reads the middle half of dy (a
    // quarter of x's size) and writes dx.
    const double y_size = numel(shortcut_output(shape));
    set_bandwidth(state,
                  bytes_per_element(dtype) * (numel(shape) + (backward ? y_size / 2 : y_size)));
}

void resnet_bn_shapes(benchmark::internal::Benchmark* b) {
    // ResNet-32 stages, then ResNet-50's stem and the widths of its four stages.
    const std::vector<std::vector<int64_t>> shapes = {
        {128, 16, 32, 32},  {128, 32, 16, 16},  {128, 64, 8, 8},     {128, 64, 112, 112},
        {128, 256, 56, 56}, {128, 512, 28, 28}, {128, 1024, 14, 14}, {128, 2048, 7, 7}};
    for (const auto& s : shapes) b->Args(s);
    b->ArgNames({"N", "C", "H", "W"})
        ->UseManualTime()
        ->Iterations(1)
        ->Unit(benchmark::kMicrosecond);
}

void resnet_block_shapes(benchmark::internal::Benchmark* b) {
    // The residual tails: ResNet-32's three stages and ResNet-50's four stage outputs (conv3's
    // BN + shortcut add + ReLU).
    const std::vector<std::vector<int64_t>> shapes = {
        {128, 16, 32, 32},  {128, 32, 16, 16},   {128, 64, 8, 8},  {128, 256, 56, 56},
        {128, 512, 28, 28}, {128, 1024, 14, 14}, {128, 2048, 7, 7}};
    for (const auto& s : shapes) b->Args(s);
    b->ArgNames({"N", "C", "H", "W"})
        ->UseManualTime()
        ->Iterations(1)
        ->Unit(benchmark::kMicrosecond);
}

void stem_shape(benchmark::internal::Benchmark* b) {
    b->Args({128, 64, 112, 112})
        ->ArgNames({"N", "C", "H", "W"})
        ->UseManualTime()
        ->Iterations(1)
        ->Unit(benchmark::kMicrosecond);
}

void shortcut_shapes(benchmark::internal::Benchmark* b) {
    b->Args({128, 16, 32, 32})->Args({128, 32, 16, 16});
    b->ArgNames({"N", "C", "H", "W"})
        ->UseManualTime()
        ->Iterations(1)
        ->Unit(benchmark::kMicrosecond);
}

BENCHMARK_CAPTURE(BM_BatchNorm, fwd_cudnn, false, BatchNormKernels::cudnn, DType::f32)
    ->Apply(resnet_bn_shapes);
BENCHMARK_CAPTURE(BM_BatchNorm, fwd_cbnn, false, BatchNormKernels::cbnn, DType::f32)
    ->Apply(resnet_bn_shapes);
BENCHMARK_CAPTURE(BM_BatchNorm, fwd_bwd_cudnn, true, BatchNormKernels::cudnn, DType::f32)
    ->Apply(resnet_bn_shapes);
BENCHMARK_CAPTURE(BM_BatchNorm, fwd_bwd_cbnn, true, BatchNormKernels::cbnn, DType::f32)
    ->Apply(resnet_bn_shapes);
BENCHMARK_CAPTURE(BM_BatchNormRelu, fwd_fused_cudnn, true, false, BatchNormKernels::cudnn,
                  DType::f32)
    ->Apply(resnet_block_shapes);
BENCHMARK_CAPTURE(BM_BatchNormRelu, fwd_fused_cbnn, true, false, BatchNormKernels::cbnn, DType::f32)
    ->Apply(resnet_block_shapes);
BENCHMARK_CAPTURE(BM_BatchNormRelu, fwd_unfused_cudnn, false, false, BatchNormKernels::cudnn,
                  DType::f32)
    ->Apply(resnet_block_shapes);
BENCHMARK_CAPTURE(BM_BatchNormRelu, fwd_unfused_cbnn, false, false, BatchNormKernels::cbnn,
                  DType::f32)
    ->Apply(resnet_block_shapes);
BENCHMARK_CAPTURE(BM_BatchNormRelu, fwd_bwd_fused_cudnn, true, true, BatchNormKernels::cudnn,
                  DType::f32)
    ->Apply(resnet_block_shapes);
BENCHMARK_CAPTURE(BM_BatchNormRelu, fwd_bwd_fused_cbnn, true, true, BatchNormKernels::cbnn,
                  DType::f32)
    ->Apply(resnet_block_shapes);
BENCHMARK_CAPTURE(BM_BatchNormRelu, fwd_bwd_unfused_cudnn, false, true, BatchNormKernels::cudnn,
                  DType::f32)
    ->Apply(resnet_block_shapes);
BENCHMARK_CAPTURE(BM_BatchNormRelu, fwd_bwd_unfused_cbnn, false, true, BatchNormKernels::cbnn,
                  DType::f32)
    ->Apply(resnet_block_shapes);
BENCHMARK_CAPTURE(BM_MaxPool, fwd, false, DType::f32)->Apply(stem_shape);
BENCHMARK_CAPTURE(BM_MaxPool, bwd, true, DType::f32)->Apply(stem_shape);
BENCHMARK_CAPTURE(BM_Shortcut, fwd, false, DType::f32)->Apply(shortcut_shapes);
BENCHMARK_CAPTURE(BM_Shortcut, bwd, true, DType::f32)->Apply(shortcut_shapes);
BENCHMARK_CAPTURE(BM_BatchNorm, fwd_cudnn_bf16, false, BatchNormKernels::cudnn, DType::bf16)
    ->Apply(resnet_bn_shapes);
BENCHMARK_CAPTURE(BM_BatchNorm, fwd_cbnn_bf16, false, BatchNormKernels::cbnn, DType::bf16)
    ->Apply(resnet_bn_shapes);
BENCHMARK_CAPTURE(BM_BatchNorm, fwd_bwd_cudnn_bf16, true, BatchNormKernels::cudnn, DType::bf16)
    ->Apply(resnet_bn_shapes);
BENCHMARK_CAPTURE(BM_BatchNorm, fwd_bwd_cbnn_bf16, true, BatchNormKernels::cbnn, DType::bf16)
    ->Apply(resnet_bn_shapes);
BENCHMARK_CAPTURE(BM_BatchNormRelu, fwd_fused_cudnn_bf16, true, false, BatchNormKernels::cudnn,
                  DType::bf16)
    ->Apply(resnet_block_shapes);
BENCHMARK_CAPTURE(BM_BatchNormRelu, fwd_fused_cbnn_bf16, true, false, BatchNormKernels::cbnn,
                  DType::bf16)
    ->Apply(resnet_block_shapes);
BENCHMARK_CAPTURE(BM_BatchNormRelu, fwd_unfused_cudnn_bf16, false, false, BatchNormKernels::cudnn,
                  DType::bf16)
    ->Apply(resnet_block_shapes);
BENCHMARK_CAPTURE(BM_BatchNormRelu, fwd_unfused_cbnn_bf16, false, false, BatchNormKernels::cbnn,
                  DType::bf16)
    ->Apply(resnet_block_shapes);
BENCHMARK_CAPTURE(BM_BatchNormRelu, fwd_bwd_fused_cudnn_bf16, true, true, BatchNormKernels::cudnn,
                  DType::bf16)
    ->Apply(resnet_block_shapes);
BENCHMARK_CAPTURE(BM_BatchNormRelu, fwd_bwd_fused_cbnn_bf16, true, true, BatchNormKernels::cbnn,
                  DType::bf16)
    ->Apply(resnet_block_shapes);
BENCHMARK_CAPTURE(BM_BatchNormRelu, fwd_bwd_unfused_cudnn_bf16, false, true,
                  BatchNormKernels::cudnn, DType::bf16)
    ->Apply(resnet_block_shapes);
BENCHMARK_CAPTURE(BM_BatchNormRelu, fwd_bwd_unfused_cbnn_bf16, false, true, BatchNormKernels::cbnn,
                  DType::bf16)
    ->Apply(resnet_block_shapes);
BENCHMARK_CAPTURE(BM_MaxPool, fwd_bf16, false, DType::bf16)->Apply(stem_shape);
BENCHMARK_CAPTURE(BM_MaxPool, bwd_bf16, true, DType::bf16)->Apply(stem_shape);
BENCHMARK_CAPTURE(BM_Shortcut, fwd_bf16, false, DType::bf16)->Apply(shortcut_shapes);
BENCHMARK_CAPTURE(BM_Shortcut, bwd_bf16, true, DType::bf16)->Apply(shortcut_shapes);
BENCHMARK_CAPTURE(BM_BatchNorm, fwd_cudnn_nhwc, false, BatchNormKernels::cudnn, DType::f32,
                  MemoryFormat::channels_last)
    ->Apply(resnet_bn_shapes);
BENCHMARK_CAPTURE(BM_BatchNorm, fwd_cbnn_nhwc, false, BatchNormKernels::cbnn, DType::f32,
                  MemoryFormat::channels_last)
    ->Apply(resnet_bn_shapes);
BENCHMARK_CAPTURE(BM_BatchNorm, fwd_bwd_cudnn_nhwc, true, BatchNormKernels::cudnn, DType::f32,
                  MemoryFormat::channels_last)
    ->Apply(resnet_bn_shapes);
BENCHMARK_CAPTURE(BM_BatchNorm, fwd_bwd_cbnn_nhwc, true, BatchNormKernels::cbnn, DType::f32,
                  MemoryFormat::channels_last)
    ->Apply(resnet_bn_shapes);
BENCHMARK_CAPTURE(BM_BatchNormRelu, fwd_fused_cudnn_nhwc, true, false, BatchNormKernels::cudnn,
                  DType::f32, MemoryFormat::channels_last)
    ->Apply(resnet_block_shapes);
BENCHMARK_CAPTURE(BM_BatchNormRelu, fwd_fused_cbnn_nhwc, true, false, BatchNormKernels::cbnn,
                  DType::f32, MemoryFormat::channels_last)
    ->Apply(resnet_block_shapes);
BENCHMARK_CAPTURE(BM_BatchNormRelu, fwd_unfused_cudnn_nhwc, false, false, BatchNormKernels::cudnn,
                  DType::f32, MemoryFormat::channels_last)
    ->Apply(resnet_block_shapes);
BENCHMARK_CAPTURE(BM_BatchNormRelu, fwd_unfused_cbnn_nhwc, false, false, BatchNormKernels::cbnn,
                  DType::f32, MemoryFormat::channels_last)
    ->Apply(resnet_block_shapes);
BENCHMARK_CAPTURE(BM_BatchNormRelu, fwd_bwd_fused_cudnn_nhwc, true, true, BatchNormKernels::cudnn,
                  DType::f32, MemoryFormat::channels_last)
    ->Apply(resnet_block_shapes);
BENCHMARK_CAPTURE(BM_BatchNormRelu, fwd_bwd_fused_cbnn_nhwc, true, true, BatchNormKernels::cbnn,
                  DType::f32, MemoryFormat::channels_last)
    ->Apply(resnet_block_shapes);
BENCHMARK_CAPTURE(BM_BatchNormRelu, fwd_bwd_unfused_cudnn_nhwc, false, true,
                  BatchNormKernels::cudnn, DType::f32, MemoryFormat::channels_last)
    ->Apply(resnet_block_shapes);
BENCHMARK_CAPTURE(BM_BatchNormRelu, fwd_bwd_unfused_cbnn_nhwc, false, true, BatchNormKernels::cbnn,
                  DType::f32, MemoryFormat::channels_last)
    ->Apply(resnet_block_shapes);
BENCHMARK_CAPTURE(BM_BatchNorm, fwd_cudnn_bf16_nhwc, false, BatchNormKernels::cudnn, DType::bf16,
                  MemoryFormat::channels_last)
    ->Apply(resnet_bn_shapes);
BENCHMARK_CAPTURE(BM_BatchNorm, fwd_cbnn_bf16_nhwc, false, BatchNormKernels::cbnn, DType::bf16,
                  MemoryFormat::channels_last)
    ->Apply(resnet_bn_shapes);
BENCHMARK_CAPTURE(BM_BatchNorm, fwd_bwd_cudnn_bf16_nhwc, true, BatchNormKernels::cudnn, DType::bf16,
                  MemoryFormat::channels_last)
    ->Apply(resnet_bn_shapes);
BENCHMARK_CAPTURE(BM_BatchNorm, fwd_bwd_cbnn_bf16_nhwc, true, BatchNormKernels::cbnn, DType::bf16,
                  MemoryFormat::channels_last)
    ->Apply(resnet_bn_shapes);
BENCHMARK_CAPTURE(BM_BatchNormRelu, fwd_fused_cudnn_bf16_nhwc, true, false, BatchNormKernels::cudnn,
                  DType::bf16, MemoryFormat::channels_last)
    ->Apply(resnet_block_shapes);
BENCHMARK_CAPTURE(BM_BatchNormRelu, fwd_fused_cbnn_bf16_nhwc, true, false, BatchNormKernels::cbnn,
                  DType::bf16, MemoryFormat::channels_last)
    ->Apply(resnet_block_shapes);
BENCHMARK_CAPTURE(BM_BatchNormRelu, fwd_unfused_cudnn_bf16_nhwc, false, false,
                  BatchNormKernels::cudnn, DType::bf16, MemoryFormat::channels_last)
    ->Apply(resnet_block_shapes);
BENCHMARK_CAPTURE(BM_BatchNormRelu, fwd_unfused_cbnn_bf16_nhwc, false, false,
                  BatchNormKernels::cbnn, DType::bf16, MemoryFormat::channels_last)
    ->Apply(resnet_block_shapes);
BENCHMARK_CAPTURE(BM_BatchNormRelu, fwd_bwd_fused_cudnn_bf16_nhwc, true, true,
                  BatchNormKernels::cudnn, DType::bf16, MemoryFormat::channels_last)
    ->Apply(resnet_block_shapes);
BENCHMARK_CAPTURE(BM_BatchNormRelu, fwd_bwd_fused_cbnn_bf16_nhwc, true, true,
                  BatchNormKernels::cbnn, DType::bf16, MemoryFormat::channels_last)
    ->Apply(resnet_block_shapes);
BENCHMARK_CAPTURE(BM_BatchNormRelu, fwd_bwd_unfused_cudnn_bf16_nhwc, false, true,
                  BatchNormKernels::cudnn, DType::bf16, MemoryFormat::channels_last)
    ->Apply(resnet_block_shapes);
BENCHMARK_CAPTURE(BM_BatchNormRelu, fwd_bwd_unfused_cbnn_bf16_nhwc, false, true,
                  BatchNormKernels::cbnn, DType::bf16, MemoryFormat::channels_last)
    ->Apply(resnet_block_shapes);

}  // namespace
}  // namespace cbnn::bench

int main(int argc, char** argv) { return cbnn::bench::run_line_buffered(argc, argv); }
