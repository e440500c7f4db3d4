// Test-set evaluation (train/evaluate.h) on CUDA: the GPU-resident TestSet scores exactly as the
// per-batch evaluation through the host loader did on the same device and batch size; at the
// CUDA evaluation batch (kCudaEvalBatch, partial last batch) it agrees with the CPU; logits held
// back on the device are packed and scored in order. Skips without a GPU.
#include <cmath>
#include <cstdint>
#include <vector>

#include "gtest/gtest.h"
#include "losses/cb_loss.h"
#include "tests/support/gpu.h"
#include "tests/support/tolerance.h"
#include "tests/train/evaluate_test_support.h"
#include "train/evaluate.h"

namespace cbnn::train {
namespace {

using testing::eval_train_counts;
using testing::expect_same_scores;
using testing::per_batch_evaluation;

// 2,500 images: 20 batches of 128 (the last of 68), or 3 of kCudaEvalBatch (the last of 500).
constexpr int64_t kTestImages = 2500;

TEST(EvaluateCuda, GpuResidentTestSetEqualsTheHostLoaderPath) {
    CBNN_REQUIRE_GPU();
    const Dataset test = testing::synthetic_test_set(kTestImages);
    auto model = testing::eval_test_model(test);
    model->to(Device::cuda());
    const ClassBalancedLoss criterion({LossType::focal, 0.99, 1.0}, eval_train_counts(), DType::f32,
                                      Device::cuda());
    TestSet test_set(test, {128, 0, Device::cuda()});
    EXPECT_TRUE(test_set.gpu_resident());
    const EvalResult want =
        per_batch_evaluation(*model, test, eval_train_counts(), 128, Device::cuda(), &criterion);
    for (int pass = 0; pass < 2; ++pass) {
        const EvalResult got = test_set.evaluate(*model, eval_train_counts(), &criterion);
        // The same pixels (data/gpu_loader.h), batches and kernels: the same logits and losses.
        expect_same_scores(got, want, "pass " + std::to_string(pass));
        EXPECT_EQ(got.mean_loss, want.mean_loss) << "pass " << pass;
    }
}

TEST(EvaluateCuda, EvalBatchAgreesWithTheCpu) {
    CBNN_REQUIRE_GPU();
    const Dataset test = testing::synthetic_test_set(kTestImages);
    auto model = testing::eval_test_model(test);
    const ClassBalancedLoss cpu_criterion({LossType::focal, 0.99, 1.0}, eval_train_counts());
    const EvalResult cpu =
        per_batch_evaluation(*model, test, eval_train_counts(), 128, Device::cpu(), &cpu_criterion);
    model->to(Device::cuda());
    const ClassBalancedLoss criterion({LossType::focal, 0.99, 1.0}, eval_train_counts(), DType::f32,
                                      Device::cuda());
    const EvalResult gpu = evaluate(*model, test, eval_train_counts(),
                                    {kCudaEvalBatch, 0, Device::cuda()}, &criterion);
    EXPECT_EQ(gpu.samples, kTestImages);
    EXPECT_EQ(gpu.per_class_samples, cpu.per_class_samples);
    // cuDNN's sums differ from the CPU's in f32 rounding: a prediction may flip where two logits
    // nearly tie (as test_trainer_cuda); 5 of 2,500 is far more than a random-init ResNet-8 shows.
    EXPECT_LE(std::abs(gpu.top1_error - cpu.top1_error), 5.0 / kTestImages);
    EXPECT_NEAR(gpu.mean_loss, cpu.mean_loss,
                testing::kCudaVsCpu.atol + testing::kCudaVsCpu.rtol * std::abs(cpu.mean_loss));
}

// As EvaluateBatches.ScoresHeldBackLogitsInChunksInOrder on the CPU: logits, labels and losses
// packed on the device across a chunk boundary, with a partial last batch.
TEST(EvaluateCuda, HeldBackLogitsArePackedOnTheDeviceInOrder) {
    CBNN_REQUIRE_GPU();
    testing::expect_chunked_scoring_is_per_batch(Device::cuda());
}

}  // namespace
}  // namespace cbnn::train
