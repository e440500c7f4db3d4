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
// One exp and one log1p of -|z| give both softplus(z_t) and softplus(-z_t), p_t and q, each to
// full relative precision: for |z| = 1e4 e^-|z| underflows to 0 and every quantity stays finite.

#include <cmath>

#include "tensor/hd.h"

namespace cbnn::loss_math {

template <class T>
struct Term {
    T value;  // the loss term
    T grad;   // its derivative with respect to the logit
};

// The pieces of a binary term shared by BCE and focal.
template <class T>
struct Binary {
    T sp_pos;  // softplus(z_t) = -log q
    T sp_neg;  // softplus(-z_t) = -log p_t = BCE
    T p_t;
    T q;
};

template <class T>
CBNN_HD Binary<T> binary_parts(T z, bool target) {
    const T zt = target ? z : -z;
    const T e = std::exp(-std::fabs(z));  // in (0, 1]
    const T l = std::log1p(e);
    const T r = T(1) / (T(1) + e);
    Binary<T> b;
    b.sp_pos = (zt > T(0) ? zt : T(0)) + l;
    b.sp_neg = (zt < T(0) ? -zt : T(0)) + l;
    b.p_t = zt >= T(0) ? r : e * r;
    b.q = zt >= T(0) ? e * r : r;
    return b;
}

// Binary cross-entropy with logits: BCE(z, t) and sigmoid(z) - t.
template <class T>
CBNN_HD Term<T> bce_term(T z, bool target) {
    const Binary<T> b = binary_parts(z, target);
    return {b.sp_neg, target ? -b.q : b.q};
}

// Focal term FL(z, t; gamma) and dFL/dz. gamma = 0 is exactly bce_term.
template <class T>
CBNN_HD Term<T> focal_term(T z, bool target, T gamma) {
    const Binary<T> b = binary_parts(z, target);
    if (gamma == T(0)) return {b.sp_neg, target ? -b.q : b.q};
    const T modulator = std::exp(-gamma * b.sp_pos);
    // gamma p_t log p_t - q, with log p_t = -sp_neg
    const T inner = -gamma * b.p_t * b.sp_neg - b.q;
    const T g = modulator * inner;
    return {modulator * b.sp_neg, target ? g : -g};
}

}  // namespace cbnn::loss_math
