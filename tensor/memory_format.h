#pragma once
// Memory formats of 4-D image tensors. A tensor's shape is always the logical (N, C, H, W) shape;
// the format lives in its strides (in elements):
//   contiguous     NCHW: strides (C H W, H W, W, 1), row-major, what every CPU kernel reads
//   channels_last  NHWC: strides (H W C, 1, W C, C): the channels of one pixel are adjacent, the
//                  layout cuDNN's tensor-core convolutions work in (docs/performance.md)
// Dimensions of size 1 may have any stride, as in Tensor::is_contiguous, so a tensor with C == 1
// or H == W == 1 is in both formats; Tensor::memory_format then says contiguous.
//
// Layers keep their input's format: a network fed a channels-last input runs channels-last end to
// end (layers/conv2d.h, layers/batchnorm2d.h, ...). Elementwise ops on operands of one format write
// that format (tensor/unary.h, tensor/binary.h).

#include <string>

#include "tensor/shape.h"

namespace cbnn {

enum class MemoryFormat { contiguous, channels_last };

// "nchw" | "nhwc" (the names of the --layout flag).
const char* memory_format_name(MemoryFormat format);
// Inverse of memory_format_name; anything else throws naming the value and the choices.
MemoryFormat parse_memory_format(const std::string& name);

// The strides of a dense tensor of `shape` in `format`; channels_last needs rank 4 (throws naming
// the shape otherwise).
Shape format_strides(const Shape& shape, MemoryFormat format);
// Whether `strides` lay `shape` out densely in `format` (size-1 dimensions ignored; always true
// for an empty tensor; channels_last only for rank 4).
bool has_memory_format(const Shape& shape, const Shape& strides, MemoryFormat format);

}  // namespace cbnn
