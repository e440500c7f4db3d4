#pragma once
// Linear (fully connected) layer: the classifier head of every ResNet.
//
//   forward   y = x W^T + b            x: (N, in), W: (out, in), b: (out), y: (N, out)
//             y[n, j] = sum_i x[n, i] W[j, i] + b[j]
//   backward  dx = dy W    (N, out)x(out, in)
//             dW = dy^T x  (out, N)x(N, in)
//             db = sum_n dy[n, :]
//
// Composed of the differentiable matmul (autograd/functions.h: cuBLAS on CUDA, the plain gemm
// reference on the CPU) and a broadcast add, so the backward above is theirs: W^T is a transposed
// view of the weight (no copy) and db is add's sum over the broadcast dimension. Row-major
// layouts; f32/f64 on the CPU, f32 on CUDA. Only rank-2 inputs: a feature map must be flattened
// first (layers/activations.h: Flatten), which keeps a forgotten pooling/flatten a clear error.
//
// Initialisation: W ~ glorot_uniform_ (TF1's default, the paper's code), b = 0.

#include <cstdint>
#include <string>

#include "layers/module.h"
#include "tensor/rng.h"
#include "tensor/tensor.h"

namespace cbnn {

// y = x W^T + b; `bias` may be undefined (no bias). Differentiable in x, weight and bias.
// Checks ranks, sizes, dtypes and devices and names what it saw:
//   "linear: input has 63 features, weight expects 64 (input f32[8, 63] cpu, weight ...)".
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias);

class Linear : public Layer {
  public:
    // Parameters are created on the CPU in `dtype` (f32, or f64 for gradient checks); move the
    // module with to(device).
    Linear(int64_t in_features, int64_t out_features, bool bias, Generator& gen,
           DType dtype = DType::f32);

    std::string type_name() const override { return "Linear"; }
    Tensor forward(const Tensor& x) override;

    int64_t in_features() const { return in_features_; }
    int64_t out_features() const { return out_features_; }
    const Tensor& weight() const { return weight_; }
    // Undefined when constructed without bias.
    const Tensor& bias() const { return bias_; }

  private:
    int64_t in_features_;
    int64_t out_features_;
    Tensor weight_;
    Tensor bias_;
};

}  // namespace cbnn
