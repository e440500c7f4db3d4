#include "losses/class_weights.h"

#include <cmath>

namespace cbnn {

namespace {

// 1 - beta^n for n >= 1 and 0 <= beta < 1, to full relative precision.
double one_minus_pow(double beta, int64_t n) {
    if (beta == 0.0) return 1.0;
    return -std::expm1(static_cast<double>(n) * std::log(beta));
}

// Beta is named only where it matters: with beta > 0 an empty class's weight
// (1 - beta) / (1 - beta^0) would be infinite; beta = 0 weighs every class 1 anyway.
void check_counts(const std::vector<int64_t>& counts, double beta) {
    CBNN_CHECK(!counts.empty(), "class-balanced weights: the list of class counts is empty");
    for (size_t c = 0; c < counts.size(); ++c) {
        CBNN_CHECK(counts[c] >= 0, "class-balanced weights: class ", c, " has count ", counts[c],
                   "; a count cannot be negative");
        if (counts[c] > 0) continue;
        if (beta > 0)
            CBNN_FAIL("class-balanced weights: class ", c,
                      " has no training images; every class needs at least one (with beta ", beta,
                      " its weight (1 - beta) / (1 - beta^0) would be infinite)");
        CBNN_FAIL("class-balanced weights: class ", c,
                  " has no training images; every class needs at least one");
    }
}

}  // namespace

void check_beta(double beta) {
    CBNN_CHECK(beta >= 0.0 && beta < 1.0, "class-balanced weights: beta must be in [0, 1), got ",
               beta);
}

std::vector<double> effective_numbers(const std::vector<int64_t>& counts, double beta) {
    check_beta(beta);
    check_counts(counts, beta);
    std::vector<double> e(counts.size());
    for (size_t c = 0; c < counts.size(); ++c) e[c] = one_minus_pow(beta, counts[c]) / (1.0 - beta);
    return e;
}

std::vector<double> class_balanced_weights(const std::vector<int64_t>& counts, double beta) {
    check_beta(beta);
    check_counts(counts, beta);
    std::vector<double> w(counts.size());
    double total = 0.0;
    for (size_t c = 0; c < counts.size(); ++c) {
        w[c] = (1.0 - beta) / one_minus_pow(beta, counts[c]);
        total += w[c];
    }
    const double scale = static_cast<double>(counts.size()) / total;
    for (double& v : w) v *= scale;
    return w;
}

Tensor class_balanced_weights_tensor(const std::vector<int64_t>& counts, double beta, DType dtype,
                                     Device device) {
    CBNN_CHECK(is_floating(dtype), "class-balanced weights: expected a floating dtype, got ",
               dtype);
    const std::vector<double> w = class_balanced_weights(counts, beta);
    return Tensor::from_vector<double>(w, {static_cast<int64_t>(w.size())}).to(dtype).to(device);
}

}  // namespace cbnn
