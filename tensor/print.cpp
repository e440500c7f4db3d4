// Printing: NumPy-like nested brackets, with "..." past edge_items entries per dimension.
//   f32[2, 3] cpu
//   [[1, 2, 3],
//    [4, 5, 6]]
#include <iomanip>
#include <ostream>
#include <sstream>
#include <type_traits>

#include "tensor/dispatch.h"
#include "tensor/tensor.h"

namespace cbnn {

namespace {

// u8 as a number, not a character; bf16 as its (exact) float value.
template <class T>
void print_element(std::ostream& os, T v) {
    if constexpr (std::is_same_v<T, uint8_t>)
        os << static_cast<int>(v);
    else if constexpr (is_bf16_v<T>)
        os << bf16_to_float(v);
    else
        os << v;
}

template <class T>
void print_values(std::ostream& os, const std::vector<T>& values, const Shape& shape, size_t dim,
                  int64_t base, int64_t edge, int indent) {
    if (shape.empty()) {
        print_element(os, values[0]);
        return;
    }
    const int64_t n = shape[dim];
    const int64_t inner =
        shape_numel(Shape(shape.begin() + static_cast<long>(dim) + 1, shape.end()));
    os << '[';
    for (int64_t i = 0; i < n; ++i) {
        if (n > 2 * edge && i == edge) {
            os << "...";
            i = n - edge - 1;
            // With edge 0 nothing follows the ellipsis.
            if (edge > 0) {
                os << (dim + 1 == shape.size() ? ", " : ",\n" + std::string(indent + 1, ' '));
            }
            continue;
        }
        if (dim + 1 == shape.size()) {
            print_element(os, values[static_cast<size_t>(base + i)]);
        } else {
            print_values(os, values, shape, dim + 1, base + i * inner, edge, indent + 1);
        }
        if (i + 1 < n)
            os << (dim + 1 == shape.size() ? ", " : ",\n" + std::string(indent + 1, ' '));
    }
    os << ']';
}

}  // namespace

std::string Tensor::to_string(int64_t edge_items) const {
    if (!defined()) return "Tensor(undefined)";
    std::ostringstream os;
    os << description();
    if (requires_grad()) os << " requires_grad";
    os << '\n' << std::setprecision(6);
    dispatch_all_bf16(dtype(), "print", [&]<class T>() {
        print_values(os, to_vector<T>(), shape(), 0, 0, edge_items, 0);
    });
    return os.str();
}

std::ostream& operator<<(std::ostream& os, const Tensor& tensor) {
    return os << tensor.to_string();
}

}  // namespace cbnn
