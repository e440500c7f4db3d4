// Max / average pooling: CPU references, op functions, autograd nodes and modules (math and layout
// in layers/pooling.h; CUDA kernels in layers/pooling_cuda.cu).
#include "layers/pooling.h"

#include <memory>
#include <vector>

#include "autograd/functions.h"
#include "autograd/node.h"
#include "tensor/copy.h"
#include "tensor/dispatch.h"
#include "tensor/reduce_math.h"

namespace cbnn {

void check_pool2d_hyperparameters(int64_t kernel, int64_t stride, int64_t padding,
                                  const std::string& who) {
    CBNN_CHECK(kernel >= 1, who, ": kernel size must be >= 1, got ", kernel);
    CBNN_CHECK(stride >= 1, who, ": stride must be >= 1, got ", stride);
    CBNN_CHECK(padding >= 0 && padding <= kernel / 2, who,
               ": padding must be in [0, kernel/2] = [0, ", kernel / 2, "] for kernel ", kernel,
               ", got ", padding);
}

Pool2dGeometry pool2d_geometry(const Shape& x_shape, int64_t kernel, int64_t stride,
                               int64_t padding, const char* op) {
    check_pool2d_hyperparameters(kernel, stride, padding, op);
    CBNN_CHECK(x_shape.size() == 4, op, ": expected an NCHW input (4 dimensions), got shape ",
               x_shape);
    Pool2dGeometry g{x_shape[0], x_shape[1], x_shape[2], x_shape[3], kernel, stride, padding, 0, 0};
    CBNN_CHECK(g.H + 2 * padding >= kernel && g.W + 2 * padding >= kernel, op, ": input ", x_shape,
               " is too small for kernel ", kernel, " with padding ", padding,
               " (needs H + 2*padding >= kernel and W + 2*padding >= kernel)");
    g.OH = (g.H + 2 * padding - kernel) / stride + 1;
    g.OW = (g.W + 2 * padding - kernel) / stride + 1;
    return g;
}

namespace cpu {

// T: f32, f64 or bf16. Values are compared, summed and divided in F = compute_t<T> (double for
// the average's sum) and each output is stored once as T; for bf16 that is the f32 result rounded
// once, so bf16 pooling is bitwise the f32 pooling of the same values, rounded (max pooling only
// moves values and is exact). The backward scatters into an F buffer for the same reason.

template <class T>
void max_pool2d_forward(const T* x, T* y, int64_t* argmax, const Pool2dGeometry& g) {
    using F = compute_t<T>;
    for (int64_t plane = 0; plane < g.N * g.C; ++plane) {
        const T* xp = x + plane * g.H * g.W;
        for (int64_t oh = 0; oh < g.OH; ++oh) {
            for (int64_t ow = 0; ow < g.OW; ++ow) {
                int64_t h0, h1, w0, w1;
                pool2d_window(oh, g.kernel, g.stride, g.padding, g.H, h0, h1);
                pool2d_window(ow, g.kernel, g.stride, g.padding, g.W, w0, w1);
                F best = convert<F>(xp[h0 * g.W + w0]);
                int64_t best_i = h0 * g.W + w0;
                for (int64_t h = h0; h < h1; ++h) {
                    for (int64_t w = w0; w < w1; ++w) {
                        const int64_t i = h * g.W + w;
                        const F v = convert<F>(xp[i]);
                        if (max_prefers(v, i, best, best_i)) {
                            best = v;
                            best_i = i;
                        }
                    }
                }
                const int64_t o = (plane * g.OH + oh) * g.OW + ow;
                y[o] = convert<T>(best);
                argmax[o] = best_i;
            }
        }
    }
}

template <class T>
void max_pool2d_backward(const T* dy, const int64_t* argmax, T* dx, const Pool2dGeometry& g) {
    using F = compute_t<T>;
    std::vector<F> acc(static_cast<size_t>(g.N * g.C * g.H * g.W), F(0));
    for (int64_t plane = 0; plane < g.N * g.C; ++plane) {
        for (int64_t o = plane * g.OH * g.OW; o < (plane + 1) * g.OH * g.OW; ++o) {
            CBNN_CHECK(argmax[o] >= 0 && argmax[o] < g.H * g.W, "max_pool2d_backward: argmax ",
                       argmax[o], " at output ", o, " is outside the ", g.H, "x", g.W,
                       " input plane");
            acc[static_cast<size_t>(plane * g.H * g.W + argmax[o])] += convert<F>(dy[o]);
        }
    }
    for (size_t i = 0; i < acc.size(); ++i) dx[i] = convert<T>(acc[i]);
}

template <class T>
void avg_pool2d_forward(const T* x, T* y, const Pool2dGeometry& g, bool count_include_pad) {
    for (int64_t plane = 0; plane < g.N * g.C; ++plane) {
        const T* xp = x + plane * g.H * g.W;
        for (int64_t oh = 0; oh < g.OH; ++oh) {
            for (int64_t ow = 0; ow < g.OW; ++ow) {
                int64_t h0, h1, w0, w1;
                pool2d_window(oh, g.kernel, g.stride, g.padding, g.H, h0, h1);
                pool2d_window(ow, g.kernel, g.stride, g.padding, g.W, w0, w1);
                double acc = 0.0;
                for (int64_t h = h0; h < h1; ++h)
                    for (int64_t w = w0; w < w1; ++w) acc += convert<double>(xp[h * g.W + w]);
                const int64_t d = avg_pool2d_divisor(g, oh, ow, count_include_pad);
                y[(plane * g.OH + oh) * g.OW + ow] =
                    convert<T>(static_cast<compute_t<T>>(acc / static_cast<double>(d)));
            }
        }
    }
}

template <class T>
void avg_pool2d_backward(const T* dy, T* dx, const Pool2dGeometry& g, bool count_include_pad) {
    using F = compute_t<T>;
    std::vector<F> acc(static_cast<size_t>(g.N * g.C * g.H * g.W), F(0));
    for (int64_t plane = 0; plane < g.N * g.C; ++plane) {
        F* dxp = acc.data() + plane * g.H * g.W;
        for (int64_t oh = 0; oh < g.OH; ++oh) {
            for (int64_t ow = 0; ow < g.OW; ++ow) {
                int64_t h0, h1, w0, w1;
                pool2d_window(oh, g.kernel, g.stride, g.padding, g.H, h0, h1);
                pool2d_window(ow, g.kernel, g.stride, g.padding, g.W, w0, w1);
                const F share = convert<F>(dy[(plane * g.OH + oh) * g.OW + ow]) /
                                static_cast<F>(avg_pool2d_divisor(g, oh, ow, count_include_pad));
                for (int64_t h = h0; h < h1; ++h)
                    for (int64_t w = w0; w < w1; ++w) dxp[h * g.W + w] += share;
            }
        }
    }
    for (size_t i = 0; i < acc.size(); ++i) dx[i] = convert<T>(acc[i]);
}

#define CBNN_INSTANTIATE_POOL2D(T)                                                             \
    template void max_pool2d_forward<T>(const T*, T*, int64_t*, const Pool2dGeometry&);        \
    template void max_pool2d_backward<T>(const T*, const int64_t*, T*, const Pool2dGeometry&); \
    template void avg_pool2d_forward<T>(const T*, T*, const Pool2dGeometry&, bool);            \
    template void avg_pool2d_backward<T>(const T*, T*, const Pool2dGeometry&, bool);
CBNN_INSTANTIATE_POOL2D(float)
CBNN_INSTANTIATE_POOL2D(double)
CBNN_INSTANTIATE_POOL2D(bfloat16)
#undef CBNN_INSTANTIATE_POOL2D

}  // namespace cpu

namespace ops {

namespace {

constexpr MemoryFormat kChannelsLast = MemoryFormat::channels_last;

void check_input(const Tensor& x, const char* op) {
    check_defined(x, op);
    CBNN_CHECK(is_floating(x.dtype()), op, ": expected an f32, f64 or bf16 input, got ",
               x.description());
    check_cuda_float_or_bf16(x, op);
}

// dy must have the output shape of pooling x_shape, and x's dtype.
void check_dy(const Tensor& dy, const Pool2dGeometry& g, const char* op) {
    check_input(dy, op);
    const Shape expected{g.N, g.C, g.OH, g.OW};
    CBNN_CHECK(dy.shape() == expected, op, ": expected dy of shape ", expected, ", got ",
               dy.description());
}

}  // namespace

MaxPool2dResult max_pool2d(const Tensor& x_in, int64_t kernel, int64_t stride, int64_t padding) {
    constexpr const char* op = "max_pool2d";
    check_input(x_in, op);
    Pool2dGeometry g = pool2d_geometry(x_in.shape(), kernel, stride, padding, op);
    if (channels_last_on_cpu(x_in)) {
        MaxPool2dResult r = ops::max_pool2d(dense(x_in), kernel, stride, padding);
        return {dense(r.values, kChannelsLast), dense(r.indices, kChannelsLast)};
    }
    const MemoryFormat format = x_in.memory_format();
    g.channels_last = format == kChannelsLast;
    const Tensor x = dense(x_in, format);
    MaxPool2dResult r;
    r.values = Tensor::empty({g.N, g.C, g.OH, g.OW}, x.dtype(), x.device(), format);
    r.indices = Tensor::empty({g.N, g.C, g.OH, g.OW}, DType::i64, x.device(), format);
    if (x.is_cuda()) {
        CBNN_ON_CUDA(dispatch_cuda_float_bf16(x.dtype(), op, [&]<class A>() {
            cuda::max_pool2d_forward(x.data<A>(), r.values.data<A>(), r.indices.data<int64_t>(), g);
        }));
    } else {
        dispatch_floating_bf16(x.dtype(), op, [&]<class T>() {
            cpu::max_pool2d_forward<T>(x.data<T>(), r.values.data<T>(), r.indices.data<int64_t>(),
                                       g);
        });
    }
    return r;
}

Tensor max_pool2d_backward(const Tensor& dy_in, const Tensor& argmax_in, const Shape& x_shape,
                           int64_t kernel, int64_t stride, int64_t padding) {
    constexpr const char* op = "max_pool2d_backward";
    Pool2dGeometry g = pool2d_geometry(x_shape, kernel, stride, padding, op);
    check_dy(dy_in, g, op);
    check_dtype(argmax_in, DType::i64, op, "argmax");
    CBNN_CHECK(argmax_in.shape() == dy_in.shape(), op, ": argmax ", argmax_in.description(),
               " and dy ", dy_in.description(), " differ in shape");
    check_same_device(dy_in, argmax_in, op);
    if (channels_last_on_cpu(dy_in)) {
        return dense(
            max_pool2d_backward(dense(dy_in), dense(argmax_in), x_shape, kernel, stride, padding),
            kChannelsLast);
    }
    const MemoryFormat format = dy_in.memory_format();
    g.channels_last = format == kChannelsLast;
    const Tensor dy = dense(dy_in, format), argmax = dense(argmax_in, format);
    Tensor dx = Tensor::empty(x_shape, dy.dtype(), dy.device(), format);
    if (dy.is_cuda()) {
        CBNN_ON_CUDA(dispatch_cuda_float_bf16(dy.dtype(), op, [&]<class A>() {
            cuda::max_pool2d_backward(dy.data<A>(), argmax.data<int64_t>(), dx.data<A>(), g);
        }));
    } else {
        dispatch_floating_bf16(dy.dtype(), op, [&]<class T>() {
            cpu::max_pool2d_backward<T>(dy.data<T>(), argmax.data<int64_t>(), dx.data<T>(), g);
        });
    }
    return dx;
}

Tensor avg_pool2d(const Tensor& x_in, int64_t kernel, int64_t stride, int64_t padding,
                  bool count_include_pad) {
    constexpr const char* op = "avg_pool2d";
    check_input(x_in, op);
    Pool2dGeometry g = pool2d_geometry(x_in.shape(), kernel, stride, padding, op);
    if (channels_last_on_cpu(x_in)) {
        return dense(ops::avg_pool2d(dense(x_in), kernel, stride, padding, count_include_pad),
                     kChannelsLast);
    }
    const MemoryFormat format = x_in.memory_format();
    g.channels_last = format == kChannelsLast;
    const Tensor x = dense(x_in, format);
    Tensor y = Tensor::empty({g.N, g.C, g.OH, g.OW}, x.dtype(), x.device(), format);
    if (x.is_cuda()) {
        CBNN_ON_CUDA(dispatch_cuda_float_bf16(x.dtype(), op, [&]<class A>() {
            cuda::avg_pool2d_forward(x.data<A>(), y.data<A>(), g, count_include_pad);
        }));
    } else {
        dispatch_floating_bf16(x.dtype(), op, [&]<class T>() {
            cpu::avg_pool2d_forward<T>(x.data<T>(), y.data<T>(), g, count_include_pad);
        });
    }
    return y;
}

Tensor avg_pool2d_backward(const Tensor& dy_in, const Shape& x_shape, int64_t kernel,
                           int64_t stride, int64_t padding, bool count_include_pad) {
    constexpr const char* op = "avg_pool2d_backward";
    Pool2dGeometry g = pool2d_geometry(x_shape, kernel, stride, padding, op);
    check_dy(dy_in, g, op);
    if (channels_last_on_cpu(dy_in)) {
        return dense(
            avg_pool2d_backward(dense(dy_in), x_shape, kernel, stride, padding, count_include_pad),
            kChannelsLast);
    }
    const MemoryFormat format = dy_in.memory_format();
    g.channels_last = format == kChannelsLast;
    const Tensor dy = dense(dy_in, format);
    Tensor dx = Tensor::empty(x_shape, dy.dtype(), dy.device(), format);
    if (dy.is_cuda()) {
        CBNN_ON_CUDA(dispatch_cuda_float_bf16(dy.dtype(), op, [&]<class A>() {
            cuda::avg_pool2d_backward(dy.data<A>(), dx.data<A>(), g, count_include_pad);
        }));
    } else {
        dispatch_floating_bf16(dy.dtype(), op, [&]<class T>() {
            cpu::avg_pool2d_backward<T>(dy.data<T>(), dx.data<T>(), g, count_include_pad);
        });
    }
    return dx;
}

}  // namespace ops

namespace {

class MaxPool2dNode : public autograd::Node {
  public:
    MaxPool2dNode(const Shape& x_shape, int64_t kernel, int64_t stride, int64_t padding,
                  const Tensor& argmax)
        : x_shape_(x_shape),
          kernel_(kernel),
          stride_(stride),
          padding_(padding),
          argmax_(argmax, "argmax") {}
    const char* name() const override { return "max_pool2d"; }
    std::vector<Tensor> apply(std::vector<Tensor> grads) override {
        if (!grads[0].defined()) return {Tensor()};
        return {ops::max_pool2d_backward(grads[0], argmax_.unpack(name()), x_shape_, kernel_,
                                         stride_, padding_)};
    }
    void release_saved() override { argmax_.release(); }

