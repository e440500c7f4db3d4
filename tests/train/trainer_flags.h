#pragma once
// The flags every trainer shares (train/train_cli.h's common options), which each tool's --help
// test looks for beside the tool's own.
#include <array>

namespace cbnn::testing {

inline constexpr std::array kCommonTrainerFlags = {"--data",
                                                   "--out",
                                                   "--loss",
                                                   "--beta",
                                                   "--gamma",
                                                   "--epochs",
                                                   "--batch-size",
                                                   "--lr",
                                                   "--weight-decay",
                                                   "--warmup-epochs",
                                                   "--lr-steps",
                                                   "--lr-factors",
                                                   "--seed",
                                                   "--device",
                                                   "--depth",
                                                   "--eval-every",
                                                   "--checkpoint-every",
                                                   "--grad-check-every",
                                                   "--progress-every",
                                                   "--resume",
                                                   "--threads",
                                                   "--preset",
                                                   "--conv-search",
                                                   "--conv-algos",
                                                   "--conv-kernels",
                                                   "--bn-kernels",
                                                   "--cuda-graph",
                                                   "--precision",
                                                   "--eval-precision",
                                                   "--layout",
                                                   "--batching"};

}  // namespace cbnn::testing
