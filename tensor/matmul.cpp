// CPU reference GEMM and the matmul op function (math and layout in tensor/matmul.h).
#include "tensor/matmul.h"

#include <algorithm>

#include "tensor/copy.h"
#include "tensor/dispatch.h"

namespace cbnn {

namespace cpu {

template <class T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
          int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
    for (int64_t i = 0; i < M; ++i) {
        T* c = C + i * ldc;
        for (int64_t j = 0; j < N; ++j) c[j] = beta == T(0) ? T(0) : beta * c[j];
        for (int64_t k = 0; k < K; ++k) {
            const T a = alpha * (trans_a ? A[k * lda + i] : A[i * lda + k]);
            if (trans_b) {
                for (int64_t j = 0; j < N; ++j) c[j] += a * B[j * ldb + k];
            } else {
                const T* b = B + k * ldb;
                for (int64_t j = 0; j < N; ++j) c[j] += a * b[j];
            }
        }
    }
}

template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t,
                          const float*, int64_t, float, float*, int64_t);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t,
                           const double*, int64_t, double, double*, int64_t);

}  // namespace cpu

namespace ops {

namespace {

// A (rows, cols) operand as gemm reads it: its storage, whether that storage holds the
// transpose, and the leading dimension. Size-1 dimensions may carry any stride.
struct GemmOperand {
    Tensor data;
    bool trans = false;
    int64_t ld = 1;
};

GemmOperand gemm_operand(const Tensor& t) {
    const int64_t rows = t.size(0), cols = t.size(1);
    const int64_t s0 = t.strides()[0], s1 = t.strides()[1];
    if ((cols == 1 || s1 == 1) && (rows == 1 || s0 >= cols)) {
        return {t, false, rows == 1 ? std::max<int64_t>(cols, 1) : s0};
    }
    if ((rows == 1 || s0 == 1) && (cols == 1 || s1 >= rows)) {
        return {t, true, cols == 1 ? std::max<int64_t>(rows, 1) : s1};
    }
    return {contiguous_copy(t), false, std::max<int64_t>(cols, 1)};
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
    check_defined(a, "matmul");
    check_defined(b, "matmul");
    CBNN_CHECK(a.dim() == 2 && b.dim() == 2, "matmul: expected 2-D tensors, got ", a.shape(), " x ",
               b.shape());
    CBNN_CHECK(a.size(1) == b.size(0), "matmul: inner dimensions differ: ", a.shape(), " x ",
               b.shape());
    CBNN_CHECK(a.dtype() == b.dtype(), "matmul: dtypes differ: ", a.description(), " x ",
               b.description());
    CBNN_CHECK(is_floating(a.dtype()), "matmul: expected floating tensors (f32 or f64), got ",
               a.description(), " x ", b.description());
    check_same_device(a, b, "matmul");
    check_cuda_float(a, "matmul");

    const int64_t M = a.size(0), K = a.size(1), N = b.size(1);
    Tensor y = Tensor::empty({M, N}, a.dtype(), a.device());
    if (y.numel() == 0) return y;
    if (K == 0) return y.fill_(0.0);
    const GemmOperand A = gemm_operand(a), B = gemm_operand(b);
    if (y.is_cuda()) {
        CBNN_ON_CUDA(cuda::gemm(A.trans, B.trans, M, N, K, 1.0f, A.data.data<float>(), A.ld,
                                B.data.data<float>(), B.ld, 0.0f, y.data<float>(), N));
    } else {
        dispatch_floating(y.dtype(), "matmul", [&]<class T>() {
            cpu::gemm_parallel<T>(A.trans, B.trans, M, N, K, T(1), A.data.data<T>(), A.ld,
                                  B.data.data<T>(), B.ld, T(0), y.data<T>(), N);
        });
    }
    return y;
}

}  // namespace ops
}  // namespace cbnn
