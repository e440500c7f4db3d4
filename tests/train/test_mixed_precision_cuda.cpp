// --precision bf16 with --cuda-graph on the GPU: the mini CIFAR run (trainer_test_support.h)
// trains in bf16 mixed precision replayed from a CUDA graph, its loss falls and stays close to the
// FP32 eager run on the same GPU. Skips without a GPU.
#include <cmath>
#include <iostream>
#include <sstream>
#include <string>

#include "gtest/gtest.h"
#include "tests/support/gpu.h"
#include "tests/support/scratch.h"
#include "tests/train/trainer_test_support.h"
#include "train/trainer.h"

namespace cbnn::train {
namespace {

TEST(MixedPrecisionCuda, Bf16GraphTrainingFollowsTheFp32Run) {
    CBNN_REQUIRE_GPU();
    CBNN_REQUIRE_DATA("cifar10-mini");
    std::ostringstream log;
    TrainConfig fp32 = testing::mini_focal_config(testing::scratch_dir("mixed_cuda_fp32"), "cuda");
    TrainConfig bf16 = testing::mini_focal_config(testing::scratch_dir("mixed_cuda_bf16"), "cuda");
    bf16.precision = "bf16";
    bf16.cuda_graph = true;
    const TrainResult a = train_cifar(fp32, log), b = train_cifar(bf16, log);
    ASSERT_FALSE(a.diverged) << a.message;
    ASSERT_FALSE(b.diverged) << b.message << "\n" << log.str();
    ASSERT_EQ(b.epoch_losses.size(), 2u);
    for (size_t e = 0; e < 2; ++e) {
        std::cout << "epoch " << e + 1 << " loss: fp32 " << a.epoch_losses[e] << ", bf16 + graph "
                  << b.epoch_losses[e] << "\n";
    }
    EXPECT_LT(b.epoch_losses[1], b.epoch_losses[0]) << log.str();
    // The same bound as the CPU test (test_mixed_precision.cpp), where it is explained.
    EXPECT_NEAR(b.epoch_losses[0], a.epoch_losses[0], 0.01 * a.epoch_losses[0]);
    EXPECT_TRUE(std::isfinite(b.final_test_error));
}

// The same run channels-last (--layout nhwc), with each batch-norm implementation: the layers'
// NHWC kernels (cuDNN's convolutions and batch norm, cbnn's batch norm, pooling) inside a graph.
TEST(MixedPrecisionCuda, Bf16NhwcGraphTrainingFollowsTheFp32Run) {
    CBNN_REQUIRE_GPU();
    CBNN_REQUIRE_DATA("cifar10-mini");
    std::ostringstream log;
    TrainConfig fp32 = testing::mini_focal_config(testing::scratch_dir("nhwc_cuda_fp32"), "cuda");
    const TrainResult a = train_cifar(fp32, log);
    ASSERT_FALSE(a.diverged) << a.message;
    for (const char* bn : {"cudnn", "cbnn"}) {
        SCOPED_TRACE(bn);
        TrainConfig c = testing::mini_focal_config(
            testing::scratch_dir(std::string("nhwc_cuda_bf16_") + bn), "cuda");
        c.precision = "bf16";
        c.cuda_graph = true;
        c.layout = "nhwc";
        c.bn_kernels = bn;
        const TrainResult b = train_cifar(c, log);
        ASSERT_FALSE(b.diverged) << b.message << "\n" << log.str();
        ASSERT_EQ(b.epoch_losses.size(), 2u);
        std::cout << bn << ": epoch 1 loss fp32 " << a.epoch_losses[0] << ", bf16 + graph + NHWC "
                  << b.epoch_losses[0] << "\n";
        EXPECT_LT(b.epoch_losses[1], b.epoch_losses[0]) << log.str();
        // The bound of the NCHW bf16 test above (layouts change summation orders only).
        EXPECT_NEAR(b.epoch_losses[0], a.epoch_losses[0], 0.01 * a.epoch_losses[0]);
        EXPECT_TRUE(std::isfinite(b.final_test_error));
    }
}

}  // namespace
}  // namespace cbnn::train
