#pragma once
// Class-balanced losses (Cui et al., CVPR 2019; PAPER.md 1.2-1.3): the user-facing API.
//
// For logits z (N, C), labels y (N) and class weights w (C) (losses/class_weights.h, sum = C):
//   softmax  loss = (1/N) sum_i w[y_i] (logsumexp(z_i) - z_i[y_i])
//            dlogits_ij = (w[y_i]/N) (softmax(z_i)_j - [j == y_i])
//   sigmoid  loss = (1/N) sum_i w[y_i] sum_j BCE(z_ij, [j == y_i])
//            dlogits_ij = (w[y_i]/N) (sigmoid(z_ij) - [j == y_i])
//   focal    loss = (1/N) sum_i w[y_i] sum_j FL(z_ij, [j == y_i]; gamma)
//            dlogits_ij = (w[y_i]/N) dFL/dz (closed form, losses/loss_math.h)
// The label's weight w[y_i] multiplies all C binary terms of row i (the official code's
// broadcast; not alpha-balancing), and every loss is divided by the batch size N: not by sum(w),
// not by N*C. With w = 1 (beta = 0) these are the plain softmax / sigmoid / focal losses.
// C = 1 is allowed: the softmax loss of a single class is 0 (log 1) with zero gradient; sigmoid and
// focal see one positive binary term per row.
//
// Layers (DESIGN.md): the fused kernels cpu::cb_<type>_loss<T> / cuda::cb_<type>_loss in
// losses/cb_softmax.h, cb_sigmoid.h, cb_focal.h compute row_loss_i = (w[y_i]/N) * loss of row i,
// the scalar loss (a deterministic sum of row_loss: CPU in double, CUDA a fixed-order tree in the
// same launch) and dlogits in one pass. ops::class_balanced_loss checks and dispatches;
// class_balanced_loss adds the autograd node, whose backward is dlogits * upstream gradient.
//
// Labels out of range: on the CPU a cbnn::Error names the row, the label and C. On CUDA the op
// does not synchronise to look: the kernel writes NaN into that row's loss (so the batch loss is
// NaN and training's NaN check stops the run) and zeros into that row's dlogits.

#include <cstdint>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace cbnn {

enum class LossType : uint8_t { softmax, sigmoid, focal };
const char* loss_type_name(LossType type);
// "softmax", "sigmoid" or "focal"; anything else is an error listing those names.
LossType parse_loss_type(const std::string& name);

// Throws unless gamma is finite and >= 0.
void check_gamma(double gamma);

// What a run asks for: the loss, beta of the class weights and gamma of the focal loss
// (gamma is ignored by softmax and sigmoid). beta = 0 gives the unweighted baselines.
struct LossConfig {
    LossType type = LossType::softmax;
    double beta = 0.0;
    double gamma = 0.0;
    // Throws a cbnn::Error naming the bad value (beta outside [0, 1) or NaN, gamma < 0 or NaN).
    void validate() const;
};

// Differentiable class-balanced loss, a 0-d tensor of logits' dtype on logits' device.
//   logits: (N, C), N >= 1, C >= 1; f32 or f64 on the CPU, f32 on CUDA
//   labels: (N) i64 in [0, C), same device
//   weights: (C), same dtype and device as logits; must not require grad
// Gradient flows to logits only. With grad mode off, or when logits do not require grad, no
// dlogits are computed or stored (forward-only kernels).
Tensor class_balanced_loss(const Tensor& logits, const Tensor& labels, const Tensor& weights,
                           LossType type, double gamma = 0.0);
Tensor class_balanced_loss(const Tensor& logits, const Tensor& labels, const Tensor& weights,
                           const LossConfig& config);

// A loss bound to its class weights, for training loops:
//   ClassBalancedLoss criterion(config, train_counts, DType::f32, Device::cuda());
//   Tensor loss = criterion(logits, labels);
class ClassBalancedLoss {
  public:
    ClassBalancedLoss(const LossConfig& config, const std::vector<int64_t>& counts,
                      DType dtype = DType::f32, Device device = Device::cpu());
    Tensor operator()(const Tensor& logits, const Tensor& labels) const;
    const LossConfig& config() const { return config_; }
    const Tensor& weights() const { return weights_; }

  private:
    LossConfig config_;
    Tensor weights_;
};

namespace cpu {
// Labels must lie in [0, C): throws naming the first bad row, its label and C.
void check_labels(const int64_t* labels, int64_t N, int64_t C);
// The scalar loss from the per-row losses: a plain loop accumulated in double.
template <class T>
T sum_row_losses(const T* row_loss, int64_t N);
}  // namespace cpu

namespace ops {
struct LossResult {
    Tensor loss;     // 0-d
    Tensor dlogits;  // (N, C); undefined when not asked for
};
// Not differentiable (no graph is recorded): the fused kernels behind class_balanced_loss, for
// tools and benchmarks. Same checks as class_balanced_loss.
LossResult class_balanced_loss(const Tensor& logits, const Tensor& labels, const Tensor& weights,
                               LossType type, double gamma = 0.0, bool compute_dlogits = true);
}  // namespace ops

}  // namespace cbnn
