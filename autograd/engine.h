#pragma once
// The autograd engine: the only place where gradients are added up.
//
// backward(root, grad, retain_graph):
//   1. counts, for every node reachable from root.grad_fn, how many edges lead into it;
//   2. runs nodes whose count dropped to zero (a topological order), passing each the sum of the
//      gradients its consumers sent for each of its outputs;
//   3. leaves are reached through AccumulateGrad nodes, which add into tensor.grad().
// The engine runs with grad mode off: gradients carry no graph (no higher-order derivatives).
//
// Retain-graph semantics: by default each node frees its saved tensors once it has run, so a
// second backward through the same graph raises a clear error. Pass retain_graph=true to keep
// them (e.g. to call backward twice on one graph; gradients then accumulate in .grad twice).

#include "tensor/tensor.h"

namespace cbnn::autograd {

void backward(const Tensor& root, const Tensor& grad = Tensor(), bool retain_graph = false);

}  // namespace cbnn::autograd
