#pragma once
// Test-set evaluation of a classifier, shared by the trainers (every eval_every epochs and at the
// end of a run) and cbnn-eval (a saved checkpoint), so both report the same numbers.
//
//   EvalOptions o;  o.batch_size = eval_batch_size(device, 128);  o.device = device;
//   TestSet test_set(test, o);                        // once per run
//   EvalResult r = test_set.evaluate(model, train_counts, &criterion);   // every evaluation
//   EvalResult r = evaluate(model, test, train_counts, o, &criterion);  // one-off: both at once
//
// The model runs in evaluation mode (batch norm uses its running statistics) under NoGradGuard;
// its previous training/evaluation mode is restored afterwards. The test set is read in order
// (no shuffle, no augmentation: data/loader.h with train = false) in batches of batch_size, the
// last one partial. Logits and labels go to an Evaluator (train/metrics.h) batch by batch; with a
// criterion the result's mean_loss is the sample-weighted mean of the batch losses, else NaN.
//
// Cost on CUDA (the trainers evaluate every eval_every epochs, 2 in the paper's protocol): a
// TestSet uploads a CIFAR-shaped (3 x 32 x 32) test set once as uint8 (data/gpu_loader.h: 31 MB for
// 10,000 images) and normalises each batch on the GPU, bit for bit the pixels of data/loader.h. An
// evaluation does not wait for the device per batch: logits, labels and batch losses stay on the
// device until the evaluation ends or the held logits reach kEvalPendingBytes (CIFAR: never), then
// each of the three comes to the host in one copy and is scored there batch by batch, in order,
// exactly as if each batch had been scored as it came. The CPU takes the same path (its copies are
// host-to-host).
//
// Batch size: batch norm in evaluation mode and every other layer treat each sample on its own,
// so a sample's logits do not depend on the batch it is in, up to the order of floating-point
// sums inside a kernel. The CPU reference kernels sum each output in a fixed order whatever N
// is, so on the CPU results are identical for every batch size except mean_loss, whose batch
// means are summed in another grouping (a relative difference of a few f32 roundings). cuDNN and
// cuBLAS may pick another algorithm for another N: logits then differ by f32 rounding, which can
// flip a prediction whose two top logits tie to within it. eval_batch_size() is what the
// trainers and cbnn-eval use.

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/loader.h"
#include "layers/module.h"
#include "losses/cb_loss.h"
#include "tensor/device.h"
#include "tensor/dtype.h"
#include "tensor/memory_format.h"
#include "train/metrics.h"

namespace cbnn {
class GpuCifarLoader;
}

namespace cbnn::train {

// The CUDA evaluation batch: 10 batches for a 10,000-image test set, so ten forward passes' worth
// of kernel launches instead of 79 at batch 128; activations of ResNet-32 at 1000 images take
// ~65 MB per layer output (no autograd graph is kept).
inline constexpr int64_t kCudaEvalBatch = 1000;
// Logits held back on the model's device before they are copied to the host and scored (64 MiB:
// 16 M f32 logits; CIFAR's 10,000 x 100 at most take one copy, iNaturalist 2018's 24,426 x 8,142
// about a dozen).
inline constexpr int64_t kEvalPendingBytes = int64_t{64} << 20;

// How evaluation batches enter the model: the images cast to `dtype` in `format` first (one copy
// kernel). The default, f32 NCHW, is what the loaders give: no copy. The trainers' --eval-precision
// train evaluates in the training step's dtype and layout (train/train_loop.h, evaluation_input):
// faster for bf16 / channels-last runs, and logits within bf16 rounding of the FP32 ones.
struct EvalInput {
    DType dtype = DType::f32;
    MemoryFormat format = MemoryFormat::contiguous;
};

struct EvalOptions {
    int64_t batch_size = 128;
    uint64_t seed = 0;  // the loader's seed (no randomness is drawn when evaluating)
    Device device = Device::cpu();
};

// kCudaEvalBatch on CUDA; on the CPU the run's training batch (no more memory than training at that
// batch needed, and the batch the CPU evaluations have always used).
int64_t eval_batch_size(Device device, int64_t training_batch_size);

// A test set prepared once for repeated evaluation (see above: GPU-resident on CUDA for CIFAR-
// shaped data, data/loader.h otherwise). `test` must outlive it.
class TestSet {
  public:
    TestSet(const Dataset& test, const EvalOptions& options);
    ~TestSet();
    TestSet(const TestSet&) = delete;
    TestSet& operator=(const TestSet&) = delete;

    // train_counts: training images per class for the shot groups (may be empty: groups are NaN).
    EvalResult evaluate(Layer& model, const std::vector<int64_t>& train_counts,
                        const ClassBalancedLoss* criterion = nullptr, const EvalInput& input = {});
    int64_t batches() const;
    // Whether the images live on the GPU (data/gpu_loader.h).
    bool gpu_resident() const { return gpu_ != nullptr; }

  private:
    int64_t num_classes_;
    std::unique_ptr<Loader> loader_;
    std::unique_ptr<GpuCifarLoader> gpu_;
};

// TestSet(test, options).evaluate(model, train_counts, criterion).
EvalResult evaluate(Layer& model, const Dataset& test, const std::vector<int64_t>& train_counts,
                    const EvalOptions& options, const ClassBalancedLoss* criterion = nullptr);

// The same over `batches` batches from `next` (any loader: the image trainers' lazy loader).
EvalResult evaluate_batches(Layer& model, int64_t batches, const std::function<Batch()>& next,
                            int64_t num_classes, const std::vector<int64_t>& train_counts,
                            const ClassBalancedLoss* criterion = nullptr,
                            const EvalInput& input = {});

// One JSON object (NaN -> null; errors and accuracies are fractions in [0, 1]; top5_error is null
// for 5 classes or fewer, train/metrics.h):
//   {"samples", "top1_error", "top5_error", "test_loss", "balanced_accuracy",
//    "per_class": [{"name", "train_count", "test_count", "accuracy"}, ...],
//    "many"|"medium"|"few": {"accuracy", "classes", "samples"},
//    "confusion": [[...], ...]  (only with_confusion: rows true class, columns predicted)}
// class_names must have num_classes entries; train_count is null without training counts.
nlohmann::json eval_result_json(const EvalResult& result,
                                const std::vector<std::string>& class_names, bool with_confusion);

}  // namespace cbnn::train
