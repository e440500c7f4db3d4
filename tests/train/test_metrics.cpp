// Evaluator: top-1/top-5 with ties, per-class and balanced accuracy, shot groups, confusion
// matrix, mean loss, and bad-input errors, on hand-made logits.
#include <cmath>

#include "gtest/gtest.h"
#include "tensor/error.h"
#include "tests/support/gpu.h"
#include "train/metrics.h"

namespace cbnn::train {
namespace {

Tensor logits_of(const std::vector<float>& values, int64_t classes) {
    return Tensor::from_vector<float>(values,
                                      {static_cast<int64_t>(values.size()) / classes, classes});
}

Tensor labels_of(const std::vector<int64_t>& values) {
    return Tensor::from_vector<int64_t>(values, {static_cast<int64_t>(values.size())});
}

TEST(Metrics, ShotGroupBoundaries) {
    EXPECT_EQ(shot_group(101), ShotGroup::many);
    EXPECT_EQ(shot_group(100), ShotGroup::medium);
    EXPECT_EQ(shot_group(20), ShotGroup::medium);
    EXPECT_EQ(shot_group(19), ShotGroup::few);
    EXPECT_EQ(shot_group(0), ShotGroup::few);
    EXPECT_STREQ(shot_group_name(ShotGroup::medium), "medium");
}

TEST(Metrics, Top1Top5PerClassConfusionAndBalancedAccuracy) {
    // 6 classes, 4 samples.
    const Tensor logits = logits_of(
        {
            9, 1, 2, 3, 4, 5,  // label 0: top-1 hit
            9, 8, 7, 6, 5, 4,  // label 5: rank 5 -> top-1 miss (pred 0), top-5 miss
            1, 2, 3, 4, 5, 6,  // label 1: rank 4 -> top-1 miss (pred 5), top-5 hit
            0, 0, 0, 0, 0, 1,  // label 5: top-1 hit
        },
        6);
    Evaluator ev(6);
    ev.add(logits, labels_of({0, 5, 1, 5}));
    const EvalResult r = ev.result();
    EXPECT_EQ(r.samples, 4);
    EXPECT_DOUBLE_EQ(r.top1_error, 0.5);
    EXPECT_DOUBLE_EQ(r.top5_error, 0.25);
    EXPECT_TRUE(std::isnan(r.mean_loss));
    EXPECT_DOUBLE_EQ(r.per_class_accuracy[0], 1.0);
    EXPECT_DOUBLE_EQ(r.per_class_accuracy[1], 0.0);
    EXPECT_DOUBLE_EQ(r.per_class_accuracy[5], 0.5);
    EXPECT_TRUE(std::isnan(r.per_class_accuracy[2]));
    EXPECT_EQ(r.per_class_samples, (std::vector<int64_t>{1, 1, 0, 0, 0, 2}));
    EXPECT_DOUBLE_EQ(r.balanced_accuracy, (1.0 + 0.0 + 0.5) / 3.0);
    EXPECT_EQ(r.confusion_at(0, 0), 1);
    EXPECT_EQ(r.confusion_at(5, 0), 1);
    EXPECT_EQ(r.confusion_at(1, 5), 1);
    EXPECT_EQ(r.confusion_at(5, 5), 1);
    int64_t total = 0;
    for (int64_t v : r.confusion) total += v;
    EXPECT_EQ(total, 4);
    // No training counts: every shot group is empty.
    EXPECT_TRUE(std::isnan(r.many.accuracy));
    EXPECT_EQ(r.few.classes, 0);
}

TEST(Metrics, TiesGoToTheLowestClassIndex) {
    Evaluator ev(6);
    // All-equal logits: the prediction is class 0; labels 0..4 are in the top 5, label 5 is not.
    const Tensor logits = logits_of(std::vector<float>(6 * 6, 1.f), 6);
    ev.add(logits, labels_of({0, 1, 2, 3, 4, 5}));
    const EvalResult r = ev.result();
    EXPECT_DOUBLE_EQ(r.top1_error, 5.0 / 6.0);
    EXPECT_DOUBLE_EQ(r.top5_error, 1.0 / 6.0);
    for (int64_t k = 0; k < 6; ++k) EXPECT_EQ(r.confusion_at(k, 0), 1);

    // A tie between the label and a higher index counts for the label.
    Evaluator ev2(3);
    ev2.add(logits_of({0, 2, 2, 2, 2, 0}, 3), labels_of({1, 1}));
    const EvalResult r2 = ev2.result();
    EXPECT_DOUBLE_EQ(r2.top1_error, 0.5);    // second sample: tie of classes 0 and 1 -> predicts 0
    EXPECT_TRUE(std::isnan(r2.top5_error));  // fewer than 5 classes
}

// With 5 classes or fewer every label is among the top 5: no top-5 error (NaN, JSON null), rather
// than an error of 0 whatever the model.
TEST(Metrics, NoTop5ErrorForFiveClassesOrFewer) {
    EXPECT_FALSE(has_top5(2));
    EXPECT_FALSE(has_top5(5));
    EXPECT_TRUE(has_top5(6));
    Evaluator ev(5);
    ev.add(logits_of({0, 0, 0, 0, 9, 9, 0, 0, 0, 0}, 5), labels_of({0, 4}));
    const EvalResult r = ev.result();
    EXPECT_DOUBLE_EQ(r.top1_error, 1.0);
    EXPECT_TRUE(std::isnan(r.top5_error));
}

TEST(Metrics, ShotGroupsUseTrainingCountsAndMeanPerClassAccuracy) {
    // Classes 0,1 many; 2 medium; 3 few; 4 few without test samples.
    Evaluator ev(5, {500, 101, 50, 3, 1});
    const Tensor logits = logits_of(
        {
            5, 0, 0, 0, 0,  // label 0 -> 0 hit
            5, 0, 0, 0, 0,  // label 1 -> 0 miss
            0, 5, 0, 0, 0,  // label 1 -> 1 hit
            0, 5, 0, 0, 0,  // label 1 -> 1 hit
            0, 0, 5, 0, 0,  // label 2 -> 2 hit
            0, 0, 5, 0, 0,  // label 3 -> 2 miss
        },
        5);
    ev.add(logits, labels_of({0, 1, 1, 1, 2, 3}));
    const EvalResult r = ev.result();
    EXPECT_DOUBLE_EQ(r.many.accuracy, (1.0 + 2.0 / 3.0) / 2.0);
    EXPECT_EQ(r.many.classes, 2);
    EXPECT_EQ(r.many.samples, 4);
    EXPECT_DOUBLE_EQ(r.medium.accuracy, 1.0);
    EXPECT_DOUBLE_EQ(r.few.accuracy, 0.0);
    EXPECT_EQ(r.few.classes, 1);  // class 4 has no test sample
    EXPECT_EQ(&r.group(ShotGroup::few), &r.few);
    EXPECT_EQ(r.train_counts, (std::vector<int64_t>{500, 101, 50, 3, 1}));

    // A group with no class at all is NaN.
    Evaluator only_many(2, {200, 300});
    only_many.add(logits_of({1, 0}, 2), labels_of({0}));
    EXPECT_TRUE(std::isnan(only_many.result().few.accuracy));
    EXPECT_DOUBLE_EQ(only_many.result().many.accuracy, 1.0);
}

TEST(Metrics, AccumulatesBatchesAndWeightsLossBySamples) {
    Evaluator ev(2);
    ev.add(logits_of({1, 0, 1, 0, 1, 0}, 2), labels_of({0, 0, 1}), 0.5);
    ev.add(Tensor::from_vector<double>({0, 1}, {1, 2}), labels_of({1}), 2.5);
    const EvalResult r = ev.result();
    EXPECT_EQ(r.samples, 4);
    EXPECT_DOUBLE_EQ(r.top1_error, 0.25);
    EXPECT_DOUBLE_EQ(r.mean_loss, (0.5 * 3 + 2.5) / 4.0);
    ev.reset();
    EXPECT_EQ(ev.samples(), 0);
    EXPECT_TRUE(std::isnan(ev.result().top1_error));
}

TEST(Metrics, BadInputsAreClearErrors) {
    EXPECT_THROW(Evaluator(0), Error);
    EXPECT_THROW(Evaluator(3, {1, 2}), Error);
    EXPECT_THROW(Evaluator(2, {1, -2}), Error);
    Evaluator ev(3);
    const Tensor logits = logits_of({1, 2, 3, 4, 5, 6}, 3);
    EXPECT_THROW(ev.add(logits_of({1, 2, 3, 4}, 2), labels_of({0, 1})), Error);  // C mismatch
    EXPECT_THROW(ev.add(logits, labels_of({0})), Error);                         // N mismatch
    EXPECT_THROW(ev.add(logits.flatten(), labels_of({0, 1})), Error);            // not 2-D
    EXPECT_THROW(ev.add(logits, Tensor::from_vector<float>({0, 1}, {2})), Error);
    EXPECT_THROW(ev.add(Tensor::from_vector<int64_t>({1, 2, 3}, {1, 3}), labels_of({0})), Error);
    try {
        ev.add(logits, labels_of({0, 3}));
        FAIL() << "label out of range accepted";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("label 3"), std::string::npos) << e.what();
    }
    EXPECT_THROW(ev.add(logits, labels_of({-1, 0})), Error);
    EXPECT_THROW(ev.add(logits_of({1, NAN, 0}, 3), labels_of({0})), Error);
    EXPECT_EQ(ev.samples(), 0);  // nothing of a rejected batch was counted
    EXPECT_THROW(ev.result().confusion_at(3, 0), Error);
}

TEST(Metrics, CudaLogitsMatchCpu) {
    CBNN_REQUIRE_GPU();
    const Tensor logits = logits_of({3, 1, 2, 0, 0, 5, 1, 1, 2, 7, 0, 0}, 3);
    const Tensor labels = labels_of({0, 2, 2, 0});
    Evaluator cpu_ev(3), cuda_ev(3);
    cpu_ev.add(logits, labels);
    cuda_ev.add(logits.cuda(), labels.cuda());
    EXPECT_EQ(cpu_ev.result().confusion, cuda_ev.result().confusion);
    EXPECT_DOUBLE_EQ(cpu_ev.result().top1_error, cuda_ev.result().top1_error);
}

}  // namespace
}  // namespace cbnn::train
