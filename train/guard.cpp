#include "train/guard.h"

#include <cmath>
#include <sstream>

#include "autograd/functions.h"
#include "autograd/grad_mode.h"
#include "tensor/dispatch.h"
#include "tensor/reduce.h"
#include "tensor/unary.h"

namespace cbnn {

namespace {

const char* nonfinite_name(double x) {
    if (std::isnan(x)) return "NaN";
    return x > 0 ? "Inf" : "-Inf";
}

bool has_nonfinite(const Tensor& g) {
    const Tensor h = g.cpu().contiguous();
    return dispatch_floating(h.dtype(), "check_gradients", [&]<class T>() {
        const T* d = h.data<T>();
        for (int64_t i = 0; i < h.numel(); ++i) {
            if (!std::isfinite(d[i])) return true;
        }
        return false;
    });
}

}  // namespace

double global_grad_norm(const NamedTensors& parameters) {
    NoGradGuard no_grad;
    Tensor total;
    for (const auto& [name, p] : parameters) {
        const Tensor g = p.grad();
        if (!g.defined()) continue;
        Tensor s = ops::sum_all(ops::unary(UnaryOp::square, g));
        if (!total.defined()) {
            total = s;
            continue;
        }
        CBNN_CHECK(s.device() == total.device(), "global_grad_norm: gradient of '", name,
                   "' is on ", s.device(), ", earlier gradients on ", total.device());
        if (s.dtype() != total.dtype()) s = s.to(total.dtype());
        total = total + s;
    }
    if (!total.defined()) return 0.0;
    const double sum_sq = total.dtype() == DType::f64 ? total.item<double>()
                                                      : static_cast<double>(total.item<float>());
    return std::sqrt(sum_sq);
}

void check_loss(double loss, int64_t step) {
    if (std::isfinite(loss)) return;
    std::ostringstream os;
    os << "step " << step << ": loss is " << nonfinite_name(loss);
    throw DivergenceError(os.str(), DivergenceError::Kind::loss, step, "");
}

double check_gradients(const NamedTensors& parameters, int64_t step, double max_norm) {
    CBNN_CHECK(max_norm > 0.0, "check_gradients: max_norm must be > 0, got ", max_norm);
    const double norm = global_grad_norm(parameters);
    std::ostringstream os;
    os << "step " << step << ": gradient norm ";
    if (!std::isfinite(norm)) {
        os << "is " << nonfinite_name(norm);
        for (const auto& [name, p] : parameters) {
            const Tensor g = p.grad();
            if (g.defined() && has_nonfinite(g)) {
                os << " (parameter '" << name << "' has non-finite gradients)";
                throw DivergenceError(os.str(), DivergenceError::Kind::gradient, step, name);
            }
        }
        os << " (every gradient is finite: the sum of squares overflows)";
        throw DivergenceError(os.str(), DivergenceError::Kind::gradient, step, "");
    }
    if (norm > max_norm) {
        os << norm << " exceeds the limit " << max_norm;
        throw DivergenceError(os.str(), DivergenceError::Kind::gradient, step, "");
    }
    return norm;
}

}  // namespace cbnn
