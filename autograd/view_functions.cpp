// Tensor members that create views or copies, and the autograd members of Tensor.
// Views share storage (and so the version counter) with their base. Backward of a view maps the
// gradient back onto the base's shape:
//   view/reshape/flatten: dy reshaped to x's shape       transpose: dy transposed back
//   unsqueeze: squeeze            squeeze: unsqueeze     narrow: dy written into zeros of x's shape
//   contiguous/clone: dy          to(device): dy moved back    to(dtype): dy cast back
//   to(dtype, format): dy cast back into x's dtype and format
#include "autograd/engine.h"
#include "autograd/functions.h"
#include "autograd/node.h"
#include "tensor/copy.h"

namespace cbnn {

namespace {

// The backward of every view and copy: a function of dy alone.
template <class F>
class MapNode : public autograd::Node {
  public:
    MapNode(const char* name, F f) : name_(name), f_(std::move(f)) {}
    const char* name() const override { return name_; }
    std::vector<Tensor> apply(std::vector<Tensor> grads) override { return {f_(grads[0])}; }

  private:
    const char* name_;
    F f_;
};

template <class F>
Tensor record(const char* name, const Tensor& x, Tensor y, F backward) {
    if (autograd::any_requires_grad({x})) {
        autograd::connect(std::make_shared<MapNode<F>>(name, std::move(backward)), {x}, {&y});
    }
    return y;
}

using ops::dense;

Shape infer_shape(const Shape& requested, int64_t numel, const char* op) {
    Shape shape = requested;
    int64_t known = 1, infer = -1;
    for (size_t i = 0; i < shape.size(); ++i) {
        if (shape[i] == -1) {
            CBNN_CHECK(infer < 0, op, ": only one dimension may be -1 in ", requested);
            infer = static_cast<int64_t>(i);
        } else {
            CBNN_CHECK(shape[i] >= 0, op, ": invalid size in ", requested);
            known *= shape[i];
        }
    }
    if (infer >= 0) {
        CBNN_CHECK(known > 0 && numel % known == 0, op, ": cannot infer -1 in ", requested, " for ",
                   numel, " elements");
        shape[static_cast<size_t>(infer)] = numel / known;
    }
    CBNN_CHECK(shape_numel(shape) == numel, op, ": shape ", requested, " does not hold ", numel,
               " elements");
    return shape;
}

}  // namespace

Tensor Tensor::view(const Shape& requested) const {
    CBNN_CHECK(is_contiguous(), "view: tensor is not contiguous (", description(),
               "); use reshape");
    const Shape shape = infer_shape(requested, numel(), "view");
    const Shape from = this->shape();
    return record("view", *this, make_view(*this, shape, contiguous_strides(shape), offset()),
                  [from](const Tensor& g) { return dense(g).view(from); });
}

Tensor Tensor::reshape(const Shape& requested) const { return contiguous().view(requested); }

Tensor Tensor::flatten(int64_t start_dim, int64_t end_dim) const {
    if (dim() == 0) return reshape({1});
    const int64_t s = normalize_dim(start_dim, dim(), "flatten");
    const int64_t e = normalize_dim(end_dim, dim(), "flatten");
    CBNN_CHECK(s <= e, "flatten: start_dim ", start_dim, " is after end_dim ", end_dim);
    Shape shape;
    for (int64_t i = 0; i < s; ++i) shape.push_back(this->shape()[static_cast<size_t>(i)]);
    int64_t merged = 1;
    for (int64_t i = s; i <= e; ++i) merged *= this->shape()[static_cast<size_t>(i)];
    shape.push_back(merged);
    for (int64_t i = e + 1; i < dim(); ++i) shape.push_back(this->shape()[static_cast<size_t>(i)]);
    return reshape(shape);
}

Tensor Tensor::transpose(int64_t dim0, int64_t dim1) const {
    const int64_t a = normalize_dim(dim0, dim(), "transpose");
    const int64_t b = normalize_dim(dim1, dim(), "transpose");
    Shape shape = this->shape(), strides = this->strides();
    std::swap(shape[static_cast<size_t>(a)], shape[static_cast<size_t>(b)]);
    std::swap(strides[static_cast<size_t>(a)], strides[static_cast<size_t>(b)]);
    return record("transpose", *this, make_view(*this, shape, strides, offset()),
                  [a, b](const Tensor& g) { return g.transpose(a, b); });
}

Tensor Tensor::unsqueeze(int64_t d) const {
    const int64_t at = normalize_dim(d, dim() + 1, "unsqueeze");
    Shape shape = this->shape(), strides = this->strides();
    const int64_t stride =
        at < dim() ? strides[static_cast<size_t>(at)] * shape[static_cast<size_t>(at)] : 1;
    shape.insert(shape.begin() + at, 1);
    strides.insert(strides.begin() + at, stride);
    return record("unsqueeze", *this, make_view(*this, shape, strides, offset()),
                  [at](const Tensor& g) { return g.squeeze(at); });
}

Tensor Tensor::squeeze(int64_t d) const {
    const int64_t at = normalize_dim(d, dim(), "squeeze");
    CBNN_CHECK(this->shape()[static_cast<size_t>(at)] == 1, "squeeze: dimension ", d, " of ",
               description(), " is not 1");
    Shape shape = this->shape(), strides = this->strides();
    shape.erase(shape.begin() + at);
    strides.erase(strides.begin() + at);
    return record("squeeze", *this, make_view(*this, shape, strides, offset()),
                  [at](const Tensor& g) { return g.unsqueeze(at); });
}

Tensor Tensor::narrow(int64_t d, int64_t start, int64_t length) const {
    const int64_t at = normalize_dim(d, dim(), "narrow");
    const int64_t size = this->shape()[static_cast<size_t>(at)];
    CBNN_CHECK(start >= 0 && length >= 0 && start + length <= size, "narrow: range [", start, ", ",
               start + length, ") is outside dimension ", d, " of size ", size);
    Shape shape = this->shape();
    shape[static_cast<size_t>(at)] = length;
    const Tensor view =
        make_view(*this, shape, strides(), offset() + start * strides()[static_cast<size_t>(at)]);
    const Shape from = this->shape();
    return record("narrow", *this, view, [from, at, start, length](const Tensor& g) {
        Tensor dx = Tensor::zeros(from, g.dtype(), g.device());
        ops::copy_into(dx.narrow(at, start, length), g);
        return dx;
    });
}

Tensor Tensor::contiguous() const {
    if (is_contiguous()) return *this;
    return clone();
}

Tensor Tensor::contiguous(MemoryFormat format) const {
    if (is_contiguous(format)) return *this;
    return record("contiguous", *this, ops::contiguous_copy(*this, format),
                  [](const Tensor& g) { return g; });
}

Tensor Tensor::clone() const {
    return record("clone", *this, ops::contiguous_copy(*this), [](const Tensor& g) { return g; });
}

Tensor Tensor::to(Device target) const {
    if (target == device()) return *this;
    const Device from = device();
    return record("to_device", *this, ops::to_device(*this, target),
                  [from](const Tensor& g) { return ops::to_device(g, from); });
}

Tensor Tensor::to(DType target) const {
    if (target == dtype()) return *this;
    const DType from = dtype();
    Tensor y = ops::cast(*this, target);
    if (!is_floating(from) || !is_floating(target)) return y;  // integer casts carry no gradient
    return record("cast", *this, y, [from](const Tensor& g) { return ops::cast(g, from); });
}

Tensor Tensor::to(DType target, MemoryFormat format) const {
    if (target == dtype() && is_contiguous(format)) return *this;
    const DType from = dtype();
    const MemoryFormat from_format = memory_format();
    Tensor y = ops::cast(*this, target, format);
    if (!is_floating(from) || !is_floating(target)) return y;  // integer casts carry no gradient
    return record("cast", *this, y,
                  [from, from_format](const Tensor& g) { return ops::cast(g, from, from_format); });
}

Tensor Tensor::detach() const { return make_view(*this, shape(), strides(), offset()); }

Tensor& Tensor::set_requires_grad(bool requires_grad) {
    CBNN_CHECK(is_leaf(), "set_requires_grad: only leaf tensors can be marked (", description(),
               " was produced by ", grad_fn()->name(), "); use detach() first");
    CBNN_CHECK(!requires_grad || is_floating(dtype()),
               "set_requires_grad: only floating tensors can require grad, got ", description());
    impl().requires_grad = requires_grad;
    return *this;
}

Tensor Tensor::grad() const { return impl().grad ? Tensor(impl().grad) : Tensor(); }

void Tensor::set_grad(const Tensor& grad) const {
    if (grad.defined()) {
        CBNN_CHECK(grad.shape() == shape() && grad.dtype() == dtype() && grad.device() == device(),
                   "set_grad: gradient ", grad.description(), " does not match ", description());
    }
    impl().grad = grad.defined() ? grad.impl_ptr() : nullptr;
}

void Tensor::backward(const Tensor& grad, bool retain_graph) const {
    autograd::backward(*this, grad, retain_graph);
}

}  // namespace cbnn
