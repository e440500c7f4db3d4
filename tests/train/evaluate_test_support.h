#pragma once
// Shared by test_evaluate.cpp and test_evaluate_cuda.cpp: a synthetic CIFAR-shaped test set, a
// ResNet-8 whose batch-norm running statistics are not the initial ones, the per-batch evaluation
// as train/evaluate.cpp did it before TestSet (the reference the new path must equal), a model of
// large hashed logits for the chunked scoring, and a field-by-field comparison of two EvalResults.
#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "autograd/grad_mode.h"
#include "data/augment.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "gtest/gtest.h"
#include "losses/cb_loss.h"
#include "models/resnet_cifar.h"
#include "tensor/philox.h"
#include "train/evaluate.h"
#include "train/metrics.h"

namespace cbnn::testing {

inline constexpr int64_t kEvalClasses = 10;

// Shot groups: many (500, 200, 101), medium (100, 50, 20), few (19, 10, 5, 1).
inline std::vector<int64_t> eval_train_counts() {
    return {500, 200, 101, 100, 50, 20, 19, 10, 5, 1};
}

// n random 3 x 32 x 32 images; every class has samples once n >= 10.
inline Dataset synthetic_test_set(int64_t n) {
    Dataset d;
    for (int64_t c = 0; c < kEvalClasses; ++c) d.class_names.push_back(std::to_string(c));
    d.channels = kCifarChannels;
    d.height = d.width = kCifarSize;
    d.images.resize(static_cast<size_t>(n * kCifarImageBytes));
    for (size_t i = 0; i < d.images.size(); ++i)
        d.images[i] = static_cast<uint8_t>(philox_at(11, i).x[0] >> 24);
    for (int64_t i = 0; i < n; ++i) d.labels.push_back((i * 7 + i / 10) % kEvalClasses);
    return d;
}

// ResNet-8 for 10 classes; one training-mode forward over `warm_up` moves its running statistics
// off (0, 1), so evaluation mode and batch statistics would give different logits.
inline std::unique_ptr<ResNetCifar> eval_test_model(const Dataset& data) {
    Generator gen(5);
    ResNetCifarOptions o;
    o.depth = 8;
    o.num_classes = kEvalClasses;
    auto model = std::make_unique<ResNetCifar>(o, gen);
    LoaderOptions lo;
    lo.batch_size = 32;
    lo.num_threads = 0;
    Loader loader(data, lo);
    NoGradGuard no_grad;
    model->train();
    model->forward(loader.next().images);
    return model;
}

// The per-batch evaluation of train/evaluate.cpp before TestSet: each batch's loss read back to
// the host (.cpu().item<float>()) and its logits added to the Evaluator as they come.
inline train::EvalResult per_batch_evaluation(Layer& model, int64_t batches,
                                              const std::function<Batch()>& next,
                                              int64_t num_classes,
                                              const std::vector<int64_t>& train_counts,
                                              const ClassBalancedLoss* criterion) {
    train::Evaluator evaluator(num_classes, train_counts);
    NoGradGuard no_grad;
    const bool was_training = model.is_training();
    model.eval();
    for (int64_t b = 0; b < batches; ++b) {
        const Batch batch = next();
        const Tensor logits = model.forward(batch.images);
        if (criterion != nullptr)
            evaluator.add(logits, batch.labels,
                          (*criterion)(logits, batch.labels).cpu().item<float>());
        else
            evaluator.add(logits, batch.labels);
    }
    model.train(was_training);
    return evaluator.result();
}

// The same over a dataset through data/loader.h (no shuffle, no augmentation), as evaluate() was.
inline train::EvalResult per_batch_evaluation(Layer& model, const Dataset& test,
                                              const std::vector<int64_t>& train_counts,
                                              int64_t batch_size, Device device,
                                              const ClassBalancedLoss* criterion) {
    LoaderOptions o;
    o.batch_size = batch_size;
    o.shuffle = false;
    o.train = false;
    o.num_threads = 0;
    o.device = device;
    Loader loader(test, o);
    return per_batch_evaluation(
        model, loader.batches_per_epoch(), [&] { return loader.next(); }, test.num_classes(),
        train_counts, criterion);
}

// A stand-in model whose logits are a fixed function of the sample number it is given as its
// single input feature: large logits without the cost of a network.
class HashLogits : public Layer {
  public:
    explicit HashLogits(int64_t classes) : classes_(classes) {}
    std::string type_name() const override { return "HashLogits"; }
    Tensor forward(const Tensor& x) override {
        const std::vector<float> ids = x.to_vector<float>();
        std::vector<float> logits(ids.size() * static_cast<size_t>(classes_));
        for (size_t i = 0; i < ids.size(); ++i)
            for (int64_t j = 0; j < classes_; ++j) {
                const auto k = static_cast<uint64_t>(ids[i]) * 1000003u + static_cast<uint64_t>(j);
                logits[i * static_cast<size_t>(classes_) + static_cast<size_t>(j)] =
                    static_cast<float>((k * 2654435761u) % 100003u) / 100003.0f;
            }
        return Tensor::from_vector<float>(logits, {static_cast<int64_t>(ids.size()), classes_},
                                          x.device());
    }

