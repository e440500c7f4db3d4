#include "tensor/allocator.h"

#include <algorithm>
#include <cstdlib>
#include <vector>

#include "tensor/error.h"

namespace cbnn {

namespace {
// The calling thread's route (CachingAllocator::PoolRoute): which allocator it applies to and the
// pool. One route per thread at a time is enough: captures do not nest across allocators.
thread_local const CachingAllocator* t_route_allocator = nullptr;
thread_local CachingAllocator::PoolId t_route_pool = CachingAllocator::kSharedPool;
}  // namespace

CachingAllocator::CachingAllocator(RawAllocate raw_allocate, RawFree raw_free, const char* name)
    : raw_allocate_(std::move(raw_allocate)), raw_free_(std::move(raw_free)), name_(name) {
    free_blocks_[kSharedPool];
}

CachingAllocator::~CachingAllocator() {
    std::lock_guard<std::mutex> lock(mutex_);
    // Private pools' cached blocks too: no graph can outlive the allocator.
    for (auto& [pool, list] : free_blocks_) {
        for (auto& [size, block] : list) raw_free_(block);
        list.clear();
    }
    // Live blocks are owned by tensors that outlive the allocator (static destruction order);
    // they are left to the process exit rather than freed under their owners.
}

size_t CachingAllocator::round_size(size_t nbytes) {
    constexpr size_t kSmall = 512, kLarge = size_t{2} << 20, kLargeThreshold = size_t{1} << 20;
    if (nbytes == 0) nbytes = 1;
    const size_t granule = nbytes < kLargeThreshold ? kSmall : kLarge;
    return (nbytes + granule - 1) / granule * granule;
}

CachingAllocator::PoolId CachingAllocator::routed_pool() const {
    return t_route_allocator == this ? t_route_pool : kSharedPool;
}

void* CachingAllocator::take_cached(FreeList& list, size_t size, size_t& block_size) {
    auto it = list.lower_bound(size);
    if (it == list.end() || it->first > size + size / 4) return nullptr;
    void* ptr = it->second;
    block_size = it->first;
    list.erase(it);
    return ptr;
}

void* CachingAllocator::allocate(size_t nbytes) {
    const size_t size = round_size(nbytes);
    const PoolId pool = routed_pool();
    std::lock_guard<std::mutex> lock(mutex_);
    size_t block = 0;
    void* ptr = take_cached(free_blocks_[pool], size, block);
    if (ptr != nullptr && pool != kSharedPool) stats_.private_cached_bytes -= int64_t(block);
    if (ptr == nullptr && pool != kSharedPool)
        ptr = take_cached(free_blocks_[kSharedPool], size, block);
    if (ptr != nullptr) {
        live_blocks_[ptr] = {block, pool};
        stats_.cached_bytes -= static_cast<int64_t>(block);
        stats_.in_use_bytes += static_cast<int64_t>(block);
        stats_.peak_in_use_bytes = std::max(stats_.peak_in_use_bytes, stats_.in_use_bytes);
        ++stats_.cache_hits;
        return ptr;
    }
    ptr = raw_allocate_(size);
    // Out of memory with blocks parked in the shared cache: give them back, try once more. Not
    // for a routed allocation: that is a CUDA graph being captured, and cudaFree during a capture
    // invalidates it (the capture would then fail with a misleading error, and the blocks whose
    // cudaFree failed would be lost to the cache without being freed).
    if (ptr == nullptr && pool == kSharedPool && !free_blocks_[kSharedPool].empty()) {
        free_shared_cache_locked();
        ptr = raw_allocate_(size);
    }
    CBNN_CHECK(ptr != nullptr, name_, ": out of memory allocating ", size, " bytes (",
               stats_.in_use_bytes, " bytes in use, peak ", stats_.peak_in_use_bytes, ")",
               pool == kSharedPool ? ""
                                   : " for a private pool (a CUDA graph capture, during which "
                                     "the shared cache cannot be freed)");
    live_blocks_[ptr] = {size, pool};
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
    const LiveBlock block = it->second;
    live_blocks_.erase(it);
    free_blocks_[block.pool].emplace(block.size, ptr);
    stats_.in_use_bytes -= static_cast<int64_t>(block.size);
    stats_.cached_bytes += static_cast<int64_t>(block.size);
    if (block.pool != kSharedPool) stats_.private_cached_bytes += int64_t(block.size);
}

AllocatorStats CachingAllocator::stats() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return stats_;
}

void CachingAllocator::free_shared_cache_locked() noexcept {
    FreeList& shared = free_blocks_[kSharedPool];
    for (auto& [size, block] : shared) {
        raw_free_(block);
        stats_.cached_bytes -= static_cast<int64_t>(size);
    }
    shared.clear();
}

void CachingAllocator::empty_cache() noexcept {
    std::lock_guard<std::mutex> lock(mutex_);
    free_shared_cache_locked();
}

CachingAllocator::PoolId CachingAllocator::create_pool() {
    std::lock_guard<std::mutex> lock(mutex_);
    const PoolId pool = next_pool_++;
    free_blocks_[pool];
    return pool;
}

void CachingAllocator::release_pool(PoolId pool) noexcept {
    if (pool == kSharedPool) return;
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = free_blocks_.find(pool);
    if (it == free_blocks_.end()) return;
    for (auto& [size, block] : it->second) {
        free_blocks_[kSharedPool].emplace(size, block);
        stats_.private_cached_bytes -= static_cast<int64_t>(size);
    }
    free_blocks_.erase(it);
    for (auto& [ptr, block] : live_blocks_) {
        if (block.pool == pool) block.pool = kSharedPool;
    }
}

CachingAllocator::PoolRoute::PoolRoute(CachingAllocator& allocator, PoolId pool)
    : previous_allocator_(t_route_allocator), previous_pool_(t_route_pool) {
    t_route_allocator = &allocator;
    t_route_pool = pool;
}

CachingAllocator::PoolRoute::~PoolRoute() {
    t_route_allocator = previous_allocator_;
    t_route_pool = previous_pool_;
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
