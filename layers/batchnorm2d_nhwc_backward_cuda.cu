// The backward of cbnn's NHWC batch-norm kernels, plain and fused (design, work split and math:
// layers/batchnorm2d_nhwc_cuda.cuh); the forward is in batchnorm2d_nhwc_cuda.cu.
#include <cuda_runtime.h>

#include <cstdint>

#include "layers/batchnorm2d_cuda_common.cuh"
#include "layers/batchnorm2d_kernels.h"
#include "layers/batchnorm2d_nhwc_cuda.cuh"
#include "tensor/bfloat16.h"
#include "tensor/cuda_check.h"
#include "tensor/cuda_context.h"

namespace cbnn::cuda {

namespace {

// Per-channel sum g and sum g (x - mean) of V channels.
template <int V>
struct ColumnSums {
    float g[V], gxc[V];
};

// grid (slabs, tiles): partials[s C + c] = sum g, partials[(slabs + s) C + c] = sum g (x - mean)
// of channel c over slab s; g = dy, or dy [y > 0] (stored to dresidual when wanted).
template <int V, class A>
__global__ void bn_nhwc_grad_sums_kernel(GradInputs<A> in, Geometry g,
                                         float* __restrict__ partials) {
    const Place p = place(g);
    float mean[V];
#pragma unroll
    for (int k = 0; k < V; ++k) mean[k] = p.loads ? in.save_mean[p.unit * V + k] : 0.f;
    ColumnSums<V> s{};
    for_each_batch(g, p, [&](const int64_t* at, int n) {
        Pack<V> xv[kUnroll], gv[kUnroll], yv[kUnroll];
        load_batch<V>(in.x, at, n, xv);
        load_batch<V>(in.dy, at, n, gv);
        load_batch<V>(in.y, at, n, yv);
#pragma unroll
        for (int u = 0; u < kUnroll; ++u)
            if (u < n) {
#pragma unroll
                for (int k = 0; k < V; ++k) {
                    // dy * [y > 0] as the ReLU backward computes it (NaN dy stays NaN).
                    if (in.y) gv[u].v[k] *= yv[u].v[k] > 0.f ? 1.f : 0.f;
                    s.g[k] += gv[u].v[k];
                    s.gxc[k] += gv[u].v[k] * (xv[u].v[k] - mean[k]);
                }
                if (in.dresidual) store<V>(in.dresidual, at[u], gv[u]);
            }
    });
    s = reduce_rows(s, g, p, [](const ColumnSums<V>& a, const ColumnSums<V>& b) {
        ColumnSums<V> r;
#pragma unroll
        for (int k = 0; k < V; ++k) {
            r.g[k] = a.g[k] + b.g[k];
            r.gxc[k] = a.gxc[k] + b.gxc[k];
        }
        return r;
    });
    store_partials<V>(g, p, s.g, s.gxc, partials);
}

// grid (ceil(C / kFinishChannels)): dgamma, dbeta and the dx coefficients coefficients[c] = a =
// gamma invstd, [C + c] = b = dbeta / M, [2 C + c] = c = dgamma invstd / M.
__global__ void bn_nhwc_finish_grads_kernel(const float* __restrict__ partials,
                                            const float* __restrict__ gamma,
                                            const float* __restrict__ save_invstd,
                                            float* __restrict__ dgamma, float* __restrict__ dbeta,
                                            Geometry g, float* __restrict__ coefficients) {
    const int64_t c =
        static_cast<int64_t>(blockIdx.x) * kFinishChannels + threadIdx.x % kFinishChannels;
    const bool valid = c < g.C;
    const DoublePair sums = slab_sums(g, valid, [&](int64_t s) {
        return DoublePair{partials[s * g.C + c], partials[(g.slabs + s) * g.C + c]};
    });
    if (threadIdx.x >= kFinishChannels || !valid) return;
    const double n = static_cast<double>(g.rows);
    const double invstd = save_invstd[c];
    const double dg = sums.b * invstd;
    dbeta[c] = static_cast<float>(sums.a);
    dgamma[c] = static_cast<float>(dg);
    coefficients[c] = static_cast<float>(gamma[c] * invstd);
    coefficients[g.C + c] = static_cast<float>(sums.a / n);
    coefficients[2 * g.C + c] = static_cast<float>(dg * invstd / n);
}

// grid (slabs, tiles): dx = a (g - b - (x - mean) c). g is re-read from dresidual when the sums
// kernel stored it there, else recomputed from dy (and y).
template <int V, class A>
__global__ void bn_nhwc_dx_kernel(GradInputs<A> in, const float* __restrict__ coefficients,
                                  Geometry g) {
    const Place p = place(g);
    if (!p.loads) return;
    float a[V], b[V], c[V], mean[V];
#pragma unroll
    for (int k = 0; k < V; ++k) {
        const int64_t ch = p.unit * V + k;
        a[k] = coefficients[ch];
        b[k] = coefficients[g.C + ch];
        c[k] = coefficients[2 * g.C + ch];
        mean[k] = in.save_mean[ch];
    }
    const A* g_source = in.dresidual ? in.dresidual : in.dy;
    const bool mask = in.y && !in.dresidual;
    for_each_batch(g, p, [&](const int64_t* at, int n) {
        Pack<V> xv[kUnroll], gv[kUnroll], yv[kUnroll];
        load_batch<V>(in.x, at, n, xv);
        load_batch<V>(g_source, at, n, gv);
        load_batch<V>(mask ? in.y : nullptr, at, n, yv);
#pragma unroll
        for (int u = 0; u < kUnroll; ++u)
            if (u < n) {
#pragma unroll
                for (int k = 0; k < V; ++k) {
                    float gk = gv[u].v[k];
                    if (mask) gk *= yv[u].v[k] > 0.f ? 1.f : 0.f;
                    xv[u].v[k] = a[k] * (gk - b[k] - (xv[u].v[k] - mean[k]) * c[k]);
                }
                store<V>(in.dx, at[u], xv[u]);
            }
    });
}

// The launcher of both ops: y = dresidual = nullptr gives plain batch norm.
template <class A>
void backward(const GradInputs<A>& in, int64_t rows, int64_t C, float* scratch) {
    const int V = vector_width<A>(C, {in.x, in.y, in.dy, in.dx, in.dresidual});
    const Geometry g = geometry(rows, C, V);
    float* coefficients = scratch + 2 * g.slabs * C;
    CBNN_BN_LAUNCH(bn_nhwc_grad_sums_kernel, V, grid_of(g), in, g, scratch);
    bn_nhwc_finish_grads_kernel<<<finish_blocks(C), kBlock, 0, current_stream()>>>(
        scratch, in.gamma, in.save_invstd, in.dgamma, in.dbeta, g, coefficients);
    CBNN_CUDA_LAUNCH_CHECK();
    CBNN_BN_LAUNCH(bn_nhwc_dx_kernel, V, grid_of(g), in, coefficients, g);
}

}  // namespace

template <class A>
void batchnorm2d_nhwc_backward(const A* x, const A* dy, const float* gamma, const float* save_mean,
                               const float* save_invstd, A* dx, float* dgamma, float* dbeta,
                               int64_t N, int64_t C, int64_t H, int64_t W, float* scratch) {
    backward<A>({x, nullptr, dy, gamma, save_mean, save_invstd, dx, dgamma, dbeta, nullptr},
                N * H * W, C, scratch);
}

template <class A>
void batchnorm_relu_nhwc_backward(const A* x, const A* y, const A* dy, const float* gamma,
                                  const float* save_mean, const float* save_invstd, A* dx,
                                  float* dgamma, float* dbeta, A* dresidual, int64_t N, int64_t C,
                                  int64_t H, int64_t W, float* scratch) {
    backward<A>({x, y, dy, gamma, save_mean, save_invstd, dx, dgamma, dbeta, dresidual}, N * H * W,
                C, scratch);
}

#define CBNN_INSTANTIATE_BN_NHWC(A)                                                                \
    template void batchnorm2d_nhwc_backward<A>(const A*, const A*, const float*, const float*,     \
                                               const float*, A*, float*, float*, int64_t, int64_t, \
                                               int64_t, int64_t, float*);                          \
    template void batchnorm_relu_nhwc_backward<A>(const A*, const A*, const A*, const float*,      \
                                                  const float*, const float*, A*, float*, float*,  \
                                                  A*, int64_t, int64_t, int64_t, int64_t, float*);
CBNN_INSTANTIATE_BN_NHWC(float)
CBNN_INSTANTIATE_BN_NHWC(bfloat16)
#undef CBNN_INSTANTIATE_BN_NHWC

}  // namespace cbnn::cuda
