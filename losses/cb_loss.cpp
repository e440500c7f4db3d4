// Checks, dispatch and the autograd node of the class-balanced losses (API in losses/cb_loss.h).
// Backward: dlogits_in = g * dlogits, with g the upstream gradient of the 0-d loss (1 when the
// loss is the root of backward) and dlogits saved by the forward's fused kernel.
#include "losses/cb_loss.h"

#include <cmath>

#include "autograd/node.h"
#include "losses/cb_focal.h"
#include "losses/cb_sigmoid.h"
#include "losses/cb_softmax.h"
#include "losses/class_weights.h"
#include "tensor/binary.h"
#include "tensor/copy.h"
#include "tensor/dispatch.h"

namespace cbnn {

const char* loss_type_name(LossType type) {
    switch (type) {
        case LossType::softmax:
            return "softmax";
        case LossType::sigmoid:
            return "sigmoid";
        case LossType::focal:
            return "focal";
    }
    return "?";
}

LossType parse_loss_type(const std::string& name) {
    for (LossType t : {LossType::softmax, LossType::sigmoid, LossType::focal})
        if (name == loss_type_name(t)) return t;
    CBNN_FAIL("unknown loss type '", name, "': expected softmax, sigmoid or focal");
}

void check_gamma(double gamma) {
    CBNN_CHECK(std::isfinite(gamma) && gamma >= 0.0,
               "focal loss: gamma must be a finite number >= 0, got ", gamma);
}

void LossConfig::validate() const {
    check_beta(beta);
    check_gamma(gamma);
}

namespace cpu {

void check_labels(const int64_t* labels, int64_t N, int64_t C) {
    for (int64_t i = 0; i < N; ++i) {
        CBNN_CHECK(labels[i] >= 0 && labels[i] < C, "class_balanced_loss: label ", labels[i],
                   " of row ", i, " is outside [0, ", C, ") for ", C, " classes");
    }
}

template <class T>
T sum_row_losses(const T* row_loss, int64_t N) {
    double acc = 0.0;
    for (int64_t i = 0; i < N; ++i) acc += static_cast<double>(row_loss[i]);
    return static_cast<T>(acc);
}

template float sum_row_losses<float>(const float*, int64_t);
template double sum_row_losses<double>(const double*, int64_t);

}  // namespace cpu

namespace ops {

namespace {

void check_inputs(const Tensor& logits, const Tensor& labels, const Tensor& weights) {
    constexpr const char* op = "class_balanced_loss";
    check_defined(logits, op);
    check_defined(labels, op);
    check_defined(weights, op);
    CBNN_CHECK(logits.dim() == 2, op, ": expected logits of shape (N, C), got ",
               logits.description());
    const int64_t N = logits.size(0), C = logits.size(1);
    CBNN_CHECK(N >= 1 && C >= 1, op, ": expected a non-empty batch of logits, got ",
               logits.description());
    CBNN_CHECK(is_floating(logits.dtype()), op, ": expected f32 or f64 logits, got ",
               logits.description());
    check_cuda_float(logits, op);
    check_dtype(labels, DType::i64, op, "labels");
    CBNN_CHECK(labels.dim() == 1 && labels.size(0) == N, op, ": expected labels of shape (", N,
               ") for logits ", logits.description(), ", got ", labels.description());
    CBNN_CHECK(weights.dim() == 1 && weights.size(0) == C, op, ": expected ", C,
               " class weights (one per column of logits ", logits.description(), "), got ",
               weights.description());
    check_dtype(weights, logits.dtype(), op, "weights");
    check_same_device(logits, labels, op);
    check_same_device(logits, weights, op);
}

#ifdef CBNN_WITH_CUDA
void launch_cuda(LossType type, double gamma, const Tensor& logits, const Tensor& labels,
                 const Tensor& weights, const Tensor& row_loss, const LossResult& out) {
    const int64_t N = logits.size(0), C = logits.size(1);
    const float* z = logits.data<float>();
    const int64_t* y = labels.data<int64_t>();
    const float* w = weights.data<float>();
    float* rl = row_loss.data<float>();
    float* l = out.loss.data<float>();
    float* d = out.dlogits.defined() ? out.dlogits.data<float>() : nullptr;
    switch (type) {
        case LossType::softmax:
            cuda::cb_softmax_loss(z, y, w, N, C, rl, l, d);
            break;
        case LossType::sigmoid:
            cuda::cb_sigmoid_loss(z, y, w, N, C, rl, l, d);
            break;
        case LossType::focal:
            cuda::cb_focal_loss(z, y, w, N, C, static_cast<float>(gamma), rl, l, d);
            break;
    }
}
#endif

}  // namespace

LossResult class_balanced_loss(const Tensor& logits_in, const Tensor& labels_in,
                               const Tensor& weights_in, LossType type, double gamma,
                               bool compute_dlogits) {
    check_inputs(logits_in, labels_in, weights_in);
    check_gamma(gamma);
    const Tensor logits = dense(logits_in), labels = dense(labels_in), weights = dense(weights_in);
    const int64_t N = logits.size(0), C = logits.size(1);
    const DType dtype = logits.dtype();
    const Device device = logits.device();

    LossResult out;
    out.loss = Tensor::empty({}, dtype, device);
    const Tensor row_loss = Tensor::empty({N}, dtype, device);
    if (compute_dlogits) out.dlogits = Tensor::empty({N, C}, dtype, device);

    if (logits.is_cuda()) {
        CBNN_ON_CUDA(launch_cuda(type, gamma, logits, labels, weights, row_loss, out));
        return out;
    }
    dispatch_floating(dtype, "class_balanced_loss", [&]<class T>() {
        const T* z = logits.data<T>();
        const int64_t* y = labels.data<int64_t>();
        const T* w = weights.data<T>();
        T* rl = row_loss.data<T>();
        T* l = out.loss.data<T>();
        T* d = compute_dlogits ? out.dlogits.data<T>() : nullptr;
        switch (type) {
            case LossType::softmax:
                cpu::cb_softmax_loss<T>(z, y, w, N, C, rl, l, d);
                break;
            case LossType::sigmoid:
                cpu::cb_sigmoid_loss<T>(z, y, w, N, C, rl, l, d);
                break;
            case LossType::focal:
                cpu::cb_focal_loss<T>(z, y, w, N, C, static_cast<T>(gamma), rl, l, d);
                break;
        }
    });
    return out;
}

}  // namespace ops

namespace {

class ClassBalancedLossNode : public autograd::Node {
  public:
    ClassBalancedLossNode(LossType type, const Tensor& dlogits)
        : type_(type), dlogits_(dlogits, "dlogits") {}
    const char* name() const override {
        switch (type_) {
            case LossType::softmax:
                return "cb_softmax_loss";
            case LossType::sigmoid:
                return "cb_sigmoid_loss";
            case LossType::focal:
                return "cb_focal_loss";
        }
        return "class_balanced_loss";
    }
    std::vector<Tensor> apply(std::vector<Tensor> grads) override {
        if (!grads[0].defined()) return {Tensor()};
        // The 0-d upstream gradient broadcasts over (N, C); it stays on the device (no sync).
        return {ops::mul(dlogits_.unpack(name()), grads[0])};
    }
    void release_saved() override { dlogits_.release(); }

