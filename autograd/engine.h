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

class Node;

void backward(const Tensor& root, const Tensor& grad = Tensor(), bool retain_graph = false);

// An observer of graph recording and of the engine, for profilers (bench/bench_train_step's
// per-op breakdown records CUDA events in it). None is installed by default; then each op boundary
// costs one relaxed atomic load and a null test.
//   on_record(node):       an op has queued its forward work and recorded its node (connect())
//   on_apply_begin/end:    around one node's backward in backward(); the engine's own summing of
//                          gradients from several consumers happens outside these calls
// Called on the thread that runs the op or the backward.
class GraphObserver {
  public:
    virtual ~GraphObserver() = default;
    virtual void on_record(const Node& node) = 0;
    virtual void on_apply_begin(const Node& node) = 0;
    virtual void on_apply_end(const Node& node) = 0;
};

// Installs `observer` (not owned; nullptr removes it) and returns the one it replaces.
GraphObserver* set_graph_observer(GraphObserver* observer);

}  // namespace cbnn::autograd
