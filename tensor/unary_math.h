#pragma once
// Scalar formulas of tensor/unary.h, shared by the CPU reference and the CUDA kernel.

#include <cmath>

#include "tensor/hd.h"
#include "tensor/unary.h"

namespace cbnn {

template <class T>
CBNN_HD T stable_sigmoid(T x) {
    if (x >= T(0)) return T(1) / (T(1) + std::exp(-x));
    const T e = std::exp(x);
    return e / (T(1) + e);
}

// softplus(x) = log(1 + e^x) without overflow: max(x, 0) + log1p(e^-|x|).
template <class T>
CBNN_HD T stable_softplus(T x) {
    return (x > T(0) ? x : T(0)) + std::log1p(std::exp(-std::fabs(x)));
}

template <class T>
CBNN_HD T unary_apply(UnaryOp op, T x, T alpha) {
    switch (op) {
        case UnaryOp::neg:
            return -x;
        case UnaryOp::exp:
            return std::exp(x);
        case UnaryOp::log:
            return std::log(x);
        case UnaryOp::log1p:
            return std::log1p(x);
        case UnaryOp::sigmoid:
            return stable_sigmoid(x);
        case UnaryOp::softplus:
            return stable_softplus(x);
        case UnaryOp::relu:
            return x > T(0) ? x : T(0);
        case UnaryOp::abs:
            return std::fabs(x);
        case UnaryOp::sqrt:
            return std::sqrt(x);
        case UnaryOp::square:
            return x * x;
        case UnaryOp::tanh:
            return std::tanh(x);
        case UnaryOp::add_scalar:
            return x + alpha;
        case UnaryOp::mul_scalar:
            return x * alpha;
        case UnaryOp::div_scalar:
            return x / alpha;
        case UnaryOp::rsub_scalar:
            return alpha - x;
        case UnaryOp::rdiv_scalar:
            return alpha / x;
        case UnaryOp::pow_scalar:
            return std::pow(x, alpha);
    }
    return x;
}

// f'(x), given x and y = f(x).
template <class T>
CBNN_HD T unary_derivative(UnaryOp op, T x, T y, T alpha) {
    switch (op) {
        case UnaryOp::neg:
            return T(-1);
        case UnaryOp::exp:
            return y;
        case UnaryOp::log:
            return T(1) / x;
        case UnaryOp::log1p:
            return T(1) / (T(1) + x);
        case UnaryOp::sigmoid:
            return y * (T(1) - y);
        case UnaryOp::softplus:
            return stable_sigmoid(x);
        case UnaryOp::relu:
            return x > T(0) ? T(1) : T(0);
        case UnaryOp::abs:
            return x > T(0) ? T(1) : (x < T(0) ? T(-1) : T(0));
        case UnaryOp::sqrt:
            return T(0.5) / y;
        case UnaryOp::square:
            return T(2) * x;
        case UnaryOp::tanh:
            return T(1) - y * y;
        case UnaryOp::add_scalar:
            return T(1);
        case UnaryOp::mul_scalar:
            return alpha;
        case UnaryOp::div_scalar:
            return T(1) / alpha;
        case UnaryOp::rsub_scalar:
            return T(-1);
        case UnaryOp::rdiv_scalar:
            return -y / x;
        case UnaryOp::pow_scalar:
            return alpha * std::pow(x, alpha - T(1));
    }
    return T(0);
}

}  // namespace cbnn
