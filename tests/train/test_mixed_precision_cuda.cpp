// --precision bf16 with --cuda-graph on the GPU: the mini CIFAR run (trainer_test_support.h)
// trains in bf16 mixed precision replayed from a CUDA graph, its loss falls and stays close to the
// FP32 eager run on the same GPU; channels-last, also on cbnn's convolution kernels with the
// evaluation in the training step's precision. Skips without a GPU.
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

// The fast path of docs/performance.md: bf16 channels-last graph training on cbnn's convolution
// kernels (--conv-kernels cbnn: every convolution but the 3-channel stem; batch 32 and the 8 x 8
// to 32 x 32 planes give whole 16-row tiles), evaluated in the step's bf16 NHWC (--eval-precision
// train). Its loss follows the FP32 run as the cuDNN runs above do. The same run evaluated in f32
// NCHW trains the same bits (cbnn's kernels and the deterministic cuDNN stem sum in fixed orders,
// and the one evaluation comes after the last step), so the two evaluations differ only by bf16
// rounding of the activations (relative 2^-9 per value): the mean test loss by well under 2 %, and
// the top-1 error by the few images whose two best logits are that close (bounded at 2 % of the
// test set).
TEST(MixedPrecisionCuda, Bf16NhwcGraphOnCbnnConvKernelsEvaluatesInTrainPrecision) {
    CBNN_REQUIRE_GPU();
    CBNN_REQUIRE_DATA("cifar10-mini");
    std::ostringstream log;
    const TrainConfig fp32 =
        testing::mini_focal_config(testing::scratch_dir("cbnn_kernels_fp32"), "cuda");
    const TrainResult a = train_cifar(fp32, log);
    ASSERT_FALSE(a.diverged) << a.message;
    TrainResult runs[2];
    const char* evals[2] = {"train", "fp32"};
    for (int k = 0; k < 2; ++k) {
        SCOPED_TRACE(evals[k]);
        TrainConfig c = testing::mini_focal_config(
            testing::scratch_dir(std::string("cbnn_kernels_eval_") + evals[k]), "cuda");
        c.precision = "bf16";
        c.cuda_graph = true;
        c.layout = "nhwc";
        c.conv_kernels = "cbnn";
        c.eval_precision = evals[k];
        runs[k] = train_cifar(c, log);
        ASSERT_FALSE(runs[k].diverged) << runs[k].message << "\n" << log.str();
        ASSERT_EQ(runs[k].epoch_losses.size(), 2u);
    }
    const TrainResult& fast = runs[0];
    const TrainResult& fp32_eval = runs[1];
    std::cout << "epoch 1 loss: fp32 " << a.epoch_losses[0] << ", bf16 NHWC graph cbnn kernels "
              << fast.epoch_losses[0] << "; test loss / error, eval train "
              << fast.final_eval.mean_loss << " / " << fast.final_test_error << ", eval fp32 "
              << fp32_eval.final_eval.mean_loss << " / " << fp32_eval.final_test_error << "\n";
    EXPECT_LT(fast.epoch_losses[1], fast.epoch_losses[0]) << log.str();
    EXPECT_NEAR(fast.epoch_losses[0], a.epoch_losses[0], 0.01 * a.epoch_losses[0]);
    EXPECT_EQ(fast.epoch_losses, fp32_eval.epoch_losses);  // the same training, bit for bit
    ASSERT_TRUE(std::isfinite(fast.final_eval.mean_loss));
    EXPECT_EQ(fast.final_eval.samples, fp32_eval.final_eval.samples);
    EXPECT_NEAR(fast.final_eval.mean_loss, fp32_eval.final_eval.mean_loss,
                0.02 * fp32_eval.final_eval.mean_loss);
    EXPECT_NEAR(fast.final_test_error, fp32_eval.final_test_error, 0.02);
}

}  // namespace
}  // namespace cbnn::train
