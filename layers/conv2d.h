#pragma once
// 2-D convolution (cross-correlation, as in every DL framework): NCHW input, KCRS weight, optional
// bias, square stride s and symmetric zero padding p; dilation 1, groups 1.
//
//   x: (N, C, H, W)   w: (K, C, R, S)   b: (K) or none   y: (N, K, P, Q), contiguous row-major
//   (or channels-last, below)
//   P = floor((H + 2p - R) / s) + 1,  Q = floor((W + 2p - S) / s) + 1   (both must be >= 1)
//
//   forward          y[n,k,p,q] = b[k] + sum_{c,r,t} w[k,c,r,t] x[n, c, p*s + r - pad, q*s + t -
//   pad]
//                    (x outside [0,H) x [0,W) reads as 0)
//   backward data    dx[n,c,h,v] = sum_{k,r,t,p,q : p*s + r - pad = h, q*s + t - pad = v}
//                                      dy[n,k,p,q] w[k,c,r,t]   (the transposed convolution)
//   backward filter  dw[k,c,r,t] = sum_{n,p,q} dy[n,k,p,q] x[n, c, p*s + r - pad, q*s + t - pad]
//   backward bias    db[k] = sum_{n,p,q} dy[n,k,p,q]
// Backward kernels overwrite their outputs (only the autograd engine adds gradients up).
//
// Kernels (raw pointers, no Tensor):
//   cpu::conv2d_*<T>          direct loops: the specification (float, double)
//   cpu::conv2d_*_im2col<T>   the same results through im2col + cpu::gemm (tensor/matmul.h), one
//                             image at a time; the op functions use this path on the CPU. Each
//                             call allocates its own column buffer of C*R*S*P*Q elements.
//   cuda::conv2d_*            cuDNN (layers/conv2d_cudnn.cpp), float or bfloat16 (bf16 data,
//                             FP32 accumulation on tensor cores, one rounding per output);
//                             algorithm choice cached per shape, element type, math mode (TF32
//                             only when allow_tf32(), tensor/backend.h), search mode
//                             (set_conv_algorithm_search below) and algorithm set
//                             (layers/conv2d_algorithms.h, which also lists the choices)
// All three families take the same parameter lists. b and db may be null (no bias).
// Channels-last (NHWC, tensor/memory_format.h): the op functions keep the format of their main
// operand (x for the forward and the filter gradient, dy for the data gradient): y, dx and dw
// come out channels-last (dw as KRSC) for a channels-last input. On CUDA cuDNN runs in NHWC with
// a KRSC weight; a KCRS weight is permuted for each call. The Conv2d module avoids that: on CUDA
// it hands the op a KRSC copy of its weight made once per forward (saved for the data gradient),
// and the KRSC filter gradient goes back to the KCRS parameter inside that copy's backward. On
// the CPU the NCHW kernels run on contiguous copies.
// bf16 (mixed precision): all operands bf16, NCHW like f32. On the CPU the op functions run the
// f32 kernels on the widened values and round each output once (the specification of the CUDA
// path, up to summation order). The Conv2d module keeps f32 parameters and, given a bf16 input,
// convolves with a bf16 copy of them (FP32 master weights: their gradients arrive in f32); with
// a channels-last input that copy is also the KRSC one (Tensor::to(dtype, format): one kernel).

#include <cstdint>
#include <string>

#include "layers/module.h"
#include "tensor/bfloat16.h"
#include "tensor/rng.h"
#include "tensor/scoped_setting.h"
#include "tensor/tensor.h"

