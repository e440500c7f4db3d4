// cpu::gemm_parallel: the CPU GEMM the op functions use, bitwise equal to the reference cpu::gemm
// (tensor/matmul.cpp) but faster:
//   - a transposed B is first copied into row-major order, so the inner loop always runs along
//     contiguous rows of B and C and vectorises (the reference's transposed-B loop strides through
//     memory: 0.45 against 7.8 GFLOP/s for a 128 x 1000 x 2048 product on one core here);
//   - the inner loop takes 4 reduction steps per pass over a C row (C read and written once
//     instead of 4 times) and is also built for AVX2 (axpy below), chosen at load time;
//   - rows of C are split across threads (tensor/parallel.h).
// Each row runs the reference's loops, so every C[i, j] is computed exactly as the reference
// computes it (beta C[i, j] or 0, then alpha A[i, k] B[k, j] added for k = 0 .. K - 1, one
// rounding per step) whatever the thread count or instruction set. (Tiling the columns and the
// reduction as well was measured slower, 9.3 against 12.4 GFLOP/s, on the convolutions'
// 16 x 1024 x 144 products, whose B fits in L2.)
#include <algorithm>
#include <vector>

#include "tensor/matmul.h"
#include "tensor/parallel.h"

namespace cbnn::cpu {

namespace {

constexpr int64_t kFlopsPerThread = 1 << 17;  // smallest share of the work worth a thread

// c[j] += a[0] b[0][j], then += a[1] b[1][j], ... for the `steps` (1 or 4) reduction steps in
// order, for j in [0, n): each step rounds its product and its sum separately, as the reference's
// k loop does, but C is loaded and stored once per 4 steps instead of once per step. Built twice,
// with AVX2 (8 floats a step) and for the baseline ISA, picked at load time by the CPU; "avx2"
// alone does not enable FMA contraction, so both clones give the reference's bits.
template <class T>
inline void axpy_steps(T* __restrict c, const T* const* b, const T* a, int steps, int64_t n) {
    if (steps == 4) {
        const T *b0 = b[0], *b1 = b[1], *b2 = b[2], *b3 = b[3];
        for (int64_t j = 0; j < n; ++j) {
            T t = c[j];
            t += a[0] * b0[j];
            t += a[1] * b1[j];
            t += a[2] * b2[j];
            t += a[3] * b3[j];
            c[j] = t;
        }
    } else {
        const T* b0 = b[0];
        for (int64_t j = 0; j < n; ++j) c[j] += a[0] * b0[j];
    }
}
__attribute__((target_clones("avx2", "default"))) void axpy(float* __restrict c,
                                                            const float* const* b, const float* a,
                                                            int steps, int64_t n) {
    axpy_steps(c, b, a, steps, n);
}
__attribute__((target_clones("avx2", "default"))) void axpy(double* __restrict c,
                                                            const double* const* b, const double* a,
                                                            int steps, int64_t n) {
    axpy_steps(c, b, a, steps, n);
}

// Rows [i0, i1) of C = alpha op(A) B + beta C with B row-major: the reference's loops
// (tensor/matmul.cpp), the k loop 4 steps at a time through axpy.
template <class T>
void gemm_rows(bool trans_a, int64_t i0, int64_t i1, int64_t N, int64_t K, T alpha, const T* A,
               int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
    for (int64_t i = i0; i < i1; ++i) {
        T* c = C + i * ldc;
        for (int64_t j = 0; j < N; ++j) c[j] = beta == T(0) ? T(0) : beta * c[j];
        for (int64_t k = 0; k < K;) {
            const int steps = K - k >= 4 ? 4 : 1;
            T a[4];
            const T* b[4];
            for (int s = 0; s < steps; ++s, ++k) {
                a[s] = alpha * (trans_a ? A[k * lda + i] : A[i * lda + k]);
                b[s] = B + k * ldb;
            }
            axpy(c, b, a, steps, N);
        }
    }
}

}  // namespace

template <class T>
void gemm_parallel(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
                   int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
    if (M <= 0 || N <= 0) return;
    std::vector<T> b_rows;
    if (trans_b && K > 0) {
        b_rows.resize(static_cast<size_t>(K * N));
        for (int64_t j = 0; j < N; ++j)
            for (int64_t k = 0; k < K; ++k) b_rows[k * N + j] = B[j * ldb + k];
        B = b_rows.data();
        ldb = N;
    }
    const int64_t row_flops = std::max<int64_t>(1, N * K);
    parallel_for(M, std::max<int64_t>(1, kFlopsPerThread / row_flops), [=](int64_t i0, int64_t i1) {
        gemm_rows(trans_a, i0, i1, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    });
}

template void gemm_parallel<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*,
                                   int64_t, const float*, int64_t, float, float*, int64_t);
template void gemm_parallel<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*,
                                    int64_t, const double*, int64_t, double, double*, int64_t);

}  // namespace cbnn::cpu
