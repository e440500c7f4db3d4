#pragma once
// cuBLAS handle bound to the current stream, and its error check (CUDA builds only).

#include <cublas_v2.h>

namespace cbnn::cuda {

cublasHandle_t cublas_handle();
[[noreturn]] void throw_cublas_error(cublasStatus_t status, const char* expr, const char* file,
                                     int line);

}  // namespace cbnn::cuda

#define CBNN_CUBLAS_CHECK(expr)                                                        \
    do {                                                                               \
        const cublasStatus_t cbnn_status_ = (expr);                                    \
        if (cbnn_status_ != CUBLAS_STATUS_SUCCESS)                                     \
            ::cbnn::cuda::throw_cublas_error(cbnn_status_, #expr, __FILE__, __LINE__); \
    } while (0)
