#include "tensor/backend.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "tensor/allocator.h"
#include "tensor/error.h"

#ifdef CBNN_WITH_CUDA
#include <cuda_runtime_api.h>

#include "tensor/cuda_check.h"
#include "tensor/cuda_context.h"
#endif

namespace cbnn {

namespace {
std::atomic<bool> g_allow_tf32{false};

#ifdef CBNN_WITH_CUDA
struct Probe {
    bool available = false;
    std::string reason;
};

const Probe& probe() {
    static const Probe result = [] {
        Probe p;
        int count = 0;
        const cudaError_t status = cudaGetDeviceCount(&count);
        if (status != cudaSuccess) {
            p.reason = std::string("no usable CUDA driver/GPU (cudaGetDeviceCount: ") +
                       cudaGetErrorName(status) + ": " + cudaGetErrorString(status) + ")";
            cudaGetLastError();  // clear the sticky-free error so later queries start clean
        } else if (count == 0) {
            p.reason = "no CUDA GPU found";
        } else {
            p.available = true;
        }
        return p;
    }();
    return result;
}
#endif
}  // namespace

bool built_with_cuda() {
#ifdef CBNN_WITH_CUDA
    return true;
#else
    return false;
#endif
}

bool cuda_available() {
#ifdef CBNN_WITH_CUDA
    return probe().available;
#else
    return false;
#endif
}

std::string cuda_unavailable_reason() {
#ifdef CBNN_WITH_CUDA
    return probe().available ? std::string() : probe().reason;
#else
    return "cbnn was built without the CUDA backend (nvcc, cuBLAS or cuDNN not found at configure "
           "time)";
#endif
}

void require_cuda(const std::string& what) {
    CBNN_CHECK(cuda_available(), what, ": CUDA was requested but ", cuda_unavailable_reason());
}

void cuda_synchronize() {
#ifdef CBNN_WITH_CUDA
    if (cuda_available()) CBNN_CUDA_CHECK(cudaStreamSynchronize(cuda::current_stream()));
#endif
}

void set_allow_tf32(bool allow) { g_allow_tf32 = allow; }
bool allow_tf32() { return g_allow_tf32; }

bool cuda_sync_after_launch() {
    static const bool enabled = [] {
        const char* value = std::getenv("CBNN_CUDA_SYNC");
        return value != nullptr && std::strcmp(value, "") != 0 && std::strcmp(value, "0") != 0;
    }();
    return enabled;
}

#ifndef CBNN_WITH_CUDA
Allocator& cuda_allocator() { CBNN_FAIL("cuda allocator: ", cuda_unavailable_reason()); }
CachingAllocator& cuda_caching_allocator() {
    CBNN_FAIL("cuda allocator: ", cuda_unavailable_reason());
}
void cuda_empty_cache() {}
AllocatorStats cuda_memory_stats() { return {}; }
#endif

}  // namespace cbnn
