// Fused CUDA class-balanced losses against the CPU float64 reference: random shapes (C not a
// multiple of 32 or 4, N = 1, every kernel variant), extreme logits, misaligned rows, bitwise
// repeatability, the forward-only path, out-of-range labels (NaN, no sync) and the autograd node.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <iostream>
#include <vector>

#include "autograd/functions.h"
#include "autograd/grad_mode.h"
#include "gtest/gtest.h"
#include "losses/cb_loss.h"
#include "tests/losses/cb_loss_test_inputs.h"
#include "tests/support/gpu.h"
#include "tests/support/tolerance.h"

namespace cbnn {
namespace {

using testing::kCudaVsCpu;

constexpr LossType kTypes[] = {LossType::softmax, LossType::sigmoid, LossType::focal};

struct Shape2 {
    int64_t N, C;
};

// Covers warp teams with K = 1, 2, 4, 8 (C <= 1024), block teams with K = 2..16, the streamed
// softmax (C > 16384), rows of every alignment (C % 4 = 1, 2, 3) and N = 1.
constexpr Shape2 kShapes[] = {{1, 1},     {1, 7},     {3, 33},     {128, 10}, {128, 100},
                              {9, 250},   {6, 513},   {257, 1000}, {5, 1025}, {7, 3001},
                              {64, 8142}, {3, 16384}, {2, 16390},  {3, 20001}};

// The f64 reference sees the same f32-rounded inputs as the kernel.
struct Inputs {
    testing::LossProblem cpu;        // f64 on the CPU
    Tensor logits, labels, weights;  // f32 / i64 on the GPU
};

Inputs make_inputs(int64_t N, int64_t C, uint64_t seed, double lo = -6.0, double hi = 6.0) {
    Inputs in;
    in.cpu = testing::random_problem(N, C, seed, lo, hi);
    const Tensor logits = testing::host_as(in.cpu.logits, DType::f32);
    const Tensor weights = testing::host_as(in.cpu.weights, DType::f32);
    in.cpu.logits = testing::host_f64(logits);
    in.cpu.weights = testing::host_f64(weights);
    in.logits = logits.cuda();
    in.labels = in.cpu.labels.cuda();
    in.weights = weights.cuda();
    return in;
}

// The loss is two nested f32 sums (C terms per row, then N rows).
testing::Tolerance loss_tolerance(int64_t N, int64_t C) {
    return testing::f32_sum_tolerance(N + C);
}

void expect_matches_reference(const Inputs& in, LossType type, double gamma) {
    const int64_t N = in.logits.size(0), C = in.logits.size(1);
    const ops::LossResult ref =
        ops::class_balanced_loss(in.cpu.logits, in.cpu.labels, in.cpu.weights, type, gamma);
    const ops::LossResult gpu =
        ops::class_balanced_loss(in.logits, in.labels, in.weights, type, gamma);
    ASSERT_TRUE(gpu.loss.is_cuda() && gpu.dlogits.is_cuda());
    EXPECT_TRUE(testing::all_close(gpu.loss, ref.loss, loss_tolerance(N, C)))
        << loss_type_name(type) << " gamma " << gamma << " (" << N << ", " << C << ")";
    EXPECT_TRUE(testing::all_close(gpu.dlogits, ref.dlogits, kCudaVsCpu))
        << loss_type_name(type) << " gamma " << gamma << " (" << N << ", " << C << ")";
}

TEST(CbLossesCuda, MatchFloat64ReferenceOnRandomShapes) {
    CBNN_REQUIRE_GPU();
    const double gammas[] = {0.0, 0.3, 1.0, 2.0, 3.7};
    uint64_t seed = 1000;
    for (const Shape2& s : kShapes) {
        const Inputs in = make_inputs(s.N, s.C, ++seed);
        for (LossType type : kTypes) {
            const double gamma = type == LossType::focal ? gammas[seed % 5] : 0.0;
            expect_matches_reference(in, type, gamma);
        }
    }
}

TEST(CbLossesCuda, SigmoidAndFocalGradientsAreFloatAccurate) {
    CBNN_REQUIRE_GPU();
    // Every sigmoid/focal gradient element is a product of terms without cancellation, so it must
    // keep float's relative precision (a few ulp per elementary function of FastDeviceMath), not
    // just pass the absolute tolerance. Bound: the modulator exp(-gamma softplus(z_t)) inherits
    // |gamma softplus(z_t)| (<= 16 here) ulp of relative error from rounding its argument, plus a
    // few ulp per function. Measured on an H100: sigmoid 2.8e-7, focal 5.0e-7 (gamma 0.5) and
    // 8.1e-7 (gamma 2); the bound leaves 2.5x. Elements below 1e-30 are skipped (float flushes
    // e^-|z| to 0 for |z| > 87.3; none occur for |z| <= 8 anyway).
    const Inputs in = make_inputs(64, 1000, 77, -8.0, 8.0);
    for (const LossType type : {LossType::sigmoid, LossType::focal}) {
        for (const double gamma : {0.5, 2.0}) {
            const std::vector<double> ref =
                ops::class_balanced_loss(in.cpu.logits, in.cpu.labels, in.cpu.weights, type, gamma)
                    .dlogits.to_vector<double>();
            const std::vector<float> gpu =
                ops::class_balanced_loss(in.logits, in.labels, in.weights, type, gamma)
                    .dlogits.to_vector<float>();
            double worst = 0.0;
            for (size_t k = 0; k < ref.size(); ++k)
                if (std::fabs(ref[k]) > 1e-30)
                    worst = std::max(worst, std::fabs(gpu[k] - ref[k]) / std::fabs(ref[k]));
            std::cout << loss_type_name(type) << " gamma " << gamma
                      << ": max relative error of dlogits " << worst << "\n";
            EXPECT_LE(worst, 2e-6) << loss_type_name(type) << " gamma " << gamma;
        }
    }
}

TEST(CbLossesCuda, ManyRowsUseTheGridStrideLoop) {
    CBNN_REQUIRE_GPU();
    // 2^23 + 3 rows of a warp-team kernel need more than the grid's 2^20 blocks of 8 teams.
    const Inputs in = make_inputs((int64_t{1} << 23) + 3, 2, 7);
    expect_matches_reference(in, LossType::focal, 0.5);
}

TEST(CbLossesCuda, ExtremeLogitsStayFinite) {
    CBNN_REQUIRE_GPU();
    // Logits of +-1e4 and the float32 underflow band [-100, -88] (and its mirror), gamma < 1.
    std::vector<double> z;
    const int64_t N = 6, C = 37;
    for (int64_t k = 0; k < N * C; ++k) {
        const int64_t r = k % 5;
        z.push_back(r == 0 ? 1e4 : r == 1 ? -1e4 : (r == 2 ? -1.0 : 1.0) * (88.0 + (k % 25) * 0.5));
    }
    Inputs in = make_inputs(N, C, 17);
    in.cpu.logits = Tensor::from_vector<double>(z, {N, C});
    in.logits = in.cpu.logits.to(DType::f32).cuda();
    for (LossType type : kTypes) {
        for (double gamma : {0.0, 0.3, 2.0}) {
            if (type != LossType::focal && gamma != 0.0) continue;
            const ops::LossResult gpu =
                ops::class_balanced_loss(in.logits, in.labels, in.weights, type, gamma);
            for (float v : gpu.dlogits.to_vector<float>()) ASSERT_TRUE(std::isfinite(v));
            ASSERT_TRUE(std::isfinite(gpu.loss.item<float>()));
            expect_matches_reference(in, type, gamma);
        }
    }
}

TEST(CbLossesCuda, MisalignedRowsUseTheScalarStorePath) {
    CBNN_REQUIRE_GPU();
    // Dropping the first row of an odd-width tensor shifts the logits by C floats, so they no
    // longer share the freshly allocated dlogits' 16-byte alignment.
    for (const Shape2& s : {Shape2{5, 7}, Shape2{5, 1030}, Shape2{4, 20002}}) {
        const Inputs full = make_inputs(s.N, s.C, 23);
        Inputs in;
        in.cpu.logits = full.cpu.logits.narrow(0, 1, s.N - 1).contiguous();
        in.cpu.labels = full.cpu.labels.narrow(0, 1, s.N - 1).contiguous();
        in.cpu.weights = full.cpu.weights;
        in.logits = full.logits.narrow(0, 1, s.N - 1);
        in.labels = full.labels.narrow(0, 1, s.N - 1);
        in.weights = full.weights;
        ASSERT_TRUE(in.logits.is_contiguous());
        for (LossType type : kTypes) expect_matches_reference(in, type, 1.5);
    }
}

std::vector<uint32_t> bits(const Tensor& t) {
    const std::vector<float> v = t.to_vector<float>();
    std::vector<uint32_t> b(v.size());
    std::memcpy(b.data(), v.data(), v.size() * sizeof(float));
    return b;
}

TEST(CbLossesCuda, BitwiseRepeatableAndForwardOnlyAgrees) {
    CBNN_REQUIRE_GPU();
    for (const Shape2& s : {Shape2{257, 1000}, Shape2{64, 8142}, Shape2{4096, 10}}) {
        const Inputs in = make_inputs(s.N, s.C, 31);
        for (LossType type : kTypes) {
            const ops::LossResult a =
                ops::class_balanced_loss(in.logits, in.labels, in.weights, type, 0.5);
            const ops::LossResult b =
                ops::class_balanced_loss(in.logits, in.labels, in.weights, type, 0.5);
            const ops::LossResult f =
                ops::class_balanced_loss(in.logits, in.labels, in.weights, type, 0.5, false);
            EXPECT_EQ(bits(a.loss), bits(b.loss)) << loss_type_name(type) << " " << s.C;
            EXPECT_EQ(bits(a.dlogits), bits(b.dlogits)) << loss_type_name(type) << " " << s.C;
            EXPECT_FALSE(f.dlogits.defined());
            EXPECT_EQ(bits(a.loss), bits(f.loss)) << loss_type_name(type) << " " << s.C;
        }
    }
}

TEST(CbLossesCuda, OutOfRangeLabelGivesNanLossAndZeroRow) {
    CBNN_REQUIRE_GPU();
    for (const Shape2& s : {Shape2{8, 10}, Shape2{4, 2000}, Shape2{3, 20001}}) {
        const Inputs in = make_inputs(s.N, s.C, 41);
        for (const int64_t bad : {s.C, int64_t{-1}}) {
            std::vector<int64_t> y = in.cpu.labels.to_vector<int64_t>();
            y[1] = bad;
            const Tensor labels = Tensor::from_vector<int64_t>(y, {s.N}).cuda();
            for (LossType type : kTypes) {
                const ops::LossResult good =
                    ops::class_balanced_loss(in.logits, in.labels, in.weights, type, 2.0);
                const ops::LossResult out =
                    ops::class_balanced_loss(in.logits, labels, in.weights, type, 2.0);
                EXPECT_TRUE(std::isnan(out.loss.item<float>())) << loss_type_name(type);
                const std::vector<float> d = out.dlogits.to_vector<float>();
                const std::vector<float> g = good.dlogits.to_vector<float>();
                for (int64_t i = 0; i < s.N; ++i) {
                    for (int64_t j = 0; j < s.C; ++j) {
                        const size_t k = static_cast<size_t>(i * s.C + j);
                        ASSERT_EQ(d[k], i == 1 ? 0.f : g[k])
                            << loss_type_name(type) << " row " << i;
                    }
                }
                // The launch after a bad one starts from a clean state.
                expect_matches_reference(in, type, 2.0);
            }
        }
    }
}

TEST(CbLossesCuda, AutogradNodeBackwardOnDevice) {
    CBNN_REQUIRE_GPU();
    const Inputs in = make_inputs(33, 130, 51);
    for (LossType type : kTypes) {
        const ops::LossResult ref =
            ops::class_balanced_loss(in.cpu.logits, in.cpu.labels, in.cpu.weights, type, 1.0);
        const Tensor z = in.logits.clone().set_requires_grad();
        const Tensor loss = class_balanced_loss(z, in.labels, in.weights, type, 1.0);
        ASSERT_TRUE(loss.is_cuda() && loss.requires_grad());
        EXPECT_EQ(loss.dim(), 0);
        (loss * 2.0).backward();
        ASSERT_TRUE(z.grad().is_cuda());
        EXPECT_TRUE(testing::all_close(z.grad(), ref.dlogits * 2.0, kCudaVsCpu))
            << loss_type_name(type);
        NoGradGuard guard;
        EXPECT_FALSE(class_balanced_loss(z, in.labels, in.weights, type, 1.0).requires_grad());
    }
}

TEST(CbLossesCuda, MixedDevicesAreAClearError) {
    CBNN_REQUIRE_GPU();
    const Inputs in = make_inputs(4, 5, 61);
    EXPECT_THROW(class_balanced_loss(in.logits, in.cpu.labels, in.weights, LossType::softmax),
                 Error);
    EXPECT_THROW(
        class_balanced_loss(in.logits, in.labels, in.cpu.weights.to(DType::f32), LossType::softmax),
        Error);
}

}  // namespace
}  // namespace cbnn
