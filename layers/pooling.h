#pragma once
// 2-D max and average pooling over NCHW planes, and global average pooling.
//
// Geometry (square windows K x K, stride S, symmetric padding P, floor rounding):
//   OH = (H + 2P - K) / S + 1,  OW = (W + 2P - K) / S + 1
//   output (oh, ow) covers input rows h = oh*S - P + kh and columns w = ow*S - P + kw, kh, kw in
//   [0, K); positions outside [0, H) x [0, W) are padding.
//   Valid: K >= 1, S >= 1, 0 <= P <= K/2 (so every window holds at least one real element), and
//   H + 2P >= K, W + 2P >= K.
//
// max pool   y[n,c,oh,ow] = max of the window's real elements (padding counts as -inf)
//            argmax[n,c,oh,ow] = h*W + w of the first maximal element in row-major window order
//            (a NaN wins, the first one, so a diverged computation is not hidden)
//            dx[n,c,h,w] = sum of dy[n,c,oh,ow] over the windows whose argmax is (h, w)
// avg pool   y[n,c,oh,ow] = (1/D) sum of the window's real elements, where
//              count_include_pad = true  (PyTorch's default): D = K*K, padding counts as zeros;
//              count_include_pad = false (TF's 'SAME'):       D = number of real elements.
//            dx[n,c,h,w] = sum over the windows containing (h, w) of dy[n,c,oh,ow] / D(oh,ow)
//            ResNet-32's option-A shortcut is K=2, S=2, P=0 on even sizes: TF's 'SAME' adds no
//            padding there, so both conventions give the same numbers.
// global avg (N, C, H, W) -> (N, C), y = mean over (H, W); composed (reshape + mean), so its
//            backward is mean's: dx = dy / (H*W) broadcast over the plane.
//
// Layout: x, dx (N, C, H, W) and y, dy, argmax (N, C, OH, OW), contiguous row-major; argmax i64.
// Channels-last (tensor/memory_format.h): the op functions keep the input's format (y and argmax
// x's, dx dy's); the CUDA kernels read and write NHWC directly (argmax still holds h*W + w), the
// CPU runs the NCHW references on contiguous copies. global_avg_pool2d of a channels-last x
// averages over the positions of its (N, H*W, C) view, without a copy.
// Dtypes: x, y, dy, dx all f32, f64 (CPU only) or bf16, one dtype per call. bf16 values are
// widened to float, compared or summed in float (double for the CPU forward sums, as for f32),
// and each output element is rounded once to bf16: a bf16 op's result is the f32 op's result on
// the same values, rounded (bitwise on the CPU; max pooling and its backward's single-window sums
// are exact). global_avg_pool2d of bf16 returns bf16 (its f32 mean rounded once).
// The CPU references scatter in the backward (the plain definition). The CUDA kernels gather: one
// thread per dx element walks the windows that contain it in increasing (oh, ow) order, so there
// are no atomics, results repeat bit for bit, and the additions happen in the CPU's order.

#include <cstdint>
#include <string>

#include "layers/module.h"
#include "tensor/bfloat16.h"
#include "tensor/hd.h"
#include "tensor/tensor.h"

