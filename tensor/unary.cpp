#include "tensor/unary.h"

#include <type_traits>

#include "tensor/copy.h"
#include "tensor/dispatch.h"
#include "tensor/unary_math.h"

namespace cbnn {

const char* unary_op_name(UnaryOp op) {
    static const char* const names[] = {
        "neg",        "exp",        "log",         "log1p",       "sigmoid",   "softplus",
        "relu",       "abs",        "sqrt",        "square",      "tanh",      "add_scalar",
        "mul_scalar", "div_scalar", "rsub_scalar", "rdiv_scalar", "pow_scalar"};
    return names[static_cast<int>(op)];
}

namespace cpu {

// convert<> is the identity for float and double, and widens / rounds once for bf16.
template <class T>
void unary_forward(UnaryOp op, const T* x, T* y, int64_t n, compute_t<T> alpha) {
    using C = compute_t<T>;
    for (int64_t i = 0; i < n; ++i) y[i] = convert<T>(unary_apply<C>(op, convert<C>(x[i]), alpha));
}

template <class T>
void unary_backward(UnaryOp op, const T* x, const T* y, const T* dy, T* dx, int64_t n,
                    compute_t<T> alpha) {
    using C = compute_t<T>;
    for (int64_t i = 0; i < n; ++i) {
        dx[i] = convert<T>(convert<C>(dy[i]) *
                           unary_derivative<C>(op, convert<C>(x[i]), convert<C>(y[i]), alpha));
    }
}

#define CBNN_INSTANTIATE(T)                                                             \
    template void unary_forward<T>(UnaryOp, const T*, T*, int64_t, compute_t<T>);       \
    template void unary_backward<T>(UnaryOp, const T*, const T*, const T*, T*, int64_t, \
                                    compute_t<T>);
CBNN_INSTANTIATE(float)
CBNN_INSTANTIATE(double)
CBNN_INSTANTIATE(bfloat16)
#undef CBNN_INSTANTIATE

}  // namespace cpu

namespace ops {

Tensor unary(UnaryOp op, const Tensor& x_in, double alpha) {
    const char* name = unary_op_name(op);
    check_defined(x_in, name);
    check_cuda_float_or_bf16(x_in, name);
    // Elementwise, so any dense layout will do: a channels-last x gives a channels-last y.
    const MemoryFormat format = x_in.memory_format();
    const Tensor x = dense(x_in, format);
    Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device(), format);
    dispatch_floating_bf16(x.dtype(), name, [&]<class T>() {
        const auto a = static_cast<compute_t<T>>(alpha);
        if (x.is_cuda()) {
            if constexpr (!std::is_same_v<T, double>)
                CBNN_ON_CUDA(cuda::unary_forward(op, x.data<T>(), y.data<T>(), x.numel(), a));
        } else {
            cpu::unary_forward<T>(op, x.data<T>(), y.data<T>(), x.numel(), a);
        }
    });
    return y;
}

Tensor unary_backward(UnaryOp op, const Tensor& x_in, const Tensor& y_in, const Tensor& dy_in,
                      double alpha) {
    const char* name = unary_op_name(op);
    CBNN_CHECK(x_in.shape() == dy_in.shape() && y_in.shape() == dy_in.shape(), name,
               " backward: shapes differ: x ", x_in.shape(), ", y ", y_in.shape(), ", dy ",
               dy_in.shape());
    check_cuda_float_or_bf16(x_in, name);
    const MemoryFormat format = dy_in.memory_format();
    const Tensor x = dense(x_in, format);
    const Tensor y = dense(y_in, format);
    const Tensor dy = dense(dy_in, format);
    Tensor dx = Tensor::empty(x.shape(), x.dtype(), x.device(), format);
    dispatch_floating_bf16(x.dtype(), name, [&]<class T>() {
        const auto a = static_cast<compute_t<T>>(alpha);
        if (x.is_cuda()) {
            if constexpr (!std::is_same_v<T, double>) {
                CBNN_ON_CUDA(cuda::unary_backward(op, x.data<T>(), y.data<T>(), dy.data<T>(),
                                                  dx.data<T>(), x.numel(), a));
            }
        } else {
            cpu::unary_backward<T>(op, x.data<T>(), y.data<T>(), dy.data<T>(), dx.data<T>(),
                                   x.numel(), a);
        }
    });
    return dx;
}

}  // namespace ops
}  // namespace cbnn
