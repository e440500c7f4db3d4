#include "models/resnet_cifar.h"

#include <cmath>
#include <utility>
#include <vector>

#include "autograd/functions.h"
#include "layers/channel_pad.h"
#include "layers/init.h"
#include "layers/pooling.h"

namespace cbnn {

HeadInit head_init_for(LossType loss) {
    return loss == LossType::softmax ? HeadInit::zero : HeadInit::prior;
}

double head_bias_value(HeadInit init, int64_t num_classes) {
    CBNN_CHECK(num_classes >= 1, "head bias: num_classes must be >= 1, got ", num_classes);
    if (init == HeadInit::zero) return 0.0;
    CBNN_CHECK(num_classes >= 2,
               "head bias: the prior initialisation -log(C - 1) needs C >= 2 classes, got C = ",
               num_classes);
    return -std::log(static_cast<double>(num_classes - 1));
}

ConvBnRelu::ConvBnRelu(int64_t in_channels, int64_t out_channels, int64_t kernel_size,
                       int64_t stride, int64_t padding, double bn_momentum, double bn_eps,
                       Generator& gen, DType dtype) {
    conv_ = register_module(
        "conv", std::make_shared<Conv2d>(in_channels, out_channels, kernel_size, stride, padding,
                                         /*bias=*/false, gen, dtype));
    bn_ = register_module("bn",
                          std::make_shared<BatchNorm2d>(out_channels, bn_momentum, bn_eps, dtype));
}

Tensor ConvBnRelu::forward(const Tensor& x) { return bn_->forward_relu(conv_->forward(x)); }

Tensor option_a_shortcut(const Tensor& x, int64_t out_channels, int64_t stride) {
    check_defined(x, "option_a_shortcut");
    CBNN_CHECK(x.dim() == 4, "option_a_shortcut: expected an NCHW input, got ", x.description());
    const int64_t in_channels = x.size(1);
    if (in_channels == out_channels) {
        CBNN_CHECK(stride == 1, "option_a_shortcut: the identity shortcut needs stride 1, got ",
                   stride);
        return x;
    }
    CBNN_CHECK(out_channels > in_channels && (out_channels - in_channels) % 2 == 0,
               "option_a_shortcut: widening ", in_channels, " -> ", out_channels,
               " channels needs an even increase (symmetric zero padding)");
    const int64_t pad = (out_channels - in_channels) / 2;
    const Tensor pooled = stride == 1 ? x : avg_pool2d(x, stride, stride);
    return pad_channels(pooled, pad, pad);
}

BasicBlock::BasicBlock(int64_t in_channels, int64_t out_channels, int64_t stride,
                       const ResNetCifarOptions& options, Generator& gen)
    : out_channels_(out_channels), stride_(stride) {
    CBNN_CHECK(stride == 1 || stride == 2, "BasicBlock: stride must be 1 or 2, got ", stride);
    CBNN_CHECK(in_channels == out_channels ? stride == 1 : out_channels > in_channels,
               "BasicBlock: ", in_channels, " -> ", out_channels, " channels with stride ", stride,
               " has no option-A shortcut");
    const DType dt = options.dtype;
    conv1_ = register_module(
        "conv1", std::make_shared<Conv2d>(in_channels, out_channels, 3, stride, 1, false, gen, dt));
    bn1_ = register_module("bn1", std::make_shared<BatchNorm2d>(out_channels, options.bn_momentum,
                                                                options.bn_eps, dt));
    conv2_ = register_module(
        "conv2", std::make_shared<Conv2d>(out_channels, out_channels, 3, 1, 1, false, gen, dt));
    bn2_ = register_module("bn2", std::make_shared<BatchNorm2d>(out_channels, options.bn_momentum,
                                                                options.bn_eps, dt));
}

Tensor BasicBlock::forward(const Tensor& x) {
    const Tensor h = bn1_->forward_relu(conv1_->forward(x));
    const Tensor y = conv2_->forward(h);
    return bn2_->forward_relu(y, option_a_shortcut(x, out_channels_, stride_));
}

ResNetCifar::ResNetCifar(const ResNetCifarOptions& options, Generator& gen) : options_(options) {
    CBNN_CHECK(options.depth >= 8 && (options.depth - 2) % 6 == 0,
               "ResNetCifar: depth must be 6n + 2 with n >= 1 (8, 20, 32, 44, 56, 110, ...), got ",
               options.depth);
    CBNN_CHECK(options.num_classes >= 1, "ResNetCifar: num_classes must be >= 1, got ",
               options.num_classes);
    CBNN_CHECK(is_floating(options.dtype), "ResNetCifar: dtype must be floating, got ",
               options.dtype);
    // Checked before any parameter is drawn, so a bad option consumes nothing from gen.
    const double bias = head_bias_value(options.head_init, options.num_classes);

    const int64_t n = blocks_per_stage();
    stem_ =
        register_module("stem", std::make_shared<ConvBnRelu>(3, 16, 3, 1, 1, options.bn_momentum,
                                                             options.bn_eps, gen, options.dtype));
    const int64_t widths[3] = {16, 32, 64};
    const int64_t strides[3] = {1, 2, 2};
    int64_t in = 16;
    for (int s = 0; s < 3; ++s) {
        auto stage = std::make_shared<Sequential>();
        for (int64_t b = 0; b < n; ++b) {
            stage->add(
                std::make_shared<BasicBlock>(in, widths[s], b == 0 ? strides[s] : 1, options, gen));
            in = widths[s];
        }
        stages_[static_cast<size_t>(s)] = register_module("stage" + std::to_string(s + 1), stage);
    }
    fc_ = register_module(
        "fc", std::make_shared<Linear>(64, options.num_classes, /*bias=*/true, gen, options.dtype));
    Tensor fc_bias = fc_->bias();
    constant_(fc_bias, bias);
}

std::string ResNetCifar::type_name() const { return "ResNet" + std::to_string(options_.depth); }

Tensor ResNetCifar::forward(const Tensor& x) {
    check_defined(x, "ResNetCifar");
    CBNN_CHECK(x.dim() == 4 && x.size(1) == 3 && x.size(2) % 4 == 0 && x.size(3) % 4 == 0,
               type_name(), ": expected an (N, 3, H, W) input with H and W divisible by 4, got ",
               x.description());
    Tensor h = stem_->forward(x);
    for (const auto& stage : stages_) h = stage->forward(h);
    // Mixed precision: the head (pooling, fc, the loss after it) runs in f32.
    return fc_->forward(global_avg_pool2d(h.dtype() == DType::bf16 ? h.to(DType::f32) : h));
}

}  // namespace cbnn
