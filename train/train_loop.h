#pragma once
// The epoch loop shared by the dataset trainers (train/trainer.h: CIFAR; train/image_trainer.h:
// image folders and iNaturalist). A trainer builds the data, model, loss, optimiser and schedule;
// run_training does the rest:
//
//   resume     (settings.resume) load <out_dir>/checkpoint.bin into model and optimiser, check that
//              the saved config equals settings.config except for settings.resume_may_change,
//              restore step, epoch and loader state
//   epochs     as the loader's plan cuts them (data/batch_plan.h: epochs or stream batching)
//   per step   forward, loss, backward, gradient check every grad_check_every steps and at each
//              epoch's last step, SGD step with lr = schedule.lr(step * B / N); the batch loss and
//              top-1 hits are added to device-side sums (no host sync inside a step). With
//              settings.cuda_graph the step is replayed from a CUDA graph (train/train_step.h);
//              the gradient check then comes after the update, still before any checkpoint
//   progress   every progress_every steps and at the end of each epoch: one sync reads the loss
//              sum, check_loss (train/guard.h) and a progress line (train/report.h)
//   epoch end  evaluate() every eval_every epochs and at the end (its full result, per class, in
//              eval.json); one metrics.jsonl line and report.html (RunWriter); a checkpoint every
//              checkpoint_every epochs and at the end (meta: epoch, step, seed, loader state,
//              schedule position, config, the epoch's metrics record). The checkpoint's host
//              snapshot is taken here; the files are written by a BackgroundWriter (train/
//              background_writer.h) while the next epoch trains, in the order eval.json,
//              checkpoint, metrics line, report.html, and the run waits for them before it
//              returns (a failed write is the run's error)
//   divergence a DivergenceError stops the run: logged, TrainResult::diverged set, the last
//              checkpoint (from a finite epoch) kept
//   run end    one line of where the wall time went (RunTimes, train/report.h): training steps,
//              evaluations (also per epoch in metrics.jsonl's eval_seconds), files (what the
//              checkpoints' snapshots and waits for the writer cost the training thread), other
//
// Determinism: the loop draws no randomness itself; given a deterministic BatchSource (data/
// loader.h conventions) and a model initialised from the seed, 1 epoch + resume + 1 epoch equals
// 2 epochs bit for bit on the CPU.

#include <cmath>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "data/batch_plan.h"
#include "data/loader.h"
#include "layers/batchnorm2d.h"
#include "layers/conv2d.h"
#include "layers/conv2d_algorithms.h"
#include "layers/conv2d_igemm.h"
#include "layers/module.h"
#include "losses/cb_loss.h"
#include "tensor/backend.h"
#include "tensor/device.h"
#include "tensor/error.h"
#include "train/evaluate.h"
#include "train/lr_schedule.h"
#include "train/metrics.h"
#include "train/sgd.h"
#include "train/train_step.h"

namespace cbnn::train {

struct TrainResult {
    int64_t epochs_done = 0;  // completed epochs (counting those before a resume)
    int64_t steps_done = 0;
    bool diverged = false;
    std::string message;            // the divergence message when diverged
    double final_test_error = 0.0;  // NaN when never evaluated
    EvalResult final_eval;
    std::vector<double> epoch_losses;  // mean training loss of each epoch run in this call
    std::vector<int64_t> train_counts;
};

// The training data as the loop sees it (a Loader, GpuCifarLoader or LazyImageLoader): its
// batches, its state, and its plan (data/batch_plan.h), which says how many batches each epoch
// has.
struct BatchSource {
    std::function<Batch()> next;
    std::function<LoaderState()> state;
    std::function<void(LoaderState)> set_state;
    BatchPlan plan;
};

// --eval-precision: fp32 (f32 NCHW evaluation batches whatever the training step's precision
// and layout, the numbers the paper's protocol means) or train (the training step's dtype and
// layout: faster for bf16 / channels-last runs; logits within bf16 rounding of the FP32 ones).
enum class EvalPrecision { fp32, train };
// "fp32" | "train"; anything else throws naming the value and the choices.
EvalPrecision parse_eval_precision(const std::string& name);

struct LoopSettings {
    int64_t epochs = 1;
    int64_t batch_size = 1;
    int64_t train_size = 0;  // N: images per training epoch
    int64_t eval_every = 1;
    int64_t checkpoint_every = 1;
    int64_t grad_check_every = 50;
    int64_t progress_every = 20;
    uint64_t seed = 0;
    bool resume = false;
    std::string out_dir;
    nlohmann::json config;  // config.json's settings and the checkpoint's "config"
    // Fields of `config` a resumed run may change; every other field must equal the checkpoint's.
    std::vector<std::string> resume_may_change;
    // Training images per class, stored in each checkpoint ("train_counts") for cbnn-eval.
    std::vector<int64_t> train_counts;
    // The dataset's class names (index = label) for eval.json and report.html; empty: by index.
    std::vector<std::string> class_names;
    // CUDA kernel choices, set for the run (training and evaluation) and restored afterwards.
    ConvAlgorithmSearch conv_search = ConvAlgorithmSearch::heuristic;
    ConvAlgorithms conv_algos = ConvAlgorithms::deterministic;
    ConvKernels conv_kernels = ConvKernels::cudnn;
    BatchNormKernels bn_kernels = BatchNormKernels::cbnn;
    bool cuda_graph = false;  // train/train_step.h
    Precision precision = Precision::fp32;
    MemoryFormat layout = MemoryFormat::contiguous;  // of the training images (--layout)
    EvalPrecision eval_precision = EvalPrecision::fp32;
};

// The run's CUDA kernel choices and arithmetic (convolution search, algorithms and kernels, batch-
// norm kernels, TF32 for --precision tf32), set while it lives and restored afterwards: what the
// run's training and evaluations compute with, and cbnn-eval's evaluation of its checkpoint
// (train/eval_checkpoint.h) too.
class RunKernelSettings {
  public:
    explicit RunKernelSettings(const LoopSettings& s)
        : conv_search_(s.conv_search),
          conv_algos_(s.conv_algos),
          conv_kernels_(s.conv_kernels),
          bn_kernels_(s.bn_kernels),
          tf32_(s.precision == Precision::tf32) {}

