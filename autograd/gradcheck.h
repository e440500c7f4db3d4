#pragma once
// Finite-difference gradient check in float64 (a test utility, usable by any op or layer).
//
// Objective L(x) = sum(w * f(x)) with a fixed random w (never a plain sum, which would hide
// errors that cancel across outputs). Analytic: backward of f with upstream gradient w.
// Numeric: central differences, h = step_scale * max(1, |x_j|):
//   full        dL/dx_j ~= (L(x + h e_j) - L(x - h e_j)) / 2h   for every element of every input
//   directional dL/dv   ~= (L(x + h v) - L(x - h v)) / 2h        for random unit directions v,
//               compared with sum_i <grad_i, v_i>   (cheap for large inputs)
// Pass: |analytic - numeric| <= atol + rtol * |numeric| everywhere.
// Inputs must be CPU tensors; f64 ones are differentiated, others (e.g. i64 indices) are passed
// through unchanged. Keep inputs away from kinks (relu at 0, ties in max).

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace cbnn::autograd {

struct GradcheckOptions {
    double atol = 1e-5;
    double rtol = 1e-3;
    double step_scale = 1e-6;
    uint64_t seed = 2019;  // for w and the directions
    int directions = 0;    // 0: full check; n > 0: n random directions instead
};

struct GradcheckResult {
    bool ok = true;
    double max_abs_error = 0.0;
    int64_t checked = 0;  // elements or directions compared
    std::string message;  // the first failure, naming input, element, analytic and numeric values
};

using GradcheckFunction = std::function<Tensor(const std::vector<Tensor>&)>;

GradcheckResult gradcheck(const GradcheckFunction& f, const std::vector<Tensor>& inputs,
                          const GradcheckOptions& options = {});

}  // namespace cbnn::autograd
