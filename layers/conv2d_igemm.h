#pragma once
// cbnn's own CUDA convolution kernels (`--conv-kernels cbnn`): implicit GEMM on tensor cores for
// the narrow channels-last convolutions of the CIFAR ResNets (16-64 channels), where cuDNN's
// kernels take several times what the arithmetic and the memory traffic need (docs/performance.md,
// "cbnn's convolution kernels"). cuDNN keeps every other convolution.
//
// Each direction is one GEMM whose rows are pixels and whose reduction runs over (filter tap t =
// (r, s), channel). The rows of the gathered operand are read straight from the activation, 16
// channels of one pixel at a time, with zeros where the tap falls into the padding (no im2col
// buffer):
//   forward          y[m][k]     = sum_{t, c} x[src(m, t)][c]  * w[k][t][c]    m: output pixel
//   backward data    dx[m][c]    = sum_{t, k} dy[src(m, t)][k] * w[k][t][c]    m: input pixel
//   backward filter  dw[k][t][c] = sum_m dy[m][k] * x[src(m, t)][c]            m: output pixel
// Activations are NHWC (a pixel's channels adjacent), weights KRSC, so w[k][t][c] is one KRSC
// element and both the forward (column-major) and the data gradient (row-major) read 16 x 16
// tiles of the weight in place. src(m, t): forward and filter gradient read the input pixel under
// tap t of output pixel m; the data gradient reads the output pixel whose window puts tap t on
// input pixel m (none where the stride skips it). These maps are CBNN_HD functions below, which
// the kernels (conv2d_igemm_cuda.cu, conv2d_igemm_filter_cuda.cu) and the CPU tests share
// (tests/layers/test_conv2d_igemm.cpp runs the kernels' decomposition with scalar arithmetic).
//
// Work split:
//   forward / data gradient: one warp per 16 rows and 16 * col_fragments output channels; it
//     walks the taps and 16-channel slices of the reduction, gathering its 16 x 16 tile of the
//     activation into shared memory and multiplying it with col_fragments weight tiles;
//   filter gradient: one warp per (tap, 16 input channels), chunk of rows and group of 16-64
//     output channels; each chunk's partial sums go to an f32 workspace that a second kernel
//     adds up in chunk order: deterministic, no atomics.
// Arithmetic: bf16 operands with FP32 accumulation (m16n16k16), or f32 operands rounded to TF32
// (m16n16k8, only when TF32 is allowed: tensor/backend.h), one rounding per output, like cuDNN's
// tensor-core paths. Strict FP32 stays with cuDNN.

#include <cstdint>
#include <initializer_list>
#include <string>

#include "layers/conv2d.h"
#include "tensor/dtype.h"
#include "tensor/hd.h"
#include "tensor/scoped_setting.h"

