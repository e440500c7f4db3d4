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
// Private pools (for CUDA graphs, tensor/cuda_graph.h). A graph replays its kernels on the very
// addresses they had when it was captured, so the blocks a capture allocates must not be handed to
// anyone else while the graph lives. While a thread holds a PoolRoute to pool P, its allocations
// come from P; a block allocated there belongs to P for life: freed, it goes back to P's cache,
// never to the shared one, and is reused only by later allocations routed into P (a block freed
// and reallocated within one capture is fine: the graph keeps the two uses in stream order). A
// routed allocation that P's cache cannot serve takes a block from the shared cache (it becomes
// P's: its earlier users are queued before the graph on the same stream) or a raw one.
// release_pool(P) (the graph destroyed) returns P's cached blocks to the shared cache; P's live
// blocks join the shared pool when freed. empty_cache and the out-of-memory retry free only the
// shared cache: a private pool's cached blocks are still the graph's working memory. A routed
// allocation never retries: freeing (cudaFree) during a capture would invalidate it.
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
    int64_t cached_bytes = 0;          // bytes in freed blocks kept for reuse
    int64_t raw_allocations = 0;       // calls to the underlying allocator (cudaMalloc)
    int64_t cache_hits = 0;            // requests served from the cache
    int64_t private_cached_bytes = 0;  // the part of cached_bytes held by private pools
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
    // Returns every block of the shared cache to the underlying allocator.
    void empty_cache() noexcept;
    static size_t round_size(size_t nbytes);

    using PoolId = uint64_t;
    static constexpr PoolId kSharedPool = 0;
    // A new private pool (ids are never reused).
    PoolId create_pool();
    // Ends a private pool: its cached blocks move to the shared cache, its live blocks join the
    // shared pool (freed later, they are cached there). Unknown or shared ids are ignored.
    void release_pool(PoolId pool) noexcept;

    // Routes the calling thread's allocations from this allocator into `pool` for its lifetime
    // (other threads are unaffected). Routes nest; the innermost wins.
    class PoolRoute {
      public:
        PoolRoute(CachingAllocator& allocator, PoolId pool);
        ~PoolRoute();
        PoolRoute(const PoolRoute&) = delete;
        PoolRoute& operator=(const PoolRoute&) = delete;

      private:
        const CachingAllocator* previous_allocator_;
        PoolId previous_pool_;
    };

  private:
    struct LiveBlock {
        size_t size;
        PoolId pool;
    };
    using FreeList = std::multimap<size_t, void*>;  // size -> block

    // The calling thread's pool for this allocator (kSharedPool unless a PoolRoute says otherwise).
    PoolId routed_pool() const;
    // Best fit from `list` (at most 25% larger than `size`), or nullptr; the caller holds mutex_.
    static void* take_cached(FreeList& list, size_t size, size_t& block_size);
    void free_shared_cache_locked() noexcept;

    RawAllocate raw_allocate_;
    RawFree raw_free_;
    const char* name_;
    mutable std::mutex mutex_;
    std::map<PoolId, FreeList> free_blocks_;  // pool -> its cache (kSharedPool always present)
    std::map<void*, LiveBlock> live_blocks_;
    PoolId next_pool_ = 1;
    AllocatorStats stats_;
};

// Plain aligned host memory (64 B, a cache line).
Allocator& cpu_allocator();
// The caching allocator of the current CUDA device; throws cbnn::Error without CUDA.
Allocator& cuda_allocator();
// The CUDA caching allocator itself, for private pools (tensor/cuda_graph.h); requires a GPU.
CachingAllocator& cuda_caching_allocator();
// Releases the CUDA allocator's shared cached blocks (no-op without CUDA).
void cuda_empty_cache();
AllocatorStats cuda_memory_stats();

}  // namespace cbnn
