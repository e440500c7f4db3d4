// cbnn's own batch-norm kernels, NCHW, f32 or bf16 activations: the alternative to cuDNN's
// (batchnorm2d_cudnn.cpp), chosen with set_batchnorm_kernels (layers/batchnorm2d.h), plain and with
// the ReLU and residual add of layers/batchnorm_relu.h fused in. Math in those headers. Over 400
// lines because the plain and the fused op share every reduction here (a second file would copy
// them). The channels-last twins are in batchnorm2d_nhwc_cuda.cu; the loads, stores and parameter
// structs both use are in batchnorm2d_cuda_common.cuh.
//
// Why: cuDNN's NCHW spatial batch norm was measured at 55 us forward and 151 us forward+backward
// for ResNet-32's first stage (128 x 16 x 32 x 32, 8 MB) on an H100, 5-10x the time it takes to
// move the bytes; with a grid of C blocks it leaves most SMs idle when C is 16.
//
// Work is split into a C x S grid of slices (slice (c, s): images [s N/S, (s+1) N/S) of channel
// c), S chosen so that every SM has work even for C = 16 (layers/batchnorm2d_work_split.h, which
// CPU tests replay at ResNet shapes).
// Forward (training):
//   1. bn_partial_stats_kernel: each slice's (count, mean, M2) (Welford within a thread, Chan's
//      formula across threads, warps and batches of loads);
//   2. bn_apply_kernel: warp 0 of every block merges its channel's S partials in double (the same
//      fixed-order tree in every block, so all blocks agree bit for bit); block 0 of the channel
//      writes save_mean, save_invstd and the running statistics; then y = act(x scale + shift
//      [+ residual]) over the block's slice, act = relu or identity.
//   With S = 1 (C >= 512: ResNet-50's wide layers) both run in one kernel, bn_forward_kernel.
// Backward: bn_partial_grads_kernel sums g and g (x - mean) per slice, g = dy [y > 0] for the
// fused op (it also stores g as dresidual); bn_dx_kernel merges the sums in double per channel
// (block 0 writes dgamma, dbeta) and writes dx = gamma invstd (g - dbeta/n - xhat dgamma/n);
// one kernel, bn_backward_kernel, when S = 1.
// Element access: no division per element (a cursor steps through (image, position)), float4 loads
// when H*W % 4 == 0 and every pointer is 16-byte aligned, and kUnroll loads in flight per thread.
// Deterministic (fixed slices and merge orders, no atomics). Scratch: batchnorm2d_scratch_floats.
// Activations of type A (float or bfloat16, layers/batchnorm2d_kernels.h): every kernel loads A,
// widens to float and computes exactly as for float (same float expressions, so the f32 path is
// unchanged), and rounds each A output once (float_to_bf16, the CPU's rounding). Vector loads are
// 4 elements (16 bytes of float, 8 of bf16) under the matching alignment.
#include <cuda_runtime.h>

#include <cstdint>
#include <initializer_list>

#include "layers/batchnorm2d_cuda_common.cuh"
#include "layers/batchnorm2d_kernels.h"
#include "layers/batchnorm2d_work_split.h"
#include "tensor/bfloat16.h"
#include "tensor/cuda_check.h"
#include "tensor/cuda_context.h"

