#include "tensor/binary.h"

#include <type_traits>

#include "tensor/binary_math.h"
#include "tensor/dispatch.h"

namespace cbnn {

const char* binary_op_name(BinaryOp op) {
    static const char* const names[] = {"add", "sub", "mul", "div", "maximum", "minimum"};
    return names[static_cast<int>(op)];
}

const char* compare_op_name(CompareOp op) {
    static const char* const names[] = {"eq", "ne", "lt", "le", "gt", "ge"};
    return names[static_cast<int>(op)];
}

namespace cpu {

namespace {

// One row of the innermost dimension, out[j] = f(a[j sa], b[j sb]); the common stride pairs get
// their own loops so the compiler vectorises them. f takes and returns compute_t<T>; convert<> is
// the identity for float and double and widens / rounds once for bf16.
template <class T, class F>
void binary_row(T* out, const T* a, int64_t sa, const T* b, int64_t sb, int64_t m, F f) {
    using C = compute_t<T>;
    if (sa == 1 && sb == 1) {
        for (int64_t j = 0; j < m; ++j) out[j] = convert<T>(f(convert<C>(a[j]), convert<C>(b[j])));
    } else if (sa == 1 && sb == 0) {
        const C y = convert<C>(b[0]);
        for (int64_t j = 0; j < m; ++j) out[j] = convert<T>(f(convert<C>(a[j]), y));
    } else if (sa == 0 && sb == 1) {
        const C x = convert<C>(a[0]);
        for (int64_t j = 0; j < m; ++j) out[j] = convert<T>(f(x, convert<C>(b[j])));
    } else {
        for (int64_t j = 0; j < m; ++j)
            out[j] = convert<T>(f(convert<C>(a[j * sa]), convert<C>(b[j * sb])));
    }
}

}  // namespace

// Row by row along the innermost dimension: one offset() (a division per dimension) per row
// instead of per element, and the op chosen once per row instead of per element. la and lb are
// both laid out over the output's shape, so their sizes agree.
template <class T>
void binary_forward(BinaryOp op, const T* a, const StridedLayout& la, const T* b,
                    const StridedLayout& lb, T* out, int64_t n) {
    using C = compute_t<T>;
    const int d = la.ndim - 1;
    const int64_t inner = d >= 0 ? la.sizes[d] : 1;
    const int64_t sa = d >= 0 ? la.strides[d] : 0, sb = d >= 0 ? lb.strides[d] : 0;
    if (inner <= 0) return;
    for (int64_t row = 0; row < n; row += inner) {
        const T* pa = a + la.offset(row);
        const T* pb = b + lb.offset(row);
        T* po = out + row;
        switch (op) {
            case BinaryOp::add:
                binary_row(po, pa, sa, pb, sb, inner, [](C x, C y) { return x + y; });
                break;
            case BinaryOp::sub:
                binary_row(po, pa, sa, pb, sb, inner, [](C x, C y) { return x - y; });
                break;
            case BinaryOp::mul:
                binary_row(po, pa, sa, pb, sb, inner, [](C x, C y) { return x * y; });
                break;
            default:
                binary_row(po, pa, sa, pb, sb, inner,
                           [op](C x, C y) { return binary_apply(op, x, y); });
                break;
        }
    }
}

template <class T>
void compare_forward(CompareOp op, const T* a, const StridedLayout& la, const T* b,
                     const StridedLayout& lb, uint8_t* out, int64_t n) {
    for (int64_t i = 0; i < n; ++i) out[i] = compare_apply(op, a[la.offset(i)], b[lb.offset(i)]);
}

template <class T>
void where_forward(const uint8_t* cond, const StridedLayout& lc, const T* a,
                   const StridedLayout& la, const T* b, const StridedLayout& lb, T* out,
                   int64_t n) {
    for (int64_t i = 0; i < n; ++i) out[i] = cond[lc.offset(i)] ? a[la.offset(i)] : b[lb.offset(i)];
}

#define CBNN_INSTANTIATE(T)                                                                  \
    template void binary_forward<T>(BinaryOp, const T*, const StridedLayout&, const T*,      \
                                    const StridedLayout&, T*, int64_t);                      \
    template void compare_forward<T>(CompareOp, const T*, const StridedLayout&, const T*,    \
                                     const StridedLayout&, uint8_t*, int64_t);               \
    template void where_forward<T>(const uint8_t*, const StridedLayout&, const T*,           \
                                   const StridedLayout&, const T*, const StridedLayout&, T*, \
                                   int64_t);
CBNN_INSTANTIATE(float)
CBNN_INSTANTIATE(double)
CBNN_INSTANTIATE(int64_t)
CBNN_INSTANTIATE(uint8_t)
#undef CBNN_INSTANTIATE
template void binary_forward<bfloat16>(BinaryOp, const bfloat16*, const StridedLayout&,
                                       const bfloat16*, const StridedLayout&, bfloat16*, int64_t);

}  // namespace cpu

namespace ops {

namespace {

struct Broadcast {
    Shape shape;
    StridedLayout la, lb;
};

Broadcast broadcast(const Tensor& a, const Tensor& b, const char* op) {
    check_defined(a, op);
    check_defined(b, op);
    check_same_device(a, b, op);
    CBNN_CHECK(a.dtype() == b.dtype(), op, ": dtypes differ (", a.description(), " and ",
               b.description(), ")");
    Broadcast r;
    r.shape = broadcast_shapes(a.shape(), b.shape(), op);
    r.la = make_broadcast_layout(a.shape(), a.strides(), r.shape);
    r.lb = make_broadcast_layout(b.shape(), b.strides(), r.shape);
    return r;
}

}  // namespace

Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b) {
    const char* name = binary_op_name(op);
    Broadcast bc = broadcast(a, b, name);
    check_cuda_float_or_bf16(a, name);
    // Two channels-last operands of one shape: elementwise over their storage, in their format.
    const bool channels_last = a.shape() == b.shape() &&
                               a.memory_format() == MemoryFormat::channels_last &&
                               b.is_contiguous(MemoryFormat::channels_last);
    if (channels_last) bc.la = bc.lb = make_layout({a.numel()}, {1});
    Tensor out =
        Tensor::empty(bc.shape, a.dtype(), a.device(),
                      channels_last ? MemoryFormat::channels_last : MemoryFormat::contiguous);
    const int64_t n = out.numel();
    if (n == 0) return out;
    dispatch_floating_bf16(a.dtype(), name, [&]<class T>() {
        if (a.is_cuda()) {
            if constexpr (!std::is_same_v<T, double>) {
                CBNN_ON_CUDA(cuda::binary_forward(op, a.data<T>(), bc.la, b.data<T>(), bc.lb,
                                                  out.data<T>(), n));
            }
        } else {
            cpu::binary_forward<T>(op, a.data<T>(), bc.la, b.data<T>(), bc.lb, out.data<T>(), n);
        }
    });
    return out;
}

Tensor compare(CompareOp op, const Tensor& a, const Tensor& b) {
    const char* name = compare_op_name(op);
    const Broadcast bc = broadcast(a, b, name);
    Tensor out = Tensor::empty(bc.shape, DType::u8, a.device());
    const int64_t n = out.numel();
    if (n == 0) return out;
    dispatch_all(a.dtype(), name, [&]<class T>() {
        if (a.is_cuda()) {
            if constexpr (std::is_same_v<T, double>) {
                CBNN_FAIL(name, ": f64 is CPU-only, got ", a.description());
            } else {
                CBNN_ON_CUDA(cuda::compare_forward<T>(op, a.data<T>(), bc.la, b.data<T>(), bc.lb,
                                                      out.data<uint8_t>(), n));
            }
        } else {
            cpu::compare_forward<T>(op, a.data<T>(), bc.la, b.data<T>(), bc.lb, out.data<uint8_t>(),
                                    n);
        }
    });
    return out;
}

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
    check_defined(cond, "where");
    check_dtype(cond, DType::u8, "where", "condition");
    check_same_device(cond, a, "where");
    const Broadcast bc = broadcast(a, b, "where");
    const Shape shape = broadcast_shapes(cond.shape(), bc.shape, "where");
    const StridedLayout lc = make_broadcast_layout(cond.shape(), cond.strides(), shape);
    const StridedLayout la = make_broadcast_layout(a.shape(), a.strides(), shape);
    const StridedLayout lb = make_broadcast_layout(b.shape(), b.strides(), shape);
    check_cuda_float(a, "where");
    Tensor out = Tensor::empty(shape, a.dtype(), a.device());
    const int64_t n = out.numel();
    if (n == 0) return out;
    if (a.is_cuda()) {
        CBNN_ON_CUDA(cuda::where_forward(cond.data<uint8_t>(), lc, a.data<float>(), la,
                                         b.data<float>(), lb, out.data<float>(), n));
    } else {
        dispatch_all(a.dtype(), "where", [&]<class T>() {
            cpu::where_forward<T>(cond.data<uint8_t>(), lc, a.data<T>(), la, b.data<T>(), lb,
                                  out.data<T>(), n);
        });
    }
    return out;
}

}  // namespace ops
}  // namespace cbnn