namespace cbnn {

struct Pool2dGeometry {
    int64_t N, C, H, W;  // input
    int64_t kernel, stride, padding;
    int64_t OH, OW;  // output
    // CUDA only: x, dx, y, dy and argmax are channels-last (NHWC, tensor/memory_format.h).
    bool channels_last = false;
};

// The storage index of element (n, c, h, w) of an (N, C, rows, cols) tensor, NCHW or NHWC, and
// its inverse: the kernels walk storage order (coalesced in either layout) and locate windows by
// (h, w).
struct PlaneIndex {
    int64_t n, c, h, w;
};
CBNN_HD int64_t pool2d_storage_index(const PlaneIndex& i, int64_t C, int64_t rows, int64_t cols,
                                     bool channels_last) {
    return channels_last ? ((i.n * rows + i.h) * cols + i.w) * C + i.c
                         : ((i.n * C + i.c) * rows + i.h) * cols + i.w;
}
CBNN_HD PlaneIndex pool2d_plane_index(int64_t t, int64_t C, int64_t rows, int64_t cols,
                                      bool channels_last) {
    PlaneIndex i;
    if (channels_last) {
        i.c = t % C;
        t /= C;
        i.w = t % cols;
        t /= cols;
        i.h = t % rows;
        i.n = t / rows;
    } else {
        i.w = t % cols;
        t /= cols;
        i.h = t % rows;
        t /= rows;
        i.c = t % C;
        i.n = t / C;
    }
    return i;
}

// Checks the hyperparameters (K >= 1, S >= 1, 0 <= P <= K/2); `who` names the op or module.
void check_pool2d_hyperparameters(int64_t kernel, int64_t stride, int64_t padding,
                                  const std::string& who);
// The geometry of pooling an (N, C, H, W) input; throws naming the shape when it is too small.
Pool2dGeometry pool2d_geometry(const Shape& x_shape, int64_t kernel, int64_t stride,
                               int64_t padding, const char* op);

// The first real input row (or column) of output row o, and one past its last.
CBNN_HD void pool2d_window(int64_t o, int64_t kernel, int64_t stride, int64_t padding, int64_t size,
                           int64_t& begin, int64_t& end) {
    const int64_t start = o * stride - padding;
    begin = start < 0 ? 0 : start;
    end = start + kernel < size ? start + kernel : size;
}

// The output rows (or columns) whose windows contain input row i: [begin, end), within [0, out).
CBNN_HD void pool2d_windows_containing(int64_t i, int64_t kernel, int64_t stride, int64_t padding,
                                       int64_t out, int64_t& begin, int64_t& end) {
    const int64_t first = i + padding - kernel + 1;  // o*S >= first
    begin = first <= 0 ? 0 : (first + stride - 1) / stride;
    const int64_t last = (i + padding) / stride + 1;
    end = last < out ? last : out;
}

CBNN_HD int64_t avg_pool2d_divisor(const Pool2dGeometry& g, int64_t oh, int64_t ow,
                                   bool count_include_pad) {
    if (count_include_pad) return g.kernel * g.kernel;
    int64_t h0, h1, w0, w1;
    pool2d_window(oh, g.kernel, g.stride, g.padding, g.H, h0, h1);
    pool2d_window(ow, g.kernel, g.stride, g.padding, g.W, w0, w1);
    return (h1 - h0) * (w1 - w0);
}

// T: f32, f64 or bf16 (see layers/pooling.cpp for how bf16 rounds).
namespace cpu {
template <class T>
void max_pool2d_forward(const T* x, T* y, int64_t* argmax, const Pool2dGeometry& g);
template <class T>
void max_pool2d_backward(const T* dy, const int64_t* argmax, T* dx, const Pool2dGeometry& g);
template <class T>
void avg_pool2d_forward(const T* x, T* y, const Pool2dGeometry& g, bool count_include_pad);
template <class T>
void avg_pool2d_backward(const T* dy, T* dx, const Pool2dGeometry& g, bool count_include_pad);
}  // namespace cpu

namespace cuda {
// A: float or bfloat16 (instantiated for both in layers/pooling_cuda.cu).
template <class A>
void max_pool2d_forward(const A* x, A* y, int64_t* argmax, const Pool2dGeometry& g);
template <class A>
void max_pool2d_backward(const A* dy, const int64_t* argmax, A* dx, const Pool2dGeometry& g);
template <class A>
void avg_pool2d_forward(const A* x, A* y, const Pool2dGeometry& g, bool count_include_pad);
template <class A>
void avg_pool2d_backward(const A* dy, A* dx, const Pool2dGeometry& g, bool count_include_pad);
}  // namespace cuda

namespace ops {
struct MaxPool2dResult {
    Tensor values;   // (N, C, OH, OW)
    Tensor indices;  // (N, C, OH, OW) i64, h*W + w within the input plane
};
MaxPool2dResult max_pool2d(const Tensor& x, int64_t kernel, int64_t stride, int64_t padding);
Tensor max_pool2d_backward(const Tensor& dy, const Tensor& argmax, const Shape& x_shape,
                           int64_t kernel, int64_t stride, int64_t padding);
Tensor avg_pool2d(const Tensor& x, int64_t kernel, int64_t stride, int64_t padding,
                  bool count_include_pad);
Tensor avg_pool2d_backward(const Tensor& dy, const Shape& x_shape, int64_t kernel, int64_t stride,
                           int64_t padding, bool count_include_pad);
}  // namespace ops

// ---- differentiable functions --------------------------------------------------------------
Tensor max_pool2d(const Tensor& x, int64_t kernel, int64_t stride, int64_t padding = 0);
Tensor avg_pool2d(const Tensor& x, int64_t kernel, int64_t stride, int64_t padding = 0,
                  bool count_include_pad = true);
Tensor global_avg_pool2d(const Tensor& x);

// ---- modules -------------------------------------------------------------------------------
class MaxPool2d : public Layer {
  public:
    MaxPool2d(int64_t kernel, int64_t stride, int64_t padding = 0);
    std::string type_name() const override { return "MaxPool2d"; }
    Tensor forward(const Tensor& x) override;

  private:
    int64_t kernel_, stride_, padding_;
};

class AvgPool2d : public Layer {
  public:
    AvgPool2d(int64_t kernel, int64_t stride, int64_t padding = 0, bool count_include_pad = true);
    std::string type_name() const override { return "AvgPool2d"; }
    Tensor forward(const Tensor& x) override;

  private:
    int64_t kernel_, stride_, padding_;
    bool count_include_pad_;
};

// (N, C, H, W) -> (N, C): the ResNet heads' pooling before the dense layer.
class GlobalAvgPool2d : public Layer {
  public:
    std::string type_name() const override { return "GlobalAvgPool2d"; }
    Tensor forward(const Tensor& x) override { return global_avg_pool2d(x); }
};

}  // namespace cbnn
