#pragma once
// Device building blocks of the fused class-balanced loss kernels; included only by
// losses/cb_softmax_cuda.cu, cb_sigmoid_cuda.cu and cb_focal_cuda.cu (everything here has
// internal linkage, so each of those files gets its own copy, its own counter included).
//
// Kernel organisation (all three losses):
//  * Rows to teams. A team of T threads owns one row at a time: T = 32 (a warp) for C <=
//    kWarpRowMaxC, T = kBlock (the whole block) above. A block of kBlock threads holds kBlock/T
//    teams; team r of block b takes rows b*teams + r, b*teams + r + gridDim.x*teams, ...
//  * Row layout. A row is read as [head | body | tail]: head = the 0-3 floats before its first
//    16-byte boundary, body = float4 chunks (chunk c at column head + 4c; thread `lane` takes
//    chunks lane, lane + T, ...), tail = the 0-3 floats left over. So any C (8142 = 4*2035 + 2,
//    whose rows alternate between two alignments) reads its body with 128-bit loads. The head and
//    tail elements (at most 6) go one each to lanes 0..5. dlogits rows share the logits rows'
//    alignment when both base pointers agree modulo 16 (always, for tensors the op allocates);
//    otherwise the body is stored as scalars.
//  * Row sums use a fixed xor-shuffle tree (every lane gets the same bits) and, for T = kBlock,
//    a fixed pass over the warps' partials: results are bitwise repeatable run to run.
//  * The scalar loss, in the same launch: each team's lane 0 writes row_loss[row]; each block
//    then increments a counter (an unsigned int: no atomics touch the loss), and the block that
//    arrives last sums row_loss[0..N) in an order fixed by N alone, writes the loss and resets
//    the counter to 0, so the next launch (or a CUDA-graph replay) finds it at 0. The counter is
//    one __device__ variable per kernel file: sound because cbnn queues all work on one stream
//    per device (tensor/cuda_context.h), so two launches of a loss kernel never overlap.
//  * A label outside [0, C) makes the row's loss NaN and its dlogits 0 (no host sync to check).
// Measured on an H100 (kernel only, loss + dlogits, logits in [-6, 6]): at (4096, 8142) softmax
// 97.8 us, sigmoid 104.4 us, focal 106.1 us against 91.2 us for a device copy of N*C floats; at
// (512, 8142) 11.1 / 11.4 / 14.2 us; at (128, 10) one launch of 4.3 / 4.6 / 5.0 us.

#include <cstdint>

#include "losses/loss_math.h"
#include "tensor/cuda_check.h"
#include "tensor/cuda_context.h"

