#pragma once
// Scalar formulas of the class-balanced losses, shared by the CPU references (float, double) and
// the CUDA kernels (float), so both evaluate the very same expressions. Each element function
// returns the unweighted term and its derivative d/dz; the caller scales both by w[y_i] / N.
//
// Notation for a binary term with logit z and target t in {0, 1} (PAPER.md 1.3):
//   s = 2t - 1,  z_t = s z,  p_t = sigmoid(z_t),  q = 1 - p_t = sigmoid(-z_t)
//   softplus(x) = max(x, 0) + log1p(e^-|x|)                     (never overflows)
//   BCE  = softplus(z) - t z = softplus(-z_t) = -log p_t           dBCE/dz = sigmoid(z) - t = -s q
//   FL   = q^gamma BCE,  q^gamma = exp(-gamma softplus(z_t))       (the official logit-space
//          modulator exp(-gamma (t z + softplus(-z))), 1 exactly when gamma = 0)
//   dFL/dz = s q^gamma (gamma p_t log p_t - q)                    (no q^(gamma-1): finite for
//                                                                  gamma < 1 and any z)
// One e = exp(-|z|), one log1p(e) and one 1/(1 + e) give softplus(z_t), softplus(-z_t), p_t and q,
// each to full relative precision; for |z| = 1e4, e underflows to 0 and every quantity stays
// finite.
//
// The three elementary functions come from a policy `M` (all arguments in the ranges below):
//   M::exp(x)         e^x for x <= 0
//   M::log1p_unit(e)  log(1 + e) for e in [0, 1]
//   M::recip(u)       1 / u for u in [1, 2]
// LibmMath (the default, and the CPU reference) uses the C library. The CUDA kernels use
// FastDeviceMath (losses/cb_rows_cuda.cuh): hardware exp2 with an exactly split argument, the
// polynomial log1p_unit_poly below and the hardware reciprocal, each within 3 ulp in float;
// libm's expf / log1pf / IEEE division would make the focal kernel compute-bound.

#include <cmath>

#include "tensor/hd.h"

namespace cbnn::loss_math {

template <class T>
struct Term {
    T value;  // the loss term
    T grad;   // its derivative with respect to the logit
};

struct LibmMath {
    template <class T>
    CBNN_HD static T exp(T x) {
        return std::exp(x);
    }
    template <class T>
    CBNN_HD static T log1p_unit(T e) {
        return std::log1p(e);
    }
    template <class T>
    CBNN_HD static T recip(T u) {
        return T(1) / u;
    }
};

// log(1 + e) for e in [0, 1] in float: e * P(e), P the degree-9 polynomial interpolating
// log1p(e)/e at the Chebyshev nodes of [0, 1]. Measured over every float in (0, 1]: at most
// 1.58 ulp from the correctly rounded value (tests/losses/test_cb_losses.cpp checks a sample).
CBNN_HD float log1p_unit_poly(float e) {
    float p = -0.00317605702f;
    p = std::fma(p, e, 0.0195425273f);
    p = std::fma(p, e, -0.0563736128f);
    p = std::fma(p, e, 0.105436238f);
    p = std::fma(p, e, -0.152696671f);
    p = std::fma(p, e, 0.196632743f);
    p = std::fma(p, e, -0.249516163f);
    p = std::fma(p, e, 0.333297105f);
    p = std::fma(p, e, -0.499998926f);
    p = std::fma(p, e, 0.999999995f);
    return p * e;
}

// The pieces of a binary term shared by BCE and focal.
template <class T>
struct Binary {
    T sp_pos;  // softplus(z_t) = -log q
    T sp_neg;  // softplus(-z_t) = -log p_t = BCE
    T p_t;
    T q;
};

template <class T, class M = LibmMath>
CBNN_HD Binary<T> binary_parts(T z, bool target) {
    const T zt = target ? z : -z;
    const T e = M::exp(-std::fabs(z));  // in [0, 1]
    const T l = M::log1p_unit(e);
    const T r = M::recip(T(1) + e);
    Binary<T> b;
    b.sp_pos = (zt > T(0) ? zt : T(0)) + l;
    b.sp_neg = (zt < T(0) ? -zt : T(0)) + l;
    b.p_t = zt >= T(0) ? r : e * r;
    b.q = zt >= T(0) ? e * r : r;
    return b;
}

// Binary cross-entropy with logits: BCE(z, t) and sigmoid(z) - t.
template <class T, class M = LibmMath>
CBNN_HD Term<T> bce_term(T z, bool target) {
    const Binary<T> b = binary_parts<T, M>(z, target);
    return {b.sp_neg, target ? -b.q : b.q};
}

// Focal term FL(z, t; gamma) and dFL/dz. gamma = 0 is exactly bce_term.
template <class T, class M = LibmMath>
CBNN_HD Term<T> focal_term(T z, bool target, T gamma) {
    const Binary<T> b = binary_parts<T, M>(z, target);
    if (gamma == T(0)) return {b.sp_neg, target ? -b.q : b.q};
    const T modulator = M::exp(-gamma * b.sp_pos);
    // gamma p_t log p_t - q, with log p_t = -sp_neg
    const T inner = -gamma * b.p_t * b.sp_neg - b.q;
    const T g = modulator * inner;
    return {modulator * b.sp_neg, target ? g : -g};
}

}  // namespace cbnn::loss_math
