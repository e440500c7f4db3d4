#pragma once
// Fused class-balanced softmax cross-entropy: loss and gradient in one pass over the logits.
//
//   loss = (1/N) sum_i w[y_i] (logsumexp(z_i) - z_i[y_i]);  dlogits_i = (w[y_i]/N)(softmax(z_i) -
//   onehot(y_i)) logits: (N, C) row-major; labels: (N) int64 in [0, C); w: (C) class weights, sum =
//   C row_loss: (N) output, row_loss_i = (w[y_i]/N)(logsumexp(z_i) - z_i[y_i]) loss: (1) output,
//   sum_i row_loss_i (deterministic: CPU in double, CUDA a fixed-order tree) dlogits: (N, C)
//   output, or nullptr for the forward only
// logsumexp(z_i) - z_i[y_i] is evaluated as (m - z_i[y_i]) + log(sum_j exp(z_ij - m)), m = max_j
// z_ij, which neither overflows nor cancels for |z| up to 1e4. C = 1 gives loss 0 and dlogits 0.
//
// CPU (reference): labels out of range throw cbnn::Error naming the row. CUDA: a row whose label
// is out of range gets row_loss NaN (so loss is NaN) and zero dlogits; nothing synchronises.
// The CUDA kernel organisation is described in losses/cb_softmax_cuda.cu.

#include <cstdint>

namespace cbnn {

namespace cpu {
template <class T>
void cb_softmax_loss(const T* logits, const int64_t* labels, const T* weights, int64_t N, int64_t C,
                     T* row_loss, T* loss, T* dlogits);
}  // namespace cpu

namespace cuda {
void cb_softmax_loss(const float* logits, const int64_t* labels, const float* weights, int64_t N,
                     int64_t C, float* row_loss, float* loss, float* dlogits);
}  // namespace cuda

}  // namespace cbnn
