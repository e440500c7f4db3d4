#include "tensor/unary.h"

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

template <class T>
void unary_forward(UnaryOp op, const T* x, T* y, int64_t n, T alpha) {
    for (int64_t i = 0; i < n; ++i) y[i] = unary_apply(op, x[i], alpha);
}

template <class T>
void unary_backward(UnaryOp op, const T* x, const T* y, const T* dy, T* dx, int64_t n, T alpha) {
    for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * unary_derivative(op, x[i], y[i], alpha);
}

template void unary_forward<float>(UnaryOp, const float*, float*, int64_t, float);
template void unary_forward<double>(UnaryOp, const double*, double*, int64_t, double);
template void unary_backward<float>(UnaryOp, const float*, const float*, const float*, float*,
                                    int64_t, float);
template void unary_backward<double>(UnaryOp, const double*, const double*, const double*, double*,
                                     int64_t, double);

}  // namespace cpu

namespace ops {

Tensor unary(UnaryOp op, const Tensor& x_in, double alpha) {
    const char* name = unary_op_name(op);
    check_defined(x_in, name);
    check_cuda_float(x_in, name);
    const Tensor x = dense(x_in);
    Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
    if (x.is_cuda()) {
        CBNN_ON_CUDA(cuda::unary_forward(op, x.data<float>(), y.data<float>(), x.numel(),
                                         static_cast<float>(alpha)));
    } else {
        dispatch_floating(x.dtype(), name, [&]<class T>() {
            cpu::unary_forward<T>(op, x.data<T>(), y.data<T>(), x.numel(), static_cast<T>(alpha));
        });
    }
    return y;
}

Tensor unary_backward(UnaryOp op, const Tensor& x_in, const Tensor& y_in, const Tensor& dy_in,
                      double alpha) {
    const char* name = unary_op_name(op);
    CBNN_CHECK(x_in.shape() == dy_in.shape() && y_in.shape() == dy_in.shape(), name,
               " backward: shapes differ: x ", x_in.shape(), ", y ", y_in.shape(), ", dy ",
               dy_in.shape());
    const Tensor x = dense(x_in);
    const Tensor y = dense(y_in);
    const Tensor dy = dense(dy_in);
    Tensor dx = Tensor::empty(x.shape(), x.dtype(), x.device());
    if (x.is_cuda()) {
        CBNN_ON_CUDA(cuda::unary_backward(op, x.data<float>(), y.data<float>(), dy.data<float>(),
                                          dx.data<float>(), x.numel(), static_cast<float>(alpha)));
    } else {
        dispatch_floating(x.dtype(), name, [&]<class T>() {
            cpu::unary_backward<T>(op, x.data<T>(), y.data<T>(), dy.data<T>(), dx.data<T>(),
                                   x.numel(), static_cast<T>(alpha));
        });
    }
    return dx;
}

}  // namespace ops
}  // namespace cbnn
