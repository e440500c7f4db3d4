#include "tensor/cudnn_context.h"

#include <array>
#include <cstdio>
#include <mutex>

#include "tensor/cuda_check.h"
#include "tensor/cuda_context.h"

namespace cbnn::cuda {

void throw_cudnn_error(cudnnStatus_t status, const char* expr, const char* file, int line) {
    throw Error(detail::concat("cuDNN error ", cudnnGetErrorString(status), " in ", expr, " at ",
                               file, ":", line));
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
