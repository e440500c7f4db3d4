#include "autograd/grad_mode.h"

#include "tensor/tensor.h"

namespace cbnn::autograd {

namespace {
thread_local bool g_grad_enabled = true;
}

bool grad_enabled() { return g_grad_enabled; }

NoGradGuard::NoGradGuard() : previous_(g_grad_enabled) { g_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { g_grad_enabled = previous_; }

void check_inplace_allowed(const Tensor& t, const char* op) {
    check_defined(t, op);
    CBNN_CHECK(!(g_grad_enabled && t.requires_grad()), op,
               ": in-place write to a tensor that requires grad (", t.description(),
               "); wrap it in NoGradGuard or write to a copy");
}

}  // namespace cbnn::autograd
