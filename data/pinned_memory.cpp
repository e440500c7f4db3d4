// The device-independent half of PinnedBuffer (data/pinned_memory.h): moves and the destructor,
// and for CPU-only builds plain aligned host memory. CUDA builds allocate, release and copy in
// data/pinned_memory_cuda.cpp.
#include "data/pinned_memory.h"

#include <cstdlib>
#include <utility>

#include "tensor/error.h"

namespace cbnn {

namespace detail {
void* aligned_host_alloc(size_t nbytes) {
    constexpr size_t kAlignment = 64;
    void* p = std::aligned_alloc(kAlignment, (nbytes + kAlignment - 1) / kAlignment * kAlignment);
    CBNN_CHECK(p != nullptr, "pinned buffer: out of host memory for ", nbytes, " bytes");
    return p;
}
}  // namespace detail

PinnedBuffer::~PinnedBuffer() { release(); }

PinnedBuffer::PinnedBuffer(PinnedBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      nbytes_(std::exchange(other.nbytes_, 0)),
      pinned_(std::exchange(other.pinned_, false)),
      event_(std::exchange(other.event_, nullptr)) {}

PinnedBuffer& PinnedBuffer::operator=(PinnedBuffer&& other) noexcept {
    if (this != &other) {
        release();
        data_ = std::exchange(other.data_, nullptr);
        nbytes_ = std::exchange(other.nbytes_, 0);
        pinned_ = std::exchange(other.pinned_, false);
        event_ = std::exchange(other.event_, nullptr);
    }
    return *this;
}

#ifndef CBNN_WITH_CUDA
PinnedBuffer::PinnedBuffer(size_t nbytes) : nbytes_(nbytes) {
    if (nbytes > 0) data_ = detail::aligned_host_alloc(nbytes);
}

void PinnedBuffer::release() noexcept {
    std::free(data_);
    data_ = nullptr;
}

void PinnedBuffer::copy_to_device_async(void*, size_t, size_t) {
    CBNN_FAIL("pinned buffer: this build of cbnn has no CUDA backend");
}

void PinnedBuffer::wait() {}
#endif

}  // namespace cbnn