  private:
    ConvAlgorithmSearchSetting conv_search_;
    ConvAlgorithmsSetting conv_algos_;
    ConvKernelsSetting conv_kernels_;
    BatchNormKernelsSetting bn_kernels_;
    Tf32Setting tf32_;
};

// How the run's evaluations feed the model (train/evaluate.h): f32 NCHW, or with
// --eval-precision train the training step's input dtype (bf16 for --precision bf16) and layout.
// TF32 needs nothing here: the run's Tf32Setting covers its evaluations too.
EvalInput evaluation_input(const LoopSettings& s);

// A loader with next(), state(), set_state() and plan() as a BatchSource (the loader must
// outlive it).
template <class L>
BatchSource batch_source(L& loader) {
    return {[&loader] { return loader.next(); }, [&loader] { return loader.state(); },
            [&loader](LoaderState s) { loader.set_state(s); }, loader.plan()};
}

// The settings both trainer configs share, as JSON (each config's to_json adds its own; nlohmann
// objects keep keys sorted, so the merge order does not show).
template <class Config>
nlohmann::json common_config_json(const Config& c) {
    return {{"data_dir", c.data_dir},
            {"out_dir", c.out_dir},
            {"loss", c.loss},
            {"beta", c.beta},
            {"gamma", c.gamma},
            {"epochs", c.epochs},
            {"batch_size", c.batch_size},
            {"lr", c.lr},
            {"weight_decay", c.weight_decay},
            {"warmup_epochs", c.warmup_epochs},
            {"lr_steps", c.lr_steps},
            {"lr_factors", c.lr_factors},
            {"seed", c.seed},
            {"device", c.device},
            {"depth", c.depth},
            {"eval_every", c.eval_every},
            {"checkpoint_every", c.checkpoint_every},
            {"grad_check_every", c.grad_check_every},
            {"progress_every", c.progress_every},
            {"resume", c.resume},
            {"threads", c.threads},
            {"conv_search", c.conv_search},
            {"conv_algos", c.conv_algos},
            {"conv_kernels", c.conv_kernels},
            {"bn_kernels", c.bn_kernels},
            {"cuda_graph", c.cuda_graph},
            {"precision", c.precision},
            {"layout", c.layout},
            {"eval_precision", c.eval_precision},
            {"batching", c.batching}};
}

// The loop settings of a trainer config (TrainConfig, ImageTrainConfig: the same field names).
template <class Config>
LoopSettings loop_settings(const Config& c, int64_t train_size,
                           std::vector<std::string> resume_may_change) {
    LoopSettings s;
    s.epochs = c.epochs;
    s.batch_size = c.batch_size;
    s.train_size = train_size;
    s.eval_every = c.eval_every;
    s.checkpoint_every = c.checkpoint_every;
    s.grad_check_every = c.grad_check_every;
    s.progress_every = c.progress_every;
    s.seed = c.seed;
    s.resume = c.resume;
    s.out_dir = c.out_dir;
    s.config = c.to_json();
    s.resume_may_change = std::move(resume_may_change);
    s.conv_search = parse_conv_algorithm_search(c.conv_search);
    s.conv_algos = parse_conv_algorithms(c.conv_algos);
    s.conv_kernels = parse_conv_kernels(c.conv_kernels);
    s.bn_kernels = parse_batchnorm_kernels(c.bn_kernels);
    s.cuda_graph = c.cuda_graph;
    s.precision = parse_precision(c.precision);
    s.layout = parse_memory_format(c.layout);
    s.eval_precision = parse_eval_precision(c.eval_precision);
    return s;
}

// The run's learning-rate schedule: warm-up and multi-step decay of the base LR
// lr * batch_size / lr_reference_batch (the linear scaling rule of each protocol).
template <class Config>
LrSchedule schedule_of(const Config& c, double lr_reference_batch) {
    return LrSchedule::multistep(c.lr * static_cast<double>(c.batch_size) / lr_reference_batch,
                                 c.warmup_epochs, c.lr_steps, c.lr_factors);
}

// The checks both trainer configs share, in this order: folders, loss, epochs, batch size, lr,
// weight decay, the every-N settings, threads, the schedule (LR = lr * batch / lr_reference_batch),
// the device, the CUDA kernel choices (--cuda-graph only with a CUDA device), the precision, the
// layout, the evaluation precision and the batching (whether the training set holds a batch
// for stream batching is the loader's check).
// Throws a cbnn::Error naming the first bad value.
template <class Config>
void validate_common(const Config& c, double lr_reference_batch) {
    CBNN_CHECK(!c.data_dir.empty(), "no data folder given");
    CBNN_CHECK(!c.out_dir.empty(), "no output folder given");
    LossConfig{parse_loss_type(c.loss), c.beta, c.gamma}.validate();
    CBNN_CHECK(c.gamma == 0 || c.loss == "focal", "gamma ", c.gamma,
               ": only the focal loss has a gamma, not ", c.loss, " (--loss focal, or --gamma 0)");
    CBNN_CHECK(c.epochs >= 1, "epochs ", c.epochs, ": must be >= 1");
    // Far beyond any protocol, and it keeps epochs x images (the stream's positions) in int64.
    CBNN_CHECK(c.epochs <= 1000000, "epochs ", c.epochs, ": must be at most 1,000,000");
    CBNN_CHECK(c.batch_size >= 1, "batch size ", c.batch_size, ": must be >= 1");
    CBNN_CHECK(std::isfinite(c.lr) && c.lr > 0, "lr ", c.lr, ": must be > 0");
    CBNN_CHECK(std::isfinite(c.weight_decay) && c.weight_decay >= 0, "weight decay ",
               c.weight_decay, ": must be >= 0");
    CBNN_CHECK(c.eval_every >= 1, "eval-every ", c.eval_every, ": must be >= 1");
    CBNN_CHECK(c.checkpoint_every >= 1, "checkpoint-every ", c.checkpoint_every, ": must be >= 1");
    CBNN_CHECK(c.grad_check_every >= 1, "grad-check-every ", c.grad_check_every, ": must be >= 1");
    CBNN_CHECK(c.progress_every >= 1, "progress-every ", c.progress_every, ": must be >= 1");
    CBNN_CHECK(c.threads >= 0 && c.threads <= 256, "threads ", c.threads, ": must be in 0..256");
    CBNN_CHECK(c.lr_steps.size() == c.lr_factors.size(), "lr-steps has ", c.lr_steps.size(),
               " values, lr-factors ", c.lr_factors.size(), ": they must pair up");
    schedule_of(c, lr_reference_batch);
    const Device device = Device::parse(c.device);
    CBNN_CHECK(!c.cuda_graph || device.is_cuda(), "--cuda-graph needs a CUDA device, got --device ",
               c.device);
    parse_conv_algorithm_search(c.conv_search);
    parse_conv_algorithms(c.conv_algos);
    parse_conv_kernels(c.conv_kernels);
    parse_batchnorm_kernels(c.bn_kernels);
    parse_precision(c.precision);
    parse_memory_format(c.layout);
    parse_eval_precision(c.eval_precision);
    parse_batching(c.batching);
}

// Refuses a batch larger than the training set of `train_size` images: each epoch would be one
// partial batch trained at the learning rate scaled for the full batch size.
void check_batch_fits(int64_t batch_size, int64_t train_size);

// Refuses a training set in which a class has no images ("class 4 (deer) has no training images;
// every class needs at least one"; by index alone when class_names is empty): the class-balanced
// weights need every count >= 1, and such a class could never be learnt.
void check_every_class_trained(const std::vector<int64_t>& train_counts,
                               const std::vector<std::string>& class_names);

// Runs epochs [start, settings.epochs) (start = 0, or the checkpoint's epoch when resuming).
// result.train_counts is left to the caller.
TrainResult run_training(Layer& model, const ClassBalancedLoss& criterion, Sgd& sgd,
                         const LrSchedule& schedule, BatchSource& train,
                         const std::function<EvalResult()>& evaluate, const LoopSettings& settings,
                         std::ostream& log);

// <out_dir>/checkpoint.bin
std::string run_checkpoint_path(const std::string& out_dir);

}  // namespace cbnn::train
