// cuda::gemm through cuBLAS (math and layout in tensor/matmul.h).
//
// cuBLAS is column-major. A row-major (R, C) matrix with leading dimension ld is, read
// column-major, its (C, R) transpose with the same ld. So row-major C = op(A) op(B) is computed
// as column-major C^T = op(B)^T op(A)^T: swap the operands (and M with N) and keep each
// operand's own transpose flag.
#include <cstdint>
#include <limits>

#include "tensor/backend.h"
#include "tensor/cublas_context.h"
#include "tensor/matmul.h"

namespace cbnn::cuda {

namespace {

int to_int(int64_t value, const char* what) {
    CBNN_CHECK(value >= 0 && value <= std::numeric_limits<int>::max(), "matmul (cuBLAS): ", what,
               " = ", value, " is outside the 32-bit range cuBLAS accepts");
    return static_cast<int>(value);
}

}  // namespace

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
    const int m = to_int(M, "M"), n = to_int(N, "N"), k = to_int(K, "K");
    const int ld_a = to_int(lda, "lda"), ld_b = to_int(ldb, "ldb"), ld_c = to_int(ldc, "ldc");
    if (m == 0 || n == 0) return;
    // FP32 math unless TF32 was asked for: CUBLAS_COMPUTE_32F never uses TF32 tensor cores.
    const cublasComputeType_t compute =
        allow_tf32() ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    CBNN_CUBLAS_CHECK(cublasGemmEx(cublas_handle(), trans_b ? CUBLAS_OP_T : CUBLAS_OP_N,
                                   trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, n, m, k, &alpha, B,
                                   CUDA_R_32F, ld_b, A, CUDA_R_32F, ld_a, &beta, C, CUDA_R_32F,
                                   ld_c, compute, CUBLAS_GEMM_DEFAULT));
}

}  // namespace cbnn::cuda