namespace cbnn::cuda {

namespace {

using namespace batchnorm_split;
using namespace batchnorm_split::nchw;

constexpr int kWarps = kBlock / 32;

struct Welford {
    float count, mean, m2;
};

__device__ Welford merge(Welford a, Welford b) {
    const float n = a.count + b.count;
    if (n == 0.f) return a;
    const float delta = b.mean - a.mean;
    const float wb = b.count / n;
    return {n, a.mean + delta * wb, a.m2 + b.m2 + delta * delta * a.count * wb};
}

__device__ Welford warp_merge(Welford w) {
    for (int offset = 16; offset > 0; offset /= 2)
        w = merge(w,
                  {shfl_down(w.count, offset), shfl_down(w.mean, offset), shfl_down(w.m2, offset)});
    return w;
}

// (count, mean, M2) of the block's slice, complete in thread 0. Each batch of up to kUnroll * V
// loaded values is reduced two-pass (one division per batch, not per element), then merged.
template <int V, class A>
__device__ Welford slice_stats(const A* __restrict__ x, Cursor cur) {
    Welford w{0.f, 0.f, 0.f};
    int64_t at[kUnroll];
    while (cur.gather(at)) {
        Pack<V> p[kUnroll];
#pragma unroll
        for (int u = 0; u < kUnroll; ++u)
            if (at[u] >= 0) p[u] = load<V>(x, at[u]);
        float count = 0.f, sum = 0.f;
#pragma unroll
        for (int u = 0; u < kUnroll; ++u)
            if (at[u] >= 0) {
                count += V;
#pragma unroll
                for (int k = 0; k < V; ++k) sum += p[u].v[k];
            }
        const float mean = sum / count;
        float m2 = 0.f;
#pragma unroll
        for (int u = 0; u < kUnroll; ++u)
            if (at[u] >= 0)
#pragma unroll
                for (int k = 0; k < V; ++k) m2 += (p[u].v[k] - mean) * (p[u].v[k] - mean);
        w = merge(w, {count, mean, m2});
    }
    __shared__ Welford per_warp[kWarps];
    w = warp_merge(w);
    if (threadIdx.x % 32 == 0) per_warp[threadIdx.x / 32] = w;
    __syncthreads();
    if (threadIdx.x == 0)
        for (int k = 1; k < kWarps; ++k) w = merge(w, per_warp[k]);
    return w;
}

// Per-channel results every block of the channel needs, broadcast through shared memory.
struct ChannelCoefficients {
    float a, b, c;
};

// Thread 0 holds the channel's batch statistics (in double: count n, mean, M2): writes them (when
// `write`) and returns scale = gamma invstd, shift = beta - mean scale to every thread.
__device__ ChannelCoefficients finish_stats(const Statistics& st, int64_t c, double n, double mean,
                                            double m2, bool write) {
    __shared__ ChannelCoefficients shared;
    if (threadIdx.x == 0) {
        const double var = m2 / n, invstd = 1.0 / sqrt(var + st.eps);
        if (write) {
            const double m = st.momentum;
            st.save_mean[c] = static_cast<float>(mean);
            st.save_invstd[c] = static_cast<float>(invstd);
            st.running_mean[c] = static_cast<float>((1.0 - m) * st.running_mean[c] + m * mean);
            st.running_var[c] =
                static_cast<float>((1.0 - m) * st.running_var[c] + m * var * n / (n - 1.0));
        }
        const double scale = st.gamma[c] * invstd;
        shared = {static_cast<float>(scale), static_cast<float>(st.beta[c] - mean * scale), 0.f};
    }
    __syncthreads();
    return shared;
}

// y = act(x scale + shift [+ residual]) over the thread's units of the slice.
template <int V, class A>
__device__ void apply_slice(const A* __restrict__ x, const A* __restrict__ residual, bool relu,
                            float scale, float shift, A* __restrict__ y, Cursor cur) {
    int64_t at[kUnroll];
    while (cur.gather(at)) {
        Pack<V> p[kUnroll], r[kUnroll];
#pragma unroll
        for (int u = 0; u < kUnroll; ++u)
            if (at[u] >= 0) {
                p[u] = load<V>(x, at[u]);
                if (residual) r[u] = load<V>(residual, at[u]);
            }
#pragma unroll
        for (int u = 0; u < kUnroll; ++u)
            if (at[u] >= 0) {
#pragma unroll
                for (int k = 0; k < V; ++k) {
                    // Rounded to f32 before the add, like the composed ops.
                    float v = p[u].v[k] * scale + shift;
                    if (residual) v += r[u].v[k];
                    p[u].v[k] = relu ? (v > 0.f ? v : 0.f) : v;
                }
                store<V>(y, at[u], p[u]);
            }
    }
}

// The shape arguments every slice kernel takes; hw_units = H*W / V.
struct Layout {
    int64_t N, C, hw_units, S;
    __device__ Cursor cursor(int64_t s, int64_t c) const {
        int64_t n0, n1;
        slice_images(N, S, s, &n0, &n1);
        return Cursor(n0, n1, c, C, hw_units, static_cast<int>(threadIdx.x));
    }
};

// grid (S, C): partials[(c S + s) 3 + {0,1,2}] = count, mean, M2 of slice (c, s).
template <int V, class A>
__global__ void bn_partial_stats_kernel(const A* __restrict__ x, Layout l,
                                        float* __restrict__ partials) {
    const int64_t s = blockIdx.x, c = blockIdx.y;
    const Welford w = slice_stats<V>(x, l.cursor(s, c));
    if (threadIdx.x == 0) {
        float* out = partials + (c * l.S + s) * 3;
        out[0] = w.count;
        out[1] = w.mean;
        out[2] = w.m2;
    }
}

// Merges the S partial (count, mean, M2) of channel c in double: lane k takes partials k, k + 32,
// ... in order, then a fixed shuffle tree. Called by warp 0; the result is valid in thread 0.
__device__ void merge_partial_stats(const float* __restrict__ partials, int64_t c, int64_t S,
                                    double* n, double* mean, double* m2) {
    double cn = 0, cmean = 0, cm2 = 0;
    auto add = [&](double nb, double meanb, double m2b) {
        const double total = cn + nb;
        if (nb == 0) return;
        const double delta = meanb - cmean;
        cmean += delta * nb / total;
        cm2 += m2b + delta * delta * cn * nb / total;
        cn = total;
    };
    for (int64_t s = threadIdx.x; s < S; s += 32) {
        const float* p = partials + (c * S + s) * 3;
        add(p[0], p[1], p[2]);
    }
    for (int offset = 16; offset > 0; offset /= 2)
        add(shfl_down(cn, offset), shfl_down(cmean, offset), shfl_down(cm2, offset));
    *n = cn;
    *mean = cmean;
    *m2 = cm2;
}

// grid (S, C): finishes channel c's statistics from the partials, applies them to slice (c, s).
template <int V, class A>
__global__ void bn_apply_kernel(const A* __restrict__ x, const A* __restrict__ residual, bool relu,
                                const float* __restrict__ partials, Statistics st, Layout l,
                                A* __restrict__ y) {
    const int64_t s = blockIdx.x, c = blockIdx.y;
    double n = 0, mean = 0, m2 = 0;
    if (threadIdx.x < 32) merge_partial_stats(partials, c, l.S, &n, &mean, &m2);
    const ChannelCoefficients k = finish_stats(st, c, n, mean, m2, s == 0);
    apply_slice<V>(x, residual, relu, k.a, k.b, y, l.cursor(s, c));
}

// grid (C), S = 1: statistics and normalisation of one channel in one block.
template <int V, class A>
__global__ void bn_forward_kernel(const A* __restrict__ x, const A* __restrict__ residual,
                                  bool relu, Statistics st, Layout l, A* __restrict__ y) {
    const int64_t c = blockIdx.x;
    const Welford w = slice_stats<V>(x, l.cursor(0, c));
    const ChannelCoefficients k = finish_stats(st, c, w.count, w.mean, w.m2, true);
    apply_slice<V>(x, residual, relu, k.a, k.b, y, l.cursor(0, c));
}

// grid (S, C), inference: scale and shift from the running statistics.
template <int V, class A>
__global__ void bn_inference_kernel(const A* __restrict__ x, const A* __restrict__ residual,
                                    bool relu, const float* __restrict__ gamma,
                                    const float* __restrict__ beta,
                                    const float* __restrict__ running_mean,
                                    const float* __restrict__ running_var, double eps, Layout l,
                                    A* __restrict__ y) {
    const int64_t s = blockIdx.x, c = blockIdx.y;
    __shared__ ChannelCoefficients shared;
    if (threadIdx.x == 0) {
        const double scale = gamma[c] / sqrt(static_cast<double>(running_var[c]) + eps);
        shared = {static_cast<float>(scale), static_cast<float>(beta[c] - running_mean[c] * scale),
                  0.f};
    }
    __syncthreads();
    apply_slice<V>(x, residual, relu, shared.a, shared.b, y, l.cursor(s, c));
}

// (sum g, sum g (x - mean)) of the block's slice, complete in thread 0.
template <int V, class A>
__device__ float2 slice_grad_sums(const GradInputs<A>& in, float mean, Cursor cur) {
    float sum_g = 0.f, sum_g_xc = 0.f;
    int64_t at[kUnroll];
    while (cur.gather(at)) {
        Pack<V> x[kUnroll], g[kUnroll], y[kUnroll];
#pragma unroll
        for (int u = 0; u < kUnroll; ++u)
            if (at[u] >= 0) {
                x[u] = load<V>(in.x, at[u]);
                g[u] = load<V>(in.dy, at[u]);
                if (in.y) y[u] = load<V>(in.y, at[u]);
            }
#pragma unroll
        for (int u = 0; u < kUnroll; ++u)
            if (at[u] >= 0) {
#pragma unroll
                for (int k = 0; k < V; ++k) {
                    // dy * [y > 0] as the ReLU backward computes it (NaN dy stays NaN).
                    if (in.y) g[u].v[k] *= y[u].v[k] > 0.f ? 1.f : 0.f;
                    sum_g += g[u].v[k];
                    sum_g_xc += g[u].v[k] * (x[u].v[k] - mean);
                }
                if (in.dresidual) store<V>(in.dresidual, at[u], g[u]);
            }
    }
    __shared__ float per_warp[2][kWarps];
    sum_g = warp_sum(sum_g);
    sum_g_xc = warp_sum(sum_g_xc);
    if (threadIdx.x % 32 == 0) {
        per_warp[0][threadIdx.x / 32] = sum_g;
        per_warp[1][threadIdx.x / 32] = sum_g_xc;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        for (int k = 1; k < kWarps; ++k) sum_g += per_warp[0][k], sum_g_xc += per_warp[1][k];
    }
    return {sum_g, sum_g_xc};
}

// Thread 0 holds the channel's sums: writes dgamma, dbeta (when `write`) and returns the dx
// coefficients a = gamma invstd, b = dbeta / n, c = dgamma invstd / n to every thread.
template <class A>
__device__ ChannelCoefficients finish_grads(const GradInputs<A>& in, int64_t c, double count,
                                            double sum_g, double sum_g_xc, bool write) {
    __shared__ ChannelCoefficients shared;
    if (threadIdx.x == 0) {
        const double invstd = in.save_invstd[c];
        const double dg = sum_g_xc * invstd;
        if (write) {
            in.dbeta[c] = static_cast<float>(sum_g);
            in.dgamma[c] = static_cast<float>(dg);
        }
        shared = {static_cast<float>(in.gamma[c] * invstd), static_cast<float>(sum_g / count),
                  static_cast<float>(dg * invstd / count)};
    }
    __syncthreads();
    return shared;
}

// dx over the thread's units of the slice. g is re-read from dresidual when an earlier kernel
// stored it there (g_stored); within one kernel it is recomputed from dy and y instead, so that no
// load goes through a read-only cache path to data this kernel wrote.
template <int V, class A>
__device__ void dx_slice(const GradInputs<A>& in, bool g_stored, float mean, ChannelCoefficients k,
                         Cursor cur) {
    const bool from_dresidual = g_stored && in.dresidual;
    const A* g_source = from_dresidual ? in.dresidual : in.dy;
    const bool mask = in.y && !from_dresidual;
    int64_t at[kUnroll];
    while (cur.gather(at)) {
        Pack<V> x[kUnroll], g[kUnroll], y[kUnroll];
#pragma unroll
        for (int u = 0; u < kUnroll; ++u)
            if (at[u] >= 0) {
                x[u] = load<V>(in.x, at[u]);
                g[u] = load<V>(g_source, at[u]);
                if (mask) y[u] = load<V>(in.y, at[u]);
            }
#pragma unroll
        for (int u = 0; u < kUnroll; ++u)
            if (at[u] >= 0) {
#pragma unroll
                for (int e = 0; e < V; ++e) {
                    float gv = g[u].v[e];
                    if (mask) gv *= y[u].v[e] > 0.f ? 1.f : 0.f;
                    x[u].v[e] = k.a * (gv - k.b - (x[u].v[e] - mean) * k.c);
                }
                store<V>(in.dx, at[u], x[u]);
            }
    }
}

// grid (S, C): partials[(c S + s) 2 + {0, 1}] = sum g, sum g (x - mean) of slice (c, s).
template <int V, class A>
__global__ void bn_partial_grads_kernel(GradInputs<A> in, Layout l, float* __restrict__ partials) {
    const int64_t s = blockIdx.x, c = blockIdx.y;
    const float2 sums = slice_grad_sums<V>(in, in.save_mean[c], l.cursor(s, c));
    if (threadIdx.x == 0) {
        partials[(c * l.S + s) * 2] = sums.x;
        partials[(c * l.S + s) * 2 + 1] = sums.y;
    }
}

// grid (S, C): merges channel c's partial sums in double (a fixed tree in warp 0), then dx of
// slice (c, s).
template <int V, class A>
__global__ void bn_dx_kernel(GradInputs<A> in, Layout l, const float* __restrict__ partials,
                             int64_t count) {
    const int64_t s = blockIdx.x, c = blockIdx.y;
    double sum_g = 0, sum_g_xc = 0;
    if (threadIdx.x < 32) {
        for (int64_t t = threadIdx.x; t < l.S; t += 32) {
            sum_g += partials[(c * l.S + t) * 2];
            sum_g_xc += partials[(c * l.S + t) * 2 + 1];
        }
        sum_g = warp_sum(sum_g);
        sum_g_xc = warp_sum(sum_g_xc);
    }
    const ChannelCoefficients k = finish_grads(in, c, count, sum_g, sum_g_xc, s == 0);
    dx_slice<V>(in, true, in.save_mean[c], k, l.cursor(s, c));
}

// grid (C), S = 1: the whole backward of one channel in one block.
template <int V, class A>
__global__ void bn_backward_kernel(GradInputs<A> in, Layout l, int64_t count) {
    const int64_t c = blockIdx.x;
    const float mean = in.save_mean[c];
    const float2 sums = slice_grad_sums<V>(in, mean, l.cursor(0, c));
    const ChannelCoefficients k = finish_grads(in, c, count, sums.x, sums.y, true);
    dx_slice<V>(in, false, mean, k, l.cursor(0, c));
}

// 4-element units when every plane splits into whole, aligned vectors of A.
template <class A>
int vector_width(int64_t HW, std::initializer_list<const void*> pointers) {
    return HW % 4 == 0 && aligned(4 * sizeof(A), pointers) ? 4 : 1;
}

// The (S, C) grid; the inference kernel takes it even for S = 1, so C meets gridDim.y's limit
// there (the training kernels use S > 1 only for C < kTargetBlocks).
dim3 slice_grid(int64_t S, int64_t C) {
    CBNN_CHECK(C <= 65535, "batch_norm2d: C = ", C, " channels exceed a grid's 65535 blocks in y");
    return dim3(static_cast<unsigned>(S), static_cast<unsigned>(C));
}

Layout layout(int64_t N, int64_t C, int64_t HW, int V, int64_t S) { return {N, C, HW / V, S}; }

// The launchers of both ops: relu = false and residual = y = dresidual = nullptr give plain
// batch norm.
template <class A>
void forward_training(const A* x, const A* residual, bool relu, const Statistics& st, A* y,
                      int64_t N, int64_t C, int64_t HW, float* scratch) {
    const int64_t S = slices_per_channel(N, C);
    const int V = vector_width<A>(HW, {x, residual, y});
    const Layout l = layout(N, C, HW, V, S);
    if (S == 1) {
        CBNN_BN_LAUNCH(bn_forward_kernel, V, static_cast<unsigned>(C), x, residual, relu, st, l, y);
        return;
    }
    CBNN_BN_LAUNCH(bn_partial_stats_kernel, V, slice_grid(S, C), x, l, scratch);
    CBNN_BN_LAUNCH(bn_apply_kernel, V, slice_grid(S, C), x, residual, relu, scratch, st, l, y);
}

template <class A>
void forward_inference(const A* x, const A* residual, bool relu, const float* gamma,
                       const float* beta, const float* running_mean, const float* running_var, A* y,
                       int64_t N, int64_t C, int64_t HW, double eps) {
    const int64_t S = slices_per_channel(N, C);
    const int V = vector_width<A>(HW, {x, residual, y});
    CBNN_BN_LAUNCH(bn_inference_kernel, V, slice_grid(S, C), x, residual, relu, gamma, beta,
                   running_mean, running_var, eps, layout(N, C, HW, V, S), y);
}

template <class A>
void backward(const GradInputs<A>& in, int64_t N, int64_t C, int64_t HW, float* scratch) {
    const int64_t S = slices_per_channel(N, C);
    const int V = vector_width<A>(HW, {in.x, in.y, in.dy, in.dx, in.dresidual});
    const Layout l = layout(N, C, HW, V, S);
    if (S == 1) {
        CBNN_BN_LAUNCH(bn_backward_kernel, V, static_cast<unsigned>(C), in, l, N * HW);
        return;
    }
    CBNN_BN_LAUNCH(bn_partial_grads_kernel, V, slice_grid(S, C), in, l, scratch);
    CBNN_BN_LAUNCH(bn_dx_kernel, V, slice_grid(S, C), in, l, scratch, N * HW);
}

#undef CBNN_BN_LAUNCH

}  // namespace

int64_t batchnorm2d_scratch_floats(int64_t N, int64_t C) {
    return batchnorm_split::nchw::scratch_floats(N, C);
}

template <class A>
void batchnorm2d_forward_training(const A* x, const float* gamma, const float* beta, A* y,
                                  float* running_mean, float* running_var, float* save_mean,
                                  float* save_invstd, int64_t N, int64_t C, int64_t H, int64_t W,
                                  double momentum, double eps, float* scratch) {
    const Statistics st{gamma,     beta,        running_mean, running_var,
                        save_mean, save_invstd, momentum,     eps};
    forward_training<A>(x, nullptr, false, st, y, N, C, H * W, scratch);
}

template <class A>
void batchnorm_relu_forward_training(const A* x, const A* residual, const float* gamma,
                                     const float* beta, A* y, float* running_mean,
                                     float* running_var, float* save_mean, float* save_invstd,
                                     int64_t N, int64_t C, int64_t H, int64_t W, double momentum,
                                     double eps, float* scratch) {
    const Statistics st{gamma,     beta,        running_mean, running_var,
                        save_mean, save_invstd, momentum,     eps};
    forward_training(x, residual, true, st, y, N, C, H * W, scratch);
}

template <class A>
void batchnorm2d_forward_inference(const A* x, const float* gamma, const float* beta,
                                   const float* running_mean, const float* running_var, A* y,
                                   int64_t N, int64_t C, int64_t H, int64_t W, double eps) {
    forward_inference<A>(x, nullptr, false, gamma, beta, running_mean, running_var, y, N, C, H * W,
                         eps);
}

template <class A>
void batchnorm_relu_forward_inference(const A* x, const A* residual, const float* gamma,
                                      const float* beta, const float* running_mean,
                                      const float* running_var, A* y, int64_t N, int64_t C,
                                      int64_t H, int64_t W, double eps) {
    forward_inference(x, residual, true, gamma, beta, running_mean, running_var, y, N, C, H * W,
                      eps);
}

template <class A>
void batchnorm2d_backward(const A* x, const A* dy, const float* gamma, const float* save_mean,
                          const float* save_invstd, A* dx, float* dgamma, float* dbeta, int64_t N,
                          int64_t C, int64_t H, int64_t W, float* scratch) {
    backward<A>({x, nullptr, dy, gamma, save_mean, save_invstd, dx, dgamma, dbeta, nullptr}, N, C,
                H * W, scratch);
}

template <class A>
void batchnorm_relu_backward(const A* x, const A* y, const A* dy, const float* gamma,
                             const float* save_mean, const float* save_invstd, A* dx, float* dgamma,
                             float* dbeta, A* dresidual, int64_t N, int64_t C, int64_t H, int64_t W,
                             float* scratch) {
    backward<A>({x, y, dy, gamma, save_mean, save_invstd, dx, dgamma, dbeta, dresidual}, N, C,
                H * W, scratch);
}

#define CBNN_INSTANTIATE_BN_CUDA(A)                                                              \
    template void batchnorm2d_forward_training<A>(                                               \
        const A*, const float*, const float*, A*, float*, float*, float*, float*, int64_t,       \
        int64_t, int64_t, int64_t, double, double, float*);                                      \
    template void batchnorm_relu_forward_training<A>(                                            \
        const A*, const A*, const float*, const float*, A*, float*, float*, float*, float*,      \
        int64_t, int64_t, int64_t, int64_t, double, double, float*);                             \
    template void batchnorm2d_forward_inference<A>(const A*, const float*, const float*,         \
                                                   const float*, const float*, A*, int64_t,      \
                                                   int64_t, int64_t, int64_t, double);           \
    template void batchnorm_relu_forward_inference<A>(                                           \
        const A*, const A*, const float*, const float*, const float*, const float*, A*, int64_t, \
        int64_t, int64_t, int64_t, double);                                                      \
    template void batchnorm2d_backward<A>(const A*, const A*, const float*, const float*,        \
                                          const float*, A*, float*, float*, int64_t, int64_t,    \
                                          int64_t, int64_t, float*);                             \
    template void batchnorm_relu_backward<A>(const A*, const A*, const A*, const float*,         \
                                             const float*, const float*, A*, float*, float*, A*, \
                                             int64_t, int64_t, int64_t, int64_t, float*);
CBNN_INSTANTIATE_BN_CUDA(float)
CBNN_INSTANTIATE_BN_CUDA(bfloat16)
#undef CBNN_INSTANTIATE_BN_CUDA

}  // namespace cbnn::cuda