namespace cbnn {

// The sizes of one convolution; built (and checked) by conv2d_shape.
struct Conv2dShape {
    int64_t N, C, H, W;  // input
    int64_t K, R, S;     // weight: K output channels, R x S filter
    int64_t stride, pad;
    int64_t P, Q;  // output height and width
    // CUDA only: x, y, dy, dx are NHWC and w, dw KRSC (tensor/memory_format.h's channels_last);
    // the CPU kernels read NCHW / KCRS only.
    bool channels_last = false;
};

// Shape of x (N, C, H, W) convolved with w (K, C, R, S); throws naming the shapes when they do
// not fit (rank, channels, empty dimensions, stride < 1, padding < 0, input smaller than kernel).
Conv2dShape conv2d_shape(const Shape& x, const Shape& w, int64_t stride, int64_t padding);

namespace cpu {
template <class T>
void conv2d_forward(const T* x, const T* w, const T* b, T* y, const Conv2dShape& s);
template <class T>
void conv2d_backward_data(const T* dy, const T* w, T* dx, const Conv2dShape& s);
template <class T>
void conv2d_backward_filter(const T* x, const T* dy, T* dw, const Conv2dShape& s);
template <class T>
void conv2d_backward_bias(const T* dy, T* db, const Conv2dShape& s);

template <class T>
void conv2d_forward_im2col(const T* x, const T* w, const T* b, T* y, const Conv2dShape& s);
template <class T>
void conv2d_backward_data_im2col(const T* dy, const T* w, T* dx, const Conv2dShape& s);
template <class T>
void conv2d_backward_filter_im2col(const T* x, const T* dy, T* dw, const Conv2dShape& s);
}  // namespace cpu

namespace cuda {
void conv2d_forward(const float* x, const float* w, const float* b, float* y, const Conv2dShape& s);
void conv2d_backward_data(const float* dy, const float* w, float* dx, const Conv2dShape& s);
void conv2d_backward_filter(const float* x, const float* dy, float* dw, const Conv2dShape& s);
void conv2d_backward_bias(const float* dy, float* db, const Conv2dShape& s);
void conv2d_forward(const bfloat16* x, const bfloat16* w, const bfloat16* b, bfloat16* y,
                    const Conv2dShape& s);
void conv2d_backward_data(const bfloat16* dy, const bfloat16* w, bfloat16* dx,
                          const Conv2dShape& s);
void conv2d_backward_filter(const bfloat16* x, const bfloat16* dy, bfloat16* dw,
                            const Conv2dShape& s);
// No bf16 bias gradient here: cuDNN refuses it (ops::conv2d_backward_bias sums bf16 dy with the
// reduction kernels instead).
// How many algorithm selections (cuDNN heuristic queries or timings) have run in this process: one
// per new (shape, math mode, search mode, device, direction); a repeated shape reuses the cached
// choice.
int64_t conv2d_algorithm_selections();
}  // namespace cuda

// How cuDNN algorithms are chosen the first time a convolution shape is seen (per math mode,
// device and direction; the choice is cached for the process):
//   heuristic  cuDNN's heuristics (cudnnGet*Algorithm_v7): a host-side query, the same choice on
//              every run and usable while a CUDA graph is being captured. The default.
//   timed      cuDNN times every candidate on the GPU once (cudnnFind*Algorithm, like PyTorch's
//              cudnn.benchmark): often faster algorithms, at the price of a synchronising search
//              (~10-100 ms per new shape, with its own scratch memory) and a choice that may differ
//              between runs. While a graph is being captured it falls back to the heuristics.
// Either way deterministic algorithms are preferred unless conv_algorithms() is fastest
// (layers/conv2d_algorithms.h), and FP32 stays FP32 (layers/conv2d_cudnn.cpp).
// No effect on the CPU.
enum class ConvAlgorithmSearch { heuristic, timed };
void set_conv_algorithm_search(ConvAlgorithmSearch search);
ConvAlgorithmSearch conv_algorithm_search();
// "heuristic" | "timed"; anything else throws naming the value.
ConvAlgorithmSearch parse_conv_algorithm_search(const std::string& name);

// Sets the search mode for a scope (tensor/scoped_setting.h).
using ConvAlgorithmSearchSetting =
    ScopedSetting<ConvAlgorithmSearch, conv_algorithm_search, set_conv_algorithm_search>;

// Zero channels for the Conv2d module's narrow inputs: with a multiple m > 1, a Conv2d whose input
// has C channels, C not a multiple of m, pads the input with zero channels up to the next
// multiple (pad_channels, layers/channel_pad.h) and its weight with as many zero input channels,
// then convolves. The output and the input's gradient are the unpadded convolution's (every
// product with a zero channel is 0; summed in another order they may round differently); the
// weight's gradient comes back to its C channels. Meant for the ResNet stems' 3-channel images on
// CUDA, where channels-last tensor-core kernels work on vectors of 4 or 8 channels (and cbnn's
// own on 16); unmeasured, so 1 (no padding) is the default. Any device and layout.
void set_conv_channel_multiple(int64_t multiple);  // >= 1, else throws naming the value
int64_t conv_channel_multiple();
using ConvChannelMultipleSetting =
    ScopedSetting<int64_t, conv_channel_multiple, set_conv_channel_multiple>;

namespace ops {
// No autograd. f32/f64/bf16 on the CPU, f32/bf16 on CUDA; all operands of one dtype on one
// device; b may be undefined.
Tensor conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, int64_t stride,
                      int64_t padding);
// dx of shape x_shape (needed because P, Q round down and do not determine H, W).
Tensor conv2d_backward_data(const Tensor& dy, const Tensor& w, const Shape& x_shape, int64_t stride,
                            int64_t padding);
// dw of shape w_shape.
Tensor conv2d_backward_filter(const Tensor& x, const Tensor& dy, const Shape& w_shape,
                              int64_t stride, int64_t padding);
// db (K) from dy (N, K, P, Q).
Tensor conv2d_backward_bias(const Tensor& dy);
}  // namespace ops

// Differentiable convolution (math above). bias may be undefined. The node keeps x only when the
// weight needs a gradient and w only when x does.
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(),
              int64_t stride = 1, int64_t padding = 0);

// Conv2d layer: parameters "weight" (K, C, R, R), Glorot-uniform (TF1's default, the paper's
// code), and "bias" (K), zeros, when bias is true. Parameters are created on the CPU in `dtype`
// (f32, or f64 for gradient checks); move the module with to(device).
class Conv2d : public Layer {
  public:
    Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size, int64_t stride,
           int64_t padding, bool bias, Generator& gen, DType dtype = DType::f32);
    std::string type_name() const override { return "Conv2d"; }
    Tensor forward(const Tensor& x) override;

    const Tensor& weight() const { return weight_; }
    const Tensor& bias() const { return bias_; }  // undefined without bias
    int64_t stride() const { return stride_; }
    int64_t padding() const { return padding_; }

  private:
    Tensor weight_, bias_;
    int64_t stride_, padding_;
};

}  // namespace cbnn
