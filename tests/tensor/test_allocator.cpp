// The caching allocator (tensor/allocator.h) over fake raw allocate/free functions that count
// their calls: reuse, rounding, the 25% oversize rule, stats, the out-of-memory path, empty_cache.
#include <cstdint>
#include <cstdlib>
#include <map>
#include <set>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tensor/allocator.h"
#include "tests/support/expect_error.h"

namespace cbnn {
namespace {

constexpr size_t kMiB = size_t{1} << 20;

// Raw memory that records every call. Pointers are fake (never dereferenced) but distinct.
struct FakeDevice {
    std::vector<size_t> allocations;  // sizes asked of the raw allocator
    std::multiset<size_t> live;       // sizes currently allocated
    std::vector<void*> freed;
    int fail_next = 0;  // raw allocations that return nullptr before succeeding again
    bool fail_always = false;
    uintptr_t next = 0x1000;

    CachingAllocator make() {
        return CachingAllocator(
            [this](size_t n) -> void* {
                if (fail_always) return nullptr;
                if (fail_next > 0) {
                    --fail_next;
                    return nullptr;
                }
                allocations.push_back(n);
                live.insert(n);
                void* p = reinterpret_cast<void*>(next);
                sizes[p] = n;
                next += n + 4096;
                return p;
            },
            [this](void* p) {
                freed.push_back(p);
                live.erase(live.find(sizes.at(p)));
            },
            "fake allocator");
    }
    std::map<void*, size_t> sizes;
};

TEST(Allocator, RoundSizeRules) {
    EXPECT_EQ(CachingAllocator::round_size(0), 512u);
    EXPECT_EQ(CachingAllocator::round_size(1), 512u);
    EXPECT_EQ(CachingAllocator::round_size(512), 512u);
    EXPECT_EQ(CachingAllocator::round_size(513), 1024u);
    EXPECT_EQ(CachingAllocator::round_size(kMiB - 1), kMiB);
    // From 1 MiB on, 2 MiB granules.
    EXPECT_EQ(CachingAllocator::round_size(kMiB), 2 * kMiB);
    EXPECT_EQ(CachingAllocator::round_size(2 * kMiB), 2 * kMiB);
    EXPECT_EQ(CachingAllocator::round_size(2 * kMiB + 1), 4 * kMiB);
    EXPECT_EQ(CachingAllocator::round_size(100 * kMiB + 3), 102 * kMiB);
}

TEST(Allocator, FreedBlocksAreReusedWithoutRawAllocation) {
    FakeDevice dev;
    CachingAllocator a = dev.make();
    void* p = a.allocate(1000);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(dev.allocations, (std::vector<size_t>{1024}));
    a.deallocate(p);
    EXPECT_TRUE(dev.freed.empty()) << "the block is cached, not freed";
    for (int i = 0; i < 10; ++i) {
        void* q = a.allocate(1000);
        EXPECT_EQ(q, p);
        a.deallocate(q);
    }
    EXPECT_EQ(dev.allocations.size(), 1u);
    // Two live blocks of the same size need two raw allocations; both are reused afterwards.
    void* b1 = a.allocate(1024);
    void* b2 = a.allocate(1024);
    EXPECT_NE(b1, b2);
    EXPECT_EQ(dev.allocations.size(), 2u);
    a.deallocate(b1);
    a.deallocate(b2);
    void* c1 = a.allocate(900);
    void* c2 = a.allocate(1000);
    EXPECT_EQ(std::set<void*>({c1, c2}), std::set<void*>({b1, b2}));
    EXPECT_EQ(dev.allocations.size(), 2u);
}

TEST(Allocator, CachedBlockIsUsedOnlyWhenAtMostAQuarterLarger) {
    FakeDevice dev;
    CachingAllocator a = dev.make();
    void* big = a.allocate(2560);
    a.deallocate(big);
    // 2048 + 2048/4 = 2560: the cached 2560 B block fits.
    void* p = a.allocate(2048);
    EXPECT_EQ(p, big);
    a.deallocate(p);
    // 1536 + 384 = 1920 < 2560: too wasteful, a new raw allocation.
    void* q = a.allocate(1536);
    EXPECT_NE(q, big);
    EXPECT_EQ(dev.allocations, (std::vector<size_t>{2560, 1536}));
    // A smaller cached block never serves a larger request.
    a.deallocate(q);
    void* r = a.allocate(3072);
    EXPECT_NE(r, q);
    EXPECT_NE(r, big);
    EXPECT_EQ(dev.allocations.size(), 3u);
}

TEST(Allocator, BestFitPicksTheSmallestSufficientBlock) {
    FakeDevice dev;
    CachingAllocator a = dev.make();
    void* b2560 = a.allocate(2560);
    void* b2048 = a.allocate(2048);
    a.deallocate(b2560);
    a.deallocate(b2048);
    EXPECT_EQ(a.allocate(2048), b2048);
    EXPECT_EQ(a.allocate(2048), b2560);
    EXPECT_EQ(dev.allocations.size(), 2u);
}

TEST(Allocator, StatsTrackInUsePeakCachedRawAllocationsAndHits) {
    FakeDevice dev;
    CachingAllocator a = dev.make();
    EXPECT_EQ(a.stats().in_use_bytes, 0);
    void* p = a.allocate(100);       // 512
    void* q = a.allocate(3 * kMiB);  // 4 MiB
    AllocatorStats s = a.stats();
    EXPECT_EQ(s.in_use_bytes, static_cast<int64_t>(512 + 4 * kMiB));
    EXPECT_EQ(s.peak_in_use_bytes, s.in_use_bytes);
    EXPECT_EQ(s.cached_bytes, 0);
    EXPECT_EQ(s.raw_allocations, 2);
    EXPECT_EQ(s.cache_hits, 0);

    a.deallocate(q);
    s = a.stats();
    EXPECT_EQ(s.in_use_bytes, 512);
    EXPECT_EQ(s.peak_in_use_bytes, static_cast<int64_t>(512 + 4 * kMiB));
    EXPECT_EQ(s.cached_bytes, static_cast<int64_t>(4 * kMiB));

    void* r = a.allocate(4 * kMiB);
    s = a.stats();
    EXPECT_EQ(r, q);
    EXPECT_EQ(s.cache_hits, 1);
    EXPECT_EQ(s.raw_allocations, 2);
    EXPECT_EQ(s.cached_bytes, 0);
    EXPECT_EQ(s.in_use_bytes, static_cast<int64_t>(512 + 4 * kMiB));

    a.deallocate(p);
    a.deallocate(r);
    s = a.stats();
    EXPECT_EQ(s.in_use_bytes, 0);
    EXPECT_EQ(s.cached_bytes, static_cast<int64_t>(512 + 4 * kMiB));
    EXPECT_EQ(s.peak_in_use_bytes, static_cast<int64_t>(512 + 4 * kMiB));
}

TEST(Allocator, EmptyCacheReturnsEveryCachedBlock) {
    FakeDevice dev;
    CachingAllocator a = dev.make();
    void* p = a.allocate(512);
    void* q = a.allocate(kMiB);
    void* live = a.allocate(700);
    a.deallocate(p);
    a.deallocate(q);
    a.empty_cache();
    EXPECT_EQ(std::set<void*>(dev.freed.begin(), dev.freed.end()), std::set<void*>({p, q}));
    EXPECT_EQ(a.stats().cached_bytes, 0);
    EXPECT_EQ(a.stats().in_use_bytes, 1024);
    EXPECT_EQ(dev.live.size(), 1u);
    // After emptying, the same size needs the raw allocator again.
    a.allocate(512);
    EXPECT_EQ(dev.allocations.size(), 4u);
    a.deallocate(live);
}

TEST(Allocator, OutOfMemoryOnceEmptiesTheCacheAndRetries) {
    FakeDevice dev;
    CachingAllocator a = dev.make();
    void* cached = a.allocate(512);
    a.deallocate(cached);
    dev.fail_next = 1;
    void* p = a.allocate(8192);  // 512 cannot serve it: raw fails, cache freed, retry succeeds
    EXPECT_NE(p, nullptr);
    EXPECT_EQ(dev.freed, (std::vector<void*>{cached}));
    EXPECT_EQ(a.stats().cached_bytes, 0);
    EXPECT_EQ(a.stats().in_use_bytes, 8192);
    EXPECT_EQ(a.stats().raw_allocations, 2);
}

TEST(Allocator, OutOfMemoryAlwaysIsAClearError) {
    FakeDevice dev;
    CachingAllocator a = dev.make();
    void* live = a.allocate(1024);
    void* cached = a.allocate(512);
    a.deallocate(cached);
    dev.fail_always = true;
    EXPECT_TRUE(testing::throws_error(
        [&] { a.allocate(3 * kMiB); },
        {"fake allocator", "out of memory", "4194304 bytes", "1024 bytes in use"}));
    EXPECT_EQ(dev.freed, (std::vector<void*>{cached})) << "the cache was given back before failing";
    // Nothing changed for the live block, and the allocator still works afterwards.
    EXPECT_EQ(a.stats().in_use_bytes, 1024);
    dev.fail_always = false;
    void* p = a.allocate(1024);
    EXPECT_NE(p, nullptr);
    a.deallocate(p);
    a.deallocate(live);
}

TEST(Allocator, OutOfMemoryWithAnEmptyCacheFailsWithoutRetry) {
    FakeDevice dev;
    CachingAllocator a = dev.make();
    dev.fail_next = 1;
    EXPECT_TRUE(testing::throws_error([&] { a.allocate(100); }, {"out of memory", "512 bytes"}));
    EXPECT_EQ(dev.fail_next, 0);
    EXPECT_NE(a.allocate(100), nullptr);
}

TEST(Allocator, DeallocateOfUnknownOrNullPointerIsIgnored) {
    FakeDevice dev;
    CachingAllocator a = dev.make();
    void* p = a.allocate(512);
    int not_ours = 0;
    a.deallocate(&not_ours);
    a.deallocate(nullptr);
    EXPECT_EQ(a.stats().in_use_bytes, 512);
    EXPECT_EQ(a.stats().cached_bytes, 0);
    a.deallocate(p);
    a.deallocate(p);  // a double free is not ours either: the block is cached once
    EXPECT_EQ(a.stats().cached_bytes, 512);
    EXPECT_NE(a.allocate(512), a.allocate(512));
    EXPECT_TRUE(dev.freed.empty());
}

TEST(Allocator, DestructorReturnsCachedBlocks) {
    FakeDevice dev;
    {
        CachingAllocator a = dev.make();
        a.deallocate(a.allocate(512));
        a.deallocate(a.allocate(kMiB));
    }
    EXPECT_EQ(dev.freed.size(), 2u);
    EXPECT_TRUE(dev.live.empty());
}

// Private pools (CUDA graphs): a block allocated while routed into a pool is reused only by that
// pool, even after it is freed outside the route, until the pool is released.
TEST(AllocatorPools, PoolBlocksAreNeverHandedToTheSharedPool) {
    FakeDevice dev;
    CachingAllocator a = dev.make();
    const CachingAllocator::PoolId pool = a.create_pool();
    void* in_pool = nullptr;
    {
        CachingAllocator::PoolRoute route(a, pool);
        in_pool = a.allocate(4096);
    }
    a.deallocate(in_pool);  // freed outside the route: still the pool's
    EXPECT_EQ(a.stats().private_cached_bytes, 4096);
    EXPECT_EQ(a.stats().cached_bytes, 4096);
    void* shared = a.allocate(4096);
    EXPECT_NE(shared, in_pool) << "the shared pool must not take a private block";
    EXPECT_EQ(dev.allocations.size(), 2u);
    {
        CachingAllocator::PoolRoute route(a, pool);
        EXPECT_EQ(a.allocate(4096), in_pool) << "the pool reuses its own block";
    }
    a.deallocate(shared);
}

TEST(AllocatorPools, RoutedAllocationTakesFromTheSharedCacheBeforeRawMemory) {
    FakeDevice dev;
    CachingAllocator a = dev.make();
    void* cached = a.allocate(2048);
    a.deallocate(cached);
    const CachingAllocator::PoolId pool = a.create_pool();
    void* p = nullptr;
    {
        CachingAllocator::PoolRoute route(a, pool);
        p = a.allocate(2048);
    }
    EXPECT_EQ(p, cached);
    EXPECT_EQ(dev.allocations.size(), 1u);
    a.deallocate(p);  // now the pool's
    EXPECT_NE(a.allocate(2048), cached);
    EXPECT_EQ(a.stats().private_cached_bytes, 2048);
}

TEST(AllocatorPools, EmptyCacheAndOutOfMemoryKeepPrivateBlocks) {
    FakeDevice dev;
    CachingAllocator a = dev.make();
    const CachingAllocator::PoolId pool = a.create_pool();
    void* graph_memory = nullptr;
    {
        CachingAllocator::PoolRoute route(a, pool);
        graph_memory = a.allocate(kMiB);
    }
    a.deallocate(graph_memory);
    void* shared = a.allocate(512);
    a.deallocate(shared);
    a.empty_cache();
    EXPECT_EQ(dev.freed, (std::vector<void*>{shared}));
    EXPECT_EQ(a.stats().cached_bytes, static_cast<int64_t>(2 * kMiB));
    void* shared_again = a.allocate(512);
    a.deallocate(shared_again);
    dev.fail_next = 1;
    a.deallocate(a.allocate(8192));  // raw fails once: the retry frees the shared block only
    EXPECT_EQ(dev.freed, (std::vector<void*>{shared, shared_again}));
    EXPECT_EQ(a.stats().private_cached_bytes, static_cast<int64_t>(2 * kMiB));
}

// A routed allocation happens during a CUDA graph capture, where cudaFree invalidates the
// capture: out of memory there is a clear error, and the shared cache is left alone.
TEST(AllocatorPools, RoutedOutOfMemoryFreesNothingAndFailsClearly) {
    FakeDevice dev;
    CachingAllocator a = dev.make();
    void* shared = a.allocate(512);
    a.deallocate(shared);
    const CachingAllocator::PoolId pool = a.create_pool();
    dev.fail_next = 1;
    {
        CachingAllocator::PoolRoute route(a, pool);
        EXPECT_TRUE(testing::throws_error([&] { a.allocate(8192); },
                                          {"out of memory", "8192 bytes", "private pool"}));
    }
    EXPECT_TRUE(dev.freed.empty()) << "no raw free while routed";
    EXPECT_EQ(a.stats().cached_bytes, 512);
    EXPECT_EQ(a.allocate(512), shared) << "the shared cache is intact";
}

TEST(AllocatorPools, ReleasedPoolReturnsItsBlocksToTheSharedPool) {
    FakeDevice dev;
    CachingAllocator a = dev.make();
    const CachingAllocator::PoolId pool = a.create_pool();
    void* cached = nullptr;
    void* live = nullptr;
    {
        CachingAllocator::PoolRoute route(a, pool);
        cached = a.allocate(1024);
        live = a.allocate(4096);
    }
    a.deallocate(cached);
    a.release_pool(pool);
    EXPECT_EQ(a.stats().private_cached_bytes, 0);
    EXPECT_EQ(a.allocate(1024), cached) << "a released pool's cache is shared";
    a.deallocate(live);  // freed after the release: into the shared cache
    EXPECT_EQ(a.allocate(4096), live);
    EXPECT_EQ(dev.allocations.size(), 2u);
    a.release_pool(pool);  // twice, and unknown ids, are ignored
    a.release_pool(CachingAllocator::kSharedPool);
    a.release_pool(12345);
}

TEST(AllocatorPools, RoutesNestAndApplyToOneAllocatorAndOneThread) {
    FakeDevice dev, other_dev;
    CachingAllocator a = dev.make();
    CachingAllocator other = other_dev.make();
    const CachingAllocator::PoolId outer = a.create_pool(), inner = a.create_pool();
    EXPECT_NE(outer, inner);
    void *p_outer = nullptr, *p_inner = nullptr, *p_other = nullptr;
    void* p_thread = nullptr;
    {
        CachingAllocator::PoolRoute route_outer(a, outer);
        {
            CachingAllocator::PoolRoute route_inner(a, inner);
            p_inner = a.allocate(512);
            p_other = other.allocate(512);  // another allocator: not routed
            std::thread([&] { p_thread = a.allocate(512); }).join();  // another thread: shared
        }
        p_outer = a.allocate(1024);
    }
    for (void* p : {p_inner, p_outer, p_thread}) a.deallocate(p);
    other.deallocate(p_other);
    EXPECT_EQ(a.stats().private_cached_bytes, 512 + 1024);
    EXPECT_EQ(other.stats().private_cached_bytes, 0);
    EXPECT_EQ(a.allocate(512), p_thread) << "only the thread's shared block is in the shared cache";
    {
        CachingAllocator::PoolRoute route(a, inner);
        EXPECT_EQ(a.allocate(512), p_inner);
    }
    {
        CachingAllocator::PoolRoute route(a, outer);
        EXPECT_EQ(a.allocate(1024), p_outer);
    }
}

TEST(AllocatorPools, DestructorFreesPrivateCachedBlocksToo) {
    FakeDevice dev;
    {
        CachingAllocator a = dev.make();
        const CachingAllocator::PoolId pool = a.create_pool();
        CachingAllocator::PoolRoute route(a, pool);
        a.deallocate(a.allocate(512));
    }
    EXPECT_EQ(dev.freed.size(), 1u);
    EXPECT_TRUE(dev.live.empty());
}

TEST(Allocator, CpuAllocatorIsAlignedAndHandlesZeroBytes) {
    Allocator& cpu = cpu_allocator();
    for (size_t n : {size_t{0}, size_t{1}, size_t{63}, size_t{1000}}) {
        void* p = cpu.allocate(n);
        ASSERT_NE(p, nullptr);
        EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 64, 0u);
        cpu.deallocate(p);
    }
}

}  // namespace
}  // namespace cbnn
