#include "losses/naive_losses.h"

#include "autograd/functions.h"

namespace cbnn {

Tensor naive_class_balanced_loss(const Tensor& logits, const Tensor& labels, const Tensor& weights,
                                 LossType type, double gamma) {
    CBNN_CHECK(logits.dim() == 2, "naive loss: expected logits (N, C), got ", logits.description());
    check_gamma(gamma);
    const int64_t n = logits.size(0), c = logits.size(1);
    const Tensor w_row = index_select(weights, 0, labels);
    const Tensor onehot = one_hot(labels, c, logits.dtype()).to(logits.device());
    const double inv_n = 1.0 / static_cast<double>(n);
    if (type == LossType::softmax) {
        const Tensor log_probs = logits - logsumexp(logits, 1, /*keepdim=*/true);
        const Tensor ce = -sum(onehot * log_probs, 1);
        return sum(w_row * ce) * inv_n;
    }
    const Tensor bce = relu(logits) - logits * onehot + log1p(exp(-abs(logits)));
    Tensor per_element = w_row.unsqueeze(1) * bce;
    if (type == LossType::focal && gamma != 0.0) {
        const Tensor modulator = exp(onehot * logits * -gamma - log1p(exp(-logits)) * gamma);
        per_element = per_element * modulator;
    }
    return sum(per_element) * inv_n;
}

}  // namespace cbnn
