// Test-set evaluation (train/evaluate.h) on the CPU: TestSet / evaluate() score exactly as the
// per-batch evaluation did (every batch's loss read back and its logits scored as they came), for
// batch sizes that divide the test set and ones that leave a partial last batch; another batch
// size changes only the rounding of the mean loss; logits held back beyond kEvalPendingBytes are
// scored in chunks, in order; the model's mode is restored. The CUDA path is in
// test_evaluate_cuda.cpp.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "losses/cb_loss.h"
#include "tests/support/host.h"
#include "tests/support/random.h"
#include "tests/support/tolerance.h"
#include "tests/train/evaluate_test_support.h"
#include "train/evaluate.h"

namespace cbnn::train {
namespace {

using testing::eval_train_counts;
using testing::expect_same_scores;
using testing::per_batch_evaluation;
using testing::synthetic_test_set;

constexpr int64_t kTestImages = 60;

// 7: 8 full batches and one of 4; 10 and 60 divide 60; 64 is one partial batch.
const int64_t kBatchSizes[] = {7, 10, 60, 64};

ClassBalancedLoss focal_criterion() {
    return ClassBalancedLoss({LossType::focal, 0.99, 1.0}, eval_train_counts());
}

TEST(Evaluate, EqualsThePerBatchEvaluationBitForBit) {
    const Dataset test = synthetic_test_set(kTestImages);
    auto model = testing::eval_test_model(test);
    const ClassBalancedLoss criterion = focal_criterion();
    for (int64_t batch : kBatchSizes) {
        for (const ClassBalancedLoss* loss :
             {&criterion, static_cast<const ClassBalancedLoss*>(nullptr)}) {
            const std::string where =
                "batch " + std::to_string(batch) + (loss != nullptr ? ", focal" : ", no criterion");
            const EvalResult want =
                per_batch_evaluation(*model, test, eval_train_counts(), batch, Device::cpu(), loss);
            const EvalResult got =
                evaluate(*model, test, eval_train_counts(), {batch, 0, Device::cpu()}, loss);
            expect_same_scores(got, want, where);
            // Same batches, same kernels, and each batch loss enters the same double sum in the
            // same order as the same float: exactly equal.
            EXPECT_PRED2(testing::same_double, got.mean_loss, want.mean_loss) << where;
            EXPECT_EQ(got.samples, kTestImages) << where;
            EXPECT_EQ(std::isnan(got.mean_loss), loss == nullptr) << where;
        }
    }
}

// Batch norm uses its running statistics in evaluation mode and the CPU kernels sum each output in
// a fixed order whatever N is, so every prediction is the same for every batch size. The mean
// loss is the sample-weighted mean of batch means: each batch's f32 loss is (1/N) sum of f32 row
// losses (w[y]/N) l, rounded per batch, so another grouping moves it by a few f32 roundings
// (measured: at most 3.3e-8 relative, at batch 7; allowed 4e-7, about six roundings of 6e-8:
// on each side the scale w[y]/N, the product and the batch loss's own rounding to f32).
TEST(Evaluate, BatchSizeChangesOnlyTheRoundingOfTheMeanLoss) {
    const Dataset test = synthetic_test_set(kTestImages);
    auto model = testing::eval_test_model(test);
    const ClassBalancedLoss criterion = focal_criterion();
    const EvalResult one_batch = per_batch_evaluation(*model, test, eval_train_counts(),
                                                      kTestImages, Device::cpu(), &criterion);
    ASSERT_TRUE(std::isfinite(one_batch.mean_loss));
    // Not a degenerate model: some but not all predictions right, several classes predicted.
    EXPECT_GT(one_batch.top1_error, 0.0);
    EXPECT_LT(one_batch.top1_error, 1.0);
    for (int64_t batch : {int64_t{1}, int64_t{7}, int64_t{10}, int64_t{64}}) {
        const std::string where = "batch " + std::to_string(batch);
        const EvalResult got =
            evaluate(*model, test, eval_train_counts(), {batch, 0, Device::cpu()}, &criterion);
        expect_same_scores(got, one_batch, where);
        EXPECT_NEAR(got.mean_loss, one_batch.mean_loss, 4e-7 * std::abs(one_batch.mean_loss))
            << where;
    }
}

TEST(TestSet, RepeatedEvaluationsAgreeAndRestoreTheModelsMode) {
    const Dataset test = synthetic_test_set(kTestImages);
    auto model = testing::eval_test_model(test);
    const ClassBalancedLoss criterion = focal_criterion();
    TestSet test_set(test, {7, 0, Device::cpu()});
    EXPECT_FALSE(test_set.gpu_resident());
    EXPECT_EQ(test_set.batches(), 9);
    for (bool training : {true, false, true}) {
        model->train(training);
        const EvalResult got = test_set.evaluate(*model, eval_train_counts(), &criterion);
        EXPECT_EQ(model->is_training(), training);
        const EvalResult want =
            per_batch_evaluation(*model, test, eval_train_counts(), 7, Device::cpu(), &criterion);
        expect_same_scores(got, want, training ? "from training mode" : "from evaluation mode");
        EXPECT_EQ(got.mean_loss, want.mean_loss);
    }
}

TEST(TestSet, RejectsABatchSizeBelowOne) {
    const Dataset test = synthetic_test_set(10);
    EXPECT_THROW(TestSet(test, {0, 0, Device::cpu()}), Error);
}

TEST(Evaluate, EvalBatchSizeIsTheRunsOnTheCpu) {
    EXPECT_EQ(eval_batch_size(Device::cpu(), 32), 32);
    EXPECT_EQ(eval_batch_size(Device::cuda(), 32), kCudaEvalBatch);
}

// 11 batches of 2,000-class f32 logits, 8 MB each: the first 9 pass kEvalPendingBytes and are
// scored together, the last two (one partial) at the end (evaluate_test_support.h).
TEST(EvaluateBatches, ScoresHeldBackLogitsInChunksInOrder) {
    testing::expect_chunked_scoring_is_per_batch(Device::cpu());
}

// A NaN logit is still an error, and the model is back in training mode afterwards.
TEST(EvaluateBatches, NanLogitsThrowAndTheModeIsRestored) {
    class NanModel : public Layer {
      public:
        std::string type_name() const override { return "NanModel"; }
        Tensor forward(const Tensor& x) override {
            return Tensor::full({x.size(0), 3}, std::nan(""), DType::f32);
        }
    } model;
    model.train();
    const Batch batch{Tensor::zeros({2, 1}), Tensor::from_vector<int64_t>({0, 1}, {2})};
    EXPECT_THROW(evaluate_batches(
                     model, 2, [&] { return batch; }, 3, {}, nullptr),
                 Error);
    EXPECT_TRUE(model.is_training());
}

// EvalInput: each batch reaches the model cast to the input's dtype and format; the default
// passes the loader's f32 NCHW batch through as it is (the same tensor: no copy).
TEST(EvaluateBatches, BatchesReachTheModelInTheEvalInputsDtypeAndFormat) {
    class RecordingModel : public Layer {
      public:
        std::string type_name() const override { return "RecordingModel"; }
        Tensor forward(const Tensor& x) override {
            inputs.push_back(x);
            return Tensor::zeros({x.size(0), 3}, DType::f32);
        }
        std::vector<Tensor> inputs;
    } model;
    const Tensor images = testing::random_tensor({2, 4, 3, 3}, -1, 1, 7, DType::f32);
    const Batch batch{images, Tensor::from_vector<int64_t>({0, 1}, {2})};
    evaluate_batches(
        model, 1, [&] { return batch; }, 3, {}, nullptr);
    ASSERT_EQ(model.inputs.size(), 1u);
    EXPECT_TRUE(model.inputs[0].is_same(images));
    evaluate_batches(model, 1, [&] { return batch; }, 3, {}, nullptr,
                     {DType::bf16, MemoryFormat::channels_last});
    ASSERT_EQ(model.inputs.size(), 2u);
    EXPECT_EQ(model.inputs[1].dtype(), DType::bf16);
    EXPECT_EQ(model.inputs[1].memory_format(), MemoryFormat::channels_last);
    EXPECT_EQ(testing::host_values(model.inputs[1]), testing::host_values(images.to(DType::bf16)));
}

}  // namespace
}  // namespace cbnn::train
