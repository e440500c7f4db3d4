// CUDA twin of losses/cb_softmax.cpp. Rows are spread over teams of threads and read as
// [head | float4 body | tail] as described in losses/cb_rows_cuda.cuh; the final sum runs in the
// same launch. Softmax needs the row max and sum of exponentials before any dlogits can be
// written, so the row must be seen twice without reading HBM twice:
//  * cached (C <= 16384): each thread keeps its K float4 chunks in registers: load, team max,
//    exponentiate in place, team sum, then dlogits from the registers. One HBM read, one write.
//    K is the smallest of {1, 2, 4, 8} (warp teams, C <= 1024) or {2, 4, 8, 16} (block teams)
//    that holds the row; e.g. (N, 8142) uses block teams with K = 8 (32 floats per thread).
//  * streamed (larger C): an online (max, sum) pass rescaled once per float4 chunk, then a second
//    pass re-reads the row (mostly from L2) to write dlogits.
#include <cmath>

#include "losses/cb_rows_cuda.cuh"
#include "losses/cb_softmax.h"

namespace cbnn::cuda {

namespace {

__device__ __forceinline__ float max4(float4 v) { return fmaxf(fmaxf(v.x, v.y), fmaxf(v.z, v.w)); }

__device__ __forceinline__ float4 softmax_grad4(float4 p, int64_t j, int64_t y, float scale) {
    return make_float4(
        scale * (p.x - (j == y ? 1.f : 0.f)), scale * (p.y - (j + 1 == y ? 1.f : 0.f)),
        scale * (p.z - (j + 2 == y ? 1.f : 0.f)), scale * (p.w - (j + 3 == y ? 1.f : 0.f)));
}

__device__ __forceinline__ float4 scale4(float4 v, float s) {
    return make_float4(v.x * s, v.y * s, v.z * s, v.w * s);
}

template <int T, int K>
__global__ void __launch_bounds__(kBlock)
    cb_softmax_cached_kernel(const float* __restrict__ logits, const int64_t* __restrict__ labels,
                             const float* __restrict__ weights, int64_t N, int64_t C,
                             bool vec_store, float* __restrict__ row_loss, float* __restrict__ loss,
                             float* __restrict__ dlogits) {
    constexpr int kTeams = kBlock / T;
    __shared__ float smem[kWarps];
    const int lane = static_cast<int>(threadIdx.x % T);
    for (int64_t row = int64_t{blockIdx.x} * kTeams + threadIdx.x / T; row < N;
         row += int64_t{gridDim.x} * kTeams) {
        const float* z = logits + row * C;
        float* d = dlogits != nullptr ? dlogits + row * C : nullptr;
        const int64_t y = labels[row];
        if (y < 0 || y >= C) {
            bad_label_row<T>(d, C, lane, row_loss, row);
            continue;
        }
        const RowGeom g = row_geom(z, C);
        float4 v[K];
        float m = -INFINITY;
#pragma unroll
        for (int k = 0; k < K; ++k) {
            if (lane + k * T < g.chunks) {
                v[k] = load4(z, g, lane + k * T);
                m = fmaxf(m, max4(v[k]));
            }
        }
        const int64_t e = edge_col(g, lane);
        float ve = e >= 0 ? z[e] : -INFINITY;
        m = team_max<T>(fmaxf(m, ve), smem);
        float s = 0.f;
#pragma unroll
        for (int k = 0; k < K; ++k) {
            if (lane + k * T < g.chunks) {
                v[k] = make_float4(expf(v[k].x - m), expf(v[k].y - m), expf(v[k].z - m),
                                   expf(v[k].w - m));
                s += (v[k].x + v[k].y) + (v[k].z + v[k].w);
            }
        }
        if (e >= 0) {
            ve = expf(ve - m);
            s += ve;
        }
        s = team_sum<T>(s, smem);
        const float scale = weights[y] / static_cast<float>(N);
        if (lane == 0) row_loss[row] = scale * ((m - z[y]) + logf(s));
        if (d == nullptr) continue;
        const float inv_s = 1.f / s;
#pragma unroll
        for (int k = 0; k < K; ++k) {
            const int64_t c = lane + k * T;
            if (c < g.chunks)
                store4(d, g, c, softmax_grad4(scale4(v[k], inv_s), g.head + 4 * c, y, scale),
                       vec_store);
        }
        if (e >= 0) d[e] = scale * (ve * inv_s - (e == y ? 1.f : 0.f));
    }
    finish_loss(row_loss, N, loss, smem);
}

__global__ void __launch_bounds__(kBlock)
    cb_softmax_streamed_kernel(const float* __restrict__ logits, const int64_t* __restrict__ labels,
                               const float* __restrict__ weights, int64_t N, int64_t C,
                               bool vec_store, float* __restrict__ row_loss,
                               float* __restrict__ loss, float* __restrict__ dlogits) {
    __shared__ float smem[kWarps];
    const int lane = static_cast<int>(threadIdx.x);
    for (int64_t row = blockIdx.x; row < N; row += gridDim.x) {
        const float* z = logits + row * C;
        float* d = dlogits != nullptr ? dlogits + row * C : nullptr;
        const int64_t y = labels[row];
        if (y < 0 || y >= C) {
            bad_label_row<kBlock>(d, C, lane, row_loss, row);
            continue;
        }
        const RowGeom g = row_geom(z, C);
        const int64_t e = edge_col(g, lane);
        float m = e >= 0 ? z[e] : -INFINITY;
        float s = e >= 0 ? 1.f : 0.f;
        for (int64_t c = lane; c < g.chunks; c += kBlock) {
            const float4 v = load4(z, g, c);
            const float cm = max4(v);
            if (cm > m) {
                s *= expf(m - cm);
                m = cm;
            }
            s += (expf(v.x - m) + expf(v.y - m)) + (expf(v.z - m) + expf(v.w - m));
        }
        const float row_m = team_max<kBlock>(m, smem);
        s = team_sum<kBlock>(s > 0.f ? s * expf(m - row_m) : 0.f, smem);
        m = row_m;
        const float scale = weights[y] / static_cast<float>(N);
        if (lane == 0) row_loss[row] = scale * ((m - z[y]) + logf(s));
        if (d == nullptr) continue;
        const float inv_s = 1.f / s;
        for (int64_t c = lane; c < g.chunks; c += kBlock) {
            const float4 v = load4(z, g, c);
            const float4 p = make_float4(expf(v.x - m) * inv_s, expf(v.y - m) * inv_s,
                                         expf(v.z - m) * inv_s, expf(v.w - m) * inv_s);
            store4(d, g, c, softmax_grad4(p, g.head + 4 * c, y, scale), vec_store);
        }
        if (e >= 0) d[e] = scale * (expf(z[e] - m) * inv_s - (e == y ? 1.f : 0.f));
    }
    finish_loss(row_loss, N, loss, smem);
}

template <int T, int K>
void launch_cached(const float* logits, const int64_t* labels, const float* weights, int64_t N,
                   int64_t C, bool vec, float* row_loss, float* loss, float* dlogits) {
    cb_softmax_cached_kernel<T, K><<<row_grid(N, kBlock / T), kBlock, 0, current_stream()>>>(
        logits, labels, weights, N, C, vec, row_loss, loss, dlogits);
}

}  // namespace

void cb_softmax_loss(const float* logits, const int64_t* labels, const float* weights, int64_t N,
                     int64_t C, float* row_loss, float* loss, float* dlogits) {
    if (N <= 0) return;
    const bool vec = same_alignment(logits, dlogits);
    const int64_t chunks = C / 4;  // the body never has more float4 chunks than this
    const auto fits = [&](int team, int k) { return chunks <= int64_t{team} * k; };
    const auto args = [&](auto launch) {
        launch(logits, labels, weights, N, C, vec, row_loss, loss, dlogits);
    };
    if (fits(32, 1))
        args(launch_cached<32, 1>);
    else if (fits(32, 2))
        args(launch_cached<32, 2>);
    else if (fits(32, 4))
        args(launch_cached<32, 4>);
    else if (C <= kWarpRowMaxC)
        args(launch_cached<32, 8>);
    else if (fits(kBlock, 2))
        args(launch_cached<kBlock, 2>);
    else if (fits(kBlock, 4))
        args(launch_cached<kBlock, 4>);
    else if (fits(kBlock, 8))
        args(launch_cached<kBlock, 8>);
    else if (fits(kBlock, 16))
        args(launch_cached<kBlock, 16>);
    else {
        cb_softmax_streamed_kernel<<<row_grid(N, 1), kBlock, 0, current_stream()>>>(
            logits, labels, weights, N, C, vec, row_loss, loss, dlogits);
    }
    CBNN_CUDA_LAUNCH_CHECK();
}

}  // namespace cbnn::cuda
