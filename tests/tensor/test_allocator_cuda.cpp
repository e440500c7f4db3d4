// The CUDA caching allocator in use: a loop of identical op calls reuses its blocks.
#include "autograd/functions.h"
#include "gtest/gtest.h"
#include "tensor/allocator.h"
#include "tests/support/gpu.h"
#include "tests/support/random.h"

namespace cbnn {
namespace {

TEST(AllocatorCuda, RepeatedOpsMakeNoNewRawAllocations) {
    CBNN_REQUIRE_GPU();
    const Tensor x = testing::random_tensor({256, 1000}, -1, 1, 1, DType::f32).cuda();
    const Tensor w = testing::random_tensor({1000}, -1, 1, 2, DType::f32).cuda();
    auto step = [&] {
        Tensor p = x.detach();
        p.set_requires_grad();
        Tensor loss = sum(logsumexp(p * w, 1) + sum(sigmoid(p).narrow(1, 0, 10), 1));
        loss.backward();
        return loss;
    };
    step();
    const AllocatorStats first = cuda_memory_stats();
    for (int i = 0; i < 99; ++i) step();
    const AllocatorStats after = cuda_memory_stats();
    EXPECT_EQ(after.raw_allocations, first.raw_allocations)
        << "identical iterations must be served from the cache";
    EXPECT_GT(after.cache_hits, first.cache_hits + 99 * 5);
    EXPECT_LE(after.peak_in_use_bytes, first.peak_in_use_bytes);
    EXPECT_GT(after.cached_bytes + after.in_use_bytes, 0);
}

TEST(AllocatorCuda, EmptyCacheReturnsCachedBytes) {
    CBNN_REQUIRE_GPU();
    { const Tensor t = Tensor::zeros({1 << 20}, DType::f32, Device::cuda()); }
    EXPECT_GT(cuda_memory_stats().cached_bytes, 0);
    cuda_empty_cache();
    EXPECT_EQ(cuda_memory_stats().cached_bytes, 0);
    const int64_t raw = cuda_memory_stats().raw_allocations;
    const Tensor again = Tensor::zeros({1 << 20}, DType::f32, Device::cuda());
    EXPECT_EQ(cuda_memory_stats().raw_allocations, raw + 1);
}

}  // namespace
}  // namespace cbnn
