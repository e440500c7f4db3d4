// Conv2d through cuDNN (layers/conv2d_cudnn.cpp) at batch 128 on the ResNet-32 (CIFAR) and
// ResNet-50 (ImageNet) convolution shapes, FP32 and TF32 math:
//   forward           ops::conv2d_forward                              2 N K C R S P Q flops
//   forward_backward  forward + backward data + backward filter        3x that
// (no bias: the ResNets' convolutions have none). Counter: TFLOP/s over the GPU (event) time.
// forward_backward also runs with the timed algorithm search (fp32_timed, tf32_timed: cuDNN's
// measured choice, layers/conv2d.h) beside the default heuristic choice.
// Before timing, each benchmark checks the batch-128 results against the CPU float64 reference on
// the first two images: y and dx of those images depend on them alone, and dw is checked with a dy
// that is zero beyond image 2, so the algorithms cuDNN picked for the timed shape are the ones
// checked while the CPU reference stays affordable. FP32 must be within 1e-4 of the largest
// reference value, TF32 within 5e-3 (tests/layers/test_conv2d_cuda.cpp explains the TF32 bound).
//
// BM_ConvNhwc/<math>/C/K/HW/R/stride/pad/dir/cbnn: cbnn's implicit-GEMM kernels (layers/
// conv2d_igemm.h, `--conv-kernels cbnn`) against cuDNN on the ResNet-32 convolutions they take
// (all but the 3-channel stem), channels-last (NHWC activations, KRSC weight) at batch 128, one
// direction per case: dir 0 forward, 1 backward data, 2 backward filter (each 2 N K C R S P Q
// flops); math bf16 (bf16 operands, FP32 accumulation) or tf32 (f32 operands, TF32 allowed);
// cbnn 0: cuDNN, 1: cbnn's kernels (all cuDNN cases first, so that a fault in the new kernels
// cannot cost them). Each case first checks its own kernel's result against the f64 reference as
// above, computed from the operands as the kernels see them (bf16-rounded for bf16: only the
// FP32 summation and the output's rounding, 2^-9 relative, remain, so within 1e-2 of the largest
// value; TF32 within 5e-3); a cbnn case also compares its full-batch result with cuDNN's on the
// same operands (within 1e-2 of cuDNN's largest value: two results each within the bounds
// above). BM_ConvNhwc/bf16_stem: the two stems with 3, 4 and 8 input channels on cuDNN (does
// padding the image to 4 or 8 channels pay?). Unmeasured: not yet run on a GPU.
#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "autograd/functions.h"
#include "bench/bench_util.h"
#include "layers/conv2d.h"
#include "layers/conv2d_igemm.h"
#include "tensor/rng.h"