  private:
    LossType type_;
    autograd::SavedTensor dlogits_;
};

}  // namespace

Tensor class_balanced_loss(const Tensor& logits, const Tensor& labels, const Tensor& weights,
                           LossType type, double gamma) {
    check_defined(weights, "class_balanced_loss");
    CBNN_CHECK(!autograd::any_requires_grad({weights}),
               "class_balanced_loss: the class weights must not require grad (they are constants "
               "from the training-set counts; no gradient is computed for them), got ",
               weights.description());
    const bool needs_grad = autograd::any_requires_grad({logits});
    ops::LossResult out =
        ops::class_balanced_loss(logits, labels, weights, type, gamma, needs_grad);
    if (needs_grad) {
        autograd::connect(std::make_shared<ClassBalancedLossNode>(type, out.dlogits), {logits},
                          {&out.loss});
    }
    return out.loss;
}

Tensor class_balanced_loss(const Tensor& logits, const Tensor& labels, const Tensor& weights,
                           const LossConfig& config) {
    config.validate();
    return class_balanced_loss(logits, labels, weights, config.type, config.gamma);
}

ClassBalancedLoss::ClassBalancedLoss(const LossConfig& config, const std::vector<int64_t>& counts,
                                     DType dtype, Device device)
    : config_(config) {
    config_.validate();
    weights_ = class_balanced_weights_tensor(counts, config_.beta, dtype, device);
}

Tensor ClassBalancedLoss::operator()(const Tensor& logits, const Tensor& labels) const {
    return class_balanced_loss(logits, labels, weights_, config_.type, config_.gamma);
}

}  // namespace cbnn
