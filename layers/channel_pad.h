#pragma once
// Zero padding of the channel dimension, the parameter-free (option A) shortcut of ResNet-32 when
// a stage doubles the width (PAPER.md 3.1: 8+8 zero channels for 16 -> 32, 16+16 for 32 -> 64):
//   y (N, before + C + after, H, W):  y[:, before + c] = x[:, c],  zeros in the other channels
//   dx = dy[:, before : before + C]
// Composed from copies (tensor/copy.h), which run on the CPU and CUDA alike: y is zero-filled and
// x is copied into the middle channels (a strided view); backward copies the middle channels out.
// Layout: x, dx (N, C, H, W) and y, dy (N, before + C + after, H, W), contiguous, or all
// channels-last (tensor/memory_format.h): y keeps x's format and dx dy's.
// Dtypes: f32, f64 (CPU only) or bf16, y and dx in x's and dy's dtype: pure data movement, so a
// bf16 result holds x's (or dy's) bits exactly.

#include <cstdint>
#include <string>

#include "layers/module.h"
#include "tensor/tensor.h"

namespace cbnn {

namespace ops {
Tensor pad_channels(const Tensor& x, int64_t before, int64_t after);
// The gradient of pad_channels: the `channels` channels of dy starting at `before`.
Tensor pad_channels_backward(const Tensor& dy, int64_t before, int64_t channels);
}  // namespace ops

// Differentiable in x.
Tensor pad_channels(const Tensor& x, int64_t before, int64_t after);

class ChannelZeroPad : public Layer {
  public:
    ChannelZeroPad(int64_t before, int64_t after);
    // Symmetric: `pad` zero channels on each side.
    explicit ChannelZeroPad(int64_t pad) : ChannelZeroPad(pad, pad) {}
    std::string type_name() const override { return "ChannelZeroPad"; }
    Tensor forward(const Tensor& x) override { return pad_channels(x, before_, after_); }

  private:
    int64_t before_, after_;
};

}  // namespace cbnn
