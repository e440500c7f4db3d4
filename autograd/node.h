#pragma once
// A node of the backward graph: the backward of one forward op. Its next_edges point, one per
// forward input, at the node that produced that input (or at the leaf's AccumulateGrad); an
// invalid edge means "this input needs no gradient".
//
// apply() receives (by value, so it may take them over) one gradient per forward output (undefined
// where none flowed back) and returns one gradient per input (undefined where none is needed).
// Nodes never add gradients up: the engine (autograd/engine.cpp) sums what several consumers send
// to the same input.

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <vector>

#include "autograd/saved_tensor.h"
#include "tensor/tensor.h"

namespace cbnn::autograd {

class Node;

struct Edge {
    std::shared_ptr<Node> node;
    uint32_t input_nr = 0;  // which output of `node` the gradient belongs to
    bool valid() const { return node != nullptr; }
};

class Node {
  public:
    virtual ~Node() = default;
    virtual const char* name() const = 0;
    virtual std::vector<Tensor> apply(std::vector<Tensor> grad_outputs) = 0;
    // Frees saved tensors after a backward without retain_graph.
    virtual void release_saved() {}

    const std::vector<Edge>& next_edges() const { return next_edges_; }
    void set_next_edges(std::vector<Edge> edges) { next_edges_ = std::move(edges); }
    bool needs_input_grad(size_t i) const {
        return i < next_edges_.size() && next_edges_[i].valid();
    }
    uint32_t num_outputs() const { return num_outputs_; }
    void set_num_outputs(uint32_t n) { num_outputs_ = n; }

  private:
    std::vector<Edge> next_edges_;
    uint32_t num_outputs_ = 1;
};

// The edge through which a gradient reaches `t`: its grad_fn, or its leaf accumulator, or an
// invalid edge when t does not require grad.
Edge gradient_edge(const Tensor& t);

// True when grad mode is on and any defined input requires grad.
bool any_requires_grad(std::initializer_list<Tensor> inputs);
bool any_requires_grad(const std::vector<Tensor>& inputs);

// Links `node` into the graph: edges to the inputs, and node becomes grad_fn of each output
// (output i gets output_nr i). Call only when any_requires_grad(inputs).
void connect(const std::shared_ptr<Node>& node, const std::vector<Tensor>& inputs,
             std::initializer_list<Tensor*> outputs);

}  // namespace cbnn::autograd
