#pragma once
// Weight initialisers, each drawing from an explicit Generator so a model's initial weights follow
// from its seed. Fans of a weight tensor:
//   linear (out, in):        fan_in = in,            fan_out = out
//   conv   (K, C, R, S):     fan_in = C * R * S,     fan_out = K * R * S
//   glorot_uniform_  U(-a, a), a = sqrt(6 / (fan_in + fan_out))   (TF1's default, the paper's code)
//   kaiming_normal_  N(0, 2 / fan_in)                              (He et al., ReLU networks)
//   normal_init_     N(mean, std^2)          (ResNet-50 head: N(0, 0.01^2))
//   constant_        every element = value   (biases; -log(C - 1) for sigmoid/focal heads)
// All write in place under NoGradGuard, so they work on registered parameters.

#include "tensor/rng.h"
#include "tensor/tensor.h"

namespace cbnn {

struct Fans {
    int64_t fan_in;
    int64_t fan_out;
};
// Fans of a 2-D (linear) or 4-D (conv) weight; other ranks are an error.
Fans compute_fans(const Tensor& weight);

void glorot_uniform_(Tensor& weight, Generator& gen);
void kaiming_normal_(Tensor& weight, Generator& gen);
void normal_init_(Tensor& tensor, Generator& gen, double mean, double std);
void constant_(Tensor& tensor, double value);

}  // namespace cbnn
