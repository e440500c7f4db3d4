#include "tensor/cublas_context.h"

#include <array>
#include <mutex>

#include "tensor/cuda_check.h"
#include "tensor/cuda_context.h"

namespace cbnn::cuda {

void throw_cublas_error(cublasStatus_t status, const char* expr, const char* file, int line) {
    throw Error(detail::concat("cuBLAS error ", cublasGetStatusName(status), " (",
                               cublasGetStatusString(status), ") in ", expr, " at ", file, ":",
                               line));
}

cublasHandle_t cublas_handle() {
    static std::array<cublasHandle_t, 16> handles{};
    static std::mutex mutex;
    const cudaStream_t stream = current_stream();
    const int device = current_device();
    std::lock_guard<std::mutex> lock(mutex);
    if (handles[device] == nullptr) {
        CBNN_CUBLAS_CHECK(cublasCreate(&handles[device]));
        CBNN_CUBLAS_CHECK(cublasSetStream(handles[device], stream));
        CBNN_CUBLAS_CHECK(cublasSetPointerMode(handles[device], CUBLAS_POINTER_MODE_HOST));
    }
    return handles[device];
}

}  // namespace cbnn::cuda
