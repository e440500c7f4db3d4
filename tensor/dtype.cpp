#include "tensor/dtype.h"

#include <ostream>

#include "tensor/error.h"

namespace cbnn {

size_t dtype_size(DType dtype) {
    switch (dtype) {
        case DType::f32:
            return 4;
        case DType::f64:
            return 8;
        case DType::i64:
            return 8;
        case DType::u8:
            return 1;
        case DType::bf16:
            return 2;
    }
    CBNN_FAIL("unknown dtype ", static_cast<int>(dtype));
}

const char* dtype_name(DType dtype) {
    switch (dtype) {
        case DType::f32:
            return "f32";
        case DType::f64:
            return "f64";
        case DType::i64:
            return "i64";
        case DType::u8:
            return "u8";
        case DType::bf16:
            return "bf16";
    }
    return "unknown";
}

bool is_floating(DType dtype) {
    return dtype == DType::f32 || dtype == DType::f64 || dtype == DType::bf16;
}

DType parse_dtype(const std::string& name) {
    if (name == "f32" || name == "float32") return DType::f32;
    if (name == "f64" || name == "float64") return DType::f64;
    if (name == "i64" || name == "int64") return DType::i64;
    if (name == "u8" || name == "uint8") return DType::u8;
    if (name == "bf16" || name == "bfloat16") return DType::bf16;
    CBNN_FAIL("unknown dtype '", name, "' (expected f32, f64, i64, u8 or bf16)");
}

std::ostream& operator<<(std::ostream& os, DType dtype) { return os << dtype_name(dtype); }

}  // namespace cbnn