  private:
    Shape x_shape_;
    int64_t kernel_, stride_, padding_;
    autograd::SavedTensor argmax_;
};

class AvgPool2dNode : public autograd::Node {
  public:
    AvgPool2dNode(const Shape& x_shape, int64_t kernel, int64_t stride, int64_t padding,
                  bool count_include_pad)
        : x_shape_(x_shape),
          kernel_(kernel),
          stride_(stride),
          padding_(padding),
          count_include_pad_(count_include_pad) {}
    const char* name() const override { return "avg_pool2d"; }
    std::vector<Tensor> apply(std::vector<Tensor> grads) override {
        if (!grads[0].defined()) return {Tensor()};
        return {ops::avg_pool2d_backward(grads[0], x_shape_, kernel_, stride_, padding_,
                                         count_include_pad_)};
    }

  private:
    Shape x_shape_;
    int64_t kernel_, stride_, padding_;
    bool count_include_pad_;
};

}  // namespace

Tensor max_pool2d(const Tensor& x, int64_t kernel, int64_t stride, int64_t padding) {
    ops::MaxPool2dResult r = ops::max_pool2d(x, kernel, stride, padding);
    if (autograd::any_requires_grad({x})) {
        autograd::connect(
            std::make_shared<MaxPool2dNode>(x.shape(), kernel, stride, padding, r.indices), {x},
            {&r.values});
    }
    return r.values;
}

Tensor avg_pool2d(const Tensor& x, int64_t kernel, int64_t stride, int64_t padding,
                  bool count_include_pad) {
    Tensor y = ops::avg_pool2d(x, kernel, stride, padding, count_include_pad);
    if (autograd::any_requires_grad({x})) {
        autograd::connect(
            std::make_shared<AvgPool2dNode>(x.shape(), kernel, stride, padding, count_include_pad),
            {x}, {&y});
    }
    return y;
}

Tensor global_avg_pool2d(const Tensor& x) {
    constexpr const char* op = "global_avg_pool2d";
    check_defined(x, op);
    CBNN_CHECK(x.dim() == 4, op, ": expected an NCHW input (4 dimensions), got ", x.description());
    CBNN_CHECK(x.size(2) >= 1 && x.size(3) >= 1, op, ": expected a non-empty H x W plane, got ",
               x.description());
    // mean of bf16 returns f32 (accumulated in double on the CPU, float on CUDA); the
    // differentiable cast rounds it once, keeping x's dtype, and its backward hands mean's backward
    // an f32 gradient, which that turns into a bf16 dx with one rounding.
    const int64_t N = x.size(0), C = x.size(1), HW = x.size(2) * x.size(3);
    if (x.memory_format() == MemoryFormat::channels_last) {
        // (N, H, W, C) is a contiguous view of a channels-last x: average over its positions.
        return mean(x.transpose(1, 2).transpose(2, 3).reshape({N, HW, C}), 1).to(x.dtype());
    }
    return mean(x.reshape({N, C, HW}), 2).to(x.dtype());
}

MaxPool2d::MaxPool2d(int64_t kernel, int64_t stride, int64_t padding)
    : kernel_(kernel), stride_(stride), padding_(padding) {
    check_pool2d_hyperparameters(kernel, stride, padding, type_name());
}

Tensor MaxPool2d::forward(const Tensor& x) { return max_pool2d(x, kernel_, stride_, padding_); }

AvgPool2d::AvgPool2d(int64_t kernel, int64_t stride, int64_t padding, bool count_include_pad)
    : kernel_(kernel), stride_(stride), padding_(padding), count_include_pad_(count_include_pad) {
    check_pool2d_hyperparameters(kernel, stride, padding, type_name());
}

Tensor AvgPool2d::forward(const Tensor& x) {
    return avg_pool2d(x, kernel_, stride_, padding_, count_include_pad_);
}

}  // namespace cbnn
