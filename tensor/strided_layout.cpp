#include "tensor/strided_layout.h"

#include "tensor/error.h"

namespace cbnn {

StridedLayout make_layout(const Shape& shape, const Shape& strides) {
    return make_broadcast_layout(shape, strides, shape);
}

StridedLayout make_broadcast_layout(const Shape& shape, const Shape& strides,
                                    const Shape& out_shape) {
    CBNN_CHECK(out_shape.size() <= static_cast<size_t>(kMaxDims), "tensor has ", out_shape.size(),
               " dimensions; at most ", kMaxDims, " are supported");
    StridedLayout layout;
    layout.ndim = static_cast<int>(out_shape.size());
    const size_t lead = out_shape.size() - shape.size();
    for (size_t d = 0; d < out_shape.size(); ++d) {
        layout.sizes[d] = out_shape[d];
        layout.strides[d] = (d < lead || shape[d - lead] == 1) ? 0 : strides[d - lead];
    }
    return layout;
}

}  // namespace cbnn
