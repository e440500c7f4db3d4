#pragma once
// Shared by the class-balanced loss tests: random problems and an independent long-double
// reference written from the paper's textbook formulas (not from losses/loss_math.h).

#include <cmath>
#include <cstdint>
#include <vector>

#include "losses/cb_loss.h"
#include "tests/support/random.h"

namespace cbnn::testing {

struct LossProblem {
    Tensor logits;   // (N, C) f64, CPU
    Tensor labels;   // (N) i64, CPU
    Tensor weights;  // (C) f64, CPU, positive, sum = C
};

inline LossProblem random_problem(int64_t N, int64_t C, uint64_t seed, double lo = -6.0,
                                  double hi = 6.0) {
    LossProblem p;
    p.logits = random_tensor({N, C}, lo, hi, seed);
    p.labels = random_labels(N, C, seed + 1);
    std::vector<double> w = random_values(C, 0.05, 4.0, seed + 2);
    double s = 0.0;
    for (double v : w) s += v;
    for (double& v : w) v *= static_cast<double>(C) / s;
    p.weights = Tensor::from_vector<double>(w, {C});
    return p;
}

struct ReferenceLoss {
    long double loss = 0;
    std::vector<long double> dlogits;
};

// Textbook formulas in long double: p = 1/(1 + e^-z), 1 - p = 1/(1 + e^z) (computed separately so
// nothing cancels for |z| <= ~1000), FL = -(1 - p_t)^gamma log p_t and its derivative written out
// with the chain rule; softmax CE = log sum_j e^(z_j - m) + m - z_y.
inline ReferenceLoss reference_loss(const std::vector<double>& z, const std::vector<int64_t>& y,
                                    const std::vector<double>& w, int64_t N, int64_t C,
                                    LossType type, long double gamma) {
    ReferenceLoss r;
    r.dlogits.assign(static_cast<size_t>(N * C), 0);
    for (int64_t i = 0; i < N; ++i) {
        const long double scale = static_cast<long double>(w[static_cast<size_t>(y[i])]) / N;
        const double* zi = z.data() + i * C;
        long double* d = r.dlogits.data() + i * C;
        if (type == LossType::softmax) {
            long double m = zi[0], s = 0;
            for (int64_t j = 1; j < C; ++j) m = std::max<long double>(m, zi[j]);
            for (int64_t j = 0; j < C; ++j) s += std::exp(static_cast<long double>(zi[j]) - m);
            r.loss += scale * (std::log(s) + m - zi[y[i]]);
            for (int64_t j = 0; j < C; ++j)
                d[j] = scale * (std::exp(zi[j] - m) / s - (j == y[i] ? 1 : 0));
            continue;
        }
        const long double g = type == LossType::focal ? gamma : 0;
        for (int64_t j = 0; j < C; ++j) {
            const long double zz = zi[j];
            const long double p = 1 / (1 + std::exp(-zz)), pm = 1 / (1 + std::exp(zz));
            const bool t = j == y[i];
            const long double pt = t ? p : pm, q = t ? pm : p;
            const long double mod = g == 0 ? 1 : std::pow(q, g);
            r.loss += scale * -mod * std::log(pt);
            // The chain rule on -(q^g log p_t), as autodiff of the naive form would apply it:
            // dp_t/dz = s p_t q, dq/dz = -s p_t q.
            const long double s = t ? 1 : -1, dpt = s * pt * q, dq = -dpt;
            const long double dmod = g == 0 ? 0 : g * std::pow(q, g - 1) * dq;
            d[j] = scale * -(dmod * std::log(pt) + mod * dpt / pt);
        }
    }
    return r;
}

inline ReferenceLoss reference_loss(const LossProblem& p, LossType type, long double gamma) {
    return reference_loss(p.logits.to(DType::f64).to_vector<double>(),
                          p.labels.to_vector<int64_t>(),
                          p.weights.to(DType::f64).to_vector<double>(), p.logits.size(0),
                          p.logits.size(1), type, gamma);
}

inline std::vector<double> to_double(const std::vector<long double>& v) {
    return std::vector<double>(v.begin(), v.end());
}

}  // namespace cbnn::testing
