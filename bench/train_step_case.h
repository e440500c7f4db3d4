#pragma once
// The case and the step under test of bench/bench_train_step.cpp: what a case is (Case, read from
// a benchmark's arguments by case_of, and the argument lists themselves), the process-wide kernel
// choices it makes for its scope (KernelSettings), the model, loss, optimiser and data of one
// case on the GPU (TrainStep), and the warm-up and per-case error handling that every benchmark
// there shares. Kept apart from the benchmark bodies and their registrations so that the file that
// documents and registers the cases stays short enough to read (DESIGN.md's file-size guideline),
// and from the breakdown's instruments (bench/step_breakdown.h), which only BM_StepBreakdown uses.
//
// Included by bench/bench_train_step.cpp only (CMake builds one executable per bench/bench_*.cpp),
// so everything here stays in the anonymous namespace it had in that file: a second includer would
// get its own copies.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bench/bench_util.h"
#include "data/gpu_loader.h"
#include "data/long_tail.h"
#include "layers/batchnorm2d.h"
#include "layers/conv2d.h"
#include "layers/conv2d_algorithms.h"
#include "layers/conv2d_igemm.h"
#include "layers/module.h"
#include "losses/cb_loss.h"
#include "models/resnet.h"
#include "models/resnet_cifar.h"
#include "tensor/allocator.h"
#include "tensor/rng.h"
#include "train/sgd.h"
#include "train/train_step.h"

namespace cbnn::bench {
namespace {

constexpr int kWarmupSteps = 3;
constexpr int kGraphWarmupSteps = 2;  // eager steps before the capture (graph cases)
constexpr double kLr = 0.01;
constexpr int64_t kAugmentedSetSize = 12406;  // CIFAR-10-LT IF 100

struct Case {
    int64_t depth = 32;
    int64_t batch = 128;
    bool tf32 = false;
    bool bf16 = false;  // mixed precision: the images cast to bf16 before the forward
    LossType loss = LossType::softmax;
    bool augment = false;
    // The tuned kernels: cuDNN's timed algorithm search and cbnn's own batch norm (else the
    // defaults: heuristic search, cuDNN's batch norm).
    bool tuned = false;
    bool graph = false;            // replay the step from a CUDA graph (train/train_step.h)
    bool nhwc = false;             // channels-last activations (the batch laid out NHWC)
    bool fastest = false;          // ConvAlgorithms::fastest (else deterministic first)
    bool cbnn_convs = false;       // ConvKernels::cbnn (else cuDNN for every convolution)
    int64_t channel_multiple = 1;  // conv_channel_multiple (layers/conv2d.h): the stem padded

