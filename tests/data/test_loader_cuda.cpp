// The loaders on the GPU: the CPU loader delivering to CUDA through pinned staging buffers, and the
// GPU-resident CIFAR loader, both bitwise equal to the CPU loader's batches for the same seed.
#include <cstdint>
#include <vector>

#include "data/gpu_loader.h"
#include "data/loader.h"
#include "data/pinned_memory.h"
#include "gtest/gtest.h"
#include "tests/support/gpu.h"

namespace cbnn {
namespace {

Dataset synthetic(int64_t n) {
    Dataset d;
    for (int c = 0; c < 10; ++c) d.class_names.push_back(std::to_string(c));
    d.channels = 3;
    d.height = d.width = 32;
    d.images.resize(static_cast<size_t>(n * kCifarImageBytes));
    for (size_t i = 0; i < d.images.size(); ++i)
        d.images[i] = static_cast<uint8_t>(philox_at(5, i).x[0] >> 24);
    for (int64_t i = 0; i < n; ++i) d.labels.push_back((i * 7) % 10);
    return d;
}

void expect_same(const Batch& got, const Batch& expected, int64_t k) {
    ASSERT_TRUE(got.images.is_cuda() && got.labels.is_cuda()) << "batch " << k;
    EXPECT_EQ(got.images.shape(), expected.images.shape()) << "batch " << k;
    EXPECT_EQ(got.images.to_vector<float>(), expected.images.to_vector<float>()) << "batch " << k;
    EXPECT_EQ(got.labels.to_vector<int64_t>(), expected.labels.to_vector<int64_t>())
        << "batch " << k;
}

TEST(PinnedMemoryCuda, AllocatesPinnedAndCopies) {
    CBNN_REQUIRE_GPU();
    PinnedBuffer buf(4096);
    EXPECT_TRUE(buf.is_pinned());
    auto* p = static_cast<float*>(buf.data());
    for (int i = 0; i < 1024; ++i) p[i] = static_cast<float>(i);
    Tensor dst = Tensor::zeros({1024}, DType::f32, Device::cuda());
    buf.copy_to_device_async(dst.raw_data(), 0, 4096);
    buf.wait();
    const std::vector<float> v = dst.to_vector<float>();
    EXPECT_EQ(v[0], 0.f);
    EXPECT_EQ(v[1023], 1023.f);
}

TEST(LoaderCuda, PinnedStagingEqualsCpuBatches) {
    CBNN_REQUIRE_GPU();
    const Dataset d = synthetic(300);
    for (int threads : {0, 2}) {
        LoaderOptions o;
        o.batch_size = 64;
        o.seed = 17;
        o.num_threads = threads;
        Loader cpu(d, o);
        o.device = Device::cuda();
        Loader gpu(d, o);
        for (int64_t k = 0; k < 2 * cpu.batches_per_epoch(); ++k)
            expect_same(gpu.next(), cpu.next(), k);
    }
}

TEST(GpuLoaderCuda, BatchesEqualCpuLoader) {
    CBNN_REQUIRE_GPU();
    const Dataset d = synthetic(300);
    for (bool train : {true, false}) {
        for (bool drop_last : {false, true}) {
            LoaderOptions o;
            o.batch_size = 64;
            o.seed = 23;
            o.train = train;
            o.drop_last = drop_last;
            Loader cpu(d, o);
            GpuCifarLoader gpu(d, o);
            ASSERT_EQ(gpu.batches_per_epoch(), cpu.batches_per_epoch());
            for (int64_t k = 0; k < 3 * cpu.batches_per_epoch(); ++k)
                expect_same(gpu.next(), cpu.next(), k);
            EXPECT_EQ(gpu.state(), cpu.state());
        }
    }
}

// Stream batching (data/batch_plan.h): batches across epoch ends (300 = 4 x 64 + 44: the fifth
// batch of every epoch but some takes the next epoch's first samples), with and without shuffle,
// and after a resume into the middle of the stream and back to an earlier epoch.
TEST(GpuLoaderCuda, StreamBatchesEqualCpuLoader) {
    CBNN_REQUIRE_GPU();
    const Dataset d = synthetic(300);
    for (bool shuffle : {true, false}) {
        LoaderOptions o;
        o.batch_size = 64;
        o.seed = 29;
        o.shuffle = shuffle;
        o.batching = Batching::stream;
        Loader cpu(d, o);
        GpuCifarLoader gpu(d, o);
        for (int64_t k = 0; k < 15; ++k) {
            EXPECT_EQ(gpu.state(), cpu.state()) << k;
            expect_same(gpu.next(), cpu.next(), k);
        }
        const LoaderState middle = cpu.plan().state_of(23);
        cpu.set_state(middle);
        gpu.set_state(middle);
        for (int64_t k = 23; k < 28; ++k) expect_same(gpu.next(), cpu.next(), k);
        // Back to an earlier epoch: the GPU loader uploads that epoch's orders again.
        const LoaderState earlier = cpu.plan().state_of(3);
        cpu.set_state(earlier);
        gpu.set_state(earlier);
        for (int64_t k = 3; k < 7; ++k) expect_same(gpu.next(), cpu.next(), k);
    }
}

TEST(GpuLoaderCuda, ResumesFromState) {
    CBNN_REQUIRE_GPU();
    const Dataset d = synthetic(200);
    LoaderOptions o;
    o.batch_size = 48;
    o.seed = 8;
    Loader cpu(d, o);
    GpuCifarLoader gpu(d, o);
    cpu.set_state({3, 2});
    gpu.set_state({3, 2});
    for (int64_t k = 0; k < 4; ++k) expect_same(gpu.next(), cpu.next(), k);
}

}  // namespace
}  // namespace cbnn
