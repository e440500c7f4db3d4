#pragma once
// Matrix product of two 2-D tensors, and the row-major GEMM kernel under it.
//
//   forward   Y = A B                      A: (M, K), B: (K, N), Y: (M, N)
//             Y[i, j] = sum_k A[i, k] B[k, j]
//   backward  dA = dY B^T  (M, N)x(N, K)   dB = A^T dY  (K, M)x(M, N)
//             (autograd/matmul_functions.cpp; B^T and A^T are transposed views, not copies)
//
// Kernel: gemm computes C = alpha op(A) op(B) + beta C on row-major matrices, the BLAS
// convention with rows and columns swapped:
//   op(A) is (M, K): A[i * lda + k] when !trans_a, else A[k * lda + i] (A stored (K, M))
//   op(B) is (K, N): B[k * ldb + j] when !trans_b, else B[j * ldb + k] (B stored (N, K))
//   C is (M, N): C[i * ldc + j].  beta == 0 overwrites C without reading it (NaN in C is ignored).
// So a transposed view (strides (1, M)) is passed as its storage plus a transpose flag.
//
// cpu::gemm is the reference (plain loops, i-k-j order so the inner loop runs along rows of B
// and C; accumulates in T). cpu::gemm_parallel (tensor/matmul_parallel.cpp), what the CPU op
// functions call, computes the same sums in the same order, split across threads:
// bitwise equal to the reference. cuda::gemm calls cuBLAS (tensor/matmul_cublas.cpp) with FP32
// math, or TF32 tensor-core math when allow_tf32() (tensor/backend.h) is on. cuBLAS takes int
// sizes: dimensions or leading dimensions beyond 2^31 - 1 are a cbnn::Error.

#include <cstdint>

#include "tensor/tensor.h"

namespace cbnn {

namespace cpu {
template <class T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
          int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc);
template <class T>
void gemm_parallel(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
                   int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc);
}  // namespace cpu

namespace cuda {
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);
}  // namespace cuda

namespace ops {
// (M, K) x (K, N) -> (M, N), f32/f64 on the CPU, f32 on CUDA; no autograd. Operands that are
// row-major or transposed with unit stride along one dimension are read in place; any other
// layout is copied to contiguous first.
Tensor matmul(const Tensor& a, const Tensor& b);
}  // namespace ops

}  // namespace cbnn
