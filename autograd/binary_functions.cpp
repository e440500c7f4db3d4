// Differentiable binary functions with broadcasting. Backward, with g = dy and sum_to folding a
// gradient back onto a broadcast operand's shape:
//   add: da = g, db = g          sub: da = g, db = -g
//   mul: da = g b, db = g a      div: da = g / b, db = -g a / b^2 = -g y / b
//   maximum: da = g [a >= b], db = g [a < b]    minimum: da = g [a <= b], db = g [a > b]
//   where(c, a, b): da = g [c], db = g [!c]
#include "autograd/functions.h"
#include "autograd/node.h"
#include "tensor/binary.h"
#include "tensor/reduce.h"
#include "tensor/unary.h"

namespace cbnn {

namespace {

Tensor zeros_like_scalar(const Tensor& t) { return Tensor::zeros({1}, t.dtype(), t.device()); }

// g where mask else 0
Tensor masked(const Tensor& mask, const Tensor& g) {
    return ops::where(mask, g, zeros_like_scalar(g));
}

class BinaryNode : public autograd::Node {
  public:
    BinaryNode(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& y)
        : op_(op), a_shape_(a.shape()), b_shape_(b.shape()) {
        // Save only what the backward reads for the operands that need a gradient: a constant
        // operand's partner (e.g. the activations in `x * weights` with fixed weights) is not
        // kept alive, and changing it in place later does not fail the backward.
        const bool need_a = a.requires_grad(), need_b = b.requires_grad();
        switch (op) {
            case BinaryOp::add:
            case BinaryOp::sub:
                break;
            case BinaryOp::mul:
                if (need_b) a_ = autograd::SavedTensor(a, "a");
                if (need_a) b_ = autograd::SavedTensor(b, "b");
                break;
            case BinaryOp::div:
                b_ = autograd::SavedTensor(b, "b");
                if (need_b) y_ = autograd::SavedTensor(y, "y");
                break;
            case BinaryOp::maximum:
            case BinaryOp::minimum:
                a_ = autograd::SavedTensor(a, "a");
                b_ = autograd::SavedTensor(b, "b");
                break;
        }
    }
    const char* name() const override { return binary_op_name(op_); }

    std::vector<Tensor> apply(std::vector<Tensor> grads) override {
        const Tensor& g = grads[0];
        Tensor da, db;
        switch (op_) {
            case BinaryOp::add:
                da = g;
                db = g;
                break;
            case BinaryOp::sub:
                da = g;
                db = ops::unary(UnaryOp::neg, g);
                break;
            case BinaryOp::mul:
                if (needs_input_grad(0)) da = ops::mul(g, b_.unpack(name()));
                if (needs_input_grad(1)) db = ops::mul(g, a_.unpack(name()));
                break;
            case BinaryOp::div: {
                const Tensor b = b_.unpack(name());
                if (needs_input_grad(0)) da = ops::div(g, b);
                if (needs_input_grad(1))
                    db = ops::unary(UnaryOp::neg, ops::div(ops::mul(g, y_.unpack(name())), b));
                break;
            }
            case BinaryOp::maximum:
            case BinaryOp::minimum: {
                const Tensor a = a_.unpack(name()), b = b_.unpack(name());
                const bool is_max = op_ == BinaryOp::maximum;
                const Tensor take_a = ops::compare(is_max ? CompareOp::ge : CompareOp::le, a, b);
                const Tensor take_b = ops::compare(is_max ? CompareOp::lt : CompareOp::gt, a, b);
                if (needs_input_grad(0)) da = masked(take_a, g);
                if (needs_input_grad(1)) db = masked(take_b, g);
                break;
            }
        }
        return {needs_input_grad(0) ? ops::sum_to(da, a_shape_) : Tensor(),
                needs_input_grad(1) ? ops::sum_to(db, b_shape_) : Tensor()};
    }

    void release_saved() override {
        a_.release();
        b_.release();
        y_.release();
    }

  private:
    BinaryOp op_;
    Shape a_shape_, b_shape_;
    autograd::SavedTensor a_, b_, y_;
};

class WhereNode : public autograd::Node {
  public:
    WhereNode(const Tensor& cond, const Tensor& a, const Tensor& b)
        : cond_(cond, "cond"), a_shape_(a.shape()), b_shape_(b.shape()) {}
    const char* name() const override { return "where"; }
    std::vector<Tensor> apply(std::vector<Tensor> grads) override {
        const Tensor cond = cond_.unpack(name());
        const Tensor& g = grads[0];
        const Tensor zero = zeros_like_scalar(g);
        Tensor da, db;
        if (needs_input_grad(0)) da = ops::sum_to(ops::where(cond, g, zero), a_shape_);
        if (needs_input_grad(1)) db = ops::sum_to(ops::where(cond, zero, g), b_shape_);
        return {da, db};
    }
    void release_saved() override { cond_.release(); }

  private:
    autograd::SavedTensor cond_;
    Shape a_shape_, b_shape_;
};

Tensor binary_function(BinaryOp op, const Tensor& a, const Tensor& b) {
    Tensor y = ops::binary(op, a, b);
    if (autograd::any_requires_grad({a, b})) {
        autograd::connect(std::make_shared<BinaryNode>(op, a, b, y), {a, b}, {&y});
    }
    return y;
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) { return binary_function(BinaryOp::add, a, b); }
Tensor sub(const Tensor& a, const Tensor& b) { return binary_function(BinaryOp::sub, a, b); }
Tensor mul(const Tensor& a, const Tensor& b) { return binary_function(BinaryOp::mul, a, b); }
Tensor div(const Tensor& a, const Tensor& b) { return binary_function(BinaryOp::div, a, b); }
Tensor maximum(const Tensor& a, const Tensor& b) {
    return binary_function(BinaryOp::maximum, a, b);
}
Tensor minimum(const Tensor& a, const Tensor& b) {
    return binary_function(BinaryOp::minimum, a, b);
}

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
    Tensor y = ops::where(cond, a, b);
    if (autograd::any_requires_grad({a, b})) {
        autograd::connect(std::make_shared<WhereNode>(cond, a, b), {a, b}, {&y});
    }
    return y;
}

Tensor eq(const Tensor& a, const Tensor& b) { return ops::compare(CompareOp::eq, a, b); }
Tensor ne(const Tensor& a, const Tensor& b) { return ops::compare(CompareOp::ne, a, b); }
Tensor lt(const Tensor& a, const Tensor& b) { return ops::compare(CompareOp::lt, a, b); }
Tensor le(const Tensor& a, const Tensor& b) { return ops::compare(CompareOp::le, a, b); }
Tensor gt(const Tensor& a, const Tensor& b) { return ops::compare(CompareOp::gt, a, b); }
Tensor ge(const Tensor& a, const Tensor& b) { return ops::compare(CompareOp::ge, a, b); }

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }

}  // namespace cbnn
