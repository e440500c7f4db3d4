#pragma once
// SGD with momentum (heavy-ball or Nesterov) and L2 weight decay, the optimiser of the paper
// (PAPER.md 3.3: momentum 0.9, not Nesterov, for CIFAR; 3.5: Nesterov for ImageNet/iNat).
//
// Update of one parameter p with gradient g and momentum buffer v (dampening 0, as TF's
// MomentumOptimizer and PyTorch's SGD; v starts at 0):
//   d = g + wd p                       (TF l2_loss wd ||p||^2 / 2 = PyTorch weight_decay;
//                                       PAPER.md 1.4; wd = 0 for excluded parameters)
//   v = momentum v + d
//   heavy-ball:  p = p - lr v
//   Nesterov:    p = p - lr (d + momentum v)     (with the updated v, as PyTorch)
// Layout: p, g, v contiguous, n elements, same dtype; f32/f64 on the CPU, f32 on CUDA. The scalar
// formula (sgd_update_element) is shared by the CPU reference and the CUDA kernel; the CUDA build
// may contract it into FMAs, so the two agree within rounding, not bit for bit.
//
// Usage (the trainer):
//   SgdOptions opt;
//   opt.momentum = 0.9;
//   opt.weight_decay = 2e-4;
//   opt.no_decay_names = {"fc.bias"};                       // sigmoid / focal losses
//   opt.no_decay_names = batchnorm_parameter_names(model);  // ImageNet: + every BN parameter
//   Sgd sgd(model.named_parameters(), opt);
//   for (each step) {
//       sgd.zero_grad();
//       loss.backward();
//       sgd.step(schedule.lr(epoch));
//   }
//   save(sgd.state()) ... sgd.load_state(loaded);         // checkpoints
//
// step() writes the parameters in place under NoGradGuard and bumps their version counters, so
// the module's and the optimiser's handles stay valid and a graph that saved a parameter before
// the step is detected as stale by the autograd engine.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "layers/module.h"
#include "tensor/hd.h"
#include "tensor/tensor.h"

namespace cbnn {

template <class T>
CBNN_HD void sgd_update_element(T& p, T g, T& v, T lr, T momentum, T wd, bool nesterov) {
    const T d = g + wd * p;
    v = momentum * v + d;
    p -= lr * (nesterov ? d + momentum * v : v);
}

namespace cpu {
template <class T>
void sgd_update(T* p, const T* g, T* v, int64_t n, T lr, T momentum, T wd, bool nesterov);
}  // namespace cpu

namespace cuda {
// One parameter per launch (ops::sgd_update).
void sgd_update(float* p, const float* g, float* v, int64_t n, float lr, float momentum, float wd,
                bool nesterov);

// Up to kSgdTensorsPerLaunch parameters in one launch (Sgd::step): the list travels as the
// kernel's argument (6.9 KB; arguments over 4 KB need CUDA 12.1 and a Volta or newer GPU), block
// row y updates parameter y. One launch covers ResNet-32 (95 parameters) and ResNet-50 (161). The
// learning rate is read from device memory (*lr) so that a step captured in a CUDA graph follows
// the schedule: the host writes the rate before each replay instead of baking it into the launch.
constexpr int kSgdTensorsPerLaunch = 192;
struct SgdTensorList {
    float* p[kSgdTensorsPerLaunch];
    const float* g[kSgdTensorsPerLaunch];
    float* v[kSgdTensorsPerLaunch];
    int64_t n[kSgdTensorsPerLaunch];
    float weight_decay[kSgdTensorsPerLaunch];
    int count = 0;
};
// The kernel-argument limit (CUDA 12.1+, Volta+); raising kSgdTensorsPerLaunch must stay under it.
static_assert(sizeof(SgdTensorList) <= 32764, "SgdTensorList exceeds the kernel-argument limit");
void sgd_update_multi(const SgdTensorList& list, const float* lr, float momentum, bool nesterov);
}  // namespace cuda

namespace ops {
// One in-place update of p and v from g (all contiguous, same shape, dtype and device). The caller
// holds NoGradGuard if p requires grad; p's version is bumped.
void sgd_update(const Tensor& p, const Tensor& g, const Tensor& v, double lr, double momentum,
                double weight_decay, bool nesterov);
}  // namespace ops

struct SgdOptions {
    double momentum = 0.9;      // in [0, 1)
    double weight_decay = 0.0;  // >= 0
    bool nesterov = false;      // requires momentum > 0
    // Parameters that get no weight decay: exact dotted names ("fc.bias"), name suffixes (".bias"
    // matches every bias), and an optional predicate on the name. A name listed in no_decay_names
    // that the parameter set does not contain is an error (a typo would silently decay it).
    std::vector<std::string> no_decay_names;
    std::vector<std::string> no_decay_suffixes;
    std::function<bool(const std::string&)> no_decay;
};

// Dotted names of every parameter of every BatchNorm2d inside `module` (for no_decay_names:
// PAPER.md 3.5 excludes BN parameters from weight decay on ImageNet/iNat).
std::vector<std::string> batchnorm_parameter_names(const Module& module);

class Sgd {
  public:
    // `parameters`: a module's named_parameters() (handles; the optimiser updates them in place).
    // Throws on invalid options (naming the value), duplicate names, non-floating or
    // non-requires-grad tensors, and unknown no_decay_names.
    Sgd(NamedTensors parameters, SgdOptions options);

    // One update with learning rate `lr` (>= 0, finite) of every parameter that has a grad;
    // parameters without a grad (unused in this step's graph) and their momentum are untouched.
    // The same as set_learning_rate(lr) followed by step().
    void step(double lr);
    // For steps captured in a CUDA graph (train/graphed_step.h): set_learning_rate writes the
    // rate where step() reads it (for CUDA parameters a device scalar, by a kernel queued on
    // cbnn's stream: no host sync), and step() updates with the rate set last. Called outside the
    // capture before each replay, set_learning_rate changes the rate the replayed step() uses.
    // The CUDA f32 parameters are updated by multi-tensor launches (cuda::sgd_update_multi);
    // the others one at a time. step() before any rate was set throws.
    void set_learning_rate(double lr);
    void step();
    // Creates every momentum buffer not created yet (zeros). A CUDA graph must not create them:
    // the zero fill would be recorded and repeated on every replay.
    void create_momentum_buffers();
    // Drops every parameter's accumulated gradient.
    void zero_grad();

    // Whether weight decay applies to the parameter with this name.
    bool decays(const std::string& name) const;
    const SgdOptions& options() const { return options_; }
    const NamedTensors& parameters() const { return parameters_; }

    // The momentum buffers, one per parameter, named like the parameters (zeros for a parameter
    // not yet stepped), on the parameters' devices. For checkpoints.
    NamedTensors state() const;
    // Loads buffers saved by state(): the names must be exactly the parameters' names and the
    // shapes must match (copied to each parameter's device and dtype, into the existing buffers
    // where there are some, so that their addresses stay). Throws naming the first mismatch;
    // nothing is changed then.
    void load_state(const NamedTensors& state);

  private:
    Tensor& buffer_for(size_t i);

    NamedTensors parameters_;
    std::vector<bool> decay_;
    std::vector<Tensor> momentum_;  // undefined until the first step that reaches the parameter
    SgdOptions options_;
    double lr_ = -1.0;  // the rate set last (< 0: none yet)
    Tensor device_lr_;  // f32 scalar holding lr_ on the CUDA parameters' device
};

}  // namespace cbnn
