#pragma once
// The CPU reference loops of batch norm (math in layers/batchnorm2d.h), shared by the plain op
// (cpu::batchnorm2d_*) and the fused cpu::batchnorm_relu_* (layers/batchnorm_relu.h): one loop nest
// per direction, so both round the same way and the fused op is bitwise the unfused composition.
//
// Element types: activations T (f32, f64 or bf16); parameters and statistics P = compute_t<T>
// (T itself, f32 for bf16). Everything accumulates in double from the widened values. A result
// is stored as T through P: static_cast for f32/f64 (as before bf16 existed), and for bf16 the f32
// result rounded once to bf16, so that a bf16 output is bitwise the f32 reference's output on the
// same (bf16-valued) inputs, rounded to bf16.

#include <cmath>
#include <cstdint>

#include "tensor/bfloat16.h"

namespace cbnn::cpu {

template <class T>
double widen(T v) {
    return convert<double>(v);
}

// A double result as T through compute_t<T> (see above).
template <class T>
T narrow(double v) {
    return convert<T>(static_cast<compute_t<T>>(v));
}

// y(at, value) stores the normalised value (double) of flat NCHW index `at` of channel c.
template <class T, class Store>
void normalize_channel(const T* x, Store y, int64_t N, int64_t C, int64_t HW, int64_t c,
                       double mean, double invstd, double g, double b) {
    for (int64_t i = 0; i < N; ++i) {
        for (int64_t k = 0; k < HW; ++k) {
            const int64_t at = (i * C + c) * HW + k;
            y(at, g * (widen(x[at]) - mean) * invstd + b);
        }
    }
}

template <class T, class Store, class P = compute_t<T>>
void batchnorm2d_forward_training_to(const T* x, const P* gamma, const P* beta, Store y,
                                     P* running_mean, P* running_var, P* save_mean, P* save_invstd,
                                     int64_t N, int64_t C, int64_t HW, double momentum,
                                     double eps) {
    const double n = static_cast<double>(N * HW);
    for (int64_t c = 0; c < C; ++c) {
        double sum = 0.0;
        for (int64_t i = 0; i < N; ++i)
            for (int64_t k = 0; k < HW; ++k) sum += widen(x[(i * C + c) * HW + k]);
        const double mean = sum / n;
        double squares = 0.0;
        for (int64_t i = 0; i < N; ++i) {
            for (int64_t k = 0; k < HW; ++k) {
                const double d = widen(x[(i * C + c) * HW + k]) - mean;
                squares += d * d;
            }
        }
        const double var = squares / n;
        const double invstd = 1.0 / std::sqrt(var + eps);
        save_mean[c] = static_cast<P>(mean);
        save_invstd[c] = static_cast<P>(invstd);
        running_mean[c] = static_cast<P>((1.0 - momentum) * static_cast<double>(running_mean[c]) +
                                         momentum * mean);
        running_var[c] = static_cast<P>((1.0 - momentum) * static_cast<double>(running_var[c]) +
                                        momentum * var * n / (n - 1.0));
        const double g = static_cast<double>(gamma[c]), b = static_cast<double>(beta[c]);
        normalize_channel(x, y, N, C, HW, c, mean, invstd, g, b);
    }
}

template <class T, class Store, class P = compute_t<T>>
void batchnorm2d_forward_inference_to(const T* x, const P* gamma, const P* beta,
                                      const P* running_mean, const P* running_var, Store y,
                                      int64_t N, int64_t C, int64_t HW, double eps) {
    for (int64_t c = 0; c < C; ++c) {
        const double mean = static_cast<double>(running_mean[c]);
        const double invstd = 1.0 / std::sqrt(static_cast<double>(running_var[c]) + eps);
        const double g = static_cast<double>(gamma[c]), b = static_cast<double>(beta[c]);
        normalize_channel(x, y, N, C, HW, c, mean, invstd, g, b);
    }
}

// grad(at) is the upstream gradient (as P) at flat NCHW index `at`, read twice per element.
template <class T, class Grad, class P = compute_t<T>>
void batchnorm2d_backward_from(const T* x, Grad grad, const P* gamma, const P* save_mean,
                               const P* save_invstd, T* dx, P* dgamma, P* dbeta, int64_t N,
                               int64_t C, int64_t HW) {
    const double n = static_cast<double>(N * HW);
    for (int64_t c = 0; c < C; ++c) {
        const double mean = static_cast<double>(save_mean[c]);
        const double invstd = static_cast<double>(save_invstd[c]);
        double sum_dy = 0.0, sum_dy_xhat = 0.0;
        for (int64_t i = 0; i < N; ++i) {
            for (int64_t k = 0; k < HW; ++k) {
                const int64_t at = (i * C + c) * HW + k;
                const double g = static_cast<double>(grad(at));
                sum_dy += g;
                sum_dy_xhat += g * (widen(x[at]) - mean) * invstd;
            }
        }
        dgamma[c] = static_cast<P>(sum_dy_xhat);
        dbeta[c] = static_cast<P>(sum_dy);
        const double scale = static_cast<double>(gamma[c]) * invstd;
        const double mean_dy = sum_dy / n, mean_dy_xhat = sum_dy_xhat / n;
        for (int64_t i = 0; i < N; ++i) {
            for (int64_t k = 0; k < HW; ++k) {
                const int64_t at = (i * C + c) * HW + k;
                const double xhat = (widen(x[at]) - mean) * invstd;
                dx[at] = narrow<T>(scale *
                                   (static_cast<double>(grad(at)) - mean_dy - xhat * mean_dy_xhat));
            }
        }
    }
}

}  // namespace cbnn::cpu
