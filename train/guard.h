#pragma once
// Divergence guard: stops a run on a non-finite loss, a non-finite gradient, or a gradient norm
// above a limit, with a message the log can show as is:
//   "step 1234: loss is NaN"
//   "step 1234: gradient norm is Inf (parameter 'stage2.0.conv1.weight' has non-finite gradients)"
//   "step 1234: gradient norm 3.2e+07 exceeds the limit 1e+06"
// It throws DivergenceError (a cbnn::Error) that the trainer catches to stop and keep the last
// good checkpoint instead of overwriting it with a diverged model.
//
// Cost: global_grad_norm computes each gradient's sum of squares on its device with the existing
// ops (square, sum_all) and adds them there, then reads the one total back: one host read (a
// device sync) per call. Only when the total is not finite does it read each gradient back to
// name the offending parameter (the run is stopping anyway). That read is a host sync, which the
// design keeps out of a training step: a trainer that wants an unsynchronised step calls
// check_gradients every k steps (the loss it reads for logging is a sync already).
//
//   trainer:  loss = criterion(model(x), y);
//             check_loss(loss_value, step);          // loss_value: the host copy it logs anyway
//             loss.backward();
//             double norm = check_gradients(model.named_parameters(), step);
//             sgd.step(lr);

#include <cstdint>
#include <limits>
#include <string>
#include <utility>

#include "layers/module.h"
#include "tensor/error.h"

namespace cbnn {

class DivergenceError : public Error {
  public:
    enum class Kind : uint8_t { loss, gradient };
    DivergenceError(const std::string& message, Kind kind, int64_t step, std::string parameter)
        : Error(message), kind_(kind), step_(step), parameter_(std::move(parameter)) {}
    Kind kind() const { return kind_; }
    int64_t step() const { return step_; }
    // The first parameter (in named_parameters order) with a non-finite gradient; empty when none
    // is named (a loss error, or a finite gradient norm above the limit or overflowing).
    const std::string& parameter() const { return parameter_; }

  private:
    Kind kind_;
    int64_t step_;
    std::string parameter_;
};

// sqrt(sum over parameters with a grad of sum(g^2)), in f64 on the host from sums computed in
// each gradient's dtype on its device (f32 sums overflow to Inf above ~1.8e38). 0 when no
// parameter has a grad. All gradients must be on one device.
double global_grad_norm(const NamedTensors& parameters);

// Throws DivergenceError "step S: loss is NaN" / "loss is Inf" / "loss is -Inf".
void check_loss(double loss, int64_t step);

// Computes global_grad_norm and returns it; throws DivergenceError when it is not finite (naming
// the first parameter whose gradient holds a NaN or Inf) or exceeds max_norm.
double check_gradients(const NamedTensors& parameters, int64_t step,
                       double max_norm = std::numeric_limits<double>::infinity());

}  // namespace cbnn
