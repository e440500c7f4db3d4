#pragma once
// Class-balanced weights from the effective number of samples (Cui et al., CVPR 2019, section 3-4;
// PAPER.md 1.1).
//
//   effective number  E_n = (1 - beta^n) / (1 - beta)          (beta = 0: E = 1; beta -> 1: E -> n)
//   weight            w_c = (1 - beta) / (1 - beta^{n_c}) = 1 / E_{n_c}
//   normalised        w_c <- C * w_c / sum_k w_k               (the weights sum to C)
//
// n_c is the count of class c over the whole training set (never a batch). beta = 0 gives all
// ones, which is how the paper runs its unweighted baselines. Computed in double, with
// 1 - beta^n evaluated as -expm1(n log beta): full relative precision, where 1 - pow(beta, n)
// loses about log10(1 / (1 - beta^n)) of double's 16 digits to cancellation.
//
// Errors (cbnn::Error): empty counts; a negative count; a count of 0 ("class c has no training
// images; every class needs at least one", and for beta > 0 that 1 - beta^0 = 0 would make its
// weight infinite); beta NaN or outside [0, 1).

#include <cstdint>
#include <vector>

#include "tensor/tensor.h"

namespace cbnn {

// Throws unless 0 <= beta < 1.
void check_beta(double beta);

// E_{n_c} for every class.
std::vector<double> effective_numbers(const std::vector<int64_t>& counts, double beta);

// The normalised weights w_c (sum = C).
std::vector<double> class_balanced_weights(const std::vector<int64_t>& counts, double beta);

// The same weights as a (C) tensor of `dtype` (f32 or f64) on `device`, ready for
// class_balanced_loss (losses/cb_loss.h).
Tensor class_balanced_weights_tensor(const std::vector<int64_t>& counts, double beta,
                                     DType dtype = DType::f32, Device device = Device::cpu());

}  // namespace cbnn
