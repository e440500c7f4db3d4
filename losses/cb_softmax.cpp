// CPU reference of the fused class-balanced softmax cross-entropy (math in losses/cb_softmax.h).
// Elementwise math in T; the row sums and the final sum accumulate in double.
#include "losses/cb_softmax.h"

#include <cmath>

#include "losses/cb_loss.h"

namespace cbnn::cpu {

template <class T>
void cb_softmax_loss(const T* logits, const int64_t* labels, const T* weights, int64_t N, int64_t C,
                     T* row_loss, T* loss, T* dlogits) {
    check_labels(labels, N, C);
    for (int64_t i = 0; i < N; ++i) {
        const T* z = logits + i * C;
        const int64_t y = labels[i];
        T m = z[0];
        for (int64_t j = 1; j < C; ++j) m = z[j] > m ? z[j] : m;
        double s = 0.0;
        for (int64_t j = 0; j < C; ++j) s += static_cast<double>(std::exp(z[j] - m));
        const double scale = static_cast<double>(weights[y]) / static_cast<double>(N);
        row_loss[i] = static_cast<T>(scale * (static_cast<double>(m - z[y]) + std::log(s)));
        if (dlogits == nullptr) continue;
        T* d = dlogits + i * C;
        const T inv_s = static_cast<T>(1.0 / s);
        const T t_scale = static_cast<T>(scale);
        for (int64_t j = 0; j < C; ++j) {
            const T p = std::exp(z[j] - m) * inv_s;
            d[j] = t_scale * (j == y ? p - T(1) : p);
        }
    }
    *loss = sum_row_losses(row_loss, N);
}

template void cb_softmax_loss<float>(const float*, const int64_t*, const float*, int64_t, int64_t,
                                     float*, float*, float*);
template void cb_softmax_loss<double>(const double*, const int64_t*, const double*, int64_t,
                                      int64_t, double*, double*, double*);

}  // namespace cbnn::cpu
