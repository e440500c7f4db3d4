#include "tensor/memory_format.h"

#include "tensor/error.h"

namespace cbnn {

const char* memory_format_name(MemoryFormat format) {
    return format == MemoryFormat::channels_last ? "nhwc" : "nchw";
}

MemoryFormat parse_memory_format(const std::string& name) {
    if (name == "nchw") return MemoryFormat::contiguous;
    if (name == "nhwc") return MemoryFormat::channels_last;
    CBNN_FAIL("unknown memory layout '", name, "' (expected nchw or nhwc)");
}

namespace {

// The dimensions of `format` from the innermost (stride 1) outwards.
Shape dims_inner_to_outer(const Shape& shape, MemoryFormat format) {
    if (format == MemoryFormat::contiguous) {
        Shape order;
        for (size_t i = shape.size(); i-- > 0;) order.push_back(static_cast<int64_t>(i));
        return order;
    }
    CBNN_CHECK(shape.size() == 4,
               "channels-last (NHWC) layout needs a 4-D (N, C, H, W) tensor, got ", "shape ",
               shape);
    return {1, 3, 2, 0};  // C, W, H, N
}

}  // namespace

Shape format_strides(const Shape& shape, MemoryFormat format) {
    Shape strides(shape.size());
    int64_t stride = 1;
    for (int64_t d : dims_inner_to_outer(shape, format)) {
        strides[static_cast<size_t>(d)] = stride;
        stride *= shape[static_cast<size_t>(d)];
    }
    return strides;
}

bool has_memory_format(const Shape& shape, const Shape& strides, MemoryFormat format) {
    if (format == MemoryFormat::channels_last && shape.size() != 4) return false;
    if (shape_numel(shape) == 0) return true;
    int64_t expected = 1;
    for (int64_t d : dims_inner_to_outer(shape, format)) {
        const auto i = static_cast<size_t>(d);
        if (shape[i] == 1) continue;
        if (strides[i] != expected) return false;
        expected *= shape[i];
    }
    return true;
}

}  // namespace cbnn
