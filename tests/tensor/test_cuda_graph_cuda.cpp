// CudaGraph (tensor/cuda_graph.h): capture and replay of cbnn ops, the private memory pool
// (outputs allocated in the capture are rewritten by every replay, replays allocate nothing),
// and a capture that synchronises with the host failing cleanly. Skips without a GPU.
#include <vector>

#include "autograd/functions.h"
#include "autograd/grad_mode.h"
#include "gtest/gtest.h"
#include "tensor/allocator.h"
#include "tensor/cuda_graph.h"
#include "tests/support/expect_error.h"
#include "tests/support/gpu.h"
#include "tests/support/random.h"
#include "tests/support/tolerance.h"

namespace cbnn {
namespace {

using testing::random_tensor;

TEST(CudaGraphCuda, ReplayRecomputesFromTheCurrentInputs) {
    CBNN_REQUIRE_GPU();
    NoGradGuard no_grad;
    Tensor x = random_tensor({1000}, -1, 1, 1, DType::f32).cuda();
    Tensor y;  // allocated inside the capture: lives in the graph's pool
    CudaGraph graph;
    EXPECT_FALSE(graph.captured());
    graph.capture([&] { y = exp(x) * 2.0 + x; });
    ASSERT_TRUE(graph.captured());
    // The inputs are uploaded first: an upload may need a raw allocation of its own (the shared
    // cache is empty when this test runs alone), which is not the replay's.
    std::vector<Tensor> inputs, uploaded;
    for (uint64_t seed : {2, 3, 4}) {
        inputs.push_back(random_tensor({1000}, -1, 1, seed, DType::f32));
        uploaded.push_back(inputs.back().cuda());
    }
    for (size_t i = 0; i < inputs.size(); ++i) {
        x.copy_(uploaded[i]);
        const AllocatorStats before = cuda_memory_stats();
        graph.replay();
        const AllocatorStats after = cuda_memory_stats();
        EXPECT_EQ(after.raw_allocations, before.raw_allocations) << "replays allocate nothing";
        EXPECT_EQ(after.cache_hits, before.cache_hits) << "replays allocate nothing";
        EXPECT_TRUE(testing::all_close(y, exp(inputs[i]) * 2.0 + inputs[i], testing::kCudaVsCpu))
            << "input " << i;
    }
}

TEST(CudaGraphCuda, BlocksFreedDuringCaptureStayTheGraphs) {
    CBNN_REQUIRE_GPU();
    NoGradGuard no_grad;
    const Tensor x = random_tensor({4096}, -1, 1, 5, DType::f32).cuda();
    Tensor out;
    CudaGraph graph;
    // The temporary x * 3 is freed inside the capture; its block must not go to the shared cache
    // (the replay writes it again).
    graph.capture([&] { out = sum(x * 3.0); });
    Tensor other = Tensor::zeros({4096}, DType::f32, Device::cuda());  // same size, shared pool
    graph.replay();
    const std::vector<double> zeros = testing::host_values(other);
    for (double v : zeros) ASSERT_EQ(v, 0.0) << "a replay wrote into a shared block";
    EXPECT_NEAR(out.cpu().item<float>(), 3.0 * sum(x).cpu().item<float>(), 1e-3);
}

TEST(CudaGraphCuda, HostSynchronisationFailsTheCaptureCleanly) {
    CBNN_REQUIRE_GPU();
    NoGradGuard no_grad;
    const Tensor x = random_tensor({64}, -1, 1, 6, DType::f32).cuda();
    CudaGraph graph;
    EXPECT_TRUE(testing::throws_error([&] { graph.capture([&] { (x * 2.0).cpu(); }); },
                                      {"cuda graph", "capture failed"}));
    EXPECT_FALSE(graph.captured());
    EXPECT_TRUE(testing::throws_error([&] { graph.replay(); }, {"before capture"}));
    // The stream works normally afterwards.
    EXPECT_TRUE(testing::all_close(x * 2.0, x.cpu() * 2.0, testing::kCudaVsCpu));
    CudaGraph second;
    Tensor y;
    second.capture([&] { y = x + 1.0; });
    EXPECT_TRUE(testing::throws_error([&] { second.capture([] {}); }, {"already captured"}));
    second.replay();
    EXPECT_TRUE(testing::all_close(y, x.cpu() + 1.0, testing::kCudaVsCpu));
}

TEST(CudaGraphCuda, DestroyingTheGraphReturnsItsMemoryToTheSharedCache) {
    CBNN_REQUIRE_GPU();
    NoGradGuard no_grad;
    const Tensor x = random_tensor({1 << 20}, -1, 1, 7, DType::f32).cuda();
    {
        CudaGraph graph;
        graph.capture([&] {
            Tensor t = x * 2.0;
            (void)t;
        });
        graph.replay();
        EXPECT_GE(cuda_memory_stats().private_cached_bytes, int64_t{4} << 20);
    }
    EXPECT_EQ(cuda_memory_stats().private_cached_bytes, 0);
}

}  // namespace
}  // namespace cbnn
