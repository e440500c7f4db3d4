// matmul: hand-computed values, transposed and strided operands, the gemm kernel's alpha/beta
// contract, float64 gradient checks, f32 vs f64, and bad-input errors.
#include <cmath>
#include <functional>
#include <limits>
#include <string>

#include "autograd/functions.h"
#include "autograd/grad_mode.h"
#include "autograd/gradcheck.h"
#include "gtest/gtest.h"
#include "tensor/matmul.h"
#include "tests/support/expect_error.h"
#include "tests/support/random.h"
#include "tests/support/tolerance.h"

namespace cbnn {
namespace {

using testing::all_close;
using testing::random_tensor;

TEST(Matmul, HandComputed2x3Times3x2) {
    // [1 2 3; 4 5 6] [7 8; 9 10; 11 12] = [1*7+2*9+3*11, 1*8+2*10+3*12; ...] = [58 64; 139 154]
    for (DType dtype : {DType::f32, DType::f64}) {
        const Tensor a = Tensor::from_vector<double>({1, 2, 3, 4, 5, 6}, {2, 3}).to(dtype);
        const Tensor b = Tensor::from_vector<double>({7, 8, 9, 10, 11, 12}, {3, 2}).to(dtype);
        const Tensor y = matmul(a, b);
        EXPECT_EQ(y.shape(), (Shape{2, 2}));
        EXPECT_EQ(y.dtype(), dtype);
        EXPECT_EQ(y.to(DType::f64).to_vector<double>(), (std::vector<double>{58, 64, 139, 154}));
    }
}

TEST(Matmul, TransposedViewsMatchContiguousCopies) {
    const int64_t M = 5, K = 7, N = 4;
    const Tensor at = random_tensor({K, M}, -1, 1, 1);  // storage of A^T
    const Tensor bt = random_tensor({N, K}, -1, 1, 2);
    const Tensor a_view = at.t(), b_view = bt.t();  // strides (1, M) and (1, K)
    ASSERT_FALSE(a_view.is_contiguous());
    const Tensor a = a_view.contiguous(), b = b_view.contiguous();
    const std::vector<double> expected = matmul(a, b).to_vector<double>();
    // The reference sums in the same k order whatever the layout, so results are bitwise equal.
    EXPECT_EQ(matmul(a_view, b).to_vector<double>(), expected);
    EXPECT_EQ(matmul(a, b_view).to_vector<double>(), expected);
    EXPECT_EQ(matmul(a_view, b_view).to_vector<double>(), expected);
}

TEST(Matmul, NarrowedAndOddlyStridedOperands) {
    const Tensor wide = random_tensor({5, 9}, -1, 1, 3);
    const Tensor a = wide.narrow(1, 2, 6);  // row-major with leading dimension 9
    const Tensor b = random_tensor({6, 3}, -1, 1, 4);
    EXPECT_EQ(matmul(a, b).to_vector<double>(), matmul(a.contiguous(), b).to_vector<double>());
    // Column-narrowed transpose: strides (1, 9), leading dimension 9 > rows.
    const Tensor c = random_tensor({3, 9}, -1, 1, 5).t().narrow(0, 1, 6);  // (6, 3)
    EXPECT_EQ(matmul(a, c).to_vector<double>(), matmul(a, c.contiguous()).to_vector<double>());
    // Strides (6, 2): neither layout, so it is copied first.
    const Tensor base = random_tensor({18}, -1, 1, 6);
    const Tensor odd = Tensor::make_view(base, {3, 3}, {6, 2}, 0);
    const Tensor d = random_tensor({3, 2}, -1, 1, 7);
    EXPECT_EQ(matmul(odd, d).to_vector<double>(), matmul(odd.contiguous(), d).to_vector<double>());
}

TEST(Matmul, GemmKernelHonoursAlphaBetaAndLeadingDimensions) {
    // C = alpha op(A) op(B) + beta C with both operands stored transposed and padded rows.
    const int64_t M = 3, N = 4, K = 5, lda = M + 2, ldb = K + 1, ldc = N + 3;
    const std::vector<double> A = testing::random_values(K * lda, -1, 1, 8);  // (K, M) stored
    const std::vector<double> B = testing::random_values(N * ldb, -1, 1, 9);  // (N, K) stored
    std::vector<double> C = testing::random_values(M * ldc, -1, 1, 10);
    const double alpha = 2.0, beta = 0.5;
    std::vector<double> expected = C;
    for (int64_t i = 0; i < M; ++i) {
        for (int64_t j = 0; j < N; ++j) {
            double s = 0;
            for (int64_t k = 0; k < K; ++k) s += A[k * lda + i] * B[j * ldb + k];
            expected[i * ldc + j] = alpha * s + beta * C[i * ldc + j];
        }
    }
    cpu::gemm<double>(true, true, M, N, K, alpha, A.data(), lda, B.data(), ldb, beta, C.data(),
                      ldc);
    EXPECT_TRUE(all_close(C, expected, testing::kF64Exact));  // padding included: untouched

    // beta = 0 overwrites C without reading it, so garbage (NaN) there does not leak through.
    std::vector<double> D(M * N, std::numeric_limits<double>::quiet_NaN());
    const std::vector<double> Ar = testing::random_values(M * K, -1, 1, 11);
    const std::vector<double> Br = testing::random_values(K * N, -1, 1, 12);
    cpu::gemm<double>(false, false, M, N, K, 1.0, Ar.data(), K, Br.data(), N, 0.0, D.data(), N);
    for (double v : D) EXPECT_FALSE(std::isnan(v));
}

TEST(Matmul, EmptyOperands) {
    EXPECT_EQ(matmul(Tensor::zeros({0, 3}), Tensor::zeros({3, 2})).shape(), (Shape{0, 2}));
    const Tensor y = matmul(Tensor::zeros({2, 0}), Tensor::zeros({0, 3}));
    EXPECT_EQ(y.shape(), (Shape{2, 3}));
    EXPECT_EQ(y.to_vector<float>(), std::vector<float>(6, 0.f));
}

TEST(Matmul, GradcheckFloat64) {
    using autograd::gradcheck;
    const auto mm = [](const std::vector<Tensor>& x) { return matmul(x[0], x[1]); };
    const auto mm_ta = [](const std::vector<Tensor>& x) { return matmul(x[0].t(), x[1]); };
    const auto mm_tb = [](const std::vector<Tensor>& x) { return matmul(x[0], x[1].t()); };
    const auto mm_tt = [](const std::vector<Tensor>& x) { return matmul(x[0].t(), x[1].t()); };
    const auto check = [](const autograd::GradcheckResult& r) {
        EXPECT_TRUE(r.ok) << r.message;
        EXPECT_GT(r.checked, 0);
    };
    check(gradcheck(mm, {random_tensor({3, 4}, -1, 1, 20), random_tensor({4, 2}, -1, 1, 21)}));
    check(gradcheck(mm_ta, {random_tensor({4, 3}, -1, 1, 22), random_tensor({4, 5}, -1, 1, 23)}));
    check(gradcheck(mm_tb, {random_tensor({2, 4}, -1, 1, 24), random_tensor({3, 4}, -1, 1, 25)}));
    check(gradcheck(mm_tt, {random_tensor({4, 3}, -1, 1, 26), random_tensor({2, 4}, -1, 1, 27)}));
    // Row times column: a 1x1 result, and the outer product the other way round.
    check(gradcheck(mm, {random_tensor({1, 6}, -1, 1, 28), random_tensor({6, 1}, -1, 1, 29)}));
    check(gradcheck(mm, {random_tensor({6, 1}, -1, 1, 30), random_tensor({1, 6}, -1, 1, 31)}));
}

TEST(Matmul, BackwardWithOneOperandConstant) {
    Tensor a = random_tensor({3, 4}, -1, 1, 40).set_requires_grad();
    Tensor b = random_tensor({4, 2}, -1, 1, 41);
    const Tensor dy = random_tensor({3, 2}, -1, 1, 42);
    matmul(a, b).backward(dy);
    EXPECT_FALSE(b.grad().defined());
    // dA = dY B^T
    const Tensor expected = matmul(dy, b.t());
    EXPECT_TRUE(all_close(a.grad(), expected, testing::kF64Exact));
}

TEST(Matmul, InPlaceChangeOfASavedOperandIsRefused) {
    Tensor a = random_tensor({2, 3}, -1, 1, 43).set_requires_grad();
    Tensor b = random_tensor({3, 2}, -1, 1, 44);
    const Tensor y = matmul(a, b);
    b.fill_(1.0);  // dA reads b
    const std::string message = testing::error_message([&] {
        y.backward(Tensor::ones({2, 2}, DType::f64));
    });
    EXPECT_NE(message.find("'b'"), std::string::npos) << message;

    // a itself is not read by dA: changing it (without grad mode) does not break the backward.
    Tensor a2 = random_tensor({2, 3}, -1, 1, 45).set_requires_grad();
    const Tensor y2 = matmul(a2, b);
    {
        NoGradGuard no_grad;
        a2.fill_(0.0);
    }
    EXPECT_NO_THROW(y2.backward(Tensor::ones({2, 2}, DType::f64)));
}

TEST(Matmul, Float32MatchesFloat64) {
    const int64_t M = 64, K = 96, N = 80;
    const Tensor a = random_tensor({M, K}, -1, 1, 50, DType::f32);
    const Tensor b = random_tensor({K, N}, -1, 1, 51, DType::f32);
    const Tensor y32 = matmul(a, b);
    const Tensor y64 = matmul(a.to(DType::f64), b.to(DType::f64));
    EXPECT_EQ(y32.dtype(), DType::f32);
    EXPECT_TRUE(all_close(y32, y64, testing::f32_sum_tolerance(K)));
}

TEST(Matmul, BadInputsAreClearErrors) {
    const Tensor a = Tensor::zeros({2, 3}), b = Tensor::zeros({4, 5});
    EXPECT_NE(testing::error_message([&] {
                  matmul(a, b);
              }).find("matmul: inner dimensions differ: [2, 3] x [4, 5]"),
              std::string::npos);
    EXPECT_NE(testing::error_message([&] {
                  matmul(Tensor::zeros({3}), Tensor::zeros({3, 2}));
              }).find("expected 2-D tensors, got [3] x [3, 2]"),
              std::string::npos);
    EXPECT_NE(testing::error_message([&] {
                  matmul(Tensor::zeros({1, 2, 3}), Tensor::zeros({3, 2}));
              }).find("expected 2-D"),
              std::string::npos);
    EXPECT_NE(testing::error_message([&] {
                  matmul(Tensor::zeros({2, 3}), Tensor::zeros({3, 2}, DType::f64));
              }).find("dtypes differ"),
              std::string::npos);
    EXPECT_NE(testing::error_message([&] {
                  matmul(Tensor::zeros({2, 3}, DType::i64), Tensor::zeros({3, 2}, DType::i64));
              }).find("expected floating"),
              std::string::npos);
    EXPECT_THROW(matmul(Tensor(), b), Error);
}

}  // namespace
}  // namespace cbnn
