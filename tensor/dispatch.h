#pragma once
// Dtype dispatch for CPU references, and the CUDA guard for op functions.
//
//   dispatch_floating(x.dtype(), "exp", [&]<class T>() { cpu::unary_forward<T>(...); });
//   if (x.is_cuda()) CBNN_ON_CUDA(cuda::unary_forward(...));
//
// cpu:: kernels are templates over the element type; cuda:: kernels take f32 (and i64/u8 where
// an op moves integers). Both are declared in every build; CBNN_ON_CUDA removes the call in a
// CPU-only build (where no CUDA tensor can exist) and throws instead.

#include <cstdint>

#include "tensor/dtype.h"
#include "tensor/error.h"

namespace cbnn {

template <class F>
decltype(auto) dispatch_floating(DType dtype, const char* op, F&& f) {
    switch (dtype) {
        case DType::f32:
            return f.template operator()<float>();
        case DType::f64:
            return f.template operator()<double>();
        default:
            CBNN_FAIL(op, ": expected a floating tensor (f32 or f64), got ", dtype);
    }
}

template <class F>
decltype(auto) dispatch_all(DType dtype, const char* op, F&& f) {
    switch (dtype) {
        case DType::f32:
            return f.template operator()<float>();
        case DType::f64:
            return f.template operator()<double>();
        case DType::i64:
            return f.template operator()<int64_t>();
        case DType::u8:
            return f.template operator()<uint8_t>();
    }
    CBNN_FAIL(op, ": unknown dtype");
}

}  // namespace cbnn

#ifdef CBNN_WITH_CUDA
#define CBNN_ON_CUDA(...) \
    do {                  \
        __VA_ARGS__;      \
    } while (0)
#else
#define CBNN_ON_CUDA(...) CBNN_FAIL("this build of cbnn has no CUDA backend")
#endif
