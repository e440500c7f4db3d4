#pragma once
// The class-balanced losses composed from framework ops through autograd, as popular eager
// re-implementations write them (one-hot, broadcast weights, BCE-with-logits, exp/log modulator,
// sum), each op a separate kernel and a separate tensor:
//   w_row   = index_select(w, 0, y)                   per-sample weight w[y_i], (N)
//   onehot  = one_hot(y, C)                           (N, C)
//   softmax = sum(w_row * -sum(onehot * (z - logsumexp(z)), 1)) / N
//   bce     = relu(z) - z * onehot + log1p(exp(-|z|))             (TF's stable BCE-with-logits)
//   sigmoid = sum(w_row[:, None] * bce) / N
//   focal   = sum(w_row[:, None] * exp(-gamma * onehot * z - gamma * log1p(exp(-z))) * bce) / N
// The focal modulator is the official code's formula, literally: exp(-z) overflows for z below
// about -88 in f32, which gives inf * 0 = NaN gradients there — the fused kernels use a stable
// softplus instead (docs/class-balanced-loss.md). Use these for cross-checks on moderate logits and
// as the benchmark baseline (bench/bench_losses.cpp), not for training.

#include "losses/cb_loss.h"
#include "tensor/tensor.h"

namespace cbnn {

Tensor naive_class_balanced_loss(const Tensor& logits, const Tensor& labels, const Tensor& weights,
                                 LossType type, double gamma = 0.0);

}  // namespace cbnn
