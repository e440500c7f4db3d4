// Differentiable matmul: Y = A B; dA = dY B^T, dB = A^T dY (tensor/matmul.h). B^T and A^T are
// transposed views of the saved operands, which ops::matmul reads in place (no copies).
#include "autograd/functions.h"
#include "autograd/node.h"
#include "tensor/matmul.h"

namespace cbnn {

namespace {

Tensor transposed_view(const Tensor& t) {
    return Tensor::make_view(t, {t.size(1), t.size(0)}, {t.strides()[1], t.strides()[0]},
                             t.offset());
}

class MatmulNode : public autograd::Node {
  public:
    // dA reads b and dB reads a: save only what a wanted gradient needs, so an in-place update
    // of an operand that no gradient reads is not refused.
    MatmulNode(const Tensor& a, const Tensor& b) {
        if (b.requires_grad()) a_ = autograd::SavedTensor(a, "a");
        if (a.requires_grad()) b_ = autograd::SavedTensor(b, "b");
    }
    const char* name() const override { return "matmul"; }
    std::vector<Tensor> apply(std::vector<Tensor> grads) override {
        const Tensor& dy = grads[0];
        Tensor da, db;
        if (needs_input_grad(0)) da = ops::matmul(dy, transposed_view(b_.unpack(name())));
        if (needs_input_grad(1)) db = ops::matmul(transposed_view(a_.unpack(name())), dy);
        return {da, db};
    }
    void release_saved() override {
        a_.release();
        b_.release();
    }

  private:
    autograd::SavedTensor a_, b_;
};

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
    Tensor y = ops::matmul(a, b);
    if (autograd::any_requires_grad({a, b})) {
        autograd::connect(std::make_shared<MatmulNode>(a, b), {a, b}, {&y});
    }
    return y;
}

}  // namespace cbnn
