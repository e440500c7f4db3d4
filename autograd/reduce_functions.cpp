// Differentiable reductions. Backward, with g = dy (given keepdim shape, broadcast back over dim):
//   sum:  dx = g                   mean: dx = g / R
//   (a bf16 x gives an f32 sum, so dx is computed in f32 and rounded to bf16 once at the end)
//   max:  dx = g at the first maximal element along dim, 0 elsewhere
// logsumexp is composed: m + log(sum(exp(x - m))) with m = max(x) detached. The gradient is exact
// (softmax(x)) because the terms in m cancel.
#include <limits>

#include "autograd/functions.h"
#include "autograd/node.h"
#include "tensor/binary.h"
#include "tensor/copy.h"
#include "tensor/reduce.h"
#include "tensor/unary.h"

namespace cbnn {

namespace {

// g has the reduced shape (dim dropped, or kept as 1; no dims at all for dim = -1); returns g
// broadcast back to `shape`.
Tensor expand_back(const Tensor& g_in, const Shape& shape, int64_t dim) {
    const Tensor g = ops::dense(g_in);
    Tensor out = Tensor::empty(shape, g.dtype(), g.device());
    if (dim < 0) {
        ops::copy_into(out, g);  // a 0-d gradient broadcasts to any shape
    } else {
        Shape kept = shape;
        kept[static_cast<size_t>(dim)] = 1;
        ops::copy_into(out, Tensor::make_view(g, kept, contiguous_strides(kept), g.offset()));
    }
    return out;
}

// dim = -1 means "all elements".
class SumNode : public autograd::Node {
  public:
    SumNode(const Shape& shape, DType dtype, int64_t dim, bool mean)
        : shape_(shape), dtype_(dtype), dim_(dim), mean_(mean) {}
    const char* name() const override { return mean_ ? "mean" : "sum"; }
    std::vector<Tensor> apply(std::vector<Tensor> grads) override {
        Tensor dx = expand_back(grads[0], shape_, dim_);
        if (mean_) {
            const int64_t r = dim_ >= 0 ? shape_[static_cast<size_t>(dim_)] : shape_numel(shape_);
            dx = ops::unary(UnaryOp::div_scalar, dx, static_cast<double>(r));
        }
        return {dx.dtype() == dtype_ ? dx : ops::cast(dx, dtype_)};
    }

  private:
    Shape shape_;
    DType dtype_;  // x's: the sum of a bf16 x is f32
    int64_t dim_;
    bool mean_;
};

class MaxNode : public autograd::Node {
  public:
    MaxNode(const Shape& shape, int64_t dim, const Tensor& argmax_kept)
        : shape_(shape), dim_(dim), argmax_(argmax_kept, "argmax") {}
    const char* name() const override { return "max"; }
    std::vector<Tensor> apply(std::vector<Tensor> grads) override {
        const Tensor argmax = argmax_.unpack(name());
        // Mask of the chosen elements: position along dim == argmax (broadcast compare).
        Shape pos_shape(shape_.size(), 1);
        pos_shape[static_cast<size_t>(dim_)] = shape_[static_cast<size_t>(dim_)];
        const Tensor positions =
            Tensor::arange(shape_[static_cast<size_t>(dim_)], DType::i64, argmax.device())
                .view(pos_shape);
        const Tensor mask = ops::compare(CompareOp::eq, positions, argmax);
        const Tensor g = expand_back(grads[0], shape_, dim_);
        return {ops::where(mask, g, Tensor::zeros({1}, g.dtype(), g.device()))};
    }
    void release_saved() override { argmax_.release(); }

  private:
    Shape shape_;
    int64_t dim_;
    autograd::SavedTensor argmax_;
};

Tensor reduce_function(const Tensor& x, int64_t dim, bool keepdim, bool is_mean) {
    check_defined(x, is_mean ? "mean" : "sum");
    const int64_t d = normalize_dim(dim, x.dim(), is_mean ? "mean" : "sum");
    Tensor y = is_mean ? ops::mean(x, d, keepdim) : ops::sum(x, d, keepdim);
    if (autograd::any_requires_grad({x})) {
        autograd::connect(std::make_shared<SumNode>(x.shape(), x.dtype(), d, is_mean), {x}, {&y});
    }
    return y;
}

Tensor reduce_all_function(const Tensor& x, bool is_mean) {
    check_defined(x, is_mean ? "mean" : "sum");
    Tensor y = ops::sum_all(x);
    if (is_mean) {
        CBNN_CHECK(x.numel() > 0, "mean: empty tensor ", x.description());
        y = ops::unary(UnaryOp::div_scalar, y, static_cast<double>(x.numel()));
    }
    if (autograd::any_requires_grad({x})) {
        autograd::connect(std::make_shared<SumNode>(x.shape(), x.dtype(), -1, is_mean), {x}, {&y});
    }
    return y;
}

}  // namespace

Tensor sum(const Tensor& x) { return reduce_all_function(x, false); }
Tensor mean(const Tensor& x) { return reduce_all_function(x, true); }
Tensor sum(const Tensor& x, int64_t dim, bool keepdim) {
    return reduce_function(x, dim, keepdim, false);
}
Tensor mean(const Tensor& x, int64_t dim, bool keepdim) {
    return reduce_function(x, dim, keepdim, true);
}

Tensor max(const Tensor& x, int64_t dim, bool keepdim) {
    check_defined(x, "max");
    const int64_t d = normalize_dim(dim, x.dim(), "max");
    ops::MaxResult r = ops::max(x, d, /*keepdim=*/true);
    Tensor y = keepdim ? r.values : r.values.squeeze(d);
    if (autograd::any_requires_grad({x})) {
        autograd::connect(std::make_shared<MaxNode>(x.shape(), d, r.indices), {x}, {&y});
    }
    return y;
}

Tensor argmax(const Tensor& x, int64_t dim, bool keepdim) {
    check_defined(x, "argmax");
    const int64_t d = normalize_dim(dim, x.dim(), "argmax");
    return ops::max(x, d, keepdim).indices;
}

Tensor logsumexp(const Tensor& x, int64_t dim, bool keepdim) {
    check_defined(x, "logsumexp");
    const int64_t d = normalize_dim(dim, x.dim(), "logsumexp");
    // A row of -inf (or one holding +inf) has an infinite maximum, and x - m would be inf - inf =
    // NaN; clamping m to the largest finite value gives -inf (+inf) for such rows, as it should,
    // and changes no finite maximum.
    const double largest = x.dtype() == DType::f64 ? std::numeric_limits<double>::max()
                                                   : std::numeric_limits<float>::max();
    const Tensor lo = Tensor::full({}, -largest, x.dtype(), x.device());
    const Tensor hi = Tensor::full({}, largest, x.dtype(), x.device());
    const Tensor m =
        ops::binary(BinaryOp::minimum,
                    ops::binary(BinaryOp::maximum, ops::max(x, d, /*keepdim=*/true).values, lo),
                    hi);  // constant: no graph
    Tensor y = add(log(sum(exp(sub(x, m)), d, /*keepdim=*/true)), m);
    return keepdim ? y : y.squeeze(d);
}

}  // namespace cbnn
