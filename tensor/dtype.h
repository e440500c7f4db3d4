#pragma once
// Element types. f64 exists on the CPU only (it is the precision of the references and of
// gradient checks); CUDA kernels compute in f32 and move i64/u8 data. bf16 (tensor/bfloat16.h) is
// a storage type for mixed precision: it is floating (it can require grad), casts to and from
// every dtype on both devices, and the ops that accept it compute in float and round once
// (docs/mixed-precision.md lists them); every other op rejects it with a message naming the op.

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <string>

#include "tensor/bfloat16.h"

namespace cbnn {

// New dtypes go at the end: the enum values are not a file format, but keep them stable anyway.
enum class DType : uint8_t { f32, f64, i64, u8, bf16 };

size_t dtype_size(DType dtype);
const char* dtype_name(DType dtype);
bool is_floating(DType dtype);
// Parses "f32", "float32", "f64", "float64", "i64", "int64", "u8", "uint8", "bf16", "bfloat16".
DType parse_dtype(const std::string& name);
std::ostream& operator<<(std::ostream& os, DType dtype);

template <class T>
constexpr DType dtype_of();
template <>
constexpr DType dtype_of<float>() {
    return DType::f32;
}
template <>
constexpr DType dtype_of<double>() {
    return DType::f64;
}
template <>
constexpr DType dtype_of<int64_t>() {
    return DType::i64;
}
template <>
constexpr DType dtype_of<uint8_t>() {
    return DType::u8;
}
template <>
constexpr DType dtype_of<bfloat16>() {
    return DType::bf16;
}

}  // namespace cbnn
