#pragma once
// The CPU reference of the batch-norm backward (math in layers/batchnorm2d.h), shared by
// cpu::batchnorm2d_backward and the fused cpu::batchnorm_relu_backward (layers/batchnorm_relu.h):
// one loop nest, so both round the same way and the fused op is bitwise the unfused composition.

#include <cstdint>

namespace cbnn::cpu {

// grad(at) is the upstream gradient (T) at flat NCHW index `at`, read twice per element.
template <class T, class Grad>
void batchnorm2d_backward_from(const T* x, Grad grad, const T* gamma, const T* save_mean,
                               const T* save_invstd, T* dx, T* dgamma, T* dbeta, int64_t N,
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
                sum_dy_xhat += g * (static_cast<double>(x[at]) - mean) * invstd;
            }
        }
        dgamma[c] = static_cast<T>(sum_dy_xhat);
        dbeta[c] = static_cast<T>(sum_dy);
        const double scale = static_cast<double>(gamma[c]) * invstd;
        const double mean_dy = sum_dy / n, mean_dy_xhat = sum_dy_xhat / n;
        for (int64_t i = 0; i < N; ++i) {
            for (int64_t k = 0; k < HW; ++k) {
                const int64_t at = (i * C + c) * HW + k;
                const double xhat = (static_cast<double>(x[at]) - mean) * invstd;
                dx[at] = static_cast<T>(
                    scale * (static_cast<double>(grad(at)) - mean_dy - xhat * mean_dy_xhat));
            }
        }
    }
}

}  // namespace cbnn::cpu