namespace cbnn::cuda {
namespace {

constexpr int kBlock = 256;
constexpr int kWarps = kBlock / 32;
constexpr int64_t kWarpRowMaxC = 1024;  // above this a whole block owns a row
constexpr int64_t kMaxGrid = int64_t{1} << 20;

__device__ unsigned int blocks_done = 0;

// The elementary functions of loss_math's binary terms on the GPU (ranges in losses/loss_math.h).
// libm's expf / log1pf / IEEE division cost about 45 instructions per element; these about 20,
// which keeps the focal kernel memory-bound, at float accuracy (a few ulp each).
struct FastDeviceMath {
    // e^x = 2^(x log2 e) with x log2 e split exactly into hi + lo (an fma recovers the rounding
    // error of the product), so unlike __expf the error does not grow with |x|; ex2.approx is
    // good to 2 ulp and flushes results below 2^-126 to 0.
    __device__ __forceinline__ static float exp(float x) {
        constexpr float kLog2e = 1.44269502f, kLog2eLo = 1.92596299e-8f, kLn2 = 0.693147182f;
        const float hi = x * kLog2e;
        const float lo = fmaf(x, kLog2eLo, fmaf(x, kLog2e, -hi));
        float p;
        asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(p) : "f"(hi));
        return fmaf(p, lo * kLn2, p);
    }
    __device__ __forceinline__ static float log1p_unit(float e) {
        return loss_math::log1p_unit_poly(e);
    }
    // u in [1, 2]: the hardware reciprocal, within 1 ulp.
    __device__ __forceinline__ static float recip(float u) { return __fdividef(1.f, u); }
};

inline unsigned int row_grid(int64_t N, int teams_per_block) {
    const int64_t blocks = (N + teams_per_block - 1) / teams_per_block;
    return static_cast<unsigned int>(blocks < kMaxGrid ? blocks : kMaxGrid);
}

// True when a row of dlogits can be stored with the same float4 chunks as its logits row.
inline bool same_alignment(const float* logits, const float* dlogits) {
    return dlogits == nullptr ||
           ((reinterpret_cast<uintptr_t>(logits) ^ reinterpret_cast<uintptr_t>(dlogits)) & 15) == 0;
}

struct RowGeom {
    int head;
    int tail;
    int64_t chunks;
};

__device__ __forceinline__ RowGeom row_geom(const float* row, int64_t C) {
    const int misaligned = static_cast<int>((reinterpret_cast<uintptr_t>(row) >> 2) & 3);
    int64_t head = (4 - misaligned) & 3;
    if (head > C) head = C;
    RowGeom g;
    g.head = static_cast<int>(head);
    g.chunks = (C - head) >> 2;
    g.tail = static_cast<int>(C - head - 4 * g.chunks);
    return g;
}

// The column of this lane's head or tail element, or -1.
__device__ __forceinline__ int64_t edge_col(const RowGeom& g, int lane) {
    if (lane < g.head) return lane;
    if (lane < g.head + g.tail) return g.head + 4 * g.chunks + (lane - g.head);
    return -1;
}

__device__ __forceinline__ float4 load4(const float* row, const RowGeom& g, int64_t c) {
    return *reinterpret_cast<const float4*>(row + g.head + 4 * c);
}

__device__ __forceinline__ void store4(float* row, const RowGeom& g, int64_t c, float4 v,
                                       bool vec) {
    float* p = row + g.head + 4 * c;
    if (vec) {
        *reinterpret_cast<float4*>(p) = v;
    } else {
        p[0] = v.x;
        p[1] = v.y;
        p[2] = v.z;
        p[3] = v.w;
    }
}

// Sum / max over a team of T lanes; every lane of the team returns the same value.
template <int T>
__device__ __forceinline__ float team_sum(float v, float* smem) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    if constexpr (T == 32) {
        return v;
    } else {
        if ((threadIdx.x & 31) == 0) smem[threadIdx.x / 32] = v;
        __syncthreads();
        float s = smem[0];
        for (int k = 1; k < kWarps; ++k) s += smem[k];
        __syncthreads();
        return s;
    }
}

template <int T>
__device__ __forceinline__ float team_max(float v, float* smem) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    if constexpr (T == 32) {
        return v;
    } else {
        if ((threadIdx.x & 31) == 0) smem[threadIdx.x / 32] = v;
        __syncthreads();
        float s = smem[0];
        for (int k = 1; k < kWarps; ++k) s = fmaxf(s, smem[k]);
        __syncthreads();
        return s;
    }
}

// A row whose label is outside [0, C): loss NaN, dlogits 0.
template <int T>
__device__ void bad_label_row(float* d, int64_t C, int lane, float* row_loss, int64_t row) {
    if (d != nullptr)
        for (int64_t j = lane; j < C; j += T) d[j] = 0.f;
    if (lane == 0) row_loss[row] = __int_as_float(0x7fc00000);
}

