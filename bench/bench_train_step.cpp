// One whole training step on the GPU (issue 7: measure first): forward, class-balanced loss
// (losses/cb_loss.h, beta 0.9999; softmax, or focal with gamma 1), backward, SGD step (momentum
// 0.9, weight decay; train/sgd.h), on synthetic data that is already on the GPU.
//
//   BM_TrainStep/depth/batch/math/loss/augment/tuned/graph/nhwc/algos/convk
//     depth 32: ResNet-32 (models/resnet_cifar.h), 3 x 32 x 32, 10 classes
//     depth 50: ResNet-50 (models/resnet.h), 3 x 224 x 224, 1000 classes
//     math 0: FP32, 1: TF32 tensor cores for convolutions and matmuls (tensor/backend.h),
//       2: bf16 mixed precision (the batch cast to bf16; bf16 body, f32 weights and head:
//       train/train_step.h Precision::bf16)
//     loss 0: CB softmax, 2: CB focal (LossType order)
//     augment 1 (ResNet-32 only): each step first takes its batch from the GPU-resident loader
//       (data/gpu_loader.h: crop + flip + x/128 - 1) over a synthetic 12,406-image uint8 set, as
//       the CIFAR trainer does; augment 0: one fixed random batch
//     tuned 1: cuDNN's timed algorithm search (layers/conv2d.h) and cbnn's own batch-norm kernels
//       (layers/batchnorm2d.h); tuned 0: heuristic search and cuDNN's batch norm (the defaults
//       until cbnn's batch norm became the default on 2026-11-27)
//     graph 1: the step (all but the augmentation) replayed from a CUDA graph (train/train_step.h,
//       as `--cuda-graph` trains; captured during the warm-up steps); graph 0: eager
//     nhwc 1: the batch laid out channels-last before the forward, so every layer runs NHWC
//       (tensor/memory_format.h, `--layout nhwc`); nhwc 0: NCHW
//     algos 1: cuDNN's convolution candidates in the search's order, nondeterministic algorithms
//       included (layers/conv2d_algorithms.h, `--conv-algos fastest`); algos 0: deterministic
//       first (the default)
//     convk 1: cbnn's implicit-GEMM tensor-core convolution kernels where they apply (layers/
//       conv2d_igemm.h, `--conv-kernels cbnn`: channels-last bf16/TF32 convolutions of 16-64
//       channels, so only with nhwc 1 and math 1 or 2; cuDNN for the rest, e.g. ResNet-32's stem);
//       convk 0: cuDNN for every convolution (the default). Adding this argument appended
//       "/convk:0" to every earlier case's name; the cases are otherwise unchanged
//   BM_TrainStepPadded/.../convk/chpad: the same with the stem's 3-channel image (and its weight)
//     padded with zero channels to chpad (layers/conv2d.h conv_channel_multiple; the values are
//     the unpadded step's): 4 or 8 for cuDNN's channels-last tensor-core kernels, 16 to put
//     ResNet-32's stem on cbnn's kernels too (with convk 1). A list of its own, so the names of
//     BM_TrainStep's cases stay as they were.
//   With CBNN_PROFILE_STEPS=N, each case runs N more steps after its warm-up, untimed, inside
//   cudaProfilerStart/Stop, for a kernel profiler started with profiling off (bench/
//   profile_range.h; scripts/gpu-check.sh's CBNN_PROFILE_CASES runs ncu so).
//   Time: ms per step over CUDA events around `repeats` steps after kWarmupSteps (manual time);
//   items_per_second is images per second. Counters: host_ms, the host's time to queue one step
//   (close to the step time: the GPU waits for launches), and host_max_ms, the slowest single
//   step's (near the step time while host_ms is not: some calls block, e.g. on a full launch
//   queue; run 4's batch-512 graph cases showed host_ms 2.5-4.2 ms unexplained); allocs, tensor
//   allocations per step (tensor/allocator.h; cache hits included); cudaMalloc, raw allocations per
//   step (0 once warm); mem_GB, the memory the allocator holds (in use + cached: the case's
//   high-water mark, as the cache starts empty and never gives blocks back); loss, the last step's
//   loss (a non-finite loss after the warm-up skips the case). An error (out of memory) skips only
//   its case.
//
//   BM_StepBreakdown/depth/batch/math/loss/augment/tuned/nhwc/algos/convk (eager): the same step,
//   with a table of where the time goes, per op kind:
//   forward and backward of conv, bn, relu, add, pool, ..., the loss, the SGD update, the
//   augmentation; share of the step. Events are recorded at every op boundary through the graph
//   observer (autograd/engine.h), so the instrumented step is slower than the plain one (both are
//   printed; the benchmark's time is the plain step). Forward time of an op is the time from the
//   previous op's end to its own end, so host gaps (launch-bound steps) are charged to the op that
//   waited; "engine" is the backward time outside the nodes (summing gradients of tensors used
//   twice, host gaps). It also prints tensor allocations per phase, and per phase whether the
//   step can be captured as a CUDA graph: a host synchronisation (or a raw cudaMalloc) inside a
//   phase makes stream capture fail, and the first such call is named with its file and line.
//   Last, the cuDNN algorithms each convolution shape of the step runs (layers/conv2d_algorithms.h:
//   per direction the algorithm, whether it is deterministic, its math type and workspace, the
//   timed search's measurement), with one call of each direction timed on its own; with convk 1
//   the shapes on cbnn's kernels are left out of that table (bench_conv's BM_ConvNhwc times them).
//
// Without a GPU every case is skipped with a message.
#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "autograd/engine.h"
#include "autograd/node.h"
#include "bench/bench_main.h"
#include "bench/bench_util.h"
#include "bench/profile_range.h"
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

