// Conv2d: CPU references (direct loops and im2col + gemm), op functions, autograd node and the
// Conv2d module. Math, shapes and layout in layers/conv2d.h; the CUDA twin is conv2d_cudnn.cpp.
#include "layers/conv2d.h"

#include <algorithm>
#include <atomic>
#include <initializer_list>
#include <utility>
#include <vector>

#include "autograd/node.h"
#include "layers/channel_pad.h"
#include "layers/conv2d_igemm.h"
#include "layers/init.h"
#include "tensor/copy.h"
#include "tensor/dispatch.h"
#include "tensor/matmul.h"
#include "tensor/reduce.h"

namespace cbnn {

namespace {
std::atomic<ConvAlgorithmSearch> g_search{ConvAlgorithmSearch::heuristic};
std::atomic<int64_t> g_channel_multiple{1};
}  // namespace

void set_conv_algorithm_search(ConvAlgorithmSearch search) { g_search = search; }
ConvAlgorithmSearch conv_algorithm_search() { return g_search; }

void set_conv_channel_multiple(int64_t multiple) {
    CBNN_CHECK(multiple >= 1, "conv channel multiple must be at least 1, got ", multiple);
    g_channel_multiple = multiple;
}
int64_t conv_channel_multiple() { return g_channel_multiple; }

ConvAlgorithmSearch parse_conv_algorithm_search(const std::string& name) {
    if (name == "heuristic") return ConvAlgorithmSearch::heuristic;
    if (name == "timed") return ConvAlgorithmSearch::timed;
    CBNN_FAIL("conv algorithm search '", name, "' is not one of heuristic, timed");
}

Conv2dShape conv2d_shape(const Shape& x, const Shape& w, int64_t stride, int64_t padding) {
    CBNN_CHECK(x.size() == 4, "conv2d: expected NCHW input (rank 4), got ", x);
    CBNN_CHECK(w.size() == 4, "conv2d: expected a (K, C, R, S) weight (rank 4), got ", w);
    CBNN_CHECK(x[1] == w[1], "conv2d: input has ", x[1], " channels, weight expects ", w[1],
               " (input ", x, ", weight ", w, ")");
    CBNN_CHECK(x[0] >= 0 && x[1] > 0 && x[2] > 0 && x[3] > 0, "conv2d: input ", x,
               " has an empty dimension");
    CBNN_CHECK(w[0] > 0 && w[2] > 0 && w[3] > 0, "conv2d: weight ", w, " has an empty dimension");
    CBNN_CHECK(stride >= 1, "conv2d: stride must be >= 1, got ", stride);
    CBNN_CHECK(padding >= 0, "conv2d: padding must be >= 0, got ", padding);
    CBNN_CHECK(x[2] + 2 * padding >= w[2] && x[3] + 2 * padding >= w[3], "conv2d: input ", x,
               " with padding ", padding, " is smaller than the kernel ", w);
    const int64_t P = (x[2] + 2 * padding - w[2]) / stride + 1;
    const int64_t Q = (x[3] + 2 * padding - w[3]) / stride + 1;
    return {x[0], x[1], x[2], x[3], w[0], w[2], w[3], stride, padding, P, Q};
}

namespace cpu {

// ---- direct loops: the specification -------------------------------------------------------

template <class T>
void conv2d_forward(const T* x, const T* w, const T* b, T* y, const Conv2dShape& s) {
    for (int64_t n = 0; n < s.N; ++n)
        for (int64_t k = 0; k < s.K; ++k)
            for (int64_t p = 0; p < s.P; ++p)
                for (int64_t q = 0; q < s.Q; ++q) {
                    T acc = b ? b[k] : T(0);
                    for (int64_t c = 0; c < s.C; ++c)
                        for (int64_t r = 0; r < s.R; ++r) {
                            const int64_t h = p * s.stride + r - s.pad;
                            if (h < 0 || h >= s.H) continue;
                            for (int64_t t = 0; t < s.S; ++t) {
                                const int64_t v = q * s.stride + t - s.pad;
                                if (v < 0 || v >= s.W) continue;
                                acc += w[((k * s.C + c) * s.R + r) * s.S + t] *
                                       x[((n * s.C + c) * s.H + h) * s.W + v];
                            }
                        }
                    y[((n * s.K + k) * s.P + p) * s.Q + q] = acc;
                }
}

// Gathers, for every input pixel, the outputs whose window covers it: p*stride + r - pad = h.
template <class T>
void conv2d_backward_data(const T* dy, const T* w, T* dx, const Conv2dShape& s) {
    for (int64_t n = 0; n < s.N; ++n)
        for (int64_t c = 0; c < s.C; ++c)
            for (int64_t h = 0; h < s.H; ++h)
                for (int64_t v = 0; v < s.W; ++v) {
                    T acc = T(0);
                    for (int64_t k = 0; k < s.K; ++k)
                        for (int64_t r = 0; r < s.R; ++r) {
                            const int64_t ph = h + s.pad - r;
                            if (ph < 0 || ph % s.stride != 0 || ph / s.stride >= s.P) continue;
                            const int64_t p = ph / s.stride;
                            for (int64_t t = 0; t < s.S; ++t) {
                                const int64_t qv = v + s.pad - t;
                                if (qv < 0 || qv % s.stride != 0 || qv / s.stride >= s.Q) continue;
                                const int64_t q = qv / s.stride;
                                acc += dy[((n * s.K + k) * s.P + p) * s.Q + q] *
                                       w[((k * s.C + c) * s.R + r) * s.S + t];
                            }
                        }
                    dx[((n * s.C + c) * s.H + h) * s.W + v] = acc;
                }
}

template <class T>
void conv2d_backward_filter(const T* x, const T* dy, T* dw, const Conv2dShape& s) {
    for (int64_t k = 0; k < s.K; ++k)
        for (int64_t c = 0; c < s.C; ++c)
            for (int64_t r = 0; r < s.R; ++r)
                for (int64_t t = 0; t < s.S; ++t) {
                    T acc = T(0);
                    for (int64_t n = 0; n < s.N; ++n)
                        for (int64_t p = 0; p < s.P; ++p) {
                            const int64_t h = p * s.stride + r - s.pad;
                            if (h < 0 || h >= s.H) continue;
                            for (int64_t q = 0; q < s.Q; ++q) {
                                const int64_t v = q * s.stride + t - s.pad;
                                if (v < 0 || v >= s.W) continue;
                                acc += dy[((n * s.K + k) * s.P + p) * s.Q + q] *
                                       x[((n * s.C + c) * s.H + h) * s.W + v];
                            }
                        }
                    dw[((k * s.C + c) * s.R + r) * s.S + t] = acc;
                }
}

template <class T>
void conv2d_backward_bias(const T* dy, T* db, const Conv2dShape& s) {
    const int64_t PQ = s.P * s.Q;
    for (int64_t k = 0; k < s.K; ++k) {
        T acc = T(0);
        for (int64_t n = 0; n < s.N; ++n) {
            const T* plane = dy + (n * s.K + k) * PQ;
            for (int64_t i = 0; i < PQ; ++i) acc += plane[i];
        }
        db[k] = acc;
    }
}

// ---- im2col + gemm ---------------------------------------------------------------------------

namespace {

// One image's patches as a (C*R*S, P*Q) matrix: col[(c*R + r)*S + t][p*Q + q] = x[c, p*s + r -
// pad, q*s + t - pad] (0 in the padding). `transposed` writes the (P*Q, C*R*S) transpose instead,
// so that the filter gradient's gemm reads both operands along rows.
template <class T>
void im2col(const T* x, T* col, const Conv2dShape& s, bool transposed) {
    const int64_t PQ = s.P * s.Q, CRS = s.C * s.R * s.S;
    for (int64_t c = 0; c < s.C; ++c)
        for (int64_t r = 0; r < s.R; ++r)
            for (int64_t t = 0; t < s.S; ++t) {
                const int64_t row = (c * s.R + r) * s.S + t;
                for (int64_t p = 0; p < s.P; ++p) {
                    const int64_t h = p * s.stride + r - s.pad;
                    for (int64_t q = 0; q < s.Q; ++q) {
                        const int64_t v = q * s.stride + t - s.pad;
                        const bool inside = h >= 0 && h < s.H && v >= 0 && v < s.W;
                        const int64_t pq = p * s.Q + q;
                        col[transposed ? pq * CRS + row : row * PQ + pq] =
                            inside ? x[(c * s.H + h) * s.W + v] : T(0);
                    }
                }
            }
}

// The adjoint of im2col: dx[c, h, v] = sum of the col entries that im2col copied from (c, h, v).
template <class T>
void col2im(const T* col, T* dx, const Conv2dShape& s) {
    const int64_t PQ = s.P * s.Q;
    std::fill(dx, dx + s.C * s.H * s.W, T(0));
    for (int64_t c = 0; c < s.C; ++c)
        for (int64_t r = 0; r < s.R; ++r)
            for (int64_t t = 0; t < s.S; ++t) {
                const T* row = col + ((c * s.R + r) * s.S + t) * PQ;
                for (int64_t p = 0; p < s.P; ++p) {
                    const int64_t h = p * s.stride + r - s.pad;
                    if (h < 0 || h >= s.H) continue;
                    for (int64_t q = 0; q < s.Q; ++q) {
                        const int64_t v = q * s.stride + t - s.pad;
                        if (v >= 0 && v < s.W) dx[(c * s.H + h) * s.W + v] += row[p * s.Q + q];
                    }
                }
            }
}

// A 1x1, stride 1, unpadded convolution's column matrix is the image itself.
bool is_pointwise(const Conv2dShape& s) {
    return s.R == 1 && s.S == 1 && s.stride == 1 && s.pad == 0;
}

}  // namespace

template <class T>
void conv2d_forward_im2col(const T* x, const T* w, const T* b, T* y, const Conv2dShape& s) {
    const int64_t PQ = s.P * s.Q, CRS = s.C * s.R * s.S;
    const bool pointwise = is_pointwise(s);
    std::vector<T> col(pointwise ? 0 : static_cast<size_t>(CRS * PQ));
    for (int64_t n = 0; n < s.N; ++n) {
        const T* xn = x + n * s.C * s.H * s.W;
        if (!pointwise) im2col(xn, col.data(), s, false);
        T* yn = y + n * s.K * PQ;
        // y_n (K, PQ) = w (K, CRS) col (CRS, PQ)
        gemm_parallel<T>(false, false, s.K, PQ, CRS, T(1), w, CRS, pointwise ? xn : col.data(), PQ,
                         T(0), yn, PQ);
        if (b)
            for (int64_t k = 0; k < s.K; ++k)
                for (int64_t i = 0; i < PQ; ++i) yn[k * PQ + i] += b[k];
    }
}

template <class T>
void conv2d_backward_data_im2col(const T* dy, const T* w, T* dx, const Conv2dShape& s) {
    const int64_t PQ = s.P * s.Q, CRS = s.C * s.R * s.S;
    const bool pointwise = is_pointwise(s);
    std::vector<T> dcol(pointwise ? 0 : static_cast<size_t>(CRS * PQ));
    for (int64_t n = 0; n < s.N; ++n) {
        T* dxn = dx + n * s.C * s.H * s.W;
        // dcol (CRS, PQ) = w^T (CRS, K) dy_n (K, PQ)
        gemm_parallel<T>(true, false, CRS, PQ, s.K, T(1), w, CRS, dy + n * s.K * PQ, PQ, T(0),
                         pointwise ? dxn : dcol.data(), PQ);
        if (!pointwise) col2im(dcol.data(), dxn, s);
    }
}

template <class T>
void conv2d_backward_filter_im2col(const T* x, const T* dy, T* dw, const Conv2dShape& s) {
    const int64_t PQ = s.P * s.Q, CRS = s.C * s.R * s.S;
    std::vector<T> col_t(static_cast<size_t>(CRS * PQ));
    if (s.N == 0) std::fill(dw, dw + s.K * CRS, T(0));
    for (int64_t n = 0; n < s.N; ++n) {
        im2col(x + n * s.C * s.H * s.W, col_t.data(), s, true);
        // dw (K, CRS) (+)= dy_n (K, PQ) col_n^T (PQ, CRS)
        gemm_parallel<T>(false, false, s.K, CRS, PQ, T(1), dy + n * s.K * PQ, PQ, col_t.data(), CRS,
                         n == 0 ? T(0) : T(1), dw, CRS);
    }
}

#define CBNN_CONV2D_INSTANTIATE(T)                                                                \
    template void conv2d_forward<T>(const T*, const T*, const T*, T*, const Conv2dShape&);        \
    template void conv2d_backward_data<T>(const T*, const T*, T*, const Conv2dShape&);            \
    template void conv2d_backward_filter<T>(const T*, const T*, T*, const Conv2dShape&);          \
    template void conv2d_backward_bias<T>(const T*, T*, const Conv2dShape&);                      \
    template void conv2d_forward_im2col<T>(const T*, const T*, const T*, T*, const Conv2dShape&); \
    template void conv2d_backward_data_im2col<T>(const T*, const T*, T*, const Conv2dShape&);     \
    template void conv2d_backward_filter_im2col<T>(const T*, const T*, T*, const Conv2dShape&);
CBNN_CONV2D_INSTANTIATE(float)
CBNN_CONV2D_INSTANTIATE(double)
#undef CBNN_CONV2D_INSTANTIATE

}  // namespace cpu

namespace ops {

namespace {

// The checks shared by every conv2d op function on its tensor operands: defined, same floating
// dtype, same device, f32 or bf16 on CUDA.
void check_operands(const char* op, std::initializer_list<std::pair<const char*, Tensor>> ts) {
    const auto& [first_name, first] = *ts.begin();
    for (const auto& [name, t] : ts) {
        CBNN_CHECK(t.defined(), op, ": ", name, " is an undefined tensor");
        CBNN_CHECK(is_floating(t.dtype()), op,
                   ": expected floating tensors (f32, f64 or bf16), got ", name, " ",
                   t.description());
        CBNN_CHECK(t.dtype() == first.dtype(), op, ": dtypes differ: ", first_name, " ",
                   first.description(), ", ", name, " ", t.description());
        CBNN_CHECK(t.device() == first.device(), op,
                   ": tensors are on different devices: ", first_name, " ", first.description(),
                   ", ", name, " ", t.description());
        check_cuda_float_or_bf16(t, op);
    }
}

// bf16 on the CPU: the f32 kernels on the widened values, each output rounded once to bf16 (what
// cuDNN computes too: exact bf16 products, FP32 accumulation, one rounding). Not fast: the CPU
// path exists for references and tests.
bool bf16_on_cpu(const Tensor& t) { return t.dtype() == DType::bf16 && !t.is_cuda(); }
Tensor widened(const Tensor& t) { return t.defined() ? cast(t, DType::f32) : Tensor(); }

constexpr MemoryFormat kChannelsLast = MemoryFormat::channels_last;

void check_dy(const Tensor& dy, const Conv2dShape& s, const char* op) {
    const Shape expected{s.N, s.K, s.P, s.Q};
    CBNN_CHECK(dy.shape() == expected, op, ": dy has shape ", dy.shape(), ", expected ", expected);
}

}  // namespace

Tensor conv2d_forward(const Tensor& x_in, const Tensor& w_in, const Tensor& b_in, int64_t stride,
                      int64_t padding) {
    check_operands("conv2d", {{"input", x_in}, {"weight", w_in}});
    Conv2dShape s = conv2d_shape(x_in.shape(), w_in.shape(), stride, padding);
    if (b_in.defined()) {
        check_operands("conv2d", {{"input", x_in}, {"bias", b_in}});
        CBNN_CHECK(b_in.shape() == Shape{s.K}, "conv2d: bias has shape ", b_in.shape(),
                   ", expected [", s.K, "] (one per output channel of weight ", w_in.shape(), ")");
    }
    if (channels_last_on_cpu(x_in)) {
        return dense(conv2d_forward(dense(x_in), w_in, b_in, stride, padding), kChannelsLast);
    }
    if (bf16_on_cpu(x_in)) {
        return cast(conv2d_forward(widened(x_in), widened(w_in), widened(b_in), stride, padding),
                    DType::bf16);
    }
    const MemoryFormat format = x_in.memory_format();
    const Tensor x = dense(x_in, format), w = dense(w_in, format);
    const Tensor b = b_in.defined() ? dense(b_in) : Tensor();
    Tensor y = Tensor::empty({s.N, s.K, s.P, s.Q}, x.dtype(), x.device(), format);
    if (y.numel() == 0) return y;
    s.channels_last = format == kChannelsLast;
    if (x.is_cuda()) {
        CBNN_ON_CUDA(dispatch_cuda_float_bf16(x.dtype(), "conv2d", [&]<class T>() {
            const T* bias = b.defined() ? b.data<T>() : nullptr;
            if (conv2d_igemm_applies(s, x.dtype(), {x.raw_data(), w.raw_data(), y.raw_data()})) {
                cuda::igemm_conv2d_forward(x.data<T>(), w.data<T>(), bias, y.data<T>(), s);
            } else {
                cuda::conv2d_forward(x.data<T>(), w.data<T>(), bias, y.data<T>(), s);
            }
        }));
    } else {
        dispatch_floating(x.dtype(), "conv2d", [&]<class T>() {
            cpu::conv2d_forward_im2col<T>(x.data<T>(), w.data<T>(),
                                          b.defined() ? b.data<T>() : nullptr, y.data<T>(), s);
        });
    }
    return y;
}

Tensor conv2d_backward_data(const Tensor& dy_in, const Tensor& w_in, const Shape& x_shape,
                            int64_t stride, int64_t padding) {
    const char* op = "conv2d backward data";
    check_operands(op, {{"dy", dy_in}, {"weight", w_in}});
    Conv2dShape s = conv2d_shape(x_shape, w_in.shape(), stride, padding);
    check_dy(dy_in, s, op);
    if (channels_last_on_cpu(dy_in)) {
        return dense(conv2d_backward_data(dense(dy_in), w_in, x_shape, stride, padding),
                     kChannelsLast);
    }
    if (bf16_on_cpu(dy_in)) {
        return cast(conv2d_backward_data(widened(dy_in), widened(w_in), x_shape, stride, padding),
                    DType::bf16);
    }
    const MemoryFormat format = dy_in.memory_format();
    const Tensor dy = dense(dy_in, format), w = dense(w_in, format);
    Tensor dx = Tensor::empty(x_shape, dy.dtype(), dy.device(), format);
    if (dx.numel() == 0) return dx;
    s.channels_last = format == kChannelsLast;
    if (dy.is_cuda()) {
        CBNN_ON_CUDA(dispatch_cuda_float_bf16(dy.dtype(), op, [&]<class T>() {
            if (conv2d_igemm_applies(s, dy.dtype(), {dy.raw_data(), w.raw_data(), dx.raw_data()})) {
                cuda::igemm_conv2d_backward_data(dy.data<T>(), w.data<T>(), dx.data<T>(), s);
            } else {
                cuda::conv2d_backward_data(dy.data<T>(), w.data<T>(), dx.data<T>(), s);
            }
        }));
    } else {
        dispatch_floating(dy.dtype(), op, [&]<class T>() {
            cpu::conv2d_backward_data_im2col<T>(dy.data<T>(), w.data<T>(), dx.data<T>(), s);
        });
    }
    return dx;
}

Tensor conv2d_backward_filter(const Tensor& x_in, const Tensor& dy_in, const Shape& w_shape,
                              int64_t stride, int64_t padding) {
    const char* op = "conv2d backward filter";
    check_operands(op, {{"input", x_in}, {"dy", dy_in}});
    Conv2dShape s = conv2d_shape(x_in.shape(), w_shape, stride, padding);
    check_dy(dy_in, s, op);
    if (channels_last_on_cpu(x_in)) {
        return dense(conv2d_backward_filter(dense(x_in), dense(dy_in), w_shape, stride, padding),
                     kChannelsLast);
    }
    if (bf16_on_cpu(x_in)) {
        return cast(conv2d_backward_filter(widened(x_in), widened(dy_in), w_shape, stride, padding),
                    DType::bf16);
    }
    const MemoryFormat format = x_in.memory_format();
    const Tensor x = dense(x_in, format), dy = dense(dy_in, format);
    Tensor dw = Tensor::empty(w_shape, x.dtype(), x.device(), format);
    if (s.N == 0) return dw.zero_();
    s.channels_last = format == kChannelsLast;
    if (x.is_cuda()) {
        CBNN_ON_CUDA(dispatch_cuda_float_bf16(x.dtype(), op, [&]<class T>() {
            if (conv2d_igemm_applies(s, x.dtype(), {x.raw_data(), dy.raw_data(), dw.raw_data()})) {
                const int64_t floats =
                    igemm_filter_plan(s, cuda::igemm_sm_count()).workspace_floats;
                const Tensor partial_sums = Tensor::empty({floats}, DType::f32, x.device());
                cuda::igemm_conv2d_backward_filter(x.data<T>(), dy.data<T>(), dw.data<T>(),
                                                   partial_sums.data<float>(), s);
            } else {
                cuda::conv2d_backward_filter(x.data<T>(), dy.data<T>(), dw.data<T>(), s);
            }
        }));
    } else {
        dispatch_floating(x.dtype(), op, [&]<class T>() {
            cpu::conv2d_backward_filter_im2col<T>(x.data<T>(), dy.data<T>(), dw.data<T>(), s);
        });
    }
    return dw;
}

Tensor conv2d_backward_bias(const Tensor& dy_in) {
    const char* op = "conv2d backward bias";
    check_operands(op, {{"dy", dy_in}});
    CBNN_CHECK(dy_in.dim() == 4, op, ": expected dy of rank 4 (N, K, P, Q), got ", dy_in.shape());
    // cuDNN 9.19 refuses cudnnConvolutionBackwardBias for bf16 (CUDNN_STATUS_NOT_SUPPORTED, seen
    // on an H100): bf16 sums in f32 through the reduction ops on either device, then one rounding,
    // as the widened CPU kernels do.
    if (dy_in.dtype() == DType::bf16) return cast(ops::channel_sum(dy_in), DType::bf16);
    if (channels_last_on_cpu(dy_in)) return conv2d_backward_bias(dense(dy_in));
    const MemoryFormat format = dy_in.memory_format();
    const Tensor dy = dense(dy_in, format);
    // Only N, K, P, Q and the layout are read by the bias kernels.
    const Conv2dShape s{dy.size(0), 0, 0, 0,          dy.size(1), 0,
                        0,          1, 0, dy.size(2), dy.size(3), format == kChannelsLast};
    Tensor db = Tensor::empty({s.K}, dy.dtype(), dy.device());
    if (dy.numel() == 0) return db.zero_();
    if (dy.is_cuda()) {
        CBNN_ON_CUDA(cuda::conv2d_backward_bias(dy.data<float>(), db.data<float>(), s));
    } else {
        dispatch_floating(dy.dtype(), op, [&]<class T>() {
            cpu::conv2d_backward_bias<T>(dy.data<T>(), db.data<T>(), s);
        });
    }
    return db;
}

}  // namespace ops

// ---- autograd ----------------------------------------------------------------------------------

namespace {

class Conv2dNode : public autograd::Node {
  public:
    // dx reads w and dw reads x: keep only what a wanted gradient needs.
    Conv2dNode(const Tensor& x, const Tensor& w, int64_t stride, int64_t padding)
        : x_shape_(x.shape()), w_shape_(w.shape()), stride_(stride), padding_(padding) {
        if (w.requires_grad()) x_ = autograd::SavedTensor(x, "x");
        if (x.requires_grad()) w_ = autograd::SavedTensor(w, "weight");
    }
    const char* name() const override { return "conv2d"; }
    std::vector<Tensor> apply(std::vector<Tensor> grads) override {
        const Tensor& dy = grads[0];
        Tensor dx, dw, db;
        if (needs_input_grad(0))
            dx = ops::conv2d_backward_data(dy, w_.unpack(name()), x_shape_, stride_, padding_);
        if (needs_input_grad(1))
            dw = ops::conv2d_backward_filter(x_.unpack(name()), dy, w_shape_, stride_, padding_);
        if (needs_input_grad(2)) db = ops::conv2d_backward_bias(dy);
        return {dx, dw, db};
    }
    void release_saved() override {
        x_.release();
        w_.release();
    }

