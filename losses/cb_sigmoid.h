#pragma once
// Fused class-balanced sigmoid cross-entropy: loss and gradient in one pass over the logits.
//
//   loss = (1/N) sum_i w[y_i] sum_j BCE(z_ij, t_ij),  t_ij = [j == y_i],
//   BCE(z, t) = softplus(z) - t z = softplus(-(2t-1) z)   (stable, losses/loss_math.h)
//   dlogits_ij = (w[y_i]/N)(sigmoid(z_ij) - t_ij)
//   logits: (N, C) row-major; labels: (N) int64 in [0, C); w: (C) class weights, sum = C
//   row_loss: (N) output, row_loss_i = (w[y_i]/N) sum_j BCE(z_ij, t_ij)
//   loss: (1) output, sum_i row_loss_i (deterministic: CPU in double, CUDA a fixed-order tree)
//   dlogits: (N, C) output, or nullptr for the forward only
// The label's weight multiplies all C terms of its row; the sum runs over classes and the mean
// over the batch (divide by N, not N*C).
//
// CPU (reference): labels out of range throw cbnn::Error naming the row. CUDA: a row whose label
// is out of range gets row_loss NaN (so loss is NaN) and zero dlogits; nothing synchronises.
// The CUDA kernel organisation is described in losses/cb_rows_cuda.cuh.

#include <cstdint>

namespace cbnn {

namespace cpu {
template <class T>
void cb_sigmoid_loss(const T* logits, const int64_t* labels, const T* weights, int64_t N, int64_t C,
                     T* row_loss, T* loss, T* dlogits);
}  // namespace cpu

namespace cuda {
void cb_sigmoid_loss(const float* logits, const int64_t* labels, const float* weights, int64_t N,
                     int64_t C, float* row_loss, float* loss, float* dlogits);
}  // namespace cuda

}  // namespace cbnn
