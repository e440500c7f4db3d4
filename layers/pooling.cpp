// Max / average pooling: CPU references, op functions, autograd nodes and modules (math and layout
// in layers/pooling.h; CUDA kernels in layers/pooling_cuda.cu).
#include "layers/pooling.h"

#include <memory>

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

template <class T>
void max_pool2d_forward(const T* x, T* y, int64_t* argmax, const Pool2dGeometry& g) {
    for (int64_t plane = 0; plane < g.N * g.C; ++plane) {
        const T* xp = x + plane * g.H * g.W;
        for (int64_t oh = 0; oh < g.OH; ++oh) {
            for (int64_t ow = 0; ow < g.OW; ++ow) {
                int64_t h0, h1, w0, w1;
                pool2d_window(oh, g.kernel, g.stride, g.padding, g.H, h0, h1);
                pool2d_window(ow, g.kernel, g.stride, g.padding, g.W, w0, w1);
                T best = xp[h0 * g.W + w0];
                int64_t best_i = h0 * g.W + w0;
                for (int64_t h = h0; h < h1; ++h) {
                    for (int64_t w = w0; w < w1; ++w) {
                        const int64_t i = h * g.W + w;
                        if (max_prefers(xp[i], i, best, best_i)) {
                            best = xp[i];
                            best_i = i;
                        }
                    }
                }
                const int64_t o = (plane * g.OH + oh) * g.OW + ow;
                y[o] = best;
                argmax[o] = best_i;
            }
        }
    }
}

template <class T>
void max_pool2d_backward(const T* dy, const int64_t* argmax, T* dx, const Pool2dGeometry& g) {
    for (int64_t i = 0; i < g.N * g.C * g.H * g.W; ++i) dx[i] = T(0);
    for (int64_t plane = 0; plane < g.N * g.C; ++plane) {
        for (int64_t o = plane * g.OH * g.OW; o < (plane + 1) * g.OH * g.OW; ++o) {
            CBNN_CHECK(argmax[o] >= 0 && argmax[o] < g.H * g.W, "max_pool2d_backward: argmax ",
                       argmax[o], " at output ", o, " is outside the ", g.H, "x", g.W,
                       " input plane");
            dx[plane * g.H * g.W + argmax[o]] += dy[o];
        }
    }
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
                    for (int64_t w = w0; w < w1; ++w) acc += static_cast<double>(xp[h * g.W + w]);
                const int64_t d = avg_pool2d_divisor(g, oh, ow, count_include_pad);
                y[(plane * g.OH + oh) * g.OW + ow] = static_cast<T>(acc / static_cast<double>(d));
            }
        }
    }
}

template <class T>
void avg_pool2d_backward(const T* dy, T* dx, const Pool2dGeometry& g, bool count_include_pad) {
    for (int64_t i = 0; i < g.N * g.C * g.H * g.W; ++i) dx[i] = T(0);
    for (int64_t plane = 0; plane < g.N * g.C; ++plane) {
        T* dxp = dx + plane * g.H * g.W;
        for (int64_t oh = 0; oh < g.OH; ++oh) {
            for (int64_t ow = 0; ow < g.OW; ++ow) {
                int64_t h0, h1, w0, w1;
                pool2d_window(oh, g.kernel, g.stride, g.padding, g.H, h0, h1);
                pool2d_window(ow, g.kernel, g.stride, g.padding, g.W, w0, w1);
                const T share = dy[(plane * g.OH + oh) * g.OW + ow] /
                                static_cast<T>(avg_pool2d_divisor(g, oh, ow, count_include_pad));
                for (int64_t h = h0; h < h1; ++h)
                    for (int64_t w = w0; w < w1; ++w) dxp[h * g.W + w] += share;
            }
        }
    }
}

template void max_pool2d_forward<float>(const float*, float*, int64_t*, const Pool2dGeometry&);
template void max_pool2d_forward<double>(const double*, double*, int64_t*, const Pool2dGeometry&);
template void max_pool2d_backward<float>(const float*, const int64_t*, float*,
                                         const Pool2dGeometry&);
template void max_pool2d_backward<double>(const double*, const int64_t*, double*,
                                          const Pool2dGeometry&);
template void avg_pool2d_forward<float>(const float*, float*, const Pool2dGeometry&, bool);
template void avg_pool2d_forward<double>(const double*, double*, const Pool2dGeometry&, bool);
template void avg_pool2d_backward<float>(const float*, float*, const Pool2dGeometry&, bool);
template void avg_pool2d_backward<double>(const double*, double*, const Pool2dGeometry&, bool);

}  // namespace cpu

