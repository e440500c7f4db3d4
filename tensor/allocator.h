#pragma once
// Memory for tensor storage.
//
// CachingAllocator keeps freed blocks and hands them out again, so a training step that allocates
// the same sizes every iteration calls the underlying allocator (cudaMalloc) only in its first
// steps. Sizes are rounded up (512 B below 1 MiB, 2 MiB above) and a cached block is reused for a
// request when it is at most 25% larger (best fit). Blocks are never split. All CUDA work runs on
// one stream per device (tensor/cuda_context.h), so a block freed on the host may be handed to the
// next kernel on that stream without an event: stream order makes the reuse safe.
//
// The caching logic is independent of the device: it is parameterized by raw allocate/free
// functions, so it is tested on the CPU (tests/tensor/test_allocator.cpp).

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>

namespace cbnn {

struct AllocatorStats {
    int64_t in_use_bytes = 0;  // bytes in blocks handed out to tensors (rounded sizes)
    int64_t peak_in_use_bytes = 0;
    int64_t cached_bytes = 0;     // bytes in freed blocks kept for reuse
    int64_t raw_allocations = 0;  // calls to the underlying allocator (cudaMalloc)
    int64_t cache_hits = 0;       // requests served from the cache
};

class Allocator {
  public:
    virtual ~Allocator() = default;
    virtual void* allocate(size_t nbytes) = 0;
    virtual void deallocate(void* ptr) noexcept = 0;
    virtual AllocatorStats stats() const = 0;
};

class CachingAllocator : public Allocator {
  public:
    using RawAllocate = std::function<void*(size_t)>;  // returns nullptr when out of memory
    using RawFree = std::function<void(void*)>;
    CachingAllocator(RawAllocate raw_allocate, RawFree raw_free, const char* name);
    ~CachingAllocator() override;

    void* allocate(size_t nbytes) override;
    void deallocate(void* ptr) noexcept override;
    AllocatorStats stats() const override;
    // Returns every cached block to the underlying allocator.
    void empty_cache() noexcept;
    static size_t round_size(size_t nbytes);

  private:
    RawAllocate raw_allocate_;
    RawFree raw_free_;
    const char* name_;
    mutable std::mutex mutex_;
    std::multimap<size_t, void*> free_blocks_;  // size -> block
    std::map<void*, size_t> live_blocks_;       // block -> size
    AllocatorStats stats_;
};

// Plain aligned host memory (64 B, a cache line).
Allocator& cpu_allocator();
// The caching allocator of the current CUDA device; throws cbnn::Error without CUDA.
Allocator& cuda_allocator();
// Releases the CUDA allocator's cached blocks (no-op without CUDA).
void cuda_empty_cache();
AllocatorStats cuda_memory_stats();

}  // namespace cbnn
