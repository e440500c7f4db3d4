#pragma once
// Error checks for CUDA runtime calls and kernel launches (CUDA builds only).
//   CBNN_CUDA_CHECK(cudaMemcpyAsync(...));   throws cbnn::Error with expression, file:line, message
//   CBNN_CUDA_CHECK_NOTHROW(cudaFree(p));    for destructors: prints to stderr instead of throwing
//   kernel<<<grid, block, 0, stream>>>(...); CBNN_CUDA_LAUNCH_CHECK();

#include <cuda_runtime_api.h>

#include "tensor/error.h"

namespace cbnn::cuda {

[[noreturn]] void throw_cuda_error(cudaError_t status, const char* expr, const char* file,
                                   int line);
void warn_cuda_error(cudaError_t status, const char* expr, const char* file, int line) noexcept;
// cudaGetLastError after a launch; with CBNN_CUDA_SYNC=1 also synchronises the stream.
void check_launch(const char* file, int line);

}  // namespace cbnn::cuda

#define CBNN_CUDA_CHECK(expr)                                                        \
    do {                                                                             \
        const cudaError_t cbnn_status_ = (expr);                                     \
        if (cbnn_status_ != cudaSuccess)                                             \
            ::cbnn::cuda::throw_cuda_error(cbnn_status_, #expr, __FILE__, __LINE__); \
    } while (0)

#define CBNN_CUDA_CHECK_NOTHROW(expr)                                               \
    do {                                                                            \
        const cudaError_t cbnn_status_ = (expr);                                    \
        if (cbnn_status_ != cudaSuccess)                                            \
            ::cbnn::cuda::warn_cuda_error(cbnn_status_, #expr, __FILE__, __LINE__); \
    } while (0)

#define CBNN_CUDA_LAUNCH_CHECK() ::cbnn::cuda::check_launch(__FILE__, __LINE__)
