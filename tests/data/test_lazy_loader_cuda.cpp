// The lazy image loader delivering to CUDA through pinned staging buffers: its batches equal the
// CPU loader's bit for bit (the decoding and augmentation run on the host either way).
#include "data/lazy_loader.h"
#include "gtest/gtest.h"
#include "tests/support/gpu.h"
#include "tests/train/tiny_image_set.h"

namespace cbnn {
namespace {

TEST(LazyLoaderCuda, PinnedStagingEqualsTheCpuBatches) {
    CBNN_REQUIRE_GPU();
    const auto set = testing::write_tiny_image_set("lazy_cuda");
    const ImageList list = list_image_folder(set.root + "/train");
    LazyLoaderOptions o;
    o.loader.batch_size = 4;
    o.loader.seed = 3;
    o.loader.num_threads = 2;
    o.augment.size = 32;
    LazyImageLoader cpu(list, o);
    o.loader.device = Device::cuda(0);
    LazyImageLoader gpu(list, o);
    for (int64_t k = 0; k < 7; ++k) {  // into the second epoch
        const Batch want = cpu.next(), got = gpu.next();
        ASSERT_TRUE(got.images.is_cuda() && got.labels.is_cuda()) << "batch " << k;
        EXPECT_EQ(got.images.to_vector<float>(), want.images.to_vector<float>()) << "batch " << k;
        EXPECT_EQ(got.labels.to_vector<int64_t>(), want.labels.to_vector<int64_t>())
            << "batch " << k;
    }
}

}  // namespace
}  // namespace cbnn
