#pragma once
// Fused class-balanced focal loss: loss and gradient in one pass over the logits.
//
//   loss = (1/N) sum_i w[y_i] sum_j FL(z_ij, t_ij),  t_ij = [j == y_i],  gamma >= 0
//   FL(z, t) = q^gamma BCE(z, t),  q = 1 - p_t,  q^gamma = exp(-gamma softplus(z_t)),  z_t = (2t-1)
//   z dlogits_ij = (w[y_i]/N) (2t-1) q^gamma (gamma p_t log p_t - q)      (PAPER.md 1.3) logits:
//   (N, C) row-major; labels: (N) int64 in [0, C); w: (C) class weights, sum = C row_loss: (N)
//   output, row_loss_i = (w[y_i]/N) sum_j FL(z_ij, t_ij) loss: (1) output, sum_i row_loss_i
//   (deterministic: CPU in double, CUDA a fixed-order tree) dlogits: (N, C) output, or nullptr for
//   the forward only
// The modulator is the official logit-space form with a stable softplus, so the loss and the
// gradient are finite for any gamma >= 0 (also gamma < 1) and any finite logit; gamma = 0 is
// exactly the sigmoid loss. The label's weight multiplies all C terms (not alpha-balancing).
//
// CPU (reference): labels out of range throw cbnn::Error naming the row. CUDA: a row whose label
// is out of range gets row_loss NaN (so loss is NaN) and zero dlogits; nothing synchronises.
// The CUDA kernel organisation is described in losses/cb_rows_cuda.cuh.

#include <cstdint>

namespace cbnn {

namespace cpu {
template <class T>
void cb_focal_loss(const T* logits, const int64_t* labels, const T* weights, int64_t N, int64_t C,
                   T gamma, T* row_loss, T* loss, T* dlogits);
}  // namespace cpu

namespace cuda {
void cb_focal_loss(const float* logits, const int64_t* labels, const float* weights, int64_t N,
                   int64_t C, float gamma, float* row_loss, float* loss, float* dlogits);
}  // namespace cuda

}  // namespace cbnn