// BM_TrainStep's body; `arg_names` name the state's arguments.
void time_train_step(benchmark::State& state, const std::vector<std::string>& arg_names) {
    run_case(state, [&] {
        const Case c = case_of(state, arg_names);
        const KernelSettings kernels(c);
        TrainStep step(c);
        if (!warm_up(state, step)) return;
        run_profiled_steps([&] { step.run(); });  // CBNN_PROFILE_STEPS, for a kernel profiler
        const AllocatorStats before = cuda_memory_stats();
        double host_seconds = 0.0, slowest_host_call = 0.0;
        int64_t steps = 0;
        // Each call's host time too: a mean host_ms well under the step time can hide calls that
        // block (a full launch queue blocks the last calls for about a step each).
        const auto timed_step = [&] {
            const auto start = std::chrono::steady_clock::now();
            step.run();
            slowest_host_call = std::max(
                slowest_host_call,
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
        };
        for (auto _ : state) {
            const CallSeconds t = cuda_and_host_seconds_per_call(timed_step, c.repeats());
            state.SetIterationTime(t.device);
            host_seconds += t.host * c.repeats();
            steps += c.repeats();
        }
        const AllocatorStats after = cuda_memory_stats();
        const double n = static_cast<double>(steps);
        state.SetItemsProcessed(state.iterations() * c.batch);
        state.counters["host_ms"] = 1e3 * host_seconds / n;
        state.counters["host_max_ms"] = 1e3 * slowest_host_call;
        state.counters["allocs"] =
            static_cast<double>(allocations(after) - allocations(before)) / n;
        state.counters["cudaMalloc"] =
            static_cast<double>(after.raw_allocations - before.raw_allocations) / n;
        state.counters["mem_GB"] =
            static_cast<double>(after.in_use_bytes + after.cached_bytes) * 1e-9;
        state.counters["loss"] = step.last_loss();
        state.SetLabel(describe(c));
    });
}

void BM_TrainStep(benchmark::State& state) { time_train_step(state, kStepArgs); }
void BM_TrainStepPadded(benchmark::State& state) { time_train_step(state, kPaddedStepArgs); }

// One call of Iterations(1) per case: kWarmupSteps + repeats() steps, whatever
// --benchmark_min_time says. (With the minimum time, a case faster than 10 ms per step, such as
// every CUDA-graph case, would be run again from scratch with more iterations: a new model,
// warm-up, algorithm search and capture.) Medians of repeats: --benchmark_repetitions.
//
// Args: kStepArgs (depth, batch, math, loss, augment, tuned, graph, nhwc, algos, convk). Most
// important first, so that a run cut short by its timeout still has them. First ANCHORS.md's
// cases, on a fixed synthetic batch as PyTorch's figures are: each PyTorch row's eager
// counterpart and cbnn's best attempt at the target (timed search, cbnn batch norm, CUDA graph),
// with the NCHW twin of each bf16 channels-last best case to show what the layout gains, and the
// ResNet-32 batch-128 FP32 and TF32 best attempts again with the fastest conv algorithms
// (nondeterministic allowed; unmeasured). Then the paper's CIFAR training (augmentation on the
// GPU, FP32): eager, replayed from a graph, with CB focal, and in bf16 NHWC. Three best attempts
// also run with cbnn's conv kernels (convk 1; unmeasured), registered at the end of the file:
// ResNet-32 batch 128 TF32 NHWC (whose cuDNN twin is the only TF32 NHWC ResNet-32 case), batch
// 512 bf16 NHWC, and the paper's step in bf16 NHWC; each adds a ResNet-32 case's few seconds.
// Timed-search sets: ResNet-32 x 9, ResNet-50 x 2 (cached per shape, dtype, layout, math and
// algorithm set).
BENCHMARK(BM_TrainStep)
    ->ArgNames(kStepArgs)
    // ResNet-32, batch 128, fp32 with TF32 convs (PyTorch 8,812 eager, 25,792 compiled; >= 40k)
    ->Args({32, 128, 1, 0, 0, 0, 0, 0, 0, 0})
    ->Args({32, 128, 1, 0, 0, 1, 1, 0, 0, 0})
    ->Args({32, 128, 1, 0, 0, 1, 1, 0, 1, 0})  // the same with the fastest conv algorithms
    ->Args({32, 128, 1, 0, 0, 1, 1, 1, 0, 0})  // NHWC (its twin on cbnn's convs: at the end)
    // ResNet-32, batch 512, bf16 channels-last (PyTorch 36,029; target >= 60k), and NCHW
    ->Args({32, 512, 2, 0, 0, 0, 0, 1, 0, 0})
    ->Args({32, 512, 2, 0, 0, 1, 1, 1, 0, 0})
    ->Args({32, 512, 2, 0, 0, 1, 1, 0, 0, 0})
    // ResNet-50, batch 128, bf16 channels-last (PyTorch 3,659; target >= 4,000), and NCHW eager
    ->Args({50, 128, 2, 0, 0, 0, 0, 1, 0, 0})
    ->Args({50, 128, 2, 0, 0, 1, 1, 1, 0, 0})
    ->Args({50, 128, 2, 0, 0, 0, 0, 0, 0, 0})
    // ResNet-50, batch 128, TF32 (PyTorch 1,801; target >= 2,000): NCHW, NHWC, best
    ->Args({50, 128, 1, 0, 0, 0, 0, 0, 0, 0})
    ->Args({50, 128, 1, 0, 0, 0, 0, 1, 0, 0})
    ->Args({50, 128, 1, 0, 0, 1, 1, 1, 0, 0})
    // PyTorch's other ResNet-32 rows: fp32 strict (11,400), b128 bf16 channels-last (9,857),
    // b512 fp32 with TF32 convs (19,941)
    ->Args({32, 128, 0, 0, 0, 1, 1, 0, 0, 0})
    ->Args({32, 128, 0, 0, 0, 1, 1, 0, 1, 0})  // the same with the fastest conv algorithms
    ->Args({32, 128, 2, 0, 0, 0, 0, 1, 0, 0})
    ->Args({32, 512, 1, 0, 0, 1, 1, 0, 0, 0})
    // The paper's training step (cbnn-train-cifar's default, then --cuda-graph, CB focal, and
    // --precision bf16 --layout nhwc with the tuned kernels)
    ->Args({32, 128, 0, 0, 1, 0, 0, 0, 0, 0})
    ->Args({32, 128, 0, 0, 1, 0, 1, 0, 0, 0})
    ->Args({32, 128, 0, 2, 1, 0, 1, 0, 0, 0})
    ->Args({32, 128, 2, 0, 1, 1, 1, 1, 0, 0})
    ->UseManualTime()
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

// ---------------------------------------------------------------------------------------------
// Breakdown: CUDA events at every op boundary, booked per (op kind, phase).
#ifdef CBNN_WITH_CUDA

enum class Phase : uint8_t { forward, backward, other };

// Node names (autograd Node::name()) to the kinds of the table; unknown names stand for
// themselves.
std::string op_kind(const std::string& name) {
    static const std::vector<std::pair<std::string, std::string>> kinds = {
        {"conv2d", "conv"},
        {"batch_norm2d", "bn"},
        {"relu", "relu"},
        {"add", "add"},
        {"max_pool2d", "pool"},
        {"avg_pool2d", "pool"},
        {"mean", "pool"},
        {"pad_channels", "shortcut pad"},
        {"matmul", "linear"},
        {"cb_softmax_loss", "loss"},
        {"cb_sigmoid_loss", "loss"},
        {"cb_focal_loss", "loss"},
        {"AccumulateGrad", "grad accumulate"},
        {"view", "view"},
        {"transpose", "view"},
        {"flatten", "view"},
        {"squeeze", "view"},
        {"unsqueeze", "view"},
        {"narrow", "view"},
    };
    for (const auto& [node, kind] : kinds)
        if (name == node) return kind;
    return name;
}

// Records a CUDA event at each op boundary of a step; each event closes the interval since the
// previous one and books it to a (kind, phase) row. Events come from a pool reused every step.
class Timeline : public autograd::GraphObserver {
  public:
    Timeline() = default;
    Timeline(const Timeline&) = delete;
    Timeline& operator=(const Timeline&) = delete;
    ~Timeline() override {
        for (cudaEvent_t e : pool_) CBNN_CUDA_CHECK_NOTHROW(cudaEventDestroy(e));
    }

    // The start of a step: books nothing.
    void start() { mark(Phase::other, ""); }
    void mark(Phase phase, const std::string& kind) {
        if (used_ == pool_.size()) {
            cudaEvent_t e;
            CBNN_CUDA_CHECK(cudaEventCreate(&e));
            pool_.push_back(e);
        }
        cudaEvent_t e = pool_[used_++];
        CBNN_CUDA_CHECK(cudaEventRecord(e, cuda::current_stream()));
        marks_.push_back({e, phase, kind});
    }
    void on_record(const autograd::Node& node) override {
        mark(Phase::forward, op_kind(node.name()));
    }
    void on_apply_begin(const autograd::Node&) override { mark(Phase::backward, "engine"); }
    void on_apply_end(const autograd::Node& node) override {
        mark(Phase::backward, op_kind(node.name()));
    }

    // Waits for the step's events and adds its intervals to the rows.
    void collect() {
        if (marks_.empty()) return;
        CBNN_CUDA_CHECK(cudaEventSynchronize(marks_.back().event));
        for (size_t i = 1; i < marks_.size(); ++i) {
            float ms = 0.f;
            CBNN_CUDA_CHECK(cudaEventElapsedTime(&ms, marks_[i - 1].event, marks_[i].event));
            Row& row = row_for(marks_[i].kind);
            row.ms[static_cast<int>(marks_[i].phase)] += ms;
            if (marks_[i].phase != Phase::backward || marks_[i].kind != "engine") ++row.count;
        }
        marks_.clear();
        used_ = 0;
        ++steps_;
    }

    // The table, per step (averaged over the collected steps), rows in order of first appearance.
    void print(const std::string& title, double plain_step_ms) const {
        double step_ms = 0.0;
        for (const Row& r : rows_) step_ms += r.total();
        step_ms /= static_cast<double>(steps_);
        std::printf("\n%s: instrumented step %.3f ms (plain step %.3f ms), mean of %d steps\n",
                    title.c_str(), step_ms, plain_step_ms, steps_);
        std::printf("%-16s %6s %12s %12s %12s %12s %7s\n", "kind", "calls", "forward ms",
                    "backward ms", "other ms", "total ms", "share");
        for (const Row& r : rows_) {
            const double n = static_cast<double>(steps_);
            std::printf("%-16s %6lld %12.3f %12.3f %12.3f %12.3f %6.1f%%\n", r.kind.c_str(),
                        static_cast<long long>(r.count / steps_), r.ms[0] / n, r.ms[1] / n,
                        r.ms[2] / n, r.total() / n, 100.0 * r.total() / n / step_ms);
        }
    }

  private:
    struct Mark {
        cudaEvent_t event;
        Phase phase;
        std::string kind;
    };
    struct Row {
        std::string kind;
        int64_t count = 0;
        double ms[3] = {0.0, 0.0, 0.0};
        double total() const { return ms[0] + ms[1] + ms[2]; }
    };
    Row& row_for(const std::string& kind) {
        for (Row& r : rows_)
            if (r.kind == kind) return r;
        rows_.push_back({kind});
        return rows_.back();
    }

    std::vector<cudaEvent_t> pool_;
    size_t used_ = 0;
    std::vector<Mark> marks_;
    std::vector<Row> rows_;
    int steps_ = 0;
};

// Installs the timeline for a scope.
class Observing {
  public:
    explicit Observing(Timeline& t) : previous_(autograd::set_graph_observer(&t)) {}
    ~Observing() { autograd::set_graph_observer(previous_); }
    Observing(const Observing&) = delete;
    Observing& operator=(const Observing&) = delete;

  private:
    autograd::GraphObserver* previous_;
};

// Runs `work` under CUDA stream capture (never launched: nothing runs on the GPU) and returns
// "" if it could be captured, else why not: the first host synchronisation, raw allocation or
// other call that capture forbids, as the error it raised (with file and line).
std::string capture_blocker(const std::function<void()>& work) {
    const cudaStream_t stream = cuda::current_stream();
    CBNN_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
    std::string blocker;
    try {
        work();
    } catch (const std::exception& e) {
        blocker = e.what();
    }
    cudaGraph_t graph = nullptr;
    const cudaError_t end = cudaStreamEndCapture(stream, &graph);
    if (graph != nullptr) CBNN_CUDA_CHECK_NOTHROW(cudaGraphDestroy(graph));
    cudaGetLastError();  // the capture's errors are not sticky; clear them for the next launch
    if (blocker.empty() && end != cudaSuccess)
        blocker = std::string("capture ended with ") + cudaGetErrorName(end);
    return blocker;
}

// Per phase of a step: whether it can be captured (phases before it run for real, so each phase
// sees the state of a normal step), and its tensor allocations in a normal step.
void print_capture_and_allocations(TrainStep& step) {
    std::printf("CUDA graph capture per phase (the first forbidden call; none: capturable):\n");
    auto report = [](const char* phase, const std::string& blocker) {
        std::printf("  %-15s %s\n", phase, blocker.empty() ? "none" : blocker.c_str());
    };
    if (step.has_loader()) report("augment", capture_blocker([&] { step.load_batch(); }));
    step.load_batch();
    report("forward + loss", capture_blocker([&] { step.forward_loss(); }));
    Tensor loss = step.forward_loss();
    report("backward", capture_blocker([&] { loss.backward(); }));
    loss = step.forward_loss();
    loss.backward();
    report("sgd", capture_blocker([&] { step.update(); }));
    cuda_synchronize();

    std::printf("tensor allocations per phase (cudaMalloc in brackets):");
    AllocatorStats last = cuda_memory_stats();
    auto count = [&](const char* phase) {
        const AllocatorStats now = cuda_memory_stats();
        std::printf(" %s %lld (%lld)", phase,
                    static_cast<long long>(allocations(now) - allocations(last)),
                    static_cast<long long>(now.raw_allocations - last.raw_allocations));
        last = now;
    };
    if (step.has_loader()) {
        step.load_batch();
        count("augment");
    }
    loss = step.forward_loss();
    count("forward+loss");
    loss.backward();
    count("backward");
    step.update();
    count("sgd");
    std::printf("\n");
    cuda_synchronize();
}

// Whether a plan is one of the case's: its batch, element type, math, search, algorithm set and
// layout (the case's step makes no other plans; earlier cases with the same settings share them),
// and a shape that runs on cuDNN under the case's conv kernels (an earlier cuDNN case may have
// planned a shape that this case runs on cbnn's kernels). Called in the case's KernelSettings.
bool plan_of_case(const ConvAlgorithmRecord& r, const Case& c) {
    return !conv2d_igemm_chosen(r.shape, r.dtype) && r.shape.N == c.batch &&
           r.dtype == (c.bf16 ? DType::bf16 : DType::f32) && r.tensor_core == (c.tf32 || c.bf16) &&
           r.search == (c.tuned ? ConvAlgorithmSearch::timed : ConvAlgorithmSearch::heuristic) &&
           r.algorithms == (c.fastest ? ConvAlgorithms::fastest : ConvAlgorithms::deterministic) &&
           r.shape.channels_last == c.nhwc && r.device == cuda::current_device();
}

// The algorithms of the case's convolution shapes (layers/conv2d_algorithms.h), each direction
// that ran in the step timed once more on its own: one call after a warm-up call, on random
// data of the plan's shape and layout, under the case's settings (so through the same plan).
void print_conv_algorithms(const Case& c) {
    std::vector<ConvAlgorithmRecord> records;
    for (const ConvAlgorithmRecord& r : cuda::conv2d_algorithm_records())
        if (plan_of_case(r, c)) records.push_back(r);
    std::vector<std::array<double, 3>> call_ms;
    Generator gen(2);
    const MemoryFormat format = c.nhwc ? MemoryFormat::channels_last : MemoryFormat::contiguous;
    const auto random = [&](const Shape& shape, MemoryFormat layout) {
        Tensor t = Tensor::empty(shape, DType::f32, Device::cuda());
        normal_(t, gen);
        return t.to(c.bf16 ? DType::bf16 : DType::f32).contiguous(layout);
    };
    for (const ConvAlgorithmRecord& r : records) {
        const Conv2dShape& s = r.shape;
        const Tensor x = random({s.N, s.C, s.H, s.W}, format);
        const Tensor w = random({s.K, s.C, s.R, s.S}, MemoryFormat::contiguous);
        const Tensor dy = random({s.N, s.K, s.P, s.Q}, format);
        const std::function<void()> calls[3] = {
            [&] { ops::conv2d_forward(x, w, Tensor(), s.stride, s.pad); },
            [&] { ops::conv2d_backward_data(dy, w, x.shape(), s.stride, s.pad); },
            [&] { ops::conv2d_backward_filter(x, dy, w.shape(), s.stride, s.pad); }};
        std::array<double, 3> ms{-1.0, -1.0, -1.0};
        for (size_t d = 0; d < 3; ++d) {
            if (!r.pick[d]) continue;  // not run by the step (the stem's data gradient)
            calls[d]();
            ms[d] = 1e3 * cuda_seconds_per_call(calls[d], 1);
        }
        call_ms.push_back(ms);
    }
    std::printf("%s", format_conv_algorithm_table(records, call_ms).c_str());
    if (c.cbnn_convs)
        std::printf("(the shapes on cbnn's conv kernels are not listed: bench_conv BM_ConvNhwc)\n");
}
#endif

void BM_StepBreakdown(benchmark::State& state) {
#ifdef CBNN_WITH_CUDA
    run_case(state, [&] {
        const Case c = case_of(state, kBreakdownArgs);
        const KernelSettings kernels(c);
        TrainStep step(c);
        if (!warm_up(state, step)) return;
        const double plain_ms =
            1e3 * cuda_seconds_per_call([&] { step.run(); }, std::max(2, c.repeats() / 4));
        std::printf("\n== %s ==\n", describe(c).c_str());
        print_capture_and_allocations(step);
        Timeline timeline;
        for (auto _ : state) {
            Observing observing(timeline);
            for (int i = 0; i < std::max(2, c.repeats() / 4); ++i) {
                timeline.start();
                if (step.has_loader()) {
                    step.load_batch();
                    timeline.mark(Phase::other, "augment");
                }
                Tensor loss = step.forward_loss();
                timeline.mark(Phase::forward, "other");
                loss.backward();
                timeline.mark(Phase::backward, "engine");
                step.update();
                timeline.mark(Phase::other, "sgd");
                timeline.collect();
            }
            state.SetIterationTime(plain_ms * 1e-3);
        }
        timeline.print(describe(c), plain_ms);
        print_conv_algorithms(c);
        std::fflush(stdout);
        state.SetItemsProcessed(state.iterations() * c.batch);
        state.SetLabel(describe(c));
    });
#else
    skip_without_gpu(state);
#endif
}

// The paper's CIFAR training (ResNet-32, batch 128, FP32, augmentation) with the default and the
// tuned kernels, each also with the fastest conv algorithms (nondeterministic ones allowed), and
// TF32 tuned with both algorithm sets; ResNet-32 at batch 512; ResNet-50 at batch 128 with TF32,
// NCHW and NHWC (heuristic search and cuDNN's batch norm: 522 ms per step NHWC against 74 NCHW on
// an H100, run 4), NHWC also with the fastest algorithms; the conv rows against the bn rows say
// how much of that is convolution. Each ResNet-50 NHWC case takes ~10 s at that step time. Last,
// the bf16 NHWC fast paths (ResNet-32's on cbnn's conv kernels at the end of the file).
// Args: kBreakdownArgs (depth, batch, math, loss, augment, tuned, nhwc, algos, convk).
BENCHMARK(BM_StepBreakdown)
    ->ArgNames(kBreakdownArgs)
    ->Args({32, 128, 0, 0, 1, 0, 0, 0, 0})
    ->Args({32, 128, 0, 0, 1, 1, 0, 0, 0})
    ->Args({32, 128, 0, 0, 1, 0, 0, 1, 0})
    ->Args({32, 128, 0, 0, 1, 1, 0, 1, 0})
    ->Args({32, 128, 1, 0, 1, 1, 0, 0, 0})
    ->Args({32, 128, 1, 0, 1, 1, 0, 1, 0})
    ->Args({32, 512, 0, 0, 0, 0, 0, 0, 0})
    ->Args({50, 128, 1, 0, 0, 0, 0, 0, 0})
    ->Args({50, 128, 1, 0, 0, 0, 1, 0, 0})
    ->Args({50, 128, 1, 0, 0, 0, 1, 1, 0})
    // The fast path (--precision bf16 --layout nhwc, tuned): where its time goes.
    ->Args({32, 128, 2, 0, 1, 1, 1, 0, 0})
    ->Args({32, 128, 2, 0, 1, 1, 1, 1, 0})
    ->Args({50, 128, 2, 0, 0, 1, 1, 0, 0})
    ->UseManualTime()
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

// The stem's 3-channel image padded with zero channels (conv_channel_multiple, layers/conv2d.h;
// unmeasured): ResNet-50's fastest bf16 case with 4 and 8 channels (bench_conv's
// BM_ConvNhwc/bf16_stem times the stem alone). The twin with convk 1 and 16 channels, which puts
// every ResNet-32 convolution on cbnn's kernels, is at the end.
// Args: kPaddedStepArgs (kStepArgs, chpad).
BENCHMARK(BM_TrainStepPadded)
    ->ArgNames(kPaddedStepArgs)
    ->Args({50, 128, 2, 0, 0, 1, 1, 1, 0, 0, 4})
    ->Args({50, 128, 2, 0, 0, 1, 1, 1, 0, 0, 8})
    ->UseManualTime()
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

// Last, the cases on cbnn's convolution kernels (convk 1; not yet run on a GPU), each the twin of
// a cuDNN case above: a fault in new kernels (a CUDA error poisons the whole process) then cannot
// cost the cases above. The three step cases, then the fast path's breakdown (its conv rows
// against its cuDNN twin's).
BENCHMARK(BM_TrainStep)
    ->ArgNames(kStepArgs)
    ->Args({32, 128, 1, 0, 0, 1, 1, 1, 0, 1})
    ->Args({32, 512, 2, 0, 0, 1, 1, 1, 0, 1})
    ->Args({32, 128, 2, 0, 1, 1, 1, 1, 0, 1})
    ->UseManualTime()
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_StepBreakdown)
    ->ArgNames(kBreakdownArgs)
    ->Args({32, 128, 2, 0, 1, 1, 1, 0, 1})
    ->UseManualTime()
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_TrainStepPadded)
    ->ArgNames(kPaddedStepArgs)
    ->Args({32, 128, 2, 0, 1, 1, 1, 1, 0, 1, 16})
    ->UseManualTime()
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace cbnn::bench

int main(int argc, char** argv) {
    try {
        cbnn::bench::profiled_steps();  // a bad CBNN_PROFILE_STEPS stops here, not in every case
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_train_step: %s\n", e.what());
        return 1;
    }
    return cbnn::bench::run_line_buffered(argc, argv);
}
