#pragma once
// ResNet-(6n+2) for CIFAR, exactly the paper's official TF model (PAPER.md 3.1: src/cifar_model.py,
// src/model_base.py, --resnet-version v1). Composition of existing layers only.
//
//   input (N, 3, H, W), H and W divisible by 4 (32 x 32 for CIFAR)
//   stem    conv3x3(3 -> 16, stride 1, pad 1, no bias) -> BN -> ReLU
//   stage1  n basic blocks, 16 channels, first stride 1
//   stage2  n basic blocks, 32 channels, first stride 2
//   stage3  n basic blocks, 64 channels, first stride 2
//   head    global average pool -> Linear(64 -> C)           logits (N, C)
//
// Mixed precision: given a bf16 input the body runs in bf16 (each conv on a bf16 cast of its f32
// weights, batch norm with f32 parameters and statistics) and the head in f32: parameters,
// gradients and logits stay f32.
//
// Basic block (post-activation, v1):
//   y = ReLU(BN2(conv2(ReLU(BN1(conv1(x))))) + shortcut(x))
//   every BN -> ReLU and BN -> add -> ReLU runs as one op, BatchNorm2d::forward_relu
//   (layers/batchnorm_relu.h: bitwise the unfused ops on the CPU, no pre-ReLU tensor kept)
//   conv1: 3x3, stride s, pad 1, no bias; conv2: 3x3, stride 1, pad 1, no bias
//   shortcut, option A (parameter-free): identity when the width does not change; otherwise
//     avg_pool(s x s, stride s) followed by symmetric zero channel padding of (out - in)/2 on each
//     side (8 + 8 for 16 -> 32, 16 + 16 for 32 -> 64). The official code averages; the common
//     PyTorch port subsamples x[:, :, ::2, ::2] instead.
//
// Initialisation (TF1 defaults, the paper's code), all from the explicit Generator in
// construction order: conv and dense weights Glorot-uniform; BN gamma 1, beta 0 (momentum 0.1 =
// TF decay 0.9, eps 1e-5); head bias 0 (HeadInit::zero, softmax) or -log(C - 1)
// (HeadInit::prior, sigmoid/focal: prior pi = 1/C; C = 1 is an error there).
//
// Parameter names (Module::named_parameters order):
//   stem.conv.weight, stem.bn.weight, stem.bn.bias,
//   stage{1,2,3}.{0..n-1}.conv1.weight, .bn1.weight, .bn1.bias, .conv2.weight, .bn2.weight,
//   .bn2.bias,  fc.weight (C, 64), fc.bias (C)
// Buffers: every BN's running_mean and running_var under the same prefixes.
// The trainer excludes "fc.bias" (ResNetCifar::head_bias()) from weight decay for sigmoid/focal.
//
// Parameter counts (3 x 32 x 32 input; the count does not depend on the input size):
//   depth  n   C = 10     C = 100
//   8      1    75,290     81,140
//   20     3   269,722    275,572
//   32     5   464,154    470,004   (PAPER.md 3.1)
//   44     7   658,586    664,436
//   56     9   853,018    858,868
//   110   18 1,727,962  1,733,812

#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "layers/batchnorm2d.h"
#include "layers/conv2d.h"
#include "layers/linear.h"
#include "layers/module.h"
#include "losses/cb_loss.h"
#include "tensor/rng.h"
#include "tensor/tensor.h"

namespace cbnn {

// Initial value of the classifier bias.
enum class HeadInit : uint8_t {
    zero,   // 0: softmax
    prior,  // -log(C - 1), i.e. sigmoid(b) = pi = 1/C: sigmoid and focal (PAPER.md 1.4)
};
// The paper's choice for a loss: zero for softmax, prior for sigmoid and focal.
HeadInit head_init_for(LossType loss);
// The bias value of `init` for C classes; prior with C = 1 is an error (log 0).
double head_bias_value(HeadInit init, int64_t num_classes);

struct ResNetCifarOptions {
    int64_t depth = 32;  // 6n + 2
    int64_t num_classes = 10;
    HeadInit head_init = HeadInit::zero;
    double bn_momentum = 0.1;
    double bn_eps = 1e-5;
    DType dtype = DType::f32;  // f64 for gradient checks (CPU only)
};

// conv -> BN -> ReLU, children "conv" and "bn".
class ConvBnRelu : public Layer {
  public:
    ConvBnRelu(int64_t in_channels, int64_t out_channels, int64_t kernel_size, int64_t stride,
               int64_t padding, double bn_momentum, double bn_eps, Generator& gen, DType dtype);
    std::string type_name() const override { return "ConvBnRelu"; }
    Tensor forward(const Tensor& x) override;

    const std::shared_ptr<Conv2d>& conv() const { return conv_; }
    const std::shared_ptr<BatchNorm2d>& bn() const { return bn_; }

  private:
    std::shared_ptr<Conv2d> conv_;
    std::shared_ptr<BatchNorm2d> bn_;
};

// The option-A shortcut alone (no parameters), exposed for tests: identity when in == out,
// else avg_pool(stride x stride, stride) then (out - in)/2 zero channels on each side.
Tensor option_a_shortcut(const Tensor& x, int64_t out_channels, int64_t stride);

class BasicBlock : public Layer {
  public:
    BasicBlock(int64_t in_channels, int64_t out_channels, int64_t stride,
               const ResNetCifarOptions& options, Generator& gen);
    std::string type_name() const override { return "BasicBlock"; }
    Tensor forward(const Tensor& x) override;

  private:
    int64_t out_channels_, stride_;
    std::shared_ptr<Conv2d> conv1_, conv2_;
    std::shared_ptr<BatchNorm2d> bn1_, bn2_;
};

class ResNetCifar : public Layer {
  public:
    ResNetCifar(const ResNetCifarOptions& options, Generator& gen);
    std::string type_name() const override;  // "ResNet32" etc.
    // x: (N, 3, H, W) with H, W divisible by 4 -> logits (N, C).
    Tensor forward(const Tensor& x) override;

    const ResNetCifarOptions& options() const { return options_; }
    int64_t blocks_per_stage() const { return (options_.depth - 2) / 6; }
    // "fc.bias": the parameter sigmoid/focal training keeps out of weight decay.
    const Tensor& head_bias() const { return fc_->bias(); }
    const std::shared_ptr<Linear>& fc() const { return fc_; }
    // Stage i in 0..2 ("stage1".."stage3"), a Sequential of BasicBlocks.
    const std::shared_ptr<Sequential>& stage(int i) const { return stages_.at(i); }

  private:
    ResNetCifarOptions options_;
    std::shared_ptr<ConvBnRelu> stem_;
    std::array<std::shared_ptr<Sequential>, 3> stages_;
    std::shared_ptr<Linear> fc_;
};

}  // namespace cbnn
