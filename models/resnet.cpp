#include "models/resnet.h"

#include <utility>

#include "autograd/functions.h"
#include "layers/init.h"
#include "layers/pooling.h"

namespace cbnn {

namespace {

// Conv2d draws Glorot-uniform itself; Kaiming redraws from the same generator, so the weights
// still follow from the seed alone.
std::shared_ptr<Conv2d> make_conv(int64_t in, int64_t out, int64_t kernel, int64_t stride,
                                  int64_t padding, const ResNetOptions& options, Generator& gen) {
    auto conv =
        std::make_shared<Conv2d>(in, out, kernel, stride, padding, false, gen, options.dtype);
    if (options.conv_init == ConvInit::kaiming_normal) {
        Tensor w = conv->weight();
        kaiming_normal_(w, gen);
    }
    return conv;
}

std::shared_ptr<BatchNorm2d> make_bn(int64_t channels, const ResNetOptions& options) {
    return std::make_shared<BatchNorm2d>(channels, options.bn_momentum, options.bn_eps,
                                         options.dtype);
}

}  // namespace

std::array<int64_t, 4> resnet_stage_blocks(int64_t depth) {
    switch (depth) {
        case 50:
            return {3, 4, 6, 3};
        case 101:
            return {3, 4, 23, 3};
        case 152:
            return {3, 8, 36, 3};
        default:
            CBNN_FAIL("ResNet: depth must be 50, 101 or 152, got ", depth);
    }
}

Projection::Projection(int64_t in_channels, int64_t out_channels, int64_t stride,
                       const ResNetOptions& options, Generator& gen) {
    conv_ =
        register_module("conv", make_conv(in_channels, out_channels, 1, stride, 0, options, gen));
    bn_ = register_module("bn", make_bn(out_channels, options));
}

Tensor Projection::forward(const Tensor& x) { return bn_->forward(conv_->forward(x)); }

Bottleneck::Bottleneck(int64_t in_channels, int64_t width, int64_t stride,
                       const ResNetOptions& options, Generator& gen) {
    CBNN_CHECK(stride == 1 || stride == 2, "Bottleneck: stride must be 1 or 2, got ", stride);
    const int64_t out = width * kExpansion;
    conv1_ = register_module("conv1", make_conv(in_channels, width, 1, 1, 0, options, gen));
    bn1_ = register_module("bn1", make_bn(width, options));
    conv2_ = register_module("conv2", make_conv(width, width, 3, stride, 1, options, gen));
    bn2_ = register_module("bn2", make_bn(width, options));
    conv3_ = register_module("conv3", make_conv(width, out, 1, 1, 0, options, gen));
    bn3_ = register_module("bn3", make_bn(out, options));
    if (options.zero_init_last_bn) {
        Tensor gamma = bn3_->weight();
        constant_(gamma, 0.0);
    }
    if (stride != 1 || in_channels != out)
        shortcut_ = register_module(
            "shortcut", std::make_shared<Projection>(in_channels, out, stride, options, gen));
}

Tensor Bottleneck::forward(const Tensor& x) {
    Tensor h = bn1_->forward_relu(conv1_->forward(x));
    h = bn2_->forward_relu(conv2_->forward(h));
    h = conv3_->forward(h);
    return bn3_->forward_relu(h, shortcut_ ? shortcut_->forward(x) : x);
}

ResNet::ResNet(const ResNetOptions& options, Generator& gen) : options_(options) {
    const std::array<int64_t, 4> blocks = resnet_stage_blocks(options.depth);
    CBNN_CHECK(options.num_classes >= 1, "ResNet: num_classes must be >= 1, got ",
               options.num_classes);
    CBNN_CHECK(is_floating(options.dtype), "ResNet: dtype must be floating, got ", options.dtype);
    const double bias = head_bias_value(options.head_init, options.num_classes);

    stem_ =
        register_module("stem", std::make_shared<ConvBnRelu>(3, 64, 7, 2, 3, options.bn_momentum,
                                                             options.bn_eps, gen, options.dtype));
    if (options.conv_init == ConvInit::kaiming_normal) {
        Tensor w = stem_->conv()->weight();
        kaiming_normal_(w, gen);
    }
    int64_t in = 64;
    for (int s = 0; s < 4; ++s) {
        const int64_t width = int64_t{64} << s;
        auto stage = std::make_shared<Sequential>();
        for (int64_t b = 0; b < blocks[static_cast<size_t>(s)]; ++b) {
            const int64_t stride = (b == 0 && s > 0) ? 2 : 1;
            stage->add(std::make_shared<Bottleneck>(in, width, stride, options, gen));
            in = width * Bottleneck::kExpansion;
        }
        stages_[static_cast<size_t>(s)] = register_module("stage" + std::to_string(s + 1), stage);
    }
    fc_ = register_module(
        "fc", std::make_shared<Linear>(in, options.num_classes, /*bias=*/true, gen, options.dtype));
    Tensor fc_weight = fc_->weight();
    normal_init_(fc_weight, gen, 0.0, 0.01);
    Tensor fc_bias = fc_->bias();
    constant_(fc_bias, bias);
}

std::string ResNet::type_name() const { return "ResNet" + std::to_string(options_.depth); }

Tensor ResNet::forward(const Tensor& x) {
    check_defined(x, "ResNet");
    CBNN_CHECK(x.dim() == 4 && x.size(1) == 3 && x.size(2) >= 32 && x.size(3) >= 32, type_name(),
               ": expected an (N, 3, H, W) input with H, W >= 32, got ", x.description());
    Tensor h = max_pool2d(stem_->forward(x), 3, 2, 1);
    for (const auto& stage : stages_) h = stage->forward(h);
    // Mixed precision: the head (pooling, fc, the loss after it) runs in f32.
    return fc_->forward(global_avg_pool2d(h.dtype() == DType::bf16 ? h.to(DType::f32) : h));
}

}  // namespace cbnn
