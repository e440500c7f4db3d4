#pragma once
// A shape with element strides, passed by value to kernels. offset(i) maps the i-th element of
// the row-major enumeration of `sizes` to its storage offset. A stride of 0 repeats an element,
// which is how broadcasting reads a smaller operand.

#include <cstdint>

#include "tensor/hd.h"
#include "tensor/shape.h"

namespace cbnn {

struct StridedLayout {
    int ndim = 0;
    int64_t sizes[kMaxDims] = {};
    int64_t strides[kMaxDims] = {};

    CBNN_HD int64_t offset(int64_t linear) const {
        int64_t off = 0;
        for (int d = ndim - 1; d >= 0; --d) {
            const int64_t i = linear % sizes[d];
            linear /= sizes[d];
            off += i * strides[d];
        }
        return off;
    }
};

// Layout of a tensor with `shape`/`strides`, or of an operand broadcast to `out_shape`
// (missing leading dimensions and size-1 dimensions get stride 0).
StridedLayout make_layout(const Shape& shape, const Shape& strides);
StridedLayout make_broadcast_layout(const Shape& shape, const Shape& strides,
                                    const Shape& out_shape);

}  // namespace cbnn
