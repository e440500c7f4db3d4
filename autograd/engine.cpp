#include "autograd/engine.h"

#include <atomic>
#include <unordered_map>
#include <vector>

#include "autograd/grad_mode.h"
#include "autograd/node.h"
#include "tensor/binary.h"
#include "tensor/copy.h"

namespace cbnn::autograd {

namespace {

std::atomic<GraphObserver*> g_observer{nullptr};

GraphObserver* observer() { return g_observer.load(std::memory_order_relaxed); }

// Adds incoming gradients into a leaf's .grad. Holds the leaf; the leaf holds it weakly.
class AccumulateGrad : public Node {
  public:
    explicit AccumulateGrad(std::shared_ptr<TensorImpl> leaf) : leaf_(std::move(leaf)) {
        set_num_outputs(1);
    }
    const char* name() const override { return "AccumulateGrad"; }

    std::vector<Tensor> apply(std::vector<Tensor> grads) override {
        Tensor grad = std::move(grads[0]);
        if (!grad.defined()) return {};
        const Tensor leaf(leaf_);
        CBNN_CHECK(grad.shape() == leaf.shape(), "backward: gradient of shape ", grad.shape(),
                   " for a leaf of shape ", leaf.shape());
        if (!leaf_->grad) {
            // Keep the incoming tensor only if nothing else can see its storage; otherwise an
            // in-place change to one .grad would show up in another. (Count the impl's own
            // reference: Tensor::storage() returns a copy, which would count itself.)
            const bool exclusive = grad.impl_ptr().use_count() == 1 &&
                                   grad.impl().storage.use_count() == 1 && grad.is_contiguous() &&
                                   grad.dtype() == leaf.dtype();
            leaf_->grad = (exclusive ? grad : ops::cast(grad, leaf.dtype())).impl_ptr();
        } else {
            leaf_->grad = ops::add(Tensor(leaf_->grad), grad).impl_ptr();
        }
        return {};
    }

  private:
    std::shared_ptr<TensorImpl> leaf_;
};

}  // namespace

GraphObserver* set_graph_observer(GraphObserver* observer) { return g_observer.exchange(observer); }

Edge gradient_edge(const Tensor& t) {
    if (!t.defined() || !t.requires_grad()) return {};
    if (t.grad_fn()) return {t.grad_fn(), t.output_nr()};
    TensorImpl& impl = t.impl();
    std::shared_ptr<Node> acc = impl.grad_accumulator.lock();
    if (!acc) {
        acc = std::make_shared<AccumulateGrad>(t.impl_ptr());
        impl.grad_accumulator = acc;
    }
    return {acc, 0};
}

bool any_requires_grad(std::initializer_list<Tensor> inputs) {
    if (!grad_enabled()) return false;
    for (const Tensor& t : inputs)
        if (t.defined() && t.requires_grad()) return true;
    return false;
}

bool any_requires_grad(const std::vector<Tensor>& inputs) {
    if (!grad_enabled()) return false;
    for (const Tensor& t : inputs)
        if (t.defined() && t.requires_grad()) return true;
    return false;
}

void connect(const std::shared_ptr<Node>& node, const std::vector<Tensor>& inputs,
             std::initializer_list<Tensor*> outputs) {
    std::vector<Edge> edges;
    edges.reserve(inputs.size());
    for (const Tensor& t : inputs) edges.push_back(gradient_edge(t));
    node->set_next_edges(std::move(edges));
    node->set_num_outputs(static_cast<uint32_t>(outputs.size()));
    uint32_t nr = 0;
    for (Tensor* out : outputs) {
        TensorImpl& impl = out->impl();
        impl.requires_grad = true;
        impl.grad_fn = node;
        impl.output_nr = nr++;
    }
    if (GraphObserver* obs = observer()) obs->on_record(*node);
}

void backward(const Tensor& root, const Tensor& grad_in, bool retain_graph) {
    check_defined(root, "backward");
    CBNN_CHECK(root.requires_grad(), "backward: the tensor does not require grad (",
               root.description(), "); nothing in its history needs a gradient");
    Tensor grad = grad_in;
    if (!grad.defined()) {
        CBNN_CHECK(root.numel() == 1,
                   "backward: a gradient must be given for a non-scalar tensor (",
                   root.description(), ")");
        grad = Tensor::ones(root.shape(), root.dtype(), root.device());
    } else {
        CBNN_CHECK(grad.shape() == root.shape() && grad.dtype() == root.dtype() &&
                       grad.device() == root.device(),
                   "backward: gradient ", grad.description(), " does not match tensor ",
                   root.description());
    }

    NoGradGuard no_grad;
    GraphObserver* const obs = observer();
    const Edge root_edge = gradient_edge(root);

    // Pass 1: how many edges lead into each reachable node.
    std::unordered_map<Node*, int> dependencies;
    {
        std::vector<Node*> stack{root_edge.node.get()};
        std::unordered_map<Node*, bool> seen{{root_edge.node.get(), true}};
        while (!stack.empty()) {
            Node* node = stack.back();
            stack.pop_back();
            for (const Edge& e : node->next_edges()) {
                if (!e.valid()) continue;
                ++dependencies[e.node.get()];
                if (!seen[e.node.get()]) {
                    seen[e.node.get()] = true;
                    stack.push_back(e.node.get());
                }
            }
        }
    }

    // Pass 2: run nodes as their inputs complete, summing gradients per (node, output).
    std::unordered_map<Node*, std::vector<Tensor>> buffers;
    buffers[root_edge.node.get()].resize(root_edge.node->num_outputs());
    buffers[root_edge.node.get()][root_edge.input_nr] = grad;
    std::vector<std::shared_ptr<Node>> ready{root_edge.node};
    while (!ready.empty()) {
        std::shared_ptr<Node> node = std::move(ready.back());
        ready.pop_back();
        std::vector<Tensor> grad_outputs = std::move(buffers[node.get()]);
        buffers.erase(node.get());
        grad_outputs.resize(node->num_outputs());

        bool any_defined = false;
        for (const Tensor& g : grad_outputs) any_defined = any_defined || g.defined();
        std::vector<Tensor> grad_inputs;
        if (any_defined) {
            if (obs) obs->on_apply_begin(*node);
            grad_inputs = node->apply(std::move(grad_outputs));
            if (obs) obs->on_apply_end(*node);
        }
        if (!retain_graph) node->release_saved();
        grad_inputs.resize(node->next_edges().size());

        for (size_t i = 0; i < node->next_edges().size(); ++i) {
            const Edge& e = node->next_edges()[i];
            if (!e.valid()) continue;
            Tensor& g = grad_inputs[i];
            if (g.defined()) {
                std::vector<Tensor>& slot = buffers[e.node.get()];
                slot.resize(e.node->num_outputs());
                Tensor& acc = slot[e.input_nr];
                acc = acc.defined() ? ops::add(acc, g) : std::move(g);
            }
            if (--dependencies[e.node.get()] == 0) ready.push_back(e.node);
        }
    }
}

}  // namespace cbnn::autograd
