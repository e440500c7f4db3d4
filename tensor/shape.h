#pragma once
// Shape: the sizes of a tensor, outermost first (row-major). It is a std::vector<int64_t> with a
// stream operator in namespace cbnn, so error messages can print it: "got [128, 10]".

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

namespace cbnn {

// Most dimensions a tensor may have; strided kernels carry shapes in fixed arrays of this size.
inline constexpr int kMaxDims = 8;

struct Shape : std::vector<int64_t> {
    using std::vector<int64_t>::vector;
    Shape() = default;
    Shape(const std::vector<int64_t>& v) : std::vector<int64_t>(v) {}
    std::string str() const;
};

std::ostream& operator<<(std::ostream& os, const Shape& shape);

int64_t shape_numel(const Shape& shape);
// Row-major strides in elements: the last dimension has stride 1.
Shape contiguous_strides(const Shape& shape);
// Turns a possibly negative dimension index into 0..ndim-1, or throws naming `what`.
int64_t normalize_dim(int64_t dim, int64_t ndim, const char* what);
// NumPy broadcasting of two shapes (aligned at the last dimension); throws naming both.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* what);

}  // namespace cbnn
