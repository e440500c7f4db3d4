// The training forward and the inference of cbnn's NHWC batch-norm kernels, plain and fused
// (design, work split and math: layers/batchnorm2d_nhwc_cuda.cuh); the backward is in
// batchnorm2d_nhwc_backward_cuda.cu.
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

// ---- training forward ---------------------------------------------------------------------------

// Per-channel (count, mean, M2) of V channels; the channels of a thread see the same rows, so
// they share the count.
template <int V>
struct ColumnStats {
    float count;
    float mean[V], m2[V];
};

// Chan's merge of two disjoint sets of rows.
template <int V>
__device__ ColumnStats<V> merge(const ColumnStats<V>& a, const ColumnStats<V>& b) {
    if (b.count == 0.f) return a;
    ColumnStats<V> r;
    r.count = a.count + b.count;
    const float wb = b.count / r.count;
#pragma unroll
    for (int k = 0; k < V; ++k) {
        const float delta = b.mean[k] - a.mean[k];
        r.mean[k] = a.mean[k] + delta * wb;
        r.m2[k] = a.m2[k] + b.m2[k] + delta * delta * a.count * wb;
    }
    return r;
}

// grid (slabs, tiles): partials[s C + c] = mean, partials[(slabs + s) C + c] = M2 of channel c
// over slab s.
template <int V, class A>
__global__ void bn_nhwc_stats_kernel(const A* __restrict__ x, Geometry g,
                                     float* __restrict__ partials) {
    const Place p = place(g);
    ColumnStats<V> s{};
    for_each_batch(g, p, [&](const int64_t* at, int n) {
        Pack<V> v[kUnroll];
        load_batch<V>(x, at, n, v);
        ColumnStats<V> b;
        b.count = static_cast<float>(n);
#pragma unroll
        for (int k = 0; k < V; ++k) {
            float sum = 0.f;
#pragma unroll
            for (int u = 0; u < kUnroll; ++u)
                if (u < n) sum += v[u].v[k];
            b.mean[k] = sum / b.count;
            float m2 = 0.f;
#pragma unroll
            for (int u = 0; u < kUnroll; ++u)
                if (u < n) m2 += (v[u].v[k] - b.mean[k]) * (v[u].v[k] - b.mean[k]);
            b.m2[k] = m2;
        }
        s = merge(s, b);
    });
    s = reduce_rows(s, g, p,
                    [](const ColumnStats<V>& a, const ColumnStats<V>& b) { return merge(a, b); });
    store_partials<V>(g, p, s.mean, s.m2, partials);
}

// grid (ceil(C / kFinishChannels)): channel statistics from the slab partials (see the header);
// coefficients[c] = scale, coefficients[C + c] = shift.
__global__ void bn_nhwc_finish_stats_kernel(const float* __restrict__ partials, Statistics st,
                                            Geometry g, float* __restrict__ coefficients) {
    const int64_t c =
        static_cast<int64_t>(blockIdx.x) * kFinishChannels + threadIdx.x % kFinishChannels;
    const bool valid = c < g.C;
    const float* means = partials;
    const float* m2s = partials + g.slabs * g.C;
    const double n = static_cast<double>(g.rows);
    const DoublePair weighted = slab_sums(g, valid, [&](int64_t s) {
        return DoublePair{static_cast<double>(slab_rows(g, s)) * means[s * g.C + c], 0.0};
    });
    const double mean = weighted.a / n;
    const DoublePair squares = slab_sums(g, valid, [&](int64_t s) {
        const double d = means[s * g.C + c] - mean;
        return DoublePair{m2s[s * g.C + c] + static_cast<double>(slab_rows(g, s)) * d * d, 0.0};
    });
    const double m2 = squares.a;
    if (threadIdx.x >= kFinishChannels || !valid) return;
    const double var = m2 / n, invstd = 1.0 / sqrt(var + st.eps);
    const double m = st.momentum;
    st.save_mean[c] = static_cast<float>(mean);
    st.save_invstd[c] = static_cast<float>(invstd);
    st.running_mean[c] = static_cast<float>((1.0 - m) * st.running_mean[c] + m * mean);
    st.running_var[c] = static_cast<float>((1.0 - m) * st.running_var[c] + m * var * n / (n - 1.0));
    const double scale = st.gamma[c] * invstd;
    coefficients[c] = static_cast<float>(scale);
    coefficients[g.C + c] = static_cast<float>(st.beta[c] - mean * scale);
}

// ---- normalisation (training and inference) ----------------------------------------------------

// Where the per-channel y = x scale + shift comes from: coefficients (scale (C), then shift (C),
// from bn_nhwc_finish_stats_kernel), or, when that is nullptr, the running statistics.
struct Affine {
    const float* coefficients;
    const float *gamma, *beta, *running_mean, *running_var;
    double eps;
};

// grid (slabs, tiles): y = act(x scale + shift [+ residual]), act = relu or identity.
template <int V, class A>
__global__ void bn_nhwc_apply_kernel(const A* __restrict__ x, const A* __restrict__ residual,
                                     bool relu, Affine f, Geometry g, A* __restrict__ y) {
    const Place p = place(g);
    if (!p.loads) return;
    float scale[V], shift[V];
#pragma unroll
    for (int k = 0; k < V; ++k) {
        const int64_t c = p.unit * V + k;
        if (f.coefficients) {
            scale[k] = f.coefficients[c];
            shift[k] = f.coefficients[g.C + c];
        } else {
            const double sc = f.gamma[c] / sqrt(static_cast<double>(f.running_var[c]) + f.eps);
            scale[k] = static_cast<float>(sc);
            shift[k] = static_cast<float>(f.beta[c] - f.running_mean[c] * sc);
        }
    }
    for_each_batch(g, p, [&](const int64_t* at, int n) {
        Pack<V> v[kUnroll], r[kUnroll];
        load_batch<V>(x, at, n, v);
        load_batch<V>(residual, at, n, r);
#pragma unroll
        for (int u = 0; u < kUnroll; ++u)
            if (u < n) {
#pragma unroll
                for (int k = 0; k < V; ++k) {
                    // Rounded to f32 before the add, like the composed ops.
                    float o = v[u].v[k] * scale[k] + shift[k];
                    if (residual) o += r[u].v[k];
                    v[u].v[k] = relu ? (o > 0.f ? o : 0.f) : o;
                }
                store<V>(y, at[u], v[u]);
            }
    });
}

