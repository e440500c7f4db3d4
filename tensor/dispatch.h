#pragma once
// Dtype dispatch for CPU references, and the CUDA guard for op functions.
//
//   dispatch_floating(x.dtype(), "exp", [&]<class T>() { cpu::unary_forward<T>(...); });
//   if (x.is_cuda()) CBNN_ON_CUDA(cuda::unary_forward(...));
//
// cpu:: kernels are templates over the element type; cuda:: kernels take f32 (and i64/u8 where
// an op moves integers). Both are declared in every build; CBNN_ON_CUDA removes the call in a
// CPU-only build (where no CUDA tensor can exist) and throws instead.
//
// bf16 is opt-in: dispatch_floating and dispatch_all reject it with a message naming the op, so an
// op nobody taught bf16 fails loudly instead of reading 2-byte elements as something else. Ops
// with a bf16 path (computing in compute_t<T> = float) use dispatch_floating_bf16; data movement
// (copy, fill, print) uses dispatch_all_bf16.

#include <cstdint>
#include <utility>

#include "tensor/dtype.h"
#include "tensor/error.h"

namespace cbnn {

[[noreturn]] inline void fail_no_bf16(const char* op) {
    CBNN_FAIL(op, ": has no bf16 implementation (cast to f32 first: .to(DType::f32))");
}

template <class F>
decltype(auto) dispatch_floating(DType dtype, const char* op, F&& f) {
    switch (dtype) {
        case DType::f32:
            return f.template operator()<float>();
        case DType::f64:
            return f.template operator()<double>();
        case DType::bf16:
            fail_no_bf16(op);
        default:
            CBNN_FAIL(op, ": expected a floating tensor (f32 or f64), got ", dtype);
    }
}

template <class F>
decltype(auto) dispatch_floating_bf16(DType dtype, const char* op, F&& f) {
    if (dtype == DType::bf16) return f.template operator()<bfloat16>();
    switch (dtype) {
        case DType::f32:
            return f.template operator()<float>();
        case DType::f64:
            return f.template operator()<double>();
        default:
            CBNN_FAIL(op, ": expected a floating tensor (f32, f64 or bf16), got ", dtype);
    }
}

// The element types of cuda:: kernels that compute in f32: float, and bfloat16 for the ops that
// have a bf16 overload (widened to float inside the kernel, one rounding per output).
template <class F>
decltype(auto) dispatch_cuda_float_bf16(DType dtype, const char* op, F&& f) {
    if (dtype == DType::bf16) return f.template operator()<bfloat16>();
    CBNN_CHECK(dtype == DType::f32, op, ": CUDA kernels take f32 or bf16, got ", dtype);
    return f.template operator()<float>();
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
        case DType::bf16:
            fail_no_bf16(op);
    }
    CBNN_FAIL(op, ": unknown dtype");
}

template <class F>
decltype(auto) dispatch_all_bf16(DType dtype, const char* op, F&& f) {
    if (dtype == DType::bf16) return f.template operator()<bfloat16>();
    return dispatch_all(dtype, op, std::forward<F>(f));
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
