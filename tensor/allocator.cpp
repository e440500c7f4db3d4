#include "tensor/allocator.h"

#include <algorithm>
#include <cstdlib>
#include <vector>

#include "tensor/error.h"

namespace cbnn {

CachingAllocator::CachingAllocator(RawAllocate raw_allocate, RawFree raw_free, const char* name)
    : raw_allocate_(std::move(raw_allocate)), raw_free_(std::move(raw_free)), name_(name) {}

CachingAllocator::~CachingAllocator() {
    empty_cache();
    // Live blocks are owned by tensors that outlive the allocator (static destruction order);
    // they are left to the process exit rather than freed under their owners.
}

size_t CachingAllocator::round_size(size_t nbytes) {
    constexpr size_t kSmall = 512, kLarge = size_t{2} << 20, kLargeThreshold = size_t{1} << 20;
    if (nbytes == 0) nbytes = 1;
    const size_t granule = nbytes < kLargeThreshold ? kSmall : kLarge;
    return (nbytes + granule - 1) / granule * granule;
}

void* CachingAllocator::allocate(size_t nbytes) {
    const size_t size = round_size(nbytes);
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = free_blocks_.lower_bound(size);
    if (it != free_blocks_.end() && it->first <= size + size / 4) {
        void* ptr = it->second;
        const size_t block = it->first;
        free_blocks_.erase(it);
        live_blocks_[ptr] = block;
        stats_.cached_bytes -= static_cast<int64_t>(block);
        stats_.in_use_bytes += static_cast<int64_t>(block);
        stats_.peak_in_use_bytes = std::max(stats_.peak_in_use_bytes, stats_.in_use_bytes);
        ++stats_.cache_hits;
        return ptr;
    }
    void* ptr = raw_allocate_(size);
    if (ptr == nullptr && !free_blocks_.empty()) {
        // Out of memory with blocks parked in the cache: give them back and try once more.
        for (auto& [block_size, block] : free_blocks_) raw_free_(block);
        free_blocks_.clear();
        stats_.cached_bytes = 0;
        ptr = raw_allocate_(size);
    }
    CBNN_CHECK(ptr != nullptr, name_, ": out of memory allocating ", size, " bytes (",
               stats_.in_use_bytes, " bytes in use, peak ", stats_.peak_in_use_bytes, ")");
    live_blocks_[ptr] = size;
    ++stats_.raw_allocations;
    stats_.in_use_bytes += static_cast<int64_t>(size);
    stats_.peak_in_use_bytes = std::max(stats_.peak_in_use_bytes, stats_.in_use_bytes);
    return ptr;
}

void CachingAllocator::deallocate(void* ptr) noexcept {
    if (ptr == nullptr) return;
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = live_blocks_.find(ptr);
    if (it == live_blocks_.end()) return;  // not ours: never free memory we did not hand out
    const size_t size = it->second;
    live_blocks_.erase(it);
    free_blocks_.emplace(size, ptr);
    stats_.in_use_bytes -= static_cast<int64_t>(size);
    stats_.cached_bytes += static_cast<int64_t>(size);
}

AllocatorStats CachingAllocator::stats() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return stats_;
}

void CachingAllocator::empty_cache() noexcept {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& [size, block] : free_blocks_) raw_free_(block);
    free_blocks_.clear();
    stats_.cached_bytes = 0;
}

namespace {

class CpuAllocator : public Allocator {
  public:
    void* allocate(size_t nbytes) override {
        constexpr size_t kAlign = 64;
        const size_t size = (std::max<size_t>(nbytes, 1) + kAlign - 1) / kAlign * kAlign;
        void* ptr = std::aligned_alloc(kAlign, size);
        CBNN_CHECK(ptr != nullptr, "cpu allocator: out of memory allocating ", nbytes, " bytes");
        return ptr;
    }
    void deallocate(void* ptr) noexcept override { std::free(ptr); }
    AllocatorStats stats() const override { return {}; }
};

}  // namespace

Allocator& cpu_allocator() {
    static CpuAllocator allocator;
    return allocator;
}

}  // namespace cbnn