  private:
    autograd::SavedTensor x_, w_;
    Shape x_shape_, w_shape_;
    int64_t stride_, padding_;
};

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride,
              int64_t padding) {
    Tensor y = ops::conv2d_forward(x, weight, bias, stride, padding);
    if (autograd::any_requires_grad({x, weight, bias})) {
        autograd::connect(std::make_shared<Conv2dNode>(x, weight, stride, padding),
                          {x, weight, bias}, {&y});
    }
    return y;
}

// ---- module ------------------------------------------------------------------------------------

Conv2d::Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size, int64_t stride,
               int64_t padding, bool bias, Generator& gen, DType dtype)
    : stride_(stride), padding_(padding) {
    CBNN_CHECK(in_channels > 0 && out_channels > 0 && kernel_size > 0,
               "Conv2d: in_channels, out_channels and kernel_size must be positive, got ",
               in_channels, ", ", out_channels, ", ", kernel_size);
    CBNN_CHECK(stride > 0, "Conv2d: stride must be positive, got ", stride);
    CBNN_CHECK(padding >= 0, "Conv2d: padding must be >= 0, got ", padding);
    CBNN_CHECK(is_floating(dtype), "Conv2d: parameters must be floating, got dtype ", dtype);
    Tensor weight = Tensor::empty({out_channels, in_channels, kernel_size, kernel_size}, dtype);
    glorot_uniform_(weight, gen);
    weight_ = register_parameter("weight", weight);
    if (bias) bias_ = register_parameter("bias", Tensor::zeros({out_channels}, dtype));
}

