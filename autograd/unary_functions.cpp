// Differentiable unary functions: forward through ops::unary, backward dx = dy * f'(x) through
// ops::unary_backward (formulas in tensor/unary.h).
#include "autograd/functions.h"
#include "autograd/node.h"
#include "tensor/unary.h"

namespace cbnn {

namespace {

// Which of x and y = f(x) the derivative f'(x) reads (tensor/unary.h). Only those are saved:
// the others would be kept alive until backward for nothing, and an in-place change to them
// would make backward fail although it never looks at them.
bool derivative_reads_x(UnaryOp op) {
    switch (op) {
        case UnaryOp::log:
        case UnaryOp::log1p:
        case UnaryOp::softplus:
        case UnaryOp::relu:
        case UnaryOp::abs:
        case UnaryOp::square:
        case UnaryOp::rdiv_scalar:
        case UnaryOp::pow_scalar:
            return true;
        default:
            return false;
    }
}

bool derivative_reads_y(UnaryOp op) {
    switch (op) {
        case UnaryOp::exp:
        case UnaryOp::sigmoid:
        case UnaryOp::sqrt:
        case UnaryOp::tanh:
        case UnaryOp::rdiv_scalar:
            return true;
        default:
            return false;
    }
}

class UnaryNode : public autograd::Node {
  public:
    UnaryNode(UnaryOp op, double alpha, const Tensor& x, const Tensor& y) : op_(op), alpha_(alpha) {
        if (derivative_reads_x(op)) x_ = autograd::SavedTensor(x, "x");
        if (derivative_reads_y(op)) y_ = autograd::SavedTensor(y, "y");
    }
    const char* name() const override { return unary_op_name(op_); }
    std::vector<Tensor> apply(std::vector<Tensor> grads) override {
        const Tensor& dy = grads[0];
        Tensor x = x_.unpack(name()), y = y_.unpack(name());
        // ops::unary_backward takes both for every op; one the derivative does not read is
        // stood in for by any tensor of the same shape and dtype.
        if (!x.defined()) x = y.defined() ? y : dy;
        if (!y.defined()) y = x;
        return {ops::unary_backward(op_, x, y, dy, alpha_)};
    }
    void release_saved() override {
        x_.release();
        y_.release();
    }

  private:
    UnaryOp op_;
    double alpha_;
    autograd::SavedTensor x_, y_;
};

// Scalar operators (x + s, s / x, ...) are unary functions with alpha = s.
Tensor unary_function(UnaryOp op, const Tensor& x, double alpha) {
    Tensor y = ops::unary(op, x, alpha);
    if (autograd::any_requires_grad({x})) {
        autograd::connect(std::make_shared<UnaryNode>(op, alpha, x, y), {x}, {&y});
    }
    return y;
}

}  // namespace

Tensor neg(const Tensor& x) { return unary_function(UnaryOp::neg, x, 0.0); }
Tensor exp(const Tensor& x) { return unary_function(UnaryOp::exp, x, 0.0); }
Tensor log(const Tensor& x) { return unary_function(UnaryOp::log, x, 0.0); }
Tensor log1p(const Tensor& x) { return unary_function(UnaryOp::log1p, x, 0.0); }
Tensor sigmoid(const Tensor& x) { return unary_function(UnaryOp::sigmoid, x, 0.0); }
Tensor softplus(const Tensor& x) { return unary_function(UnaryOp::softplus, x, 0.0); }
Tensor relu(const Tensor& x) { return unary_function(UnaryOp::relu, x, 0.0); }
Tensor abs(const Tensor& x) { return unary_function(UnaryOp::abs, x, 0.0); }
Tensor sqrt(const Tensor& x) { return unary_function(UnaryOp::sqrt, x, 0.0); }
Tensor square(const Tensor& x) { return unary_function(UnaryOp::square, x, 0.0); }
Tensor tanh(const Tensor& x) { return unary_function(UnaryOp::tanh, x, 0.0); }
Tensor pow(const Tensor& x, double exponent) {
    return unary_function(UnaryOp::pow_scalar, x, exponent);
}

Tensor operator-(const Tensor& x) { return neg(x); }
Tensor operator+(const Tensor& a, double s) { return unary_function(UnaryOp::add_scalar, a, s); }
Tensor operator-(const Tensor& a, double s) { return unary_function(UnaryOp::add_scalar, a, -s); }
Tensor operator*(const Tensor& a, double s) { return unary_function(UnaryOp::mul_scalar, a, s); }
Tensor operator/(const Tensor& a, double s) { return unary_function(UnaryOp::div_scalar, a, s); }
Tensor operator+(double s, const Tensor& a) { return unary_function(UnaryOp::add_scalar, a, s); }
Tensor operator-(double s, const Tensor& a) { return unary_function(UnaryOp::rsub_scalar, a, s); }
Tensor operator*(double s, const Tensor& a) { return unary_function(UnaryOp::mul_scalar, a, s); }
Tensor operator/(double s, const Tensor& a) { return unary_function(UnaryOp::rdiv_scalar, a, s); }

}  // namespace cbnn
