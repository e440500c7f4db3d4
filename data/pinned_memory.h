#pragma once
// Page-locked ("pinned") host buffers for staging batches on their way to the GPU: a
// cudaMemcpyAsync from pinned memory is a true asynchronous DMA, from pageable memory it is not.
//
// CUDA builds with a usable GPU allocate with cudaHostAlloc; otherwise (CPU-only build, or no GPU
// at run time) the buffer is plain 64-byte-aligned host memory and is_pinned() is false.
// copy_to_device_async queues the copy on cbnn's stream and records an event; wait() blocks until
// the copies queued from this buffer are done, so the host may overwrite it. Definitions:
// data/pinned_memory.cpp (moves, destructor, and the CPU-only build) and
// data/pinned_memory_cuda.cpp (allocation, release and copies in CUDA builds).

#include <cstddef>

namespace cbnn {

namespace detail {
// 64-byte-aligned host memory of at least nbytes (nbytes rounded up); throws when out of memory.
void* aligned_host_alloc(size_t nbytes);
}  // namespace detail

class PinnedBuffer {
  public:
    PinnedBuffer() = default;
    explicit PinnedBuffer(size_t nbytes);
    ~PinnedBuffer();
    PinnedBuffer(PinnedBuffer&& other) noexcept;
    PinnedBuffer& operator=(PinnedBuffer&& other) noexcept;
    PinnedBuffer(const PinnedBuffer&) = delete;
    PinnedBuffer& operator=(const PinnedBuffer&) = delete;

    void* data() const { return data_; }
    size_t nbytes() const { return nbytes_; }
    bool is_pinned() const { return pinned_; }
    // Queues a copy of bytes [src_offset, src_offset + nbytes) of this buffer to device memory
    // `dst` on cbnn's stream and records the buffer's event after it (CUDA builds only).
    void copy_to_device_async(void* dst, size_t src_offset, size_t nbytes);
    // Blocks until every copy queued from this buffer has completed (no-op when none was queued).
    void wait();

  private:
    void release() noexcept;
    void* data_ = nullptr;
    size_t nbytes_ = 0;
    bool pinned_ = false;
    void* event_ = nullptr;  // cudaEvent_t, created on the first copy
};

}  // namespace cbnn