Tensor Conv2d::forward(const Tensor& x) {
    // The weight enters the convolution in x's compute dtype and, on CUDA, x's memory format,
    // made by one differentiable copy (Tensor::to(dtype, format)):
    // - mixed precision: a bf16 input convolves with a bf16 copy of the f32 parameters (the
    //   master weights), whose gradient the copy's backward casts back to f32;
    // - channels-last: cuDNN reads the weight as KRSC. Made here, the KRSC copy is what the
    //   graph saves for the data gradient, and the filter gradient (KRSC, like x) goes back to
    //   KCRS inside the same backward copy: one transpose each way per step instead of one per
    //   kernel call (the CPU kernels read KCRS, so the weight stays KCRS there).
    // With conv_channel_multiple() > 1, a narrow input and the weight gain zero channels first.
    const DType dtype = x.dtype() == DType::bf16 ? DType::bf16 : weight_.dtype();
    const MemoryFormat format = x.is_cuda() ? x.memory_format() : MemoryFormat::contiguous;
    const Tensor bias = bias_.defined() ? bias_.to(dtype) : Tensor();
    const int64_t multiple = conv_channel_multiple(), channels = weight_.shape()[1];
    if (multiple > 1 && channels % multiple != 0 && x.dim() == 4 && x.shape()[1] == channels) {
        const int64_t extra = multiple - channels % multiple;
        return conv2d(pad_channels(x, 0, extra), pad_channels(weight_, 0, extra).to(dtype, format),
                      bias, stride_, padding_);
    }
    return conv2d(x, weight_.to(dtype, format), bias, stride_, padding_);
}

}  // namespace cbnn
