// Differentiable indexing (kernels and layout in tensor/index.h). Backward, with g = dy:
//   gather(x, dim, index):       dx = zeros(x.shape) with g[.., k, ..] added at index[.., k, ..]
//                                along dim (ops::scatter_add)
//   index_select(x, dim, index): dx = zeros(x.shape) with g[.., j, ..] added at index[j] along dim
//                                (ops::index_add)
// Repeated indices accumulate. Both sums are deterministic (no atomics; same order on CPU and
// CUDA). The index is saved (SavedTensor: an in-place change before backward is an error), so the
// backward skips the CUDA index check that the forward already did. one_hot is not differentiable.
#include "autograd/functions.h"
#include "autograd/node.h"
#include "tensor/index.h"

namespace cbnn {

namespace {

class GatherNode : public autograd::Node {
  public:
    GatherNode(const Shape& x_shape, int64_t dim, const Tensor& index)
        : x_shape_(x_shape), dim_(dim), index_(index, "index") {}
    const char* name() const override { return "gather"; }
    std::vector<Tensor> apply(std::vector<Tensor> grads) override {
        if (!grads[0].defined() || !needs_input_grad(0)) return {Tensor()};
        return {ops::scatter_add(grads[0], dim_, index_.unpack(name()), x_shape_,
                                 /*indices_checked=*/true)};
    }
    void release_saved() override { index_.release(); }

  private:
    Shape x_shape_;
    int64_t dim_;
    autograd::SavedTensor index_;
};

class IndexSelectNode : public autograd::Node {
  public:
    IndexSelectNode(const Shape& x_shape, int64_t dim, const Tensor& index)
        : x_shape_(x_shape), dim_(dim), index_(index, "index") {}
    const char* name() const override { return "index_select"; }
    std::vector<Tensor> apply(std::vector<Tensor> grads) override {
        if (!grads[0].defined() || !needs_input_grad(0)) return {Tensor()};
        return {ops::index_add(grads[0], dim_, index_.unpack(name()), x_shape_,
                               /*indices_checked=*/true)};
    }
    void release_saved() override { index_.release(); }

  private:
    Shape x_shape_;
    int64_t dim_;
    autograd::SavedTensor index_;
};

}  // namespace

Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) {
    Tensor y = ops::gather(x, dim, index);  // checks every argument
    if (autograd::any_requires_grad({x})) {
        const int64_t d = normalize_dim(dim, x.dim(), "gather");
        autograd::connect(std::make_shared<GatherNode>(x.shape(), d, index), {x}, {&y});
    }
    return y;
}

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
    Tensor y = ops::index_select(x, dim, index);  // checks every argument
    if (autograd::any_requires_grad({x})) {
        const int64_t d = normalize_dim(dim, x.dim(), "index_select");
        autograd::connect(std::make_shared<IndexSelectNode>(x.shape(), d, index), {x}, {&y});
    }
    return y;
}

Tensor one_hot(const Tensor& labels, int64_t num_classes, DType dtype) {
    return ops::one_hot(labels, num_classes, dtype);
}

}  // namespace cbnn
