#pragma once
// The CIFAR training loop (PAPER.md 3.3): a long-tailed CIFAR-10/100 training set, ResNet-(6n+2),
// a class-balanced loss, SGD with momentum, the warm-up + multistep schedule computed per step,
// evaluation, the run folder (train/report.h) and checkpoints (train/checkpoint.h).
//
//   TrainConfig config;                  // every field has the paper's default
//   config.data_dir = "shared/data/cifar10-jpg";
//   config.out_dir = "runs/cb_focal";
//   TrainResult r = train_cifar(config, std::cerr);
//
// Per step (no host synchronisation inside a step): forward, loss, backward, SGD step with
// lr = schedule.lr(step * B / N); the batch loss is added to a device-side running sum. Every
// progress_every steps and at the end of each epoch the sum is read (one sync) for the progress
// line, and checked for NaN/Inf (train/guard.h check_loss: any non-finite batch loss since the last
// read makes the sum non-finite); every grad_check_every steps the gradient norm is checked. A
// DivergenceError stops the run: the message is logged, TrainResult::diverged is set and the last
// checkpoint written (from a finite epoch) is kept.
//
// Determinism and resume: data order and augmentation are pure functions of (seed, epoch, batch)
// (data/loader.h), the model is initialised from Generator(seed), and the checkpoint written after
// each checkpoint_every-th epoch holds model, buffers, momentum, step and loader state (and, for
// cbnn-eval, the run's config and training images per class in meta "train_counts"); resuming
// (config.resume) from <out_dir>/checkpoint.bin continues bit for bit as the uninterrupted run on
// the CPU. The resumed config must equal the saved one except for epochs, eval_every,
// checkpoint_every, grad_check_every, progress_every, threads, conv_search, conv_algos,
// conv_kernels, bn_kernels, cuda_graph, layout, eval_precision, data_dir, out_dir and resume.
//
// Epochs (config.batching, data/batch_plan.h): `stream`, the default (the paper's), runs epochs
// on into each other with full batches, floor(E N / B) steps in all as the official code;
// `epochs` makes each epoch ceil(N / B) steps (the last batch partial). Either way the schedule
// sees the fractional epoch step * B / N, per step (PAPER.md 3.3).

#include <cstdint>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "models/resnet_cifar.h"
#include "train/metrics.h"
#include "train/train_loop.h"

namespace cbnn::train {

struct TrainConfig {
    std::string data_dir;             // CIFAR binary files or image folder
    std::string dataset = "cifar10";  // cifar10 | cifar100
    std::string out_dir;              // run folder
    std::string loss = "softmax";     // softmax | sigmoid | focal
    double beta = 0.0;                // class-balanced beta in [0, 1); 0: unweighted
    double gamma = 0.0;               // focal gamma >= 0
    int64_t epochs = 200;             //
    int64_t batch_size = 128;         //
    double lr = 0.1;                  // base LR at batch 128 (scaled by batch_size / 128)
    double weight_decay = 2e-4;       //
    double warmup_epochs = 5.0;       //
    std::vector<double> lr_steps = {160, 180};
    std::vector<double> lr_factors = {0.01, 0.0001};  // relative to the base LR
    uint64_t seed = 0;
    std::string device = "cpu";     // cpu | cuda | cuda:N
    int64_t depth = 32;             // 6n + 2
    double imbalance = 1.0;         // IF >= 1; 1: the training set as it is
    std::string subset_list;        // a list file instead of --imbalance
    int64_t eval_every = 2;         // epochs between test evaluations (and at the end); 2 as the
                                    // official code (PAPER.md 3.4)
    int64_t checkpoint_every = 1;   // epochs between checkpoints (and at the end)
    int64_t grad_check_every = 50;  // steps between gradient-norm checks
    int64_t progress_every = 20;    // steps between progress lines (and at epoch ends)
    bool resume = false;
    int threads = 2;  // loader worker threads (0: in the training thread)
    // CUDA kernel choices (layers/conv2d.h, layers/batchnorm2d.h); no effect on the CPU.
    std::string conv_search = "heuristic";  // heuristic | timed
    std::string bn_kernels = "cbnn";        // cbnn | cudnn
    bool cuda_graph = false;                // CUDA: replay each training step from a CUDA graph
    std::string precision = "fp32";         // fp32 | tf32 | bf16 (train/train_step.h)
    std::string layout = "nchw";            // nchw | nhwc: of the training step's activations
    // deterministic | fastest (layers/conv2d_algorithms.h)
    std::string conv_algos = "deterministic";
    std::string conv_kernels = "cudnn";   // cudnn | cbnn (layers/conv2d_igemm.h)
    std::string eval_precision = "fp32";  // fp32 | train (train/train_loop.h)
    std::string batching = "stream";      // stream | epochs (data/batch_plan.h)

    // Throws a cbnn::Error naming the first bad value.
    void validate() const;
    int64_t num_classes() const { return dataset == "cifar100" ? 100 : 10; }
    nlohmann::json to_json() const;
};

// Runs (or resumes) the configured training (the loop: train/train_loop.h); progress and
// summaries go to `log`.
TrainResult train_cifar(const TrainConfig& config, std::ostream& log);

// The training set the run uses: the images of config.subset_list, else the long-tailed subset of
// config.imbalance (seeded by config.seed), else `full` as it is.
Dataset cifar_training_set(const TrainConfig& config, const Dataset& full);

// Throws unless `depth` is a CIFAR ResNet's, 6n + 2 from 8 to 1202 (TrainConfig::validate, and
// cbnn-eval for a checkpoint's stored depth).
void check_cifar_depth(int64_t depth);

// The run's model: ResNet-(config.depth) for the dataset's classes, head initialised for the loss
// (train_cifar builds it from Generator(config.seed)).
ResNetCifarOptions cifar_model_options(const TrainConfig& config);

// <out_dir>/checkpoint.bin
std::string checkpoint_path(const TrainConfig& config);

}  // namespace cbnn::train
