#pragma once
// NumPy .npy files (format versions 1.0, 2.0 and 3.0): the interchange format of the command-line
// tools, so users can check cbnn's numbers against their own.
//
// Read: little-endian float32 ('<f4'), float64 ('<f8'), int32 ('<i4', widened to i64), int64
// ('<i8') and uint8 ('|u1'), C order. Anything else (big-endian, Fortran order, other dtypes, a
// header that does not parse, data shorter or longer than the shape says) is a cbnn::Error that
// names the file and what was wrong. Write: format 1.0, C order, the tensor's dtype.

#include <string>

#include "tensor/tensor.h"

namespace cbnn {

Tensor read_npy(const std::string& path);
void write_npy(const std::string& path, const Tensor& tensor);

}  // namespace cbnn
