// Conv2d on CUDA (cuDNN) against the CPU float64 reference: forward, backward-data,
// backward-filter and bias gradient on randomised shapes and the ResNet-32 / ResNet-50 shapes,
// FP32 math by default, the TF32 opt-in within its own tolerance, the algorithm cache, the fastest
// algorithm set and the records of the choices, autograd, and device errors. (The CPU reference
// itself is tested against the direct loops in test_conv2d.cpp.)
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "autograd/functions.h"
#include "gtest/gtest.h"
#include "layers/conv2d.h"
#include "layers/conv2d_algorithms.h"
#include "tensor/backend.h"
#include "tests/support/expect_error.h"
#include "tests/support/gpu.h"
#include "tests/support/random.h"
#include "tests/support/tolerance.h"

namespace cbnn {
namespace {

using testing::all_close;
using testing::random_tensor;

struct Case {
    int64_t N, C, H, W, K, R, S, stride, pad;
    std::string str() const {
        return "x [" + std::to_string(N) + ", " + std::to_string(C) + ", " + std::to_string(H) +
               ", " + std::to_string(W) + "] w [" + std::to_string(K) + ", " + std::to_string(C) +
               ", " + std::to_string(R) + ", " + std::to_string(S) + "] stride " +
               std::to_string(stride) + " pad " + std::to_string(pad);
    }
};

struct Results {
    Tensor y, dx, dw, db;
};

Results run(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& dy, const Case& c) {
    return {ops::conv2d_forward(x, w, b, c.stride, c.pad),
            ops::conv2d_backward_data(dy, w, x.shape(), c.stride, c.pad),
            ops::conv2d_backward_filter(x, dy, w.shape(), c.stride, c.pad),
            ops::conv2d_backward_bias(dy)};
}

// f32 inputs (the GPU gets exactly these values; the reference their f64 copies). The weight is
// scaled by 1/sqrt(C*R*S) so outputs are O(1) whatever the fan-in.
struct Problem {
    Tensor x, w, b, dy;
};

Problem make_problem(const Case& c, uint64_t seed) {
    const Conv2dShape s = conv2d_shape({c.N, c.C, c.H, c.W}, {c.K, c.C, c.R, c.S}, c.stride, c.pad);
    const double scale = 1.0 / std::sqrt(static_cast<double>(c.C * c.R * c.S));
    return {random_tensor({c.N, c.C, c.H, c.W}, -1, 1, seed, DType::f32),
            random_tensor({c.K, c.C, c.R, c.S}, -scale, scale, seed + 1, DType::f32),
            random_tensor({c.K}, -1, 1, seed + 2, DType::f32),
            random_tensor({s.N, s.K, s.P, s.Q}, -1, 1, seed + 3, DType::f32)};
}

Results reference(const Problem& p, const Case& c) {
    const auto f64 = [](const Tensor& t) { return t.to(DType::f64); };
    return run(f64(p.x), f64(p.w), f64(p.b), f64(p.dy), c);
}

Results on_gpu(const Problem& p, const Case& c) {
    const Results r = run(p.x.cuda(), p.w.cuda(), p.b.cuda(), p.dy.cuda(), c);
    EXPECT_TRUE(r.y.is_cuda() && r.dx.is_cuda() && r.dw.is_cuda() && r.db.is_cuda());
    return r;
}

// FP32 error bound for a sum of n products, whatever the order or algorithm cuDNN picks:
// |got - ref| <= n * u * sum|terms| (u = 2^-24, the f32 unit roundoff; the classic worst case of
// recursive summation), where sum|terms| is the same convolution of the absolute values in f64.
// A bound relative to |ref| does not hold: an output that cancels to near zero keeps the absolute
// error of its large terms. Measured on an H100 (2026-11-26), backward filter: 2.8e-5 on an output
// of 4.2e-3 (x [4, 32, 16, 16], sum|terms| 220.5: 2.1 u sum|terms|) and 3.7e-5 on -2.05e-2
// (x [4, 64, 8, 8], sum|terms| 48.9: 12.7 u sum|terms|), which a relative bound of 1.6e-4 failed
// and this one passes with room (n = 1024 and 256). A wrong index or a missed term is off by a
// whole term, ~sum|terms| / sqrt(n), far above it. The worst ratio error / (u sum|terms|) is
// printed, so each GPU run records it; in docs/measurements/h100-2026-11-26-run3-cuda_tests.txt
// (heuristic and timed algorithms) the largest was 19.7 (backward filter, n = 256) and the
// closest to its bound 0.65 u |term| for a single product (n = 1, bound u).
// `rounding`: a relative error allowed on top, for outputs stored in a narrower type (bf16).
::testing::AssertionResult within_sum_bound(const Tensor& got, const Tensor& ref,
                                            const Tensor& abs_terms, int64_t n,
                                            const std::string& what, double rounding = 0.0) {
    const std::vector<double> a = testing::host_values(got), e = testing::host_values(ref),
                              m = testing::host_values(abs_terms);
    if (a.size() != e.size()) return ::testing::AssertionFailure() << what << ": sizes differ";
    const double u = std::ldexp(1.0, -24);
    double worst_ratio = 0;
    size_t worst = 0;
    for (size_t i = 0; i < a.size(); ++i) {
        const double err = std::fabs(a[i] - e[i]);
        const double ratio = (err - rounding * std::fabs(e[i])) / (u * m[i] + 1e-300);
        if (!(err <= static_cast<double>(n) * u * m[i] + rounding * std::fabs(e[i]) + 1e-30))
            return ::testing::AssertionFailure()
                   << what << ": element " << i << " is " << a[i] << ", expected " << e[i]
                   << " (error " << err << " > " << n << " u * sum|terms| "
                   << static_cast<double>(n) * u * m[i] << " + " << rounding << " |expected|)";
        if (ratio > worst_ratio) worst_ratio = ratio, worst = i;
    }
    std::cout << what << ": worst error " << worst_ratio << " u * sum|terms| (element " << worst
              << ", bound " << n << ")\n";
    return ::testing::AssertionSuccess();
}

Results absolute_terms(const Problem& p, const Case& c) {
    const auto abs64 = [](const Tensor& t) { return abs(t.to(DType::f64)); };
    return run(abs64(p.x), abs64(p.w), abs64(p.b), abs64(p.dy), c);
}

// All four results within within_sum_bound. `ref` defaults to the f64 reference of the ops (the
// autograd test passes its own); `label` prefixes the messages; `rounding` as in
// within_sum_bound (bf16 outputs).
void expect_close(const Results& got, const Problem& p, const Case& c,
                  const Results* given_ref = nullptr, const std::string& label = "",
                  double rounding = 0.0) {
    const Conv2dShape s = conv2d_shape({c.N, c.C, c.H, c.W}, {c.K, c.C, c.R, c.S}, c.stride, c.pad);
    const Results ref = given_ref ? *given_ref : reference(p, c);
    const Results terms = absolute_terms(p, c);
    EXPECT_TRUE(within_sum_bound(got.y, ref.y, terms.y, c.C * c.R * c.S + 1,
                                 label + "forward " + c.str(), rounding));
    EXPECT_TRUE(within_sum_bound(got.dx, ref.dx, terms.dx, c.K * c.R * c.S,
                                 label + "backward data " + c.str(), rounding));
    EXPECT_TRUE(within_sum_bound(got.dw, ref.dw, terms.dw, s.N * s.P * s.Q,
                                 label + "backward filter " + c.str(), rounding));
    EXPECT_TRUE(within_sum_bound(got.db, ref.db, terms.db, s.N * s.P * s.Q,
                                 label + "bias gradient " + c.str(), rounding));
}

// A problem's values rounded to bf16 (the GPU and the reference both get exactly these), and the
// bf16 outputs' one rounding allowed on top of the FP32 bounds.
Problem bf16_problem(const Case& c, uint64_t seed) {
    const Problem f32 = make_problem(c, seed);
    const auto bf16 = [](const Tensor& t) { return t.to(DType::bf16); };
    return {bf16(f32.x), bf16(f32.w), bf16(f32.b), bf16(f32.dy)};
}
const double kBf16Rounding = std::ldexp(1.0, -8);

// The ResNet-32 convolutions (CIFAR, 32x32 input), a 1x1 projection, and the ResNet-50 stem.
const Case kResNetCases[] = {
    {4, 3, 32, 32, 16, 3, 3, 1, 1},    // ResNet-32 stem
    {4, 16, 32, 32, 16, 3, 3, 1, 1},   // stage 1
    {4, 16, 32, 32, 32, 3, 3, 2, 1},   // stage 2, first block
    {4, 32, 16, 16, 32, 3, 3, 1, 1},   // stage 2
    {4, 64, 8, 8, 64, 3, 3, 1, 1},     // stage 3
    {2, 64, 28, 28, 128, 1, 1, 2, 0},  // ResNet-50 projection shortcut
    {2, 3, 224, 224, 64, 7, 7, 2, 3},  // ResNet-50 stem, small batch
};

TEST(Conv2dCuda, ResNetShapesMatchCpuFloat64) {
    CBNN_REQUIRE_GPU();
    const Tf32Setting fp32(false);
    uint64_t seed = 1000;
    for (const Case& c : kResNetCases) {
        const Problem p = make_problem(c, seed += 10);
        expect_close(on_gpu(p, c), p, c);
    }
}

TEST(Conv2dCuda, RandomisedShapesMatchCpuFloat64) {
    CBNN_REQUIRE_GPU();
    const Tf32Setting fp32(false);
    std::mt19937_64 rng(2019);
    auto pick = [&](int64_t lo, int64_t hi) {
        return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
    };
    for (int i = 0; i < 12; ++i) {
        Case c{};
        c.N = pick(1, 4);
        c.C = pick(1, 9);
        c.K = pick(1, 9);
        c.R = std::vector<int64_t>{1, 2, 3, 5}[static_cast<size_t>(pick(0, 3))];
        c.S = pick(0, 1) ? c.R : std::vector<int64_t>{1, 3}[static_cast<size_t>(pick(0, 1))];
        c.stride = pick(1, 3);
        c.pad = pick(0, 2);
        c.H = pick(std::max<int64_t>(1, c.R - 2 * c.pad), 17);
        c.W = pick(std::max<int64_t>(1, c.S - 2 * c.pad), 17);
        const Problem p = make_problem(c, 2000 + 10 * static_cast<uint64_t>(i));
        expect_close(on_gpu(p, c), p, c);
    }
}

// TF32 rounds both operands to 10 mantissa bits (unit roundoff 2^-11 ~ 4.9e-4), so each product
// carries ~1e-3 relative error, and an output that cancels to near zero is not relatively close.
// The bound is therefore on the largest error relative to the largest reference value:
// max|got - ref| <= 5e-3 max|ref|, about 5x the worst case expected from sqrt(n) growth.
::testing::AssertionResult tf32_close(const Tensor& got, const Tensor& ref) {
    const std::vector<double> a = got.cpu().to(DType::f64).to_vector<double>();
    const std::vector<double> e = ref.to_vector<double>();
    double err = 0, scale = 0;
    for (size_t i = 0; i < a.size(); ++i) {
        err = std::max(err, std::fabs(a[i] - e[i]));
        scale = std::max(scale, std::fabs(e[i]));
    }
    if (err <= 5e-3 * scale) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "max error " << err << " > 5e-3 * max|ref| " << scale;
}

// The ResNet cases on the GPU under the current settings (TF32 on), all four results tf32_close;
// `label` prefixes the messages.
void expect_resnet_cases_tf32_close(uint64_t seed, const std::string& label) {
    for (const Case& c : kResNetCases) {
        const Problem p = make_problem(c, seed += 10);
        const Results got = on_gpu(p, c), ref = reference(p, c);
        EXPECT_TRUE(tf32_close(got.y, ref.y)) << label << "forward, " << c.str();
        EXPECT_TRUE(tf32_close(got.dx, ref.dx)) << label << "backward data, " << c.str();
        EXPECT_TRUE(tf32_close(got.dw, ref.dw)) << label << "backward filter, " << c.str();
        EXPECT_TRUE(tf32_close(got.db, ref.db)) << label << "bias gradient, " << c.str();
    }
}

TEST(Conv2dCuda, Tf32OptInWithinItsTolerance) {
    CBNN_REQUIRE_GPU();
    const Tf32Setting tf32(true);
    expect_resnet_cases_tf32_close(3000, "");
}

TEST(Conv2dCuda, AlgorithmChoiceIsCachedPerShapeAndMathMode) {
    CBNN_REQUIRE_GPU();
    // A shape no other test uses, so the first call selects.
    const Case c{3, 5, 11, 13, 7, 3, 3, 1, 1};
    const Problem p = make_problem(c, 4000);
    const Tensor x = p.x.cuda(), w = p.w.cuda(), b = p.b.cuda(), dy = p.dy.cuda();
    const Tf32Setting fp32(false);
    const int64_t before = cuda::conv2d_algorithm_selections();
    run(x, w, b, dy, c);
    EXPECT_EQ(cuda::conv2d_algorithm_selections(), before + 3);  // forward, data, filter
    run(x, w, b, dy, c);
    run(x, w, Tensor(), dy, c);
    EXPECT_EQ(cuda::conv2d_algorithm_selections(), before + 3);
    {
        const Tf32Setting tf32(true);
        run(x, w, b, dy, c);
        EXPECT_EQ(cuda::conv2d_algorithm_selections(), before + 6);
        run(x, w, b, dy, c);
        EXPECT_EQ(cuda::conv2d_algorithm_selections(), before + 6);
    }
    run(x, w, b, dy, c);  // FP32 again: still cached
    EXPECT_EQ(cuda::conv2d_algorithm_selections(), before + 6);
}

// The timed search (cudnnFind*) picks among other candidates; its results obey the same bound,
// its choice is cached per shape, and it is cached apart from the heuristic choice.
TEST(Conv2dCuda, TimedAlgorithmSearchMatchesCpuAndIsCached) {
    CBNN_REQUIRE_GPU();
    const Tf32Setting fp32(false);
    const ConvAlgorithmSearchSetting timed(ConvAlgorithmSearch::timed);
    uint64_t seed = 6000;
    for (const Case& c : kResNetCases) {
        const Problem p = make_problem(c, seed += 10);
        expect_close(on_gpu(p, c), p, c);
    }
    const Case c{3, 6, 11, 13, 5, 3, 3, 1, 1};  // a shape no other test uses
    const Problem p = make_problem(c, 6500);
    const Tensor x = p.x.cuda(), w = p.w.cuda(), b = p.b.cuda(), dy = p.dy.cuda();
    const int64_t before = cuda::conv2d_algorithm_selections();
    run(x, w, b, dy, c);
    EXPECT_EQ(cuda::conv2d_algorithm_selections(), before + 3);
    run(x, w, b, dy, c);
    EXPECT_EQ(cuda::conv2d_algorithm_selections(), before + 3);
    {
        const ConvAlgorithmSearchSetting heuristic(ConvAlgorithmSearch::heuristic);
        run(x, w, b, dy, c);
        EXPECT_EQ(cuda::conv2d_algorithm_selections(), before + 6);
    }
}

// bf16 data (mixed precision): x, w, b, dy are bf16 (the reference gets the same values in f64),
// cuDNN multiplies on tensor cores (bf16 products are exact in FP32) and accumulates in FP32,
// then rounds each output once to bf16. Bound per element: the FP32 summation bound above plus
// one bf16 rounding of the result, 2^-8 |ref| (twice the half-ulp 2^-9, for an output within
// rounding of a bf16 boundary after the FP32 sum moved it across).
TEST(Conv2dCuda, Bf16MatchesCpuFloat64) {
    CBNN_REQUIRE_GPU();
    uint64_t seed = 7000;
    for (const Case& c : kResNetCases) {
        const Problem p = bf16_problem(c, seed += 10);
        const Results got = run(p.x.cuda(), p.w.cuda(), p.b.cuda(), p.dy.cuda(), c);
        EXPECT_EQ(got.y.dtype(), DType::bf16);
        EXPECT_EQ(got.dw.dtype(), DType::bf16);
        expect_close(got, p, c, nullptr, "bf16 ", kBf16Rounding);
    }
}

// Channels-last (NHWC data, KRSC filters in cuDNN): the same bounds as NCHW, y and dx come out
// channels-last, and so does dw (KRSC).
Results on_gpu_channels_last(const Problem& p, const Case& c) {
    const auto nhwc = [](const Tensor& t) {
        return t.cuda().contiguous(MemoryFormat::channels_last);
    };
    const Results r = run(nhwc(p.x), p.w.cuda(), p.b.cuda(), nhwc(p.dy), c);
    if (c.C > 1 && c.H * c.W > 1) EXPECT_EQ(r.dx.memory_format(), MemoryFormat::channels_last);
    if (c.K > 1) EXPECT_EQ(r.y.memory_format(), MemoryFormat::channels_last);
    if (c.C > 1 && c.R * c.S > 1) EXPECT_EQ(r.dw.memory_format(), MemoryFormat::channels_last);
    return r;
}

TEST(Conv2dCuda, ChannelsLastMatchesCpuFloat64) {
    CBNN_REQUIRE_GPU();
    const Tf32Setting fp32(false);
    uint64_t seed = 8000;
    for (const Case& c : kResNetCases) {
        const Problem p = make_problem(c, seed += 10);
        expect_close(on_gpu_channels_last(p, c), p, c);
    }
}

TEST(Conv2dCuda, ChannelsLastBf16MatchesCpuFloat64) {
    CBNN_REQUIRE_GPU();
    uint64_t seed = 9000;
    for (const Case& c : kResNetCases) {
        const Problem p = bf16_problem(c, seed += 10);
        expect_close(on_gpu_channels_last(p, c), p, c, nullptr, "NHWC bf16 ", kBf16Rounding);
    }
}

// The fastest algorithm set (nondeterministic algorithms allowed, layers/conv2d_algorithms.h):
// results within the same bounds as the deterministic ones (FP32: heuristic NCHW and NHWC, timed
// NCHW; TF32), and plans cached apart from the deterministic set's.
TEST(Conv2dCuda, FastestAlgorithmsMatchCpuAndAreCachedApart) {
    CBNN_REQUIRE_GPU();
    const ConvAlgorithmsSetting fastest(ConvAlgorithms::fastest);
    {
        const Tf32Setting fp32(false);
        uint64_t seed = 10000;
        for (const Case& c : kResNetCases) {
            const Problem p = make_problem(c, seed += 10);
            expect_close(on_gpu(p, c), p, c, nullptr, "fastest ");
            expect_close(on_gpu_channels_last(p, c), p, c, nullptr, "fastest NHWC ");
            const ConvAlgorithmSearchSetting timed(ConvAlgorithmSearch::timed);
            expect_close(on_gpu(p, c), p, c, nullptr, "fastest timed ");
        }
    }
    {
        const Tf32Setting tf32(true);
        expect_resnet_cases_tf32_close(10500, "fastest TF32 ");
    }
    const Tf32Setting fp32(false);
    const Case c{3, 7, 11, 13, 5, 3, 3, 1, 1};  // a shape no other test uses
    const Problem p = make_problem(c, 10900);
    const Tensor x = p.x.cuda(), w = p.w.cuda(), b = p.b.cuda(), dy = p.dy.cuda();
    const int64_t before = cuda::conv2d_algorithm_selections();
    run(x, w, b, dy, c);
    EXPECT_EQ(cuda::conv2d_algorithm_selections(), before + 3);
    {
        const ConvAlgorithmsSetting deterministic(ConvAlgorithms::deterministic);
        run(x, w, b, dy, c);
        EXPECT_EQ(cuda::conv2d_algorithm_selections(), before + 6);
    }
    run(x, w, b, dy, c);  // fastest again: cached
    EXPECT_EQ(cuda::conv2d_algorithm_selections(), before + 6);
}

// The record of a plan (cuda::conv2d_algorithm_records): the settings it was made under, a pick
// per direction that ran within the workspace limit and named by conv_algorithm_name; the default
// set's picks are deterministic; the timed search's carry its times, and the fastest measured
// candidate is no slower than the pick.
TEST(Conv2dCuda, AlgorithmRecordsListEachPlansChoices) {
    CBNN_REQUIRE_GPU();
    const Tf32Setting fp32(false);
    const Case c{2, 5, 9, 11, 6, 3, 3, 2, 1};  // a shape no other test uses
    const Problem p = make_problem(c, 11000);
    const Conv2dShape s = conv2d_shape({c.N, c.C, c.H, c.W}, {c.K, c.C, c.R, c.S}, c.stride, c.pad);
    const auto find = [&](ConvAlgorithmSearch search) {
        for (const ConvAlgorithmRecord& r : cuda::conv2d_algorithm_records())
            if (r.shape.N == s.N && r.shape.C == s.C && r.shape.H == s.H && r.shape.W == s.W &&
                r.shape.K == s.K && r.shape.stride == s.stride && !r.shape.channels_last &&
                r.dtype == DType::f32 && !r.tensor_core && r.search == search &&
                r.algorithms == ConvAlgorithms::deterministic)
                return std::optional<ConvAlgorithmRecord>(r);
        return std::optional<ConvAlgorithmRecord>();
    };
    EXPECT_FALSE(find(ConvAlgorithmSearch::heuristic).has_value());
    on_gpu(p, c);
    const std::optional<ConvAlgorithmRecord> heuristic = find(ConvAlgorithmSearch::heuristic);
    ASSERT_TRUE(heuristic.has_value());
    for (int d = 0; d < 3; ++d) {
        const ConvDirection direction = static_cast<ConvDirection>(d);
        ASSERT_TRUE(heuristic->pick[d].has_value()) << conv_direction_name(direction);
        const ConvPick& pick = *heuristic->pick[d];
        EXPECT_TRUE(pick.deterministic) << conv_direction_name(direction);
        EXPECT_EQ(pick.math, ConvMath::fma) << conv_direction_name(direction);
        EXPECT_LE(pick.workspace_bytes, size_t{1} << 30);
        EXPECT_LT(pick.time_ms, 0.f);  // heuristics measure nothing
        EXPECT_FALSE(heuristic->fastest_listed[d].has_value());
        EXPECT_GT(heuristic->listed[d], 0);
        EXPECT_EQ(conv_algorithm_name(direction, pick.algo).find('?'), std::string::npos);
    }
    const ConvAlgorithmSearchSetting timed(ConvAlgorithmSearch::timed);
    on_gpu(p, c);
    const std::optional<ConvAlgorithmRecord> measured = find(ConvAlgorithmSearch::timed);
    ASSERT_TRUE(measured.has_value());
    for (int d = 0; d < 3; ++d) {
        ASSERT_TRUE(measured->pick[d].has_value());
        ASSERT_TRUE(measured->fastest_listed[d].has_value());
        EXPECT_GE(measured->pick[d]->time_ms, 0.f);
        EXPECT_LE(measured->fastest_listed[d]->time_ms, measured->pick[d]->time_ms);
    }
    std::cout << format_conv_algorithm_table({*heuristic, *measured});
}

TEST(Conv2dCuda, AutogradMatchesCpu) {
    CBNN_REQUIRE_GPU();
    const Tf32Setting fp32(false);
    const Case c{2, 4, 9, 9, 6, 3, 3, 2, 1};
    const Problem p = make_problem(c, 5000);
    const auto grads = [&](Device device, DType dtype) {
        Tensor x = p.x.to(dtype).to(device).detach().set_requires_grad();
        Tensor w = p.w.to(dtype).to(device).detach().set_requires_grad();
        Tensor b = p.b.to(dtype).to(device).detach().set_requires_grad();
        const Tensor y = conv2d(x, w, b, c.stride, c.pad);
        sum(y * p.dy.to(dtype).to(device)).backward();
        return Results{y, x.grad(), w.grad(), b.grad()};
    };
    const Results got = grads(Device::cuda(), DType::f32);
    EXPECT_TRUE(got.dw.is_cuda());
    const Results ref = grads(Device::cpu(), DType::f64);
    expect_close(got, p, c, &ref);
}

TEST(Conv2dCuda, ModuleMovesToTheGpu) {
    CBNN_REQUIRE_GPU();
    const Tf32Setting fp32(false);
    Generator gen(11);
    Conv2d conv(3, 8, 3, 1, 1, true, gen);
    const Tensor x = random_tensor({2, 3, 10, 10}, -1, 1, 6000, DType::f32);
    const Tensor on_cpu = conv(x).detach();
    conv.to(Device::cuda());
    EXPECT_TRUE(conv.weight().is_cuda());
    EXPECT_TRUE(all_close(conv(x.cuda()), on_cpu, testing::f32_sum_tolerance(27)));
}

// Conv2d on a channels-last input: the module hands cuDNN a KRSC weight (in bf16 for a bf16
// input) made by one differentiable copy, and the filter gradient comes back through that copy
// into the f32 KCRS parameter: contiguous, f32, and the NCHW module's gradient within the bounds
// of the arithmetic (FP32: a sum of N P Q = 200 products; bf16: operands rounded once, ~0.4 %
// per product, so 1 % on the norm as in test_conv2d_bf16.cpp).
TEST(Conv2dCuda, ModuleOnAChannelsLastInputFillsTheParametersLayout) {
    CBNN_REQUIRE_GPU();
    const Tf32Setting fp32(false);
    Generator gen(12);
    Conv2d conv(8, 16, 3, 1, 1, true, gen);
    conv.to(Device::cuda());
    const Tensor x = random_tensor({2, 8, 10, 10}, -1, 1, 6100, DType::f32).cuda();
    const Tensor upstream = random_tensor({2, 16, 10, 10}, -1, 1, 6101, DType::f32).cuda();
    const auto weight_grad = [&](const Tensor& input) {
        conv.weight().set_grad(Tensor());
        conv.bias().set_grad(Tensor());
        sum(conv(input).to(DType::f32) * upstream).backward();
        return conv.weight().grad();
    };
    const Tensor nchw = weight_grad(x);
    for (DType dtype : {DType::f32, DType::bf16}) {
        SCOPED_TRACE(::testing::Message() << dtype);
        const Tensor got = weight_grad(x.to(dtype, MemoryFormat::channels_last));
        ASSERT_TRUE(got.defined());
        EXPECT_EQ(got.dtype(), DType::f32);
        EXPECT_TRUE(got.is_contiguous());
        if (dtype == DType::f32) {
            EXPECT_TRUE(all_close(got, nchw, testing::f32_sum_tolerance(200)));
        } else {
            EXPECT_LE(testing::norm_relative_error(got, nchw), 1e-2);
        }
    }
}

TEST(Conv2dCuda, OperandsOnDifferentDevicesAreAnError) {
    CBNN_REQUIRE_GPU();
    const Tensor x = Tensor::zeros({1, 3, 8, 8}, DType::f32, Device::cuda());
    const Tensor w = Tensor::zeros({4, 3, 3, 3});
    EXPECT_TRUE(testing::throws_error([&] { conv2d(x, w); }, {"different devices", "cuda"}));
    EXPECT_TRUE(testing::throws_error([&] { conv2d(x, w.cuda(), Tensor::zeros({4})); },
                                      {"different devices", "bias"}));
}

}  // namespace
}  // namespace cbnn
