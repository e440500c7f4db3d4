#include "tensor/cudnn_context.h"

#include <array>
#include <cstdio>
#include <mutex>
#include <string>

#include "tensor/cuda_check.h"
#include "tensor/cuda_context.h"

namespace cbnn::cuda {

void throw_cudnn_error(cudnnStatus_t status, const char* expr, const char* file, int line) {
    std::string message = detail::concat("cuDNN error ", cudnnGetErrorString(status), " in ", expr,
                                         " at ", file, ":", line);
    // cuDNN 9 statuses are categories of 1000 with sub-codes (CUDNN_STATUS_NOT_SUPPORTED_*).
    const int category = CUDNN_STATUS_CATEGORY(static_cast<int>(status));
    if (category == CUDNN_STATUS_NOT_SUPPORTED || category == CUDNN_STATUS_BAD_PARAM)
        throw UnsupportedByLibraryError(message);
    throw Error(message);
}

void warn_cudnn_error(cudnnStatus_t status, const char* expr, const char* file, int line) noexcept {
    std::fprintf(stderr, "cbnn: cuDNN error %s in %s at %s:%d (ignored in a destructor)\n",
                 cudnnGetErrorString(status), expr, file, line);
}

cudnnHandle_t cudnn_handle() {
    static std::array<cudnnHandle_t, 16> handles{};
    static std::mutex mutex;
    const cudaStream_t stream = current_stream();
    const int device = current_device();
    std::lock_guard<std::mutex> lock(mutex);
    if (handles[device] == nullptr) {
        CBNN_CUDNN_CHECK(cudnnCreate(&handles[device]));
        CBNN_CUDNN_CHECK(cudnnSetStream(handles[device], stream));
    }
    return handles[device];
}

}  // namespace cbnn::cuda
