#pragma once
// The small CIFAR run shared by the trainer and evaluation tests: 2 epochs at batch 32 of
// ResNet-8 on a long-tailed (IF 5) subset of the 200-image cifar10-mini sample, CB focal loss
// (beta 0.99, gamma 1), lr 0.1 at batch 32 after a 1-epoch warm-up, no decay, FP32, one test
// evaluation and one checkpoint at the end, no loader threads.

#include <string>

#include "tests/data/data_test_support.h"
#include "train/trainer.h"

namespace cbnn::testing {

inline train::TrainConfig mini_focal_config(const std::string& out_dir,
                                            const std::string& device = "cpu") {
    train::TrainConfig c;
    c.data_dir = data_dir() + "/cifar10-mini";
    c.out_dir = out_dir;
    c.device = device;
    c.depth = 8;
    c.epochs = 2;
    c.batch_size = 32;
    c.lr = 0.4;  // 0.1 at batch 32
    c.warmup_epochs = 1;
    c.lr_steps = {};
    c.lr_factors = {};
    c.loss = "focal";
    c.beta = 0.99;
    c.gamma = 1.0;
    c.imbalance = 5;
    c.eval_every = 2;
    c.checkpoint_every = 2;
    c.threads = 0;
    return c;
}

}  // namespace cbnn::testing
