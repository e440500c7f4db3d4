// The CUDA instance of the caching allocator (tensor/allocator.h): cudaMalloc/cudaFree underneath.
#include <cuda_runtime_api.h>

#include "tensor/allocator.h"
#include "tensor/backend.h"
#include "tensor/cuda_check.h"

namespace cbnn {

namespace {

CachingAllocator& instance() {
    // Leaked on purpose: tensors with static lifetime may free into it during exit.
    static CachingAllocator* allocator = new CachingAllocator(
        [](size_t nbytes) -> void* {
            void* ptr = nullptr;
            // While a CUDA graph is captured, cudaMalloc counts as an unsafe call and would
            // invalidate the capture. Here it is safe: the block belongs to the graph's private
            // pool (tensor/allocator.h) for the graph's life, exactly what replays need, so the
            // thread relaxes the check for this one call.
            cudaStreamCaptureMode mode = cudaStreamCaptureModeRelaxed;
            CBNN_CUDA_CHECK(cudaThreadExchangeStreamCaptureMode(&mode));
            const cudaError_t status = cudaMalloc(&ptr, nbytes);
            CBNN_CUDA_CHECK(cudaThreadExchangeStreamCaptureMode(&mode));
            if (status == cudaErrorMemoryAllocation) {
                cudaGetLastError();  // clear it: the caller frees the cache and retries
                return nullptr;
            }
            CBNN_CUDA_CHECK(status);
            return ptr;
        },
        [](void* ptr) { CBNN_CUDA_CHECK_NOTHROW(cudaFree(ptr)); }, "cuda allocator");
    return *allocator;
}

}  // namespace

Allocator& cuda_allocator() { return cuda_caching_allocator(); }

CachingAllocator& cuda_caching_allocator() {
    require_cuda("cuda allocator");
    return instance();
}

void cuda_empty_cache() {
    if (cuda_available()) instance().empty_cache();
}

AllocatorStats cuda_memory_stats() {
    return cuda_available() ? instance().stats() : AllocatorStats{};
}

}  // namespace cbnn
