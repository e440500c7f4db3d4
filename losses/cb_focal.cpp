// CPU reference of the fused class-balanced focal loss (math in losses/cb_focal.h, element
// formulas in losses/loss_math.h). Row sums and the final sum accumulate in double.
#include "losses/cb_focal.h"

#include "losses/cb_loss.h"
#include "losses/loss_math.h"

namespace cbnn::cpu {

template <class T>
void cb_focal_loss(const T* logits, const int64_t* labels, const T* weights, int64_t N, int64_t C,
                   T gamma, T* row_loss, T* loss, T* dlogits) {
    check_gamma(static_cast<double>(gamma));
    check_labels(labels, N, C);
    for (int64_t i = 0; i < N; ++i) {
        const T* z = logits + i * C;
        const int64_t y = labels[i];
        const double scale = static_cast<double>(weights[y]) / static_cast<double>(N);
        const T t_scale = static_cast<T>(scale);
        double acc = 0.0;
        for (int64_t j = 0; j < C; ++j) {
            const loss_math::Term<T> term = loss_math::focal_term(z[j], j == y, gamma);
            acc += static_cast<double>(term.value);
            if (dlogits != nullptr) dlogits[i * C + j] = t_scale * term.grad;
        }
        row_loss[i] = static_cast<T>(scale * acc);
    }
    *loss = sum_row_losses(row_loss, N);
}

template void cb_focal_loss<float>(const float*, const int64_t*, const float*, int64_t, int64_t,
                                   float, float*, float*, float*);
template void cb_focal_loss<double>(const double*, const int64_t*, const double*, int64_t, int64_t,
                                    double, double*, double*, double*);

}  // namespace cbnn::cpu
