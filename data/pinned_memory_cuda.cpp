// The CUDA half of PinnedBuffer (data/pinned_memory.h): cudaHostAlloc when a GPU is usable, plain
// aligned memory otherwise; an event per buffer tracks its queued copies. Moves and the
// destructor are in data/pinned_memory.cpp.
#include <cuda_runtime_api.h>

#include <cstdlib>
#include <utility>

#include "data/pinned_memory.h"
#include "tensor/backend.h"
#include "tensor/cuda_check.h"
#include "tensor/cuda_context.h"

namespace cbnn {

PinnedBuffer::PinnedBuffer(size_t nbytes) : nbytes_(nbytes) {
    if (nbytes == 0) return;
    if (cuda_available()) {
        CBNN_CUDA_CHECK(cudaHostAlloc(&data_, nbytes, cudaHostAllocDefault));
        pinned_ = true;
    } else {
        data_ = detail::aligned_host_alloc(nbytes);
        CBNN_CHECK(data_ != nullptr, "pinned buffer: out of host memory for ", nbytes, " bytes");
    }
}

void PinnedBuffer::release() noexcept {
    if (event_ != nullptr) {
        auto event = static_cast<cudaEvent_t>(event_);
        CBNN_CUDA_CHECK_NOTHROW(cudaEventSynchronize(event));
        CBNN_CUDA_CHECK_NOTHROW(cudaEventDestroy(event));
        event_ = nullptr;
    }
    if (data_ != nullptr) {
        if (pinned_) {
            CBNN_CUDA_CHECK_NOTHROW(cudaFreeHost(data_));
        } else {
            std::free(data_);
        }
        data_ = nullptr;
    }
}

void PinnedBuffer::copy_to_device_async(void* dst, size_t src_offset, size_t nbytes) {
    CBNN_CHECK(src_offset + nbytes <= nbytes_, "pinned buffer: copy of ", nbytes,
               " bytes at offset ", src_offset, " outside a buffer of ", nbytes_, " bytes");
    if (nbytes == 0) return;
    cudaStream_t stream = cuda::current_stream();
    if (event_ == nullptr) {
        cudaEvent_t event;
        CBNN_CUDA_CHECK(cudaEventCreateWithFlags(&event, cudaEventDisableTiming));
        event_ = event;
    }
    CBNN_CUDA_CHECK(cudaMemcpyAsync(dst, static_cast<const char*>(data_) + src_offset, nbytes,
                                    cudaMemcpyHostToDevice, stream));
    CBNN_CUDA_CHECK(cudaEventRecord(static_cast<cudaEvent_t>(event_), stream));
}

void PinnedBuffer::wait() {
    if (event_ != nullptr) CBNN_CUDA_CHECK(cudaEventSynchronize(static_cast<cudaEvent_t>(event_)));
}

}  // namespace cbnn
