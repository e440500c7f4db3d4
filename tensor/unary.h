#pragma once
// Elementwise unary functions y = f(x; alpha), and their backward dx = dy * f'(x).
//
//   op           f(x)                                   f'(x), written with y = f(x)
//   neg          -x                                     -1
//   exp          e^x                                    y
//   log          ln x                                   1/x
//   log1p        ln(1 + x)                              1/(1 + x)
//   sigmoid      1/(1 + e^-x)   (stable both signs)      y (1 - y)
//   softplus     max(x,0) + log1p(e^-|x|)  (stable)      sigmoid(x)
//   relu         max(x, 0)                              1 if x > 0 else 0
//   abs          |x|                                    sign(x)
//   sqrt         sqrt(x)                                1/(2 y)
//   square       x^2                                    2x
//   tanh         tanh x                                 1 - y^2
//   add_scalar   x + alpha                              1
//   mul_scalar   alpha x                                alpha
//   div_scalar   x / alpha                              1/alpha
//   rsub_scalar  alpha - x                              -1
//   rdiv_scalar  alpha / x                              -y/x
//   pow_scalar   x^alpha                                alpha x^(alpha - 1)
// Layout: the kernels take x, y, dy, dx dense, n elements. The op functions keep a channels-last
// input's format (tensor/memory_format.h): y and dx come out in it; any other layout is copied to
// contiguous first. The formulas live in tensor/unary_math.h and are
// shared by the CPU reference and the CUDA kernel.
// bf16 (CPU and CUDA): x, y, dy are widened to float, the formula runs in float and the result is
// rounded to bf16 once; alpha is a float. The backward reads the stored (rounded) bf16 y.

#include <cstdint>

#include "tensor/bfloat16.h"
#include "tensor/tensor.h"

namespace cbnn {

enum class UnaryOp : uint8_t {
    neg,
    exp,
    log,
    log1p,
    sigmoid,
    softplus,
    relu,
    abs,
    sqrt,
    square,
    tanh,
    add_scalar,
    mul_scalar,
    div_scalar,
    rsub_scalar,
    rdiv_scalar,
    pow_scalar
};
const char* unary_op_name(UnaryOp op);

namespace cpu {
// T in {float, double, bfloat16}
template <class T>
void unary_forward(UnaryOp op, const T* x, T* y, int64_t n, compute_t<T> alpha);
template <class T>
void unary_backward(UnaryOp op, const T* x, const T* y, const T* dy, T* dx, int64_t n,
                    compute_t<T> alpha);
}  // namespace cpu

namespace cuda {
void unary_forward(UnaryOp op, const float* x, float* y, int64_t n, float alpha);
void unary_backward(UnaryOp op, const float* x, const float* y, const float* dy, float* dx,
                    int64_t n, float alpha);
void unary_forward(UnaryOp op, const bfloat16* x, bfloat16* y, int64_t n, float alpha);
void unary_backward(UnaryOp op, const bfloat16* x, const bfloat16* y, const bfloat16* dy,
                    bfloat16* dx, int64_t n, float alpha);
}  // namespace cuda

namespace ops {
Tensor unary(UnaryOp op, const Tensor& x, double alpha = 0.0);
Tensor unary_backward(UnaryOp op, const Tensor& x, const Tensor& y, const Tensor& dy,
                      double alpha = 0.0);
}  // namespace ops

}  // namespace cbnn
