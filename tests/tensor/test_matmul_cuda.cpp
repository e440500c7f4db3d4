// matmul on CUDA (cuBLAS) against the CPU float64 reference: FP32 math on random and odd shapes
// with transposed operands, the TF32 opt-in and its way back, backward, and errors.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "autograd/functions.h"
#include "gtest/gtest.h"
#include "tensor/backend.h"
#include "tensor/matmul.h"
#include "tests/support/gpu.h"
#include "tests/support/random.h"
#include "tests/support/tolerance.h"

namespace cbnn {
namespace {

using testing::all_close;
using testing::random_tensor;

struct GemmShape {
    int64_t M, K, N;
};

// (rows, cols) f32 operand on the GPU, either row-major or a transposed view of a (cols, rows)
// tensor; the CPU f64 copy holds exactly the same values.
struct Operand {
    Tensor gpu, cpu64;
};

Operand make_operand(int64_t rows, int64_t cols, bool transposed, uint64_t seed) {
    const Tensor host = transposed ? random_tensor({cols, rows}, -1, 1, seed, DType::f32).t()
                                   : random_tensor({rows, cols}, -1, 1, seed, DType::f32);
    const Tensor gpu = transposed ? host.t().cuda().t() : host.cuda();
    return {gpu, host.to(DType::f64)};
}

TEST(MatmulCuda, Fp32MatchesCpuFloat64OnRandomShapesAndLayouts) {
    CBNN_REQUIRE_GPU();
    const Tf32Setting fp32(false);
    const GemmShape shapes[] = {{1, 1, 1},    {37, 53, 29},  {1, 128, 1},
                                {64, 96, 80}, {130, 7, 257}, {3, 1000, 5}};
    uint64_t seed = 100;
    for (const GemmShape& s : shapes) {
        for (int layout = 0; layout < 4; ++layout) {
            const bool ta = layout & 1, tb = layout & 2;
            const Operand a = make_operand(s.M, s.K, ta, seed++);
            const Operand b = make_operand(s.K, s.N, tb, seed++);
            if (ta && s.M > 1 && s.K > 1) ASSERT_FALSE(a.gpu.is_contiguous());
            const Tensor y = matmul(a.gpu, b.gpu);
            ASSERT_TRUE(y.is_cuda());
            EXPECT_TRUE(all_close(y, matmul(a.cpu64, b.cpu64), testing::f32_sum_tolerance(s.K)))
                << "M " << s.M << " K " << s.K << " N " << s.N << " trans_a " << ta << " trans_b "
                << tb;
        }
    }
}

// TF32 keeps 10 explicit mantissa bits: each operand is rounded (or truncated) to relative
// precision <= 2^-10, so each product A[i,k] B[k,j] is off by <= ~2^-9 of its magnitude, and the
// FP32 accumulation adds ~K 2^-24 more. The bound is therefore elementwise
//   |Y_tf32 - Y| <= 2^-9 (|A| |B|)[i, j] + f32 tolerance,
// i.e. a relative error ~1e-3 of the magnitude of the terms (not of a possibly cancelling sum).
// MEASURED on an H100 (cuBLAS 13.1): worst error / (|A| |B|)[i, j] = 6.8e-5 for this shape, the
// rounding errors of the 512 terms partly cancelling; the bound is the worst case, not a fit.
TEST(MatmulCuda, Tf32OptInIsLooserAndSwitchingItOffRestoresFp32) {
    CBNN_REQUIRE_GPU();
    const int64_t M = 256, K = 512, N = 192;
    const Operand a = make_operand(M, K, false, 7), b = make_operand(K, N, true, 8);
    const Tensor reference = matmul(a.cpu64, b.cpu64);
    const std::vector<double> magnitude =
        matmul(abs(a.cpu64), abs(b.cpu64)).to_vector<double>();  // (|A| |B|)[i, j]

    Tensor fp32_first;
    {
        const Tf32Setting fp32(false);
        fp32_first = matmul(a.gpu, b.gpu);
    }
    ASSERT_TRUE(all_close(fp32_first, reference, testing::f32_sum_tolerance(K)));

    std::vector<double> tf32;
    {
        const Tf32Setting tf32_on(true);
        tf32 = matmul(a.gpu, b.gpu).cpu().to(DType::f64).to_vector<double>();
    }
    const std::vector<double> ref = reference.to_vector<double>();
    const std::vector<double> fp32 = fp32_first.cpu().to(DType::f64).to_vector<double>();
    double worst_ratio = 0.0;  // error / magnitude
    int64_t differs_from_fp32 = 0;
    for (size_t i = 0; i < ref.size(); ++i) {
        const double err = std::fabs(tf32[i] - ref[i]);
        EXPECT_LE(err, std::ldexp(magnitude[i], -9) + 1e-5) << "element " << i;
        worst_ratio = std::max(worst_ratio, err / magnitude[i]);
        differs_from_fp32 += tf32[i] != fp32[i];
    }
    // The opt-in takes effect: tensor-core TF32 rounds differently from FP32 somewhere.
    EXPECT_GT(differs_from_fp32, 0);
    RecordProperty("tf32_worst_error_over_magnitude", std::to_string(worst_ratio));

    const Tf32Setting fp32_again(false);
    const Tensor fp32_second = matmul(a.gpu, b.gpu);
    // cuBLAS is bitwise reproducible on one GPU and stream, so FP32 math is fully restored.
    EXPECT_EQ(fp32_second.to_vector<float>(), fp32_first.to_vector<float>());
}

TEST(MatmulCuda, BackwardMatchesCpu) {
    CBNN_REQUIRE_GPU();
    const Tf32Setting fp32(false);
    const int64_t M = 37, K = 53, N = 29;
    // a is used through a transposed view, b directly.
    const Tensor at_host = random_tensor({K, M}, -1, 1, 60, DType::f32);
    const Tensor b_host = random_tensor({K, N}, -1, 1, 61, DType::f32);
    const Tensor dy_host = random_tensor({M, N}, -1, 1, 62, DType::f32);

    Tensor at_gpu = at_host.cuda().set_requires_grad();
    Tensor b_gpu = b_host.cuda().set_requires_grad();
    matmul(at_gpu.t(), b_gpu).backward(dy_host.cuda());

    Tensor at_cpu = at_host.to(DType::f64).set_requires_grad();
    Tensor b_cpu = b_host.to(DType::f64).set_requires_grad();
    matmul(at_cpu.t(), b_cpu).backward(dy_host.to(DType::f64));

    ASSERT_TRUE(at_gpu.grad().is_cuda());
    // dA^T sums over N terms, dB over M terms.
    EXPECT_TRUE(all_close(at_gpu.grad(), at_cpu.grad(), testing::f32_sum_tolerance(N)));
    EXPECT_TRUE(all_close(b_gpu.grad(), b_cpu.grad(), testing::f32_sum_tolerance(M)));
}

TEST(MatmulCuda, BadInputsAreClearErrors) {
    CBNN_REQUIRE_GPU();
    const Tensor a = Tensor::zeros({2, 3}, DType::f32, Device::cuda());
    try {
        matmul(a, Tensor::zeros({3, 2}));
        FAIL() << "expected a device error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("different devices"), std::string::npos) << e.what();
    }
    try {
        cuda::gemm(false, false, int64_t{1} << 31, 1, 1, 1.f, nullptr, 1, nullptr, 1, 0.f, nullptr,
                   1);
        FAIL() << "expected a size error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("M = 2147483648"), std::string::npos) << e.what();
    }
}

}  // namespace
}  // namespace cbnn