namespace ops {

namespace {

void check_input(const Tensor& x, const char* op) {
    check_defined(x, op);
    CBNN_CHECK(is_floating(x.dtype()), op, ": expected an f32 or f64 input, got ", x.description());
    check_cuda_float(x, op);
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
    const Pool2dGeometry g = pool2d_geometry(x_in.shape(), kernel, stride, padding, op);
    const Tensor x = dense(x_in);
    MaxPool2dResult r;
    r.values = Tensor::empty({g.N, g.C, g.OH, g.OW}, x.dtype(), x.device());
    r.indices = Tensor::empty({g.N, g.C, g.OH, g.OW}, DType::i64, x.device());
    if (x.is_cuda()) {
        CBNN_ON_CUDA(cuda::max_pool2d_forward(x.data<float>(), r.values.data<float>(),
                                              r.indices.data<int64_t>(), g));
    } else {
        dispatch_floating(x.dtype(), op, [&]<class T>() {
            cpu::max_pool2d_forward<T>(x.data<T>(), r.values.data<T>(), r.indices.data<int64_t>(),
                                       g);
        });
    }
    return r;
}

Tensor max_pool2d_backward(const Tensor& dy_in, const Tensor& argmax_in, const Shape& x_shape,
                           int64_t kernel, int64_t stride, int64_t padding) {
    constexpr const char* op = "max_pool2d_backward";
    const Pool2dGeometry g = pool2d_geometry(x_shape, kernel, stride, padding, op);
    check_dy(dy_in, g, op);
    check_dtype(argmax_in, DType::i64, op, "argmax");
    CBNN_CHECK(argmax_in.shape() == dy_in.shape(), op, ": argmax ", argmax_in.description(),
               " and dy ", dy_in.description(), " differ in shape");
    check_same_device(dy_in, argmax_in, op);
    const Tensor dy = dense(dy_in), argmax = dense(argmax_in);
    Tensor dx = Tensor::empty(x_shape, dy.dtype(), dy.device());
    if (dy.is_cuda()) {
        CBNN_ON_CUDA(cuda::max_pool2d_backward(dy.data<float>(), argmax.data<int64_t>(),
                                               dx.data<float>(), g));
    } else {
        dispatch_floating(dy.dtype(), op, [&]<class T>() {
            cpu::max_pool2d_backward<T>(dy.data<T>(), argmax.data<int64_t>(), dx.data<T>(), g);
        });
    }
    return dx;
}

Tensor avg_pool2d(const Tensor& x_in, int64_t kernel, int64_t stride, int64_t padding,
                  bool count_include_pad) {
    constexpr const char* op = "avg_pool2d";
    check_input(x_in, op);
    const Pool2dGeometry g = pool2d_geometry(x_in.shape(), kernel, stride, padding, op);
    const Tensor x = dense(x_in);
    Tensor y = Tensor::empty({g.N, g.C, g.OH, g.OW}, x.dtype(), x.device());
    if (x.is_cuda()) {
        CBNN_ON_CUDA(
            cuda::avg_pool2d_forward(x.data<float>(), y.data<float>(), g, count_include_pad));
    } else {
        dispatch_floating(x.dtype(), op, [&]<class T>() {
            cpu::avg_pool2d_forward<T>(x.data<T>(), y.data<T>(), g, count_include_pad);
        });
    }
    return y;
}

Tensor avg_pool2d_backward(const Tensor& dy_in, const Shape& x_shape, int64_t kernel,
                           int64_t stride, int64_t padding, bool count_include_pad) {
    constexpr const char* op = "avg_pool2d_backward";
    const Pool2dGeometry g = pool2d_geometry(x_shape, kernel, stride, padding, op);
    check_dy(dy_in, g, op);
    const Tensor dy = dense(dy_in);
    Tensor dx = Tensor::empty(x_shape, dy.dtype(), dy.device());
    if (dy.is_cuda()) {
        CBNN_ON_CUDA(
            cuda::avg_pool2d_backward(dy.data<float>(), dx.data<float>(), g, count_include_pad));
    } else {
        dispatch_floating(dy.dtype(), op, [&]<class T>() {
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
    return mean(x.reshape({x.size(0), x.size(1), x.size(2) * x.size(3)}), 2);
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
