// Checkpoint evaluation (train/eval_checkpoint.h) on CUDA: a checkpoint trained on the GPU
// evaluates on the GPU to the trainer's own final evaluation, and on the CPU to nearly the same
// numbers. Skips without a GPU or without ../shared/data. Passed on an H100 (2026-11-26).
#include <cmath>
#include <sstream>
#include <string>

#include "gtest/gtest.h"
#include "tests/data/data_test_support.h"
#include "tests/support/gpu.h"
#include "tests/support/tolerance.h"
#include "tests/train/trainer_test_support.h"
#include "train/eval_checkpoint.h"
#include "train/trainer.h"

namespace cbnn::train {
namespace {

TEST(EvalCuda, GpuCheckpointEvaluatesAsTheTrainerDid) {
    CBNN_REQUIRE_GPU();
    CBNN_REQUIRE_DATA("cifar10-mini");
    TrainConfig c = testing::mini_focal_config(testing::scratch_dir("eval_cuda") + "/run", "cuda");
    c.epochs = 1;
    std::ostringstream log;
    const TrainResult trained = train_cifar(c, log);
    ASSERT_FALSE(trained.diverged) << trained.message;

    CheckpointEvalOptions o;
    o.checkpoint = checkpoint_path(c);
    o.device = "cuda";
    const CheckpointEval gpu = evaluate_checkpoint(o);
    // Same device, batch size and code path as the trainer's evaluation.
    EXPECT_EQ(gpu.result.top1_error, trained.final_eval.top1_error);
    EXPECT_EQ(gpu.result.confusion, trained.final_eval.confusion);
    EXPECT_NEAR(gpu.result.mean_loss, trained.final_eval.mean_loss,
                testing::kCudaVsCpu.atol +
                    testing::kCudaVsCpu.rtol * std::abs(trained.final_eval.mean_loss));

    o.device = "cpu";
    const CheckpointEval cpu = evaluate_checkpoint(o);
    EXPECT_EQ(cpu.result.train_counts, trained.train_counts);
    // 200 test images: a prediction may flip where two logits nearly tie (as test_trainer_cuda).
    EXPECT_LE(std::abs(cpu.result.top1_error - gpu.result.top1_error), 0.03);
}

}  // namespace
}  // namespace cbnn::train