// ---- launchers ----------------------------------------------------------------------------------

// The launchers of both ops: relu = false and residual = nullptr give plain batch norm.
template <class A>
void forward_training(const A* x, const A* residual, bool relu, const Statistics& st, A* y,
                      int64_t rows, int64_t C, float* scratch) {
    const int V = vector_width<A>(C, {x, residual, y});
    const Geometry g = geometry(rows, C, V);
    float* coefficients = scratch + 2 * g.slabs * C;
    CBNN_BN_LAUNCH(bn_nhwc_stats_kernel, V, grid_of(g), x, g, scratch);
    bn_nhwc_finish_stats_kernel<<<finish_blocks(C), kBlock, 0, current_stream()>>>(scratch, st, g,
                                                                                   coefficients);
    CBNN_CUDA_LAUNCH_CHECK();
    const Affine f{coefficients, nullptr, nullptr, nullptr, nullptr, 0.0};
    CBNN_BN_LAUNCH(bn_nhwc_apply_kernel, V, grid_of(g), x, residual, relu, f, g, y);
}

template <class A>
void forward_inference(const A* x, const A* residual, bool relu, const float* gamma,
                       const float* beta, const float* running_mean, const float* running_var, A* y,
                       int64_t rows, int64_t C, double eps) {
    const int V = vector_width<A>(C, {x, residual, y});
    const Geometry g = geometry(rows, C, V);
    const Affine f{nullptr, gamma, beta, running_mean, running_var, eps};
    CBNN_BN_LAUNCH(bn_nhwc_apply_kernel, V, grid_of(g), x, residual, relu, f, g, y);
}

}  // namespace

int64_t batchnorm2d_nhwc_scratch_floats(int64_t N, int64_t C, int64_t H, int64_t W) {
    return batchnorm_split::nhwc::scratch_floats(N * H * W, C);
}

template <class A>
void batchnorm2d_nhwc_forward_training(const A* x, const float* gamma, const float* beta, A* y,
                                       float* running_mean, float* running_var, float* save_mean,
                                       float* save_invstd, int64_t N, int64_t C, int64_t H,
                                       int64_t W, double momentum, double eps, float* scratch) {
    const Statistics st{gamma,     beta,        running_mean, running_var,
                        save_mean, save_invstd, momentum,     eps};
    forward_training<A>(x, nullptr, false, st, y, N * H * W, C, scratch);
}

template <class A>
void batchnorm_relu_nhwc_forward_training(const A* x, const A* residual, const float* gamma,
                                          const float* beta, A* y, float* running_mean,
                                          float* running_var, float* save_mean, float* save_invstd,
                                          int64_t N, int64_t C, int64_t H, int64_t W,
                                          double momentum, double eps, float* scratch) {
    const Statistics st{gamma,     beta,        running_mean, running_var,
                        save_mean, save_invstd, momentum,     eps};
    forward_training(x, residual, true, st, y, N * H * W, C, scratch);
}

template <class A>
void batchnorm2d_nhwc_forward_inference(const A* x, const float* gamma, const float* beta,
                                        const float* running_mean, const float* running_var, A* y,
                                        int64_t N, int64_t C, int64_t H, int64_t W, double eps) {
    forward_inference<A>(x, nullptr, false, gamma, beta, running_mean, running_var, y, N * H * W, C,
                         eps);
}

template <class A>
void batchnorm_relu_nhwc_forward_inference(const A* x, const A* residual, const float* gamma,
                                           const float* beta, const float* running_mean,
                                           const float* running_var, A* y, int64_t N, int64_t C,
                                           int64_t H, int64_t W, double eps) {
    forward_inference(x, residual, true, gamma, beta, running_mean, running_var, y, N * H * W, C,
                      eps);
}

#define CBNN_INSTANTIATE_BN_NHWC(A)                                                              \
    template void batchnorm2d_nhwc_forward_training<A>(                                          \
        const A*, const float*, const float*, A*, float*, float*, float*, float*, int64_t,       \
        int64_t, int64_t, int64_t, double, double, float*);                                      \
    template void batchnorm_relu_nhwc_forward_training<A>(                                       \
        const A*, const A*, const float*, const float*, A*, float*, float*, float*, float*,      \
        int64_t, int64_t, int64_t, int64_t, double, double, float*);                             \
    template void batchnorm2d_nhwc_forward_inference<A>(const A*, const float*, const float*,    \
                                                        const float*, const float*, A*, int64_t, \
                                                        int64_t, int64_t, int64_t, double);      \
    template void batchnorm_relu_nhwc_forward_inference<A>(                                      \
        const A*, const A*, const float*, const float*, const float*, const float*, A*, int64_t, \
        int64_t, int64_t, int64_t, double);
CBNN_INSTANTIATE_BN_NHWC(float)
CBNN_INSTANTIATE_BN_NHWC(bfloat16)
#undef CBNN_INSTANTIATE_BN_NHWC

}  // namespace cbnn::cuda