    bool cifar() const { return depth != 50; }
    int64_t classes() const { return cifar() ? 10 : 1000; }
    int64_t size() const { return cifar() ? 32 : 224; }
    // Steps per timed iteration: enough for stable event timing, few enough for a short run.
    int repeats() const { return cifar() ? 20 : 4; }
};

// The process-wide kernel choices of a case (TF32, convolution search, algorithm set and
// kernels, batch-norm kernels), for the case's scope.
struct KernelSettings {
    explicit KernelSettings(const Case& c)
        : tf32(c.tf32),
          search(c.tuned ? ConvAlgorithmSearch::timed : ConvAlgorithmSearch::heuristic),
          algorithms(c.fastest ? ConvAlgorithms::fastest : ConvAlgorithms::deterministic),
          conv_kernels(c.cbnn_convs ? ConvKernels::cbnn : ConvKernels::cudnn),
          bn(c.tuned ? BatchNormKernels::cbnn : BatchNormKernels::cudnn),
          channels(c.channel_multiple) {}
    Tf32Setting tf32;
    ConvAlgorithmSearchSetting search;
    ConvAlgorithmsSetting algorithms;
    ConvKernelsSetting conv_kernels;
    BatchNormKernelsSetting bn;
    ConvChannelMultipleSetting channels;
};

// The arguments of each benchmark, in order; an argument a benchmark lacks is 0.
const std::vector<std::string> kStepArgs = {"depth", "batch", "math", "loss",  "augment",
                                            "tuned", "graph", "nhwc", "algos", "convk"};
// BM_TrainStepPadded: kStepArgs and chpad, the stem's input channels padded to a multiple of it.
const std::vector<std::string> kPaddedStepArgs = [] {
    std::vector<std::string> names = kStepArgs;
    names.push_back("chpad");
    return names;
}();
const std::vector<std::string> kBreakdownArgs = {"depth", "batch", "math",  "loss", "augment",
                                                 "tuned", "nhwc",  "algos", "convk"};

Case case_of(const benchmark::State& state, const std::vector<std::string>& names) {
    const auto arg = [&](const std::string& name) -> int64_t {
        const auto at = std::find(names.begin(), names.end(), name);
        return at == names.end() ? 0 : state.range(static_cast<int>(at - names.begin()));
    };
    Case c;
    c.depth = arg("depth");
    c.batch = arg("batch");
    c.tf32 = arg("math") == 1;
    c.bf16 = arg("math") == 2;
    c.loss = static_cast<LossType>(arg("loss"));
    c.augment = arg("augment") != 0;
    c.tuned = arg("tuned") != 0;
    c.graph = arg("graph") != 0;
    c.nhwc = arg("nhwc") != 0;
    c.fastest = arg("algos") != 0;
    c.cbnn_convs = arg("convk") != 0;
    c.channel_multiple = std::max<int64_t>(1, arg("chpad"));
    return c;
}

std::string describe(const Case& c) {
    return std::string(c.cifar() ? "ResNet-" + std::to_string(c.depth) : "ResNet-50") + ", batch " +
           std::to_string(c.batch) + ", " +
           (c.tf32   ? "TF32"
            : c.bf16 ? "bf16"
                     : "FP32") +
           ", CB " + loss_type_name(c.loss) + (c.augment ? ", GPU augmentation" : ", fixed batch") +
           (c.tuned ? ", timed conv search + cbnn batch norm" : "") +
           (c.fastest ? ", fastest conv algorithms" : "") +
           (c.cbnn_convs ? ", cbnn conv kernels" : "") + (c.graph ? ", CUDA graph" : "") +
           (c.nhwc ? ", NHWC" : "") +
           (c.channel_multiple > 1
                ? ", stem input padded to " + std::to_string(c.channel_multiple) + " channels"
                : "");
}

std::shared_ptr<Layer> make_model(const Case& c) {
    Generator gen(0);
    std::shared_ptr<Layer> model;
    if (c.cifar()) {
        ResNetCifarOptions o;
        o.depth = c.depth;
        o.num_classes = c.classes();
        o.head_init = head_init_for(c.loss);
        model = std::make_shared<ResNetCifar>(o, gen);
    } else {
        ResNetOptions o;
        o.num_classes = c.classes();
        o.head_init = head_init_for(c.loss);
        model = std::make_shared<ResNet>(o, gen);
    }
    model->to(Device::cuda());
    model->train();
    return model;
}

LossConfig loss_config(const Case& c) {
    LossConfig config;
    config.type = c.loss;
    config.beta = 0.9999;
    config.gamma = c.loss == LossType::focal ? 1.0 : 0.0;
    return config;
}

SgdOptions sgd_options(const Case& c) {
    SgdOptions o;
    o.momentum = 0.9;
    o.weight_decay = c.cifar() ? 2e-4 : 1e-4;
    if (c.loss != LossType::softmax) o.no_decay_names = {"fc.bias"};
    return o;
}

LoaderOptions loader_options(const Case& c) {
    LoaderOptions o;
    o.batch_size = c.batch;
    o.seed = 1;
    o.num_threads = 0;
    o.device = Device::cuda();
    // Every batch full: a partial last batch would change the shapes (new cuDNN plans) and the
    // images per step. The epoch's permutation upload stays in the step that crosses the epoch.
    o.drop_last = true;
    return o;
}

// A model, its loss and optimiser, and the data of one case, all on the GPU.
class TrainStep {
  public:
    explicit TrainStep(const Case& c)
        : model_(make_model(c)),
          criterion_(loss_config(c), long_tail_counts(c.cifar() ? 5000 : 1000, c.classes(), 100.0),
                     DType::f32, Device::cuda()),
          sgd_(model_->named_parameters(), sgd_options(c)),
          input_dtype_(c.bf16 ? DType::bf16 : DType::f32),
          input_format_(c.nhwc ? MemoryFormat::channels_last : MemoryFormat::contiguous) {
        if (c.augment) {
            CBNN_CHECK(c.cifar(), "bench_train_step: augmentation is for CIFAR-shaped inputs");
            loader_ = std::make_unique<GpuCifarLoader>(synthetic_cifar(kAugmentedSetSize),
                                                       loader_options(c));
        } else {
            Generator gen(1);
            images_ = Tensor::empty({c.batch, 3, c.size(), c.size()}, DType::f32, Device::cuda());
            normal_(images_, gen);
            std::vector<int64_t> labels(static_cast<size_t>(c.batch));
            for (size_t i = 0; i < labels.size(); ++i)
                labels[i] = static_cast<int64_t>((i * 7919) % static_cast<size_t>(c.classes()));
            labels_ = Tensor::from_vector(labels, {c.batch}).to(Device::cuda());
        }
        static_assert(kWarmupSteps > kGraphWarmupSteps, "the capture must happen in warm-up");
        step_ = std::make_unique<train::TrainStep>(
            *model_, criterion_, sgd_,
            train::TrainStepOptions{.cuda_graph = c.graph,
                                    .input_dtype = input_dtype_,
                                    .input_format = input_format_,
                                    .warmup_steps = kGraphWarmupSteps});
    }

