#pragma once
// Parameter-free layers that wrap differentiable tensor functions, so they can sit in a Sequential.
//
//   ReLU     y = max(x, 0)                    dx = dy * [x > 0]   (autograd/functions.h: relu)
//            any shape; f32/f64 on the CPU, f32 on CUDA
//   Flatten  (N, d1, ..., dk) -> (N, d1 * ... * dk), a view of contiguous input (a copy
//            otherwise); dx = dy reshaped back. Used between global pooling and Linear.

#include <string>

#include "layers/module.h"

namespace cbnn {

class ReLU : public Layer {
  public:
    std::string type_name() const override { return "ReLU"; }
    Tensor forward(const Tensor& x) override;
};

class Flatten : public Layer {
  public:
    std::string type_name() const override { return "Flatten"; }
    // Needs at least 2 dimensions: the batch dimension is kept.
    Tensor forward(const Tensor& x) override;
};

}  // namespace cbnn
