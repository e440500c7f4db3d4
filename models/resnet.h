#pragma once
// ResNet-50/101/152 v1 (bottleneck blocks, projection shortcuts), the backbones of the paper's
// iNaturalist / ImageNet runs (PAPER.md 3.5: the official TF TPU code, tpu/models/official/resnet/
// resnet_model.py). Composition of existing layers only.
//
//   input (N, 3, H, W) (224 x 224 or 320 x 320 in the paper)
//   stem    conv7x7(3 -> 64, stride 2, pad 3, no bias) -> BN -> ReLU -> max_pool 3x3/2 pad 1
//   stage1  b1 bottlenecks, width  64 -> 256 out, first stride 1
//   stage2  b2 bottlenecks, width 128 -> 512 out, first stride 2
//   stage3  b3 bottlenecks, width 256 -> 1024 out, first stride 2
//   stage4  b4 bottlenecks, width 512 -> 2048 out, first stride 2
//   head    global average pool -> Linear(2048 -> C)         logits (N, C)
//   (mixed precision: a bf16 input runs the body in bf16 with f32 parameters, the head in f32)
//   blocks  ResNet-50 [3, 4, 6, 3], ResNet-101 [3, 4, 23, 3], ResNet-152 [3, 8, 36, 3]
//
// Bottleneck block, width w, expansion 4:
//   y = ReLU(BN3(conv3(ReLU(BN2(conv2(ReLU(BN1(conv1(x)))))))) + shortcut(x))
//   every BN -> ReLU and BN -> add -> ReLU runs as one op, BatchNorm2d::forward_relu
//   (layers/batchnorm_relu.h: bitwise the unfused ops on the CPU, no pre-ReLU tensor kept)
//   conv1 1x1 (in -> w, stride 1), conv2 3x3 (w -> w, stride s, pad 1), conv3 1x1 (w -> 4w);
//   no conv has a bias.
//   Stride placement: on the 3x3 conv (conv2), as in the TF TPU resnet_model.py that the paper's
//   code uses (bottleneck_block: conv 1x1 stride 1, conv 3x3 `strides`); the same as torchvision's
//   "v1.5". The original Caffe ResNet put it on the first 1x1. The parameter count is the same.
//   shortcut: identity when the shape is unchanged; else a projection, conv 1x1 (in -> 4w,
//   stride s, no bias) -> BN (the first block of every stage, stage1's included: 64 -> 256).
//
// Padding: conv 3x3/2 with pad 1 and conv 7x7/2 with pad 3 equal TF's fixed_padding (explicit
// symmetric pads then VALID). The stem's max pool uses symmetric pad 1 (PyTorch); TF's 'SAME'
// pads 0 before and 1 after on even sizes, which shifts the windows by one pixel. Same shapes,
// same parameters.
//
// Initialisation, from the explicit Generator in construction order:
//   conv weights   Kaiming-normal N(0, 2/fan_in) (ConvInit::kaiming_normal, default) or
//                  Glorot-uniform (ConvInit::glorot_uniform)
//   BN             gamma 1, beta 0 (momentum 0.1 = TF decay 0.9, eps 1e-5); with
//                  zero_init_last_bn each block's bn3 gamma is 0 (PAPER.md 3.5), so every block
//                  starts as its shortcut
//   head           weight N(0, 0.01^2); bias 0 (HeadInit::zero, softmax) or -log(C - 1)
//                  (HeadInit::prior, sigmoid/focal)
//
// Parameter names: stem.conv.weight, stem.bn.{weight,bias},
//   stage{1..4}.{i}.conv{1,2,3}.weight, .bn{1,2,3}.{weight,bias},
//   stage{1..4}.0.shortcut.conv.weight, stage{1..4}.0.shortcut.bn.{weight,bias},
//   fc.weight (C, 2048), fc.bias (C). Buffers: each BN's running_mean and running_var.
//
// Parameter counts (independent of the input size):
//   depth  blocks          C = 1000
//   50     [3, 4, 6, 3]    25,557,032
//   101    [3, 4, 23, 3]   44,549,160
//   152    [3, 8, 36, 3]   60,192,808

#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "layers/batchnorm2d.h"
#include "layers/conv2d.h"
#include "layers/linear.h"
#include "layers/module.h"
#include "models/resnet_cifar.h"
#include "tensor/rng.h"
#include "tensor/tensor.h"

namespace cbnn {

enum class ConvInit : uint8_t { kaiming_normal, glorot_uniform };

struct ResNetOptions {
    int64_t depth = 50;  // 50, 101 or 152
    int64_t num_classes = 1000;
    HeadInit head_init = HeadInit::zero;
    ConvInit conv_init = ConvInit::kaiming_normal;
    bool zero_init_last_bn = false;
    double bn_momentum = 0.1;
    double bn_eps = 1e-5;
    DType dtype = DType::f32;
};

// Blocks per stage of a depth: 50 -> {3, 4, 6, 3}, 101 -> {3, 4, 23, 3}, 152 -> {3, 8, 36, 3};
// any other depth is an error listing these.
std::array<int64_t, 4> resnet_stage_blocks(int64_t depth);

// conv 1x1 (stride s) -> BN: the projection shortcut, children "conv" and "bn".
class Projection : public Layer {
  public:
    Projection(int64_t in_channels, int64_t out_channels, int64_t stride,
               const ResNetOptions& options, Generator& gen);
    std::string type_name() const override { return "Projection"; }
    Tensor forward(const Tensor& x) override;

  private:
    std::shared_ptr<Conv2d> conv_;
    std::shared_ptr<BatchNorm2d> bn_;
};

class Bottleneck : public Layer {
  public:
    static constexpr int64_t kExpansion = 4;
    Bottleneck(int64_t in_channels, int64_t width, int64_t stride, const ResNetOptions& options,
               Generator& gen);
    std::string type_name() const override { return "Bottleneck"; }
    Tensor forward(const Tensor& x) override;

    const std::shared_ptr<Conv2d>& conv1() const { return conv1_; }
    const std::shared_ptr<Conv2d>& conv2() const { return conv2_; }
    const std::shared_ptr<BatchNorm2d>& bn3() const { return bn3_; }
    bool has_projection() const { return shortcut_ != nullptr; }

  private:
    std::shared_ptr<Conv2d> conv1_, conv2_, conv3_;
    std::shared_ptr<BatchNorm2d> bn1_, bn2_, bn3_;
    std::shared_ptr<Projection> shortcut_;  // null: identity
};

class ResNet : public Layer {
  public:
    ResNet(const ResNetOptions& options, Generator& gen);
    std::string type_name() const override;  // "ResNet50" etc.
    // x: (N, 3, H, W), H and W >= 32 -> logits (N, C).
    Tensor forward(const Tensor& x) override;

    const ResNetOptions& options() const { return options_; }
    // "fc.bias": kept out of weight decay by the trainer (PAPER.md 3.5).
    const Tensor& head_bias() const { return fc_->bias(); }
    const std::shared_ptr<Linear>& fc() const { return fc_; }
    const std::shared_ptr<Sequential>& stage(int i) const { return stages_.at(i); }

  private:
    ResNetOptions options_;
    std::shared_ptr<ConvBnRelu> stem_;  // followed by the max pool in forward
    std::array<std::shared_ptr<Sequential>, 4> stages_;
    std::shared_ptr<Linear> fc_;
};

}  // namespace cbnn