namespace cbnn::bench {
namespace {

constexpr int64_t kBatch = 128;
constexpr int64_t kCheckImages = 2;

// C, K, H (= W), R (= S), stride, padding
const std::vector<std::array<int64_t, 6>> kConvShapes = {
    // ResNet-32 (32x32 input)
    {3, 16, 32, 3, 1, 1},
    {16, 16, 32, 3, 1, 1},
    {16, 32, 32, 3, 2, 1},
    {32, 32, 16, 3, 1, 1},
    {32, 64, 16, 3, 2, 1},
    {64, 64, 8, 3, 1, 1},
    // ResNet-50 (224x224 input)
    {3, 64, 224, 7, 2, 3},
    {256, 64, 56, 1, 1, 0},
    {64, 64, 56, 3, 1, 1},
    {64, 256, 56, 1, 1, 0},
    {128, 128, 28, 3, 1, 1},
    {256, 256, 14, 3, 1, 1},
    {512, 512, 7, 3, 1, 1},
};

struct Problem {
    Conv2dShape s;
    Tensor x, w, dy;  // on the GPU; dy random over the whole batch (timing)
    Tensor dy_check;  // dy with zeros beyond the first kCheckImages images
};

Problem make_problem(const benchmark::State& state) {
    const int64_t C = state.range(0), K = state.range(1), HW = state.range(2), R = state.range(3);
    Problem p;
    p.s = conv2d_shape({kBatch, C, HW, HW}, {K, C, R, R}, state.range(4), state.range(5));
    Generator gen(42);
    const Device gpu = Device::cuda();
    p.x = randn({kBatch, C, HW, HW}, gen, DType::f32, gpu);
    p.w = randn({K, C, R, R}, gen, DType::f32, gpu) * (1.0 / std::sqrt(double(C * R * R)));
    p.dy = randn({kBatch, K, p.s.P, p.s.Q}, gen, DType::f32, gpu);
    p.dy_check = Tensor::zeros(p.dy.shape(), DType::f32, gpu);
    p.dy_check.narrow(0, 0, kCheckImages).copy_(p.dy.narrow(0, 0, kCheckImages));
    return p;
}

struct Reference {
    Tensor y, dx, dw;  // f64, first kCheckImages images
};

// The CPU float64 results on the first images, computed once per shape (the FP32 and TF32
// variants and both benchmarks share them).
const Reference& reference(const Problem& p) {
    static std::map<std::array<int64_t, 6>, Reference> cache;
    const Conv2dShape& s = p.s;
    const std::array<int64_t, 6> key{s.C, s.K, s.H, s.R, s.stride, s.pad};
    auto it = cache.find(key);
    if (it != cache.end()) return it->second;
    const auto head = [](const Tensor& t) {
        return t.narrow(0, 0, kCheckImages).cpu().to(DType::f64);
    };
    const Tensor x = head(p.x), w = p.w.cpu().to(DType::f64), dy = head(p.dy_check);
    Reference r{ops::conv2d_forward(x, w, Tensor(), s.stride, s.pad),
                ops::conv2d_backward_data(dy, w, x.shape(), s.stride, s.pad),
                ops::conv2d_backward_filter(x, dy, w.shape(), s.stride, s.pad)};
    return cache.emplace(key, r).first->second;
}

// Empty when `got` (its first images when `head`) is within `rel` of the largest value of `ref`
// (f64 on the CPU), which the message calls `against`.
std::string compare(const char* what, const Tensor& got, const Tensor& ref, bool head, double rel,
                    const std::string& against = "the f64 reference") {
    const Tensor g = head ? got.narrow(0, 0, kCheckImages) : got;
    const double err = max_abs_diff(g, ref);
    double scale = 0;
    for (double v : ref.to_vector<double>()) scale = std::max(scale, std::fabs(v));
    if (err <= rel * std::max(scale, 1e-30)) return "";
    return std::string(what) + " differs from " + against + ": max error " + std::to_string(err) +
           ", largest value " + std::to_string(scale);
}

std::string check(const Problem& p, bool backward) {
    const Reference& ref = reference(p);
    const double rel = allow_tf32() ? 5e-3 : 1e-4;
    const Conv2dShape& s = p.s;
    std::string bad =
        compare("y", ops::conv2d_forward(p.x, p.w, Tensor(), s.stride, s.pad), ref.y, true, rel);
    if (!bad.empty() || !backward) return bad;
    bad = compare("dx", ops::conv2d_backward_data(p.dy_check, p.w, p.x.shape(), s.stride, s.pad),
                  ref.dx, true, rel);
    if (!bad.empty()) return bad;
    return compare("dw", ops::conv2d_backward_filter(p.x, p.dy_check, p.w.shape(), s.stride, s.pad),
                   ref.dw, false, rel);
}

double forward_flops(const Conv2dShape& s) {
    return 2.0 * double(s.N) * double(s.K) * double(s.C) * double(s.R) * double(s.S) * double(s.P) *
           double(s.Q);
}

void BM_ConvForward(benchmark::State& state, bool tf32) {
    if (skip_without_gpu(state)) return;
    const Tf32Setting mode(tf32);
    const Problem p = make_problem(state);
    const std::string bad = check(p, false);
    if (!bad.empty()) return skip_with(state, bad);
    const Conv2dShape& s = p.s;
    time_cuda(state, [&] {
        benchmark::DoNotOptimize(ops::conv2d_forward(p.x, p.w, Tensor(), s.stride, s.pad));
    });
    state.counters["TFLOP/s"] = benchmark::Counter(
        forward_flops(s) * 1e-12 * double(state.iterations()), benchmark::Counter::kIsRate);
}

void BM_ConvForwardBackward(benchmark::State& state, bool tf32, ConvAlgorithmSearch search) {
    if (skip_without_gpu(state)) return;
    const Tf32Setting mode(tf32);
    const ConvAlgorithmSearchSetting search_mode(search);
    const Problem p = make_problem(state);
    const std::string bad = check(p, true);
    if (!bad.empty()) return skip_with(state, bad);
    const Conv2dShape& s = p.s;
    time_cuda(
        state,
        [&] {
            benchmark::DoNotOptimize(ops::conv2d_forward(p.x, p.w, Tensor(), s.stride, s.pad));
            benchmark::DoNotOptimize(
                ops::conv2d_backward_data(p.dy, p.w, p.x.shape(), s.stride, s.pad));
            benchmark::DoNotOptimize(
                ops::conv2d_backward_filter(p.x, p.dy, p.w.shape(), s.stride, s.pad));
        },
        5);
    state.counters["TFLOP/s"] = benchmark::Counter(
        3.0 * forward_flops(s) * 1e-12 * double(state.iterations()), benchmark::Counter::kIsRate);
}

void conv_shapes(benchmark::internal::Benchmark* b) {
    for (const auto& s : kConvShapes) b->Args({s[0], s[1], s[2], s[3], s[4], s[5]});
    b->ArgNames({"C", "K", "HW", "R", "stride", "pad"})
        ->UseManualTime()
        ->Unit(benchmark::kMicrosecond);
}

BENCHMARK_CAPTURE(BM_ConvForward, fp32, false)->Apply(conv_shapes);
BENCHMARK_CAPTURE(BM_ConvForward, tf32, true)->Apply(conv_shapes);
BENCHMARK_CAPTURE(BM_ConvForwardBackward, fp32, false, ConvAlgorithmSearch::heuristic)
    ->Apply(conv_shapes);
BENCHMARK_CAPTURE(BM_ConvForwardBackward, tf32, true, ConvAlgorithmSearch::heuristic)
    ->Apply(conv_shapes);
// The algorithms cuDNN's own timing picks (time_cuda's untimed warm-up calls do the search).
BENCHMARK_CAPTURE(BM_ConvForwardBackward, fp32_timed, false, ConvAlgorithmSearch::timed)
    ->Apply(conv_shapes);
BENCHMARK_CAPTURE(BM_ConvForwardBackward, tf32_timed, true, ConvAlgorithmSearch::timed)
    ->Apply(conv_shapes);

// ---- cbnn's implicit-GEMM kernels against cuDNN, channels-last (BM_ConvNhwc) ----------------

// ResNet-32's convolutions that cbnn's kernels take: C, K, H (= W), R (= S), stride, padding.
const std::vector<std::array<int64_t, 6>> kIgemmShapes = {
    {16, 16, 32, 3, 1, 1}, {16, 32, 32, 3, 2, 1}, {32, 32, 16, 3, 1, 1},
    {32, 64, 16, 3, 2, 1}, {64, 64, 8, 3, 1, 1},
};

enum class Direction : int64_t { forward, backward_data, backward_filter };
const char* const kDirectionNames[] = {"y", "dx", "dw"};

// A Problem's operands as the channels-last kernels take them: NHWC x, dy, dy_check and a KRSC
// weight, in `dtype`.
struct NhwcProblem {
    Problem p;  // the f32 NCHW originals
    DType dtype;
    Tensor x, w, dy, dy_check;
};

NhwcProblem make_nhwc_problem(const benchmark::State& state, DType dtype) {
    NhwcProblem q{make_problem(state), dtype, {}, {}, {}, {}};
    const auto nhwc = [&](const Tensor& t) { return t.to(dtype, MemoryFormat::channels_last); };
    q.x = nhwc(q.p.x);
    q.w = nhwc(q.p.w);
    q.dy = nhwc(q.p.dy);
    q.dy_check = nhwc(q.p.dy_check);
    return q;
}

// One direction of s's convolution (its stride and padding) on x, w and dy; on the GPU through
// whichever kernels the ConvKernels setting picks.
Tensor conv_direction(Direction d, const Tensor& x, const Tensor& w, const Tensor& dy,
                      const Conv2dShape& s) {
    switch (d) {
        case Direction::forward:
            return ops::conv2d_forward(x, w, Tensor(), s.stride, s.pad);
        case Direction::backward_data:
            return ops::conv2d_backward_data(dy, w, x.shape(), s.stride, s.pad);
        case Direction::backward_filter:
            break;
    }
    return ops::conv2d_backward_filter(x, dy, w.shape(), s.stride, s.pad);
}

Tensor run_direction(Direction d, const NhwcProblem& q, const Tensor& dy) {
    return conv_direction(d, q.x, q.w, dy, q.p.s);
}

// The CPU float64 result of direction `d` on the first images (all of dw, from dy_check), from
// the operands as the kernels see them (bf16-rounded for bf16); cached per shape, dtype, direction.
const Tensor& nhwc_reference(const NhwcProblem& q, Direction d) {
    static std::map<std::array<int64_t, 8>, Tensor> cache;
    const Conv2dShape& s = q.p.s;
    const int64_t dtype = static_cast<int64_t>(q.dtype), dir = static_cast<int64_t>(d);
    const std::array<int64_t, 8> key{s.C, s.K, s.H, s.R, s.stride, s.pad, dtype, dir};
    auto it = cache.find(key);
    if (it != cache.end()) return it->second;
    const auto as_seen = [&](const Tensor& t) { return t.cpu().to(q.dtype).to(DType::f64); };
    const Tensor x = as_seen(q.p.x.narrow(0, 0, kCheckImages)), w = as_seen(q.p.w);
    const Tensor dy = as_seen(q.p.dy_check.narrow(0, 0, kCheckImages));
    return cache.emplace(key, conv_direction(d, x, w, dy, s)).first->second;
}

// Empty when the kernels the case times (cbnn's when `cbnn`) give direction `d` within the
// bounds of the file comment: against the f64 reference, and for cbnn against cuDNN.
std::string check_nhwc(const NhwcProblem& q, Direction d, bool cbnn) {
    const char* what = kDirectionNames[static_cast<int64_t>(d)];
    const double rel = q.dtype == DType::bf16 ? 1e-2 : 5e-3;
    const bool head = d != Direction::backward_filter;  // dw sums over the zeros beyond the head
    std::string bad;
    {
        const ConvKernelsSetting kernels(cbnn ? ConvKernels::cbnn : ConvKernels::cudnn);
        bad = compare(what, run_direction(d, q, q.dy_check), nhwc_reference(q, d), head, rel);
    }
    if (!bad.empty() || !cbnn) return bad;
    Tensor cudnn;
    {
        const ConvKernelsSetting kernels(ConvKernels::cudnn);
        cudnn = run_direction(d, q, q.dy).cpu().to(DType::f64);
    }
    const ConvKernelsSetting kernels(ConvKernels::cbnn);
    return compare(what, run_direction(d, q, q.dy), cudnn, false, 1e-2, "cuDNN's result");
}

void BM_ConvNhwc(benchmark::State& state, DType dtype) {
    if (skip_without_gpu(state)) return;
    const Tf32Setting mode(dtype == DType::f32);
    const auto d = static_cast<Direction>(state.range(6));
    const bool cbnn = state.range(7) != 0;
    const NhwcProblem q = make_nhwc_problem(state, dtype);
    Conv2dShape s = q.p.s;
    s.channels_last = true;
    if (cbnn && !conv2d_igemm_supports(s, dtype, allow_tf32()))
        return skip_with(state, "cbnn's kernels do not take this shape (conv2d_igemm_supports)");
    const std::string bad = check_nhwc(q, d, cbnn);
    if (!bad.empty()) return skip_with(state, bad);
    const ConvKernelsSetting kernels(cbnn ? ConvKernels::cbnn : ConvKernels::cudnn);
    time_cuda(state, [&] { benchmark::DoNotOptimize(run_direction(d, q, q.dy)); });
    state.counters["TFLOP/s"] = benchmark::Counter(
        forward_flops(s) * 1e-12 * double(state.iterations()), benchmark::Counter::kIsRate);
}

// The stems, cuDNN only (cbnn's kernels take 16-64 channels): the ResNet-32 and ResNet-50 stems
// with their 3 input channels, and with 4 and 8, as if the image were padded with zero channels.
// Channels-last tensor-core kernels work on vectors of channels; if cuDNN's 3-channel stem is much
// slower than its 4- or 8-channel one, padding the image (and the weight) is the fix. Forward and
// filter gradient only: nothing needs the image's gradient.
void stem_cases(benchmark::internal::Benchmark* b) {
    for (int64_t C : {3, 4, 8})
        for (const std::array<int64_t, 5>& s :
             {std::array<int64_t, 5>{16, 32, 3, 1, 1}, std::array<int64_t, 5>{64, 224, 7, 2, 3}})
            for (int64_t dir : {0, 2}) b->Args({C, s[0], s[1], s[2], s[3], s[4], dir, 0});
    b->ArgNames({"C", "K", "HW", "R", "stride", "pad", "dir", "cbnn"})
        ->UseManualTime()
        ->Unit(benchmark::kMicrosecond);
}

// Each shape and direction with cuDNN, then all of them again with cbnn's kernels: a CUDA fault
// in the new kernels (it poisons the process) then cannot cost the cuDNN baselines.
void igemm_cases(benchmark::internal::Benchmark* b) {
    for (int64_t cbnn = 0; cbnn < 2; ++cbnn)
        for (const auto& s : kIgemmShapes)
            for (int64_t dir = 0; dir < 3; ++dir)
                b->Args({s[0], s[1], s[2], s[3], s[4], s[5], dir, cbnn});
    b->ArgNames({"C", "K", "HW", "R", "stride", "pad", "dir", "cbnn"})
        ->UseManualTime()
        ->Unit(benchmark::kMicrosecond);
}

BENCHMARK_CAPTURE(BM_ConvNhwc, bf16_stem, DType::bf16)->Apply(stem_cases);
BENCHMARK_CAPTURE(BM_ConvNhwc, bf16, DType::bf16)->Apply(igemm_cases);
BENCHMARK_CAPTURE(BM_ConvNhwc, tf32, DType::f32)->Apply(igemm_cases);

}  // namespace
}  // namespace cbnn::bench

BENCHMARK_MAIN();
