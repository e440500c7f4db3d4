#include "tests/support/host.h"

#include "tensor/copy.h"
#include "tensor/strided_layout.h"

namespace cbnn::testing {

namespace {

bool is_row_major_host(const Tensor& t, DType dtype) {
    return !t.is_cuda() && t.dtype() == dtype && t.is_contiguous();
}

}  // namespace

std::vector<double> host_values(const Tensor& t) {
    std::vector<double> values(static_cast<size_t>(t.numel()));
    if (values.empty()) return values;
    // The library's CPU copy straight into the vector (no intermediate f64 tensor).
    const Tensor h = t.cpu();
    cpu::strided_copy(h.dtype(), h.raw_data(), make_layout(h.shape(), h.strides()), DType::f64,
                      values.data(), make_layout(h.shape(), contiguous_strides(h.shape())),
                      h.numel());
    return values;
}

Tensor host_as(const Tensor& t, DType dtype) {
    if (is_row_major_host(t, dtype)) return t;
    return ops::cast(t.cpu(), dtype);  // an op, not a differentiable function: no history
}

}  // namespace cbnn::testing
