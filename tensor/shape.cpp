#include "tensor/shape.h"

#include <algorithm>
#include <ostream>
#include <sstream>

#include "tensor/error.h"

namespace cbnn {

std::string Shape::str() const {
    std::ostringstream os;
    os << *this;
    return os.str();
}

std::ostream& operator<<(std::ostream& os, const Shape& shape) {
    os << '[';
    for (size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
    return os << ']';
}

int64_t shape_numel(const Shape& shape) {
    int64_t n = 1;
    for (int64_t s : shape) n *= s;
    return n;
}

Shape contiguous_strides(const Shape& shape) {
    Shape strides(shape.size());
    int64_t stride = 1;
    for (size_t i = shape.size(); i-- > 0;) {
        strides[i] = stride;
        stride *= std::max<int64_t>(shape[i], 1);
    }
    return strides;
}

int64_t normalize_dim(int64_t dim, int64_t ndim, const char* what) {
    const int64_t d = dim < 0 ? dim + ndim : dim;
    CBNN_CHECK(d >= 0 && d < ndim, what, ": dimension ", dim, " out of range for a tensor with ",
               ndim, " dimensions");
    return d;
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* what) {
    const size_t n = std::max(a.size(), b.size());
    Shape out(n);
    for (size_t i = 0; i < n; ++i) {
        const int64_t sa = i < n - a.size() ? 1 : a[i - (n - a.size())];
        const int64_t sb = i < n - b.size() ? 1 : b[i - (n - b.size())];
        CBNN_CHECK(sa == sb || sa == 1 || sb == 1, what, ": shapes ", a, " and ", b,
                   " cannot be broadcast together");
        out[i] = sa == 1 ? sb : sa;
    }
    return out;
}

}  // namespace cbnn