  private:
    int64_t classes_;
};

// Batch b of `sizes`: its sample numbers as (n, 1) inputs and labels j mod classes.
inline std::function<Batch()> numbered_batches(const std::vector<int64_t>& sizes, int64_t classes,
                                               Device device, size_t& next_batch) {
    return [&sizes, classes, device, &next_batch] {
        int64_t first = 0;
        for (size_t b = 0; b < next_batch; ++b) first += sizes[b];
        const int64_t n = sizes[next_batch++];
        std::vector<float> ids;
        std::vector<int64_t> labels;
        for (int64_t i = first; i < first + n; ++i) {
            ids.push_back(static_cast<float>(i));
            labels.push_back((i * 13) % classes);
        }
        return Batch{Tensor::from_vector<float>(ids, {n, 1}, device),
                     Tensor::from_vector<int64_t>(labels, {n}, device)};
    };
}

inline bool same_double(double a, double b) { return a == b || (std::isnan(a) && std::isnan(b)); }

// Everything but mean_loss equal (NaN equals NaN); the caller checks mean_loss.
inline void expect_same_scores(const train::EvalResult& got, const train::EvalResult& want,
                               const std::string& where) {
    EXPECT_EQ(got.num_classes, want.num_classes) << where;
    EXPECT_EQ(got.samples, want.samples) << where;
    EXPECT_PRED2(same_double, got.top1_error, want.top1_error) << where;
    EXPECT_PRED2(same_double, got.top5_error, want.top5_error) << where;
    EXPECT_PRED2(same_double, got.balanced_accuracy, want.balanced_accuracy) << where;
    ASSERT_EQ(got.per_class_accuracy.size(), want.per_class_accuracy.size()) << where;
    for (size_t c = 0; c < want.per_class_accuracy.size(); ++c)
        EXPECT_PRED2(same_double, got.per_class_accuracy[c], want.per_class_accuracy[c])
            << where << ", class " << c;
    EXPECT_EQ(got.per_class_samples, want.per_class_samples) << where;
    EXPECT_EQ(got.train_counts, want.train_counts) << where;
    EXPECT_EQ(got.confusion, want.confusion) << where;
    for (train::ShotGroup g :
         {train::ShotGroup::many, train::ShotGroup::medium, train::ShotGroup::few}) {
        EXPECT_PRED2(same_double, got.group(g).accuracy, want.group(g).accuracy)
            << where << ", " << train::shot_group_name(g);
        EXPECT_EQ(got.group(g).classes, want.group(g).classes) << where;
        EXPECT_EQ(got.group(g).samples, want.group(g).samples) << where;
    }
}

// 11 batches of 2,000-class f32 logits (HashLogits) on `device`, 8 MB each: batches 0..8 pass
// kEvalPendingBytes and are scored together, the last two (one partial) at the end. Every batch
// must still count with its own size and its own loss: exactly the per-batch result.
inline void expect_chunked_scoring_is_per_batch(Device device) {
    constexpr int64_t kClasses = 2000;
    const std::vector<int64_t> sizes = {1000, 1000, 1000, 1000, 1000, 1000,
                                        1000, 1000, 1000, 1000, 437};
    int64_t total = 0;
    for (int64_t n : sizes) total += n;
    const int64_t batch_bytes = 1000 * kClasses * 4;
    ASSERT_LT(8 * batch_bytes, train::kEvalPendingBytes);  // the first chunk is batches 0..8
    ASSERT_GE(9 * batch_bytes, train::kEvalPendingBytes);
    const ClassBalancedLoss criterion({LossType::softmax, 0.0, 0.0},
                                      std::vector<int64_t>(kClasses, 1), DType::f32, device);
    HashLogits model(kClasses);
    const auto batches = static_cast<int64_t>(sizes.size());
    size_t next_batch = 0;
    const train::EvalResult got = train::evaluate_batches(
        model, batches, numbered_batches(sizes, kClasses, device, next_batch), kClasses, {},
        &criterion);
    next_batch = 0;
    const train::EvalResult want =
        per_batch_evaluation(model, batches, numbered_batches(sizes, kClasses, device, next_batch),
                             kClasses, {}, &criterion);
    expect_same_scores(got, want, "chunks");
    EXPECT_EQ(got.samples, total);
    EXPECT_EQ(got.mean_loss, want.mean_loss);
    EXPECT_TRUE(std::isfinite(got.mean_loss));
}

}  // namespace cbnn::testing
