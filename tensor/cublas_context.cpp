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

namespace {

// cuBLAS's workspace for one handle, owned by cbnn rather than cuBLAS: otherwise cuBLAS allocates
// one internally, and under CUDA-graph capture a new one per captured graph (PyTorch met this as
// memory growing with every capture, pytorch/pytorch#83461, and sets the workspace itself since).
// Size: what NVIDIA's cublasSetWorkspace documentation recommends, 32 MiB on Hopper and newer,
// 4 MiB before. Allocated once per device with the handle (before any capture: the training
// step's eager warm-up steps create it) and kept for the life of the process, like the handle.
void give_workspace(cublasHandle_t handle, int device) {
    int major = 0;
    CBNN_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
    const size_t bytes = (major >= 9 ? 32u : 4u) << 20;
    void* workspace = nullptr;
    CBNN_CUDA_CHECK(cudaMalloc(&workspace, bytes));
    CBNN_CUBLAS_CHECK(cublasSetWorkspace(handle, workspace, bytes));
}

}  // namespace

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
        give_workspace(handles[device], device);
    }
    return handles[device];
}

}  // namespace cbnn::cuda
