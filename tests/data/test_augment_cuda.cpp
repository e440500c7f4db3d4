// cuda::cifar_augment against the CPU reference: bitwise equal in training and eval mode, with both
// scalings, over a batch whose stream offset crosses the 32-bit boundary of the Philox counter.
#include <cstdint>
#include <vector>

#include "data/augment.h"
#include "gtest/gtest.h"
#include "tensor/backend.h"
#include "tests/support/expect_error.h"
#include "tests/support/gpu.h"

namespace cbnn {
namespace {

Tensor random_images(int64_t n) {
    std::vector<uint8_t> bytes(static_cast<size_t>(n * kCifarImageBytes));
    for (size_t i = 0; i < bytes.size(); ++i)
        bytes[i] = static_cast<uint8_t>(philox_at(99, i).x[1] >> 24);
    return Tensor::from_vector<uint8_t>(bytes, {n, 3, 32, 32});
}

TEST(CifarAugmentCuda, BitIdenticalToCpu) {
    CBNN_REQUIRE_GPU();
    const Tensor images = random_images(300);
    std::vector<int64_t> idx;
    for (int64_t b = 0; b < 257; ++b) idx.push_back((b * 37) % 300);
    const Tensor indices = Tensor::from_vector<int64_t>(idx, {257});
    const Tensor images_gpu = images.cuda(), indices_gpu = indices.cuda();
    const CifarScaling scalings[] = {
        CifarScaling::paper(),
        CifarScaling::mean_std({0.4914, 0.4822, 0.4465}, {0.2470, 0.2435, 0.2616})};
    for (const CifarScaling& s : scalings) {
        for (bool train : {true, false}) {
            for (uint64_t offset : {uint64_t{0}, (uint64_t{1} << 32) - 100}) {
                const Tensor cpu = ops::cifar_augment(images, indices, 1234, offset, train, s);
                const Tensor gpu =
                    ops::cifar_augment(images_gpu, indices_gpu, 1234, offset, train, s);
                ASSERT_TRUE(gpu.is_cuda());
                EXPECT_EQ(gpu.to_vector<float>(), cpu.to_vector<float>())
                    << "train " << train << ", offset " << offset;
            }
        }
    }
}

TEST(CifarAugmentCuda, IndexOutOfRangeIsAnError) {
    CBNN_REQUIRE_GPU();
    const Tensor images = random_images(4).cuda();
    const Tensor bad = Tensor::from_vector<int64_t>({0, 3, 4}, {3}, Device::cuda());
    EXPECT_TRUE(testing::throws_error(
        [&] { ops::cifar_augment(images, bad, 0, 0, true, CifarScaling::paper()); },
        {"index 4", "position 2", "[0, 4)"}));
}

}  // namespace
}  // namespace cbnn