    // The phases of a step, for the breakdown; run() is all of them.
    void load_batch() {
        if (!loader_) return;
        Batch batch = loader_->next();
        images_ = std::move(batch.images);
        labels_ = std::move(batch.labels);
    }
    Tensor forward_loss() {
        sgd_.zero_grad();
        return criterion_(model_->forward(images_.to(input_dtype_, input_format_)), labels_);
    }
    void update() { sgd_.step(kLr); }
    // The whole step as the trainers run it (train/train_step.h: eager, or replayed from a CUDA
    // graph once captured).
    void run() {
        load_batch();
        last_loss_ = step_->run({images_, labels_}, kLr).loss;
    }

    double last_loss() const { return last_loss_.cpu().item<float>(); }
    bool has_loader() const { return loader_ != nullptr; }

  private:
    std::shared_ptr<Layer> model_;
    ClassBalancedLoss criterion_;
    Sgd sgd_;
    std::unique_ptr<GpuCifarLoader> loader_;
    DType input_dtype_;
    MemoryFormat input_format_;
    std::unique_ptr<train::TrainStep> step_;
    Tensor images_, labels_, last_loss_;
};

// Warm-up steps (cuDNN plans, allocator cache, momentum buffers); false (and the case skipped)
// when the loss is not finite afterwards.
bool warm_up(benchmark::State& state, TrainStep& step) {
    for (int i = 0; i < kWarmupSteps; ++i) step.run();
    const double loss = step.last_loss();
    if (std::isfinite(loss)) return true;
    skip_with(state, "the loss is not finite after the warm-up steps: " + std::to_string(loss));
    return false;
}

int64_t allocations(const AllocatorStats& s) { return s.raw_allocations + s.cache_hits; }

// Runs one case; an error (out of memory, say) skips that case with its message instead of ending
// the whole binary. The allocator's cache is emptied after each case, so that the next one (a
// ResNet-50 after a ResNet-32) starts from an empty cache.
template <class F>
void run_case(benchmark::State& state, F&& body) {
    if (skip_without_gpu(state)) return;
    try {
        body();
    } catch (const std::exception& e) {
        if (!state.error_occurred()) skip_with(state, e.what());
    }
    cuda_empty_cache();
}

}  // namespace
}  // namespace cbnn::bench
