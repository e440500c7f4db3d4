#include "tests/support/host.h"

#include <cstring>

#include "tensor/dispatch.h"

namespace cbnn::testing {

namespace {

// The elements of a host tensor (base, shape, strides), row-major, converted into out[0, numel).
template <class Src, class Dst>
void convert_rows(const Src* base, const Shape& shape, const Shape& strides, Dst* out) {
    const size_t dims = shape.size();
    const int64_t n = shape_numel(shape);
    if (n == 0) return;
    if (dims == 0) {
        out[0] = convert<Dst>(base[0]);
        return;
    }
    const int64_t row = shape[dims - 1], step = strides[dims - 1];
    std::vector<int64_t> index(dims - 1, 0);
    int64_t offset = 0;
    for (int64_t done = 0; done < n; done += row, out += row) {
        const Src* p = base + offset;
        if (step == 1) {
            for (int64_t i = 0; i < row; ++i) out[i] = convert<Dst>(p[i]);
        } else {
            for (int64_t i = 0; i < row; ++i) out[i] = convert<Dst>(p[i * step]);
        }
        for (size_t d = dims - 1; d-- > 0;) {
            offset += strides[d];
            if (++index[d] < shape[d]) break;
            offset -= strides[d] * shape[d];
            index[d] = 0;
        }
    }
}

bool is_row_major_host(const Tensor& t, DType dtype) {
    return !t.is_cuda() && t.dtype() == dtype && t.is_contiguous();
}

// The values of t, row-major, as `dtype` into out (numel elements).
void convert_to(const Tensor& t, DType dtype, void* out) {
    const Tensor host = t.cpu();
    if (is_row_major_host(host, dtype)) {
        if (host.numel() > 0) std::memcpy(out, host.raw_data(), host.nbytes());
        return;
    }
    dispatch_all_bf16(host.dtype(), "host_as", [&]<class Src>() {
        dispatch_all_bf16(dtype, "host_as", [&]<class Dst>() {
            convert_rows(static_cast<const Src*>(host.raw_data()), host.shape(), host.strides(),
                         static_cast<Dst*>(out));
        });
    });
}

}  // namespace

std::vector<double> host_values(const Tensor& t) {
    if (is_row_major_host(t, DType::f64)) {
        const double* p = t.data<double>();
        return std::vector<double>(p, p + t.numel());
    }
    std::vector<double> values(static_cast<size_t>(t.numel()));
    convert_to(t, DType::f64, values.data());
    return values;
}

Tensor host_as(const Tensor& t, DType dtype) {
    if (is_row_major_host(t, dtype)) return t;
    Tensor out = Tensor::empty(t.shape(), dtype);
    convert_to(t, dtype, out.raw_data());
    return out;
}

}  // namespace cbnn::testing
