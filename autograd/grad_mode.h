#pragma once
// Grad mode: while enabled (the default), ops on tensors that require grad record graph nodes.
// NoGradGuard disables recording in its scope (thread-local), e.g. for optimizer updates,
// evaluation, and inside the engine itself.

namespace cbnn {

class Tensor;

namespace autograd {

bool grad_enabled();

class NoGradGuard {
  public:
    NoGradGuard();
    ~NoGradGuard();
    NoGradGuard(const NoGradGuard&) = delete;
    NoGradGuard& operator=(const NoGradGuard&) = delete;

  private:
    bool previous_;
};

// In-place writes (fill_, copy_, add_, ...) are refused on tensors that require grad while grad
// mode is on: they would silently invalidate the graph. Under NoGradGuard they are allowed.
void check_inplace_allowed(const Tensor& t, const char* op);

}  // namespace autograd

using autograd::NoGradGuard;

}  // namespace cbnn
