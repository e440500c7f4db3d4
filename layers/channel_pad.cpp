// Channel zero padding: op functions, autograd node and module (math in layers/channel_pad.h).
#include "layers/channel_pad.h"

#include <memory>

#include "autograd/node.h"
#include "tensor/copy.h"

namespace cbnn {

namespace {

void check_pads(int64_t before, int64_t after, const std::string& who) {
    CBNN_CHECK(before >= 0 && after >= 0, who,
               ": channel padding must be >= 0 on both sides, got before = ", before,
               ", after = ", after);
}

void check_nchw(const Tensor& t, const char* op, const char* name) {
    check_defined(t, op);
    CBNN_CHECK(t.dim() == 4, op, ": expected an NCHW ", name, " (4 dimensions), got ",
               t.description());
    CBNN_CHECK(is_floating(t.dtype()), op, ": expected an f32, f64 or bf16 ", name, ", got ",
               t.description());
    check_cuda_float_or_bf16(t, op);
}

}  // namespace

namespace ops {

Tensor pad_channels(const Tensor& x, int64_t before, int64_t after) {
    constexpr const char* op = "pad_channels";
    check_nchw(x, op, "input");
    check_pads(before, after, op);
    const int64_t C = x.size(1);
    Tensor y = Tensor::empty({x.size(0), before + C + after, x.size(2), x.size(3)}, x.dtype(),
                             x.device(), x.memory_format());
    y.zero_();
    copy_into(Tensor::make_view(y, x.shape(), y.strides(), y.offset() + before * y.strides()[1]),
              x);
    return y;
}

Tensor pad_channels_backward(const Tensor& dy, int64_t before, int64_t channels) {
    constexpr const char* op = "pad_channels_backward";
    check_nchw(dy, op, "dy");
    CBNN_CHECK(before >= 0 && channels >= 0 && before + channels <= dy.size(1), op, ": channels [",
               before, ", ", before + channels, ") are outside dy ", dy.description());
    const Shape shape{dy.size(0), channels, dy.size(2), dy.size(3)};
    return contiguous_copy(
        Tensor::make_view(dy, shape, dy.strides(), dy.offset() + before * dy.strides()[1]),
        dy.memory_format());
}

}  // namespace ops

namespace {

class PadChannelsNode : public autograd::Node {
  public:
    PadChannelsNode(int64_t before, int64_t channels) : before_(before), channels_(channels) {}
    const char* name() const override { return "pad_channels"; }
    std::vector<Tensor> apply(std::vector<Tensor> grads) override {
        if (!grads[0].defined()) return {Tensor()};
        return {ops::pad_channels_backward(grads[0], before_, channels_)};
    }

  private:
    int64_t before_, channels_;
};

}  // namespace

Tensor pad_channels(const Tensor& x, int64_t before, int64_t after) {
    Tensor y = ops::pad_channels(x, before, after);
    if (autograd::any_requires_grad({x})) {
        autograd::connect(std::make_shared<PadChannelsNode>(before, x.size(1)), {x}, {&y});
    }
    return y;
}

ChannelZeroPad::ChannelZeroPad(int64_t before, int64_t after) : before_(before), after_(after) {
    check_pads(before, after, type_name());
}

}  // namespace cbnn