namespace cbnn {

// Which kernels run CUDA convolutions: cudnn (every convolution; the default until the cbnn
// kernels are measured on a GPU) or cbnn (conv2d_igemm_applies below, cuDNN for the rest).
enum class ConvKernels { cudnn, cbnn };
void set_conv_kernels(ConvKernels kernels);
ConvKernels conv_kernels();
// "cudnn" | "cbnn"; anything else throws naming the value.
ConvKernels parse_conv_kernels(const std::string& name);
const char* conv_kernels_name(ConvKernels kernels);
using ConvKernelsSetting = ScopedSetting<ConvKernels, conv_kernels, set_conv_kernels>;

// Widest channel count the kernels take: they are written for the CIFAR ResNets' 16-64 channels;
// cuDNN's kernels are at their best on the wide layers of the ImageNet ResNets.
inline constexpr int64_t kIgemmMaxChannels = 64;

// Most filter taps (R S) the kernels take. Far above any ResNet's (9, or 49 for the ImageNet
// stem, which cuDNN takes anyway for its 3 channels); it bounds what grows with the taps: the
// filter-gradient grid's y dimension (R S C / 64 blocks, CUDA allows 65,535) and one chunk's
// partial sums (K R S C floats, 16 MB at 64 channels).
inline constexpr int64_t kIgemmMaxTaps = 1024;

// Whether a convolution of shape `s` on `dtype` data can run on cbnn's kernels: channels-last,
// bf16 or (TF32 allowed) f32, C and K multiples of 16 up to kIgemmMaxChannels, at most
// kIgemmMaxTaps taps, and N P Q and N H W multiples of 16 (whole row tiles). Whatever
// conv_kernels() says.
bool conv2d_igemm_supports(const Conv2dShape& s, DType dtype, bool tf32_allowed);
// conv_kernels() is cbnn and conv2d_igemm_supports(s, dtype, allow_tf32()): the shapes the
// current settings send to cbnn's kernels (given aligned operands).
bool conv2d_igemm_chosen(const Conv2dShape& s, DType dtype);
// conv2d_igemm_chosen and every operand's address 32-byte aligned (the tensor-core loads need it;
// a view at an odd offset goes to cuDNN): what ops::conv2d_* ask before each CUDA call.
bool conv2d_igemm_applies(const Conv2dShape& s, DType dtype,
                          std::initializer_list<const void*> operands);

// ---- the index maps (kernels and CPU tests) ---------------------------------------------------

// A GEMM row's pixel: (n, a, b) = (n, p, q) for an output pixel, (n, h, w) for an input pixel.
struct IgemmPixel {
    int64_t n, a, b;
};

// Row m of the forward / filter-gradient GEMM (an output pixel, m < N P Q) or of the data-gradient
// GEMM (an input pixel, m < N H W), all NHWC-ordered.
CBNN_HD IgemmPixel igemm_row_pixel(const Conv2dShape& s, bool backward_data, int64_t m) {
    const int64_t width = backward_data ? s.W : s.Q, height = backward_data ? s.H : s.P;
    return {m / (height * width), (m / width) % height, m % width};
}

// The row of the gathered tensor (x for forward / filter gradient, dy for the data gradient,
// NHWC-flattened pixel index) that tap (r, t) of GEMM row pixel `p` reads, or -1 for zero.
CBNN_HD int64_t igemm_tap_source(const Conv2dShape& s, bool backward_data, IgemmPixel p, int64_t r,
                                 int64_t t) {
    if (!backward_data) {
        const int64_t h = p.a * s.stride - s.pad + r, w = p.b * s.stride - s.pad + t;
        if (h < 0 || h >= s.H || w < 0 || w >= s.W) return -1;
        return (p.n * s.H + h) * s.W + w;
    }
    // Output pixel (op, oq) puts tap (r, t) on input pixel (a, b) when op * stride - pad + r == a.
    const int64_t ph = p.a + s.pad - r, qw = p.b + s.pad - t;
    if (ph < 0 || qw < 0 || ph % s.stride != 0 || qw % s.stride != 0) return -1;
    const int64_t op = ph / s.stride, oq = qw / s.stride;
    if (op >= s.P || oq >= s.Q) return -1;
    return (p.n * s.P + op) * s.Q + oq;
}

// Offset in the KRSC weight of GEMM operand B's element (tap, reduction channel i, output column
// j): w[j][tap][i] for the forward, w[i][tap][j] for the data gradient. The forward reads B's
// 16 x 16 tiles column-major, the data gradient row-major, both with leading dimension R S C.
CBNN_HD int64_t igemm_weight_offset(const Conv2dShape& s, bool backward_data, int64_t tap,
                                    int64_t i, int64_t j) {
    const int64_t k = backward_data ? i : j, c = backward_data ? j : i;
    return k * s.R * s.S * s.C + tap * s.C + c;
}

// ---- the work split (host; the CPU tests check coverage) --------------------------------------

inline constexpr int kIgemmWarpsPerBlock = 4;

// Forward or data gradient: rows (N P Q or N H W), reduction channels per tap (C or K), output
// columns (K or C), and col_fragments (1, 2 or 4 tiles of 16 columns per warp: the most that
// divides the columns while the grid keeps at least kIgemmGatherWarpsPerSm warps per SM, else 1).
// Wider warps stage each activation tile fewer times; narrower ones make more warps, which the
// small late layers (8 x 8 images) need to fill the GPU.
inline constexpr int64_t kIgemmGatherWarpsPerSm = 8;
struct IgemmGatherPlan {
    int64_t rows;
    int64_t in_channels, out_channels;
    int col_fragments;
    int64_t blocks_x, blocks_y;  // blocks of kIgemmWarpsPerBlock warps over rows x columns
};
IgemmGatherPlan igemm_gather_plan(const Conv2dShape& s, bool backward_data, int64_t sm_count);

// Filter gradient: items = R S C / 16 (tap, 16-channel slice) pairs; rows (N P Q) split into
// `chunks` runs of rows_per_chunk rows (a multiple of 16; the last may be shorter); output
// channels in k_groups groups of k_fragments tiles of 16 (1, 2 or 4 per warp). A warp is one
// (chunk, item, group): its loop over the chunk's row tiles is a chain of dependent loads, so
// the plan aims at kIgemmFilterWarpsPerSm warps per SM to hide their latency and at chains of
// at most kIgemmMaxTilesPerChunk row tiles, first with more chunks, then with narrower groups
// (which stage each x tile once per group). Each chunk adds a K x R S C block of partial sums:
// kIgemmMaxPartialFloats in all where the chain limit allows (ResNet-32's shapes), more where it
// needs them (ResNet-50's 56 x 56 layers), never over kIgemmMaxPartialFloatsHard (longer chains
// then). workspace_floats: chunks partial K x R S C blocks.
// The chunks are added per dw element by kIgemmChunkLanes threads: lane l adds chunks l, l + L,
// l + 2 L ... in that order, then the lanes' sums are added in lane order (one thread per element
// with all 432 chunks of ResNet-32's first stage would be a chain of 432 loads).
inline constexpr int64_t kIgemmFilterWarpsPerSm = 32;
inline constexpr int64_t kIgemmMaxTilesPerChunk = 64;
inline constexpr int64_t kIgemmMaxPartialFloats = int64_t{1} << 20;      // 4 MB
inline constexpr int64_t kIgemmMaxPartialFloatsHard = int64_t{1} << 24;  // 64 MB
inline constexpr int kIgemmChunkLanes = 16;
struct IgemmFilterPlan {
    int64_t rows, rows_per_chunk, chunks;
    int64_t items;
    int k_fragments;
    int64_t k_groups;
    int64_t blocks_y;  // blocks of kIgemmWarpsPerBlock items
    int64_t workspace_floats;
};
IgemmFilterPlan igemm_filter_plan(const Conv2dShape& s, int64_t sm_count);

namespace cuda {
// The kernels (conv2d_igemm_cuda.cu, conv2d_igemm_filter_cuda.cu); shapes as in layers/conv2d.h
// with s.channels_last, only where conv2d_igemm_supports holds. f32 runs in TF32. `workspace`
// holds igemm_filter_plan(s, igemm_sm_count()).workspace_floats floats.
int64_t igemm_sm_count();  // of the current device, asked once per device
void igemm_conv2d_forward(const float* x, const float* w, const float* b, float* y,
                          const Conv2dShape& s);
void igemm_conv2d_forward(const bfloat16* x, const bfloat16* w, const bfloat16* b, bfloat16* y,
                          const Conv2dShape& s);
void igemm_conv2d_backward_data(const float* dy, const float* w, float* dx, const Conv2dShape& s);
void igemm_conv2d_backward_data(const bfloat16* dy, const bfloat16* w, bfloat16* dx,
                                const Conv2dShape& s);
void igemm_conv2d_backward_filter(const float* x, const float* dy, float* dw, float* workspace,
                                  const Conv2dShape& s);
void igemm_conv2d_backward_filter(const bfloat16* x, const bfloat16* dy, bfloat16* dw,
                                  float* workspace, const Conv2dShape& s);
}  // namespace cuda

}  // namespace cbnn
