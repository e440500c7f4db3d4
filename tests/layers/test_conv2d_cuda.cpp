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
#include "tests/support/conv2d_checks.h"
#include "tests/support/expect_error.h"
#include "tests/support/gpu.h"
#include "tests/support/random.h"
#include "tests/support/tolerance.h"

namespace cbnn {
namespace {

using namespace testing;  // the checks of tests/support/conv2d_checks.h, all_close, random_tensor

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

// The ResNet cases on the GPU under the current settings (TF32 on), all four results tf32_close;
// `label` prefixes the messages.
void expect_resnet_cases_tf32_close(uint64_t seed, const std::string& label) {
    for (const Case& c : kResNetCases) {
        const Problem p = make_problem(c, seed += 10);
        expect_tf32_close(on_gpu(p, c), reference(p, c), c, label);
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
