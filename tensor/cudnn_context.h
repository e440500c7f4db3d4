#pragma once
// cuDNN handle bound to the current stream, and its error checks (CUDA builds only).

#include <cudnn.h>

namespace cbnn::cuda {

cudnnHandle_t cudnn_handle();
[[noreturn]] void throw_cudnn_error(cudnnStatus_t status, const char* expr, const char* file,
                                    int line);
void warn_cudnn_error(cudnnStatus_t status, const char* expr, const char* file, int line) noexcept;

}  // namespace cbnn::cuda

#define CBNN_CUDNN_CHECK(expr)                                                        \
    do {                                                                              \
        const cudnnStatus_t cbnn_status_ = (expr);                                    \
        if (cbnn_status_ != CUDNN_STATUS_SUCCESS)                                     \
            ::cbnn::cuda::throw_cudnn_error(cbnn_status_, #expr, __FILE__, __LINE__); \
    } while (0)

#define CBNN_CUDNN_CHECK_NOTHROW(expr)                                               \
    do {                                                                             \
        const cudnnStatus_t cbnn_status_ = (expr);                                   \
        if (cbnn_status_ != CUDNN_STATUS_SUCCESS)                                    \
            ::cbnn::cuda::warn_cudnn_error(cbnn_status_, #expr, __FILE__, __LINE__); \
    } while (0)
