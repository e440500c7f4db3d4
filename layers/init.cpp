#include "layers/init.h"

#include <cmath>

#include "autograd/grad_mode.h"

namespace cbnn {

Fans compute_fans(const Tensor& weight) {
    check_defined(weight, "init");
    if (weight.dim() == 2) return {weight.size(1), weight.size(0)};
    CBNN_CHECK(weight.dim() == 4,
               "init: expected a linear (out, in) or conv (K, C, R, S) weight, got ",
               weight.description());
    const int64_t receptive = weight.size(2) * weight.size(3);
    return {weight.size(1) * receptive, weight.size(0) * receptive};
}

void glorot_uniform_(Tensor& weight, Generator& gen) {
    const Fans f = compute_fans(weight);
    CBNN_CHECK(f.fan_in + f.fan_out > 0, "glorot_uniform_: empty weight ", weight.description());
    const double a = std::sqrt(6.0 / static_cast<double>(f.fan_in + f.fan_out));
    NoGradGuard no_grad;
    uniform_(weight, gen, -a, a);
}

void kaiming_normal_(Tensor& weight, Generator& gen) {
    const Fans f = compute_fans(weight);
    CBNN_CHECK(f.fan_in > 0, "kaiming_normal_: empty weight ", weight.description());
    NoGradGuard no_grad;
    normal_(weight, gen, 0.0, std::sqrt(2.0 / static_cast<double>(f.fan_in)));
}

void normal_init_(Tensor& tensor, Generator& gen, double mean, double std) {
    NoGradGuard no_grad;
    normal_(tensor, gen, mean, std);
}

void constant_(Tensor& tensor, double value) {
    NoGradGuard no_grad;
    tensor.fill_(value);
}

}  // namespace cbnn
