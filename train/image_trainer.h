#pragma once
// Training ResNet-50/101/152 (models/resnet.h) on large image sets with a class-balanced loss:
// ImageNet-style image folders (<data>/train/<class>/*, <data>/val/<class>/*) or iNaturalist
// 2017/2018 annotation JSON (data/inat.h), read lazily (data/lazy_loader.h). The loop, the run
// folder, checkpoints and exact resume are those of the CIFAR trainer (train/train_loop.h).
//
//   ImageTrainConfig config = ImageTrainConfig::paper(ImageDataset::inat);
//   config.data_dir = "/data/inat2018";
//   config.out_dir = "runs/inat_cb_focal";
//   TrainResult r = train_images(config, std::cerr);
//
// Protocol (PAPER.md 3.5; ImageTrainConfig::paper): 90 epochs, batch 1024, SGD with Nesterov
// momentum 0.9, LR = lr * batch / 256 with lr 0.2 (ImageNet) or 0.4 (iNaturalist), linear warm-up
// over 5 epochs per step, x0.1 at epochs 30, 60 and 80, weight decay 1e-4 on every parameter but
// the BN parameters and the final bias, each block's last BN gamma initialised to 0
// (zero_init_residual), head N(0, 0.01^2) with bias -log(C-1) for sigmoid/focal. Augmentation:
// random-resized crop (area 0.08-1, aspect 3/4-4/3) + flip for training, resize to
// image_size * 256/224 + centre crop for evaluation; mean/std of ImageNet or of iNaturalist (the
// paper's code).
//
// The training set's per-class counts give the class-balanced weights (beta) and the
// many/medium/few shot groups of the evaluation.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <vector>

#include "train/train_loop.h"

namespace cbnn::train {

enum class ImageDataset { imagenet, inat };

struct ImageTrainConfig {
    ImageDataset dataset = ImageDataset::imagenet;
    std::string data_dir;    // image folder root (ImageNet layout) or iNaturalist image root
    std::string train_json;  // iNaturalist only: annotation files (absolute or relative paths)
    std::string val_json;
    std::string out_dir;
    std::string loss = "softmax";  // softmax | sigmoid | focal
    double beta = 0.0;
    double gamma = 0.0;
    int64_t epochs = 90;
    int64_t batch_size = 1024;
    double lr = 0.2;  // base LR at batch 256 (scaled by batch_size / 256)
    double weight_decay = 1e-4;
    double warmup_epochs = 5.0;
    std::vector<double> lr_steps = {30, 60, 80};
    std::vector<double> lr_factors = {0.1, 0.01, 0.001};  // relative to the base LR
    bool nesterov = true;
    uint64_t seed = 0;
    std::string device = "cpu";
    int64_t depth = 50;  // 50 | 101 | 152
    int64_t image_size = 224;
    bool zero_init_residual = true;
    bool skip_bad_images = false;
    int64_t eval_every = 1;
    int64_t checkpoint_every = 1;
    int64_t grad_check_every = 50;
    int64_t progress_every = 20;
    bool resume = false;
    int threads = 4;  // loader worker threads (0: in the training thread)
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
    std::string batching = "epochs";      // epochs | stream (data/batch_plan.h)

    // PAPER.md 3.5 for the dataset (the defaults above are ImageNet's).
    static ImageTrainConfig paper(ImageDataset dataset);
    // Throws a cbnn::Error naming the first bad value.
    void validate() const;
    nlohmann::json to_json() const;
};

const char* image_dataset_name(ImageDataset dataset);

// Runs (or resumes) the configured training; progress and summaries go to `log`.
TrainResult train_images(const ImageTrainConfig& config, std::ostream& log);

}  // namespace cbnn::train