// Called by every thread of every block after its rows: the last block to arrive sums row_loss.
__device__ void finish_loss(const float* row_loss, int64_t N, float* loss, float* smem) {
    __shared__ bool last;
    __threadfence();  // this block's row_loss writes become visible before it is counted
    __syncthreads();
    if (threadIdx.x == 0) last = atomicAdd(&blocks_done, 1u) == gridDim.x - 1;
    __syncthreads();
    if (!last) return;
    float acc = 0.f;
    for (int64_t i = threadIdx.x; i < N; i += kBlock) acc += __ldcg(row_loss + i);
    acc = team_sum<kBlock>(acc, smem);
    if (threadIdx.x == 0) {
        *loss = acc;
        blocks_done = 0;
    }
}

// Sigmoid and focal: C independent binary terms per row, op(z, is_label) -> Term {value, d/dz}.
// A single streaming pass: each thread issues kUnroll float4 loads before using them.
template <int T, class Op>
__global__ void __launch_bounds__(kBlock)
    binary_rows_kernel(const float* __restrict__ logits, const int64_t* __restrict__ labels,
                       const float* __restrict__ weights, int64_t N, int64_t C, Op op,
                       bool vec_store, float* __restrict__ row_loss, float* __restrict__ loss,
                       float* __restrict__ dlogits) {
    constexpr int kTeams = kBlock / T;
    constexpr int kUnroll = 4;
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
        const float scale = weights[y] / static_cast<float>(N);
        const RowGeom g = row_geom(z, C);
        float acc = 0.f;
        const int64_t e = edge_col(g, lane);
        if (e >= 0) {
            const auto t = op(z[e], e == y);
            acc += t.value;
            if (d != nullptr) d[e] = scale * t.grad;
        }
        for (int64_t base = lane; base < g.chunks; base += int64_t{T} * kUnroll) {
            float4 v[kUnroll];
#pragma unroll
            for (int u = 0; u < kUnroll; ++u)
                if (base + u * T < g.chunks) v[u] = load4(z, g, base + u * T);
#pragma unroll
            for (int u = 0; u < kUnroll; ++u) {
                const int64_t c = base + u * T;
                if (c >= g.chunks) break;
                // Which of the 4 columns holds the label, or -1: most chunks hold none and take
                // the branch where every target is a constant false.
                const uint64_t off = static_cast<uint64_t>(y - (g.head + 4 * c));
                const int k = off < 4 ? static_cast<int>(off) : -1;
                loss_math::Term<float> t0, t1, t2, t3;
                if (k < 0) {
                    t0 = op(v[u].x, false);
                    t1 = op(v[u].y, false);
                    t2 = op(v[u].z, false);
                    t3 = op(v[u].w, false);
                } else {
                    t0 = op(v[u].x, k == 0);
                    t1 = op(v[u].y, k == 1);
                    t2 = op(v[u].z, k == 2);
                    t3 = op(v[u].w, k == 3);
                }
                acc += (t0.value + t1.value) + (t2.value + t3.value);
                if (d != nullptr) {
                    store4(d, g, c,
                           make_float4(scale * t0.grad, scale * t1.grad, scale * t2.grad,
                                       scale * t3.grad),
                           vec_store);
                }
            }
        }
        acc = team_sum<T>(acc, smem);
        if (lane == 0) row_loss[row] = scale * acc;
    }
    finish_loss(row_loss, N, loss, smem);
}

template <class Op>
void launch_binary_rows(const float* logits, const int64_t* labels, const float* weights, int64_t N,
                        int64_t C, Op op, float* row_loss, float* loss, float* dlogits) {
    if (N <= 0) return;
    const bool vec = same_alignment(logits, dlogits);
    if (C <= kWarpRowMaxC) {
        binary_rows_kernel<32, Op><<<row_grid(N, kBlock / 32), kBlock, 0, current_stream()>>>(
            logits, labels, weights, N, C, op, vec, row_loss, loss, dlogits);
    } else {
        binary_rows_kernel<kBlock, Op><<<row_grid(N, 1), kBlock, 0, current_stream()>>>(
            logits, labels, weights, N, C, op, vec, row_loss, loss, dlogits);
    }
    CBNN_CUDA_LAUNCH_CHECK();
}

}  // namespace
}  // namespace cbnn::cuda
