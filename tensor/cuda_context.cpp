#include "tensor/cuda_context.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <mutex>

#include "tensor/backend.h"
#include "tensor/cuda_check.h"

namespace cbnn::cuda {

namespace {
constexpr int kMaxDevices = 16;
std::array<cudaStream_t, kMaxDevices> g_streams{};
std::mutex g_stream_mutex;
}  // namespace

void throw_cuda_error(cudaError_t status, const char* expr, const char* file, int line) {
    throw Error(detail::concat("CUDA error ", cudaGetErrorName(status), " (",
                               cudaGetErrorString(status), ") in ", expr, " at ", file, ":", line));
}

void warn_cuda_error(cudaError_t status, const char* expr, const char* file, int line) noexcept {
    std::fprintf(stderr, "cbnn: CUDA error %s (%s) in %s at %s:%d (ignored in a destructor)\n",
                 cudaGetErrorName(status), cudaGetErrorString(status), expr, file, line);
}

void check_launch(const char* file, int line) {
    const cudaError_t status = cudaGetLastError();
    if (status != cudaSuccess) throw_cuda_error(status, "kernel launch", file, line);
    if (cuda_sync_after_launch()) {
        // A stream being captured into a CUDA graph may not be synchronised (and its kernels do
        // not run until the graph is launched): skip the debug sync there.
        cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
        CBNN_CUDA_CHECK(cudaStreamIsCapturing(current_stream(), &capture));
        if (capture != cudaStreamCaptureStatusNone) return;
        const cudaError_t sync = cudaStreamSynchronize(current_stream());
        if (sync != cudaSuccess) throw_cuda_error(sync, "kernel (CBNN_CUDA_SYNC=1)", file, line);
    }
}

int current_device() {
    int device = 0;
    CBNN_CUDA_CHECK(cudaGetDevice(&device));
    return device;
}

cudaStream_t current_stream() {
    require_cuda("cuda stream");
    const int device = current_device();
    CBNN_CHECK(device < kMaxDevices, "cuda: device index ", device, " exceeds ", kMaxDevices);
    std::lock_guard<std::mutex> lock(g_stream_mutex);
    if (g_streams[device] == nullptr) {
        CBNN_CUDA_CHECK(cudaStreamCreateWithFlags(&g_streams[device], cudaStreamNonBlocking));
    }
    return g_streams[device];
}

unsigned int grid_for(int64_t n, int block) {
    // Enough blocks to fill the GPU several times over; grid-stride loops do the rest.
    constexpr int64_t kMaxBlocks = 65535;
    const int64_t blocks = (n + block - 1) / block;
    return static_cast<unsigned int>(std::clamp<int64_t>(blocks, 1, kMaxBlocks));
}

}  // namespace cbnn::cuda
