#pragma once
// cbnn's own batch-norm kernels for channels-last (NHWC) activations, f32 or bf16: the twins of
// the NCHW kernels in batchnorm2d_cuda.cu (same math, same float expressions, same outputs),
// plain and with the ReLU and residual add of layers/batchnorm_relu.h fused in. Chosen with
// set_batchnorm_kernels (layers/batchnorm2d.h) for a channels-last x on CUDA. Math in those
// headers. This header holds the design and the work split shared by the forward
// (batchnorm2d_nhwc_cuda.cu) and the backward (batchnorm2d_nhwc_backward_cuda.cu) kernels; it is
// included only by those two files (internal linkage: each gets its own copy).
//
// Layout: an NHWC tensor is an (M = N*H*W) x C row-major matrix, so a channel is a column and its
// statistics are column reductions; per-channel tensors are (C) f32.
// Why not the NCHW kernels' plan (a block per channel slice): in NHWC the C values of one pixel
// are adjacent, so threads mapped to channels read whole rows coalesced, and every thread keeps
// the running sums of its own channels in registers: no transposes, no per-element channel index.
//
// Work split (Geometry, chosen on the host from M, C and the vector width V alone; the index math
// is in layers/batchnorm2d_work_split.h, which CPU tests replay at ResNet shapes):
//   - a unit is V adjacent channels of one row (V = 4, a 16-byte float or 8-byte bf16 load, when
//     C % 4 == 0 and every pointer is aligned to it; else V = 1); a row has U = C / V units;
//   - a block of kBlock threads is tx x ty: tx = min(U, 32) threads across units (a warp reads
//     32 consecutive units, or ty whole rows when U < 32: coalesced for any C), ty = kBlock / tx
//     across rows (ty * tx <= kBlock; the rest idle);
//   - grid (slabs, tiles): tile t holds units [t tx, (t+1) tx), slab s holds rows
//     [s R, min(M, (s+1) R)), R = rows_per_slab a multiple of ty; thread (i, j) of block (s, t)
//     takes unit t tx + i of rows s R + j, s R + j + ty, ... (kUnroll loads in flight), so a
//     block's work is a slab x tile rectangle. slabs is chosen for about kTargetBlocks blocks, but
//     at least kMinRowsPerThread rows per thread.
// Forward (training), three launches:
//   1. bn_nhwc_stats_kernel: each thread's per-channel (count, mean, M2) over its rows (per batch
//      of kUnroll rows two-pass, merged by Chan's formula; the V channels of a thread share one
//      count), then a fixed tree over ty in shared memory; partials[s][c] = (mean, M2) of slab s.
//   2. bn_nhwc_finish_stats_kernel (32 channels x 8 slab lanes per block): per channel, in double
//      and a fixed order, mean = sum_s n_s mean_s / M, then M2 = sum_s (M2_s + n_s (mean_s -
//      mean)^2) (the parallel-axis theorem about the final mean: no cancellation, no division per
//      partial); n_s is the slab's row count. Writes save_mean, save_invstd, the running
//      statistics, and scale = gamma invstd, shift = beta - mean scale to scratch.
//   3. bn_nhwc_apply_kernel: y = act(x scale + shift [+ residual]) with each thread's V scales
//      and shifts in registers; inference runs only this kernel, with scale and shift from the
//      running statistics.
// Backward, three launches: bn_nhwc_grad_sums_kernel (per slab sum g and sum g (x - mean), g = dy
// or dy [y > 0], stored as dresidual when wanted), bn_nhwc_finish_grads_kernel (double merge per
// channel: dgamma, dbeta and the dx coefficients a = gamma invstd, b = dbeta / M, c = dgamma
// invstd / M), bn_nhwc_dx_kernel (dx = a (g - b - (x - mean) c), g re-read from dresidual when it
// was stored: one tensor instead of dy and y).
// Deterministic: every sum has an order fixed by (M, C, V), no atomics; two runs give the same
// bits. V also depends on the pointers' alignment: tensors from cbnn's CUDA allocator always have
// it, a view starting inside a storage may not (then V = 1, another order of summation).
// Scratch: batchnorm2d_nhwc_scratch_floats, 2 slabs C partials + 3 C coefficients.
// A: float or bfloat16 (layers/batchnorm2d_kernels.h); loads widen to float, everything computes
// as for float, each A output is rounded once.
// Not yet measured (no GPU since it was written): kTargetBlocks, kMinRowsPerThread and a
// one-launch path for a single slab (as the NCHW kernels have for C >= 512) are the tuning knobs.
#include <cuda_runtime.h>

#include <cstdint>
#include <initializer_list>

#include "layers/batchnorm2d_cuda_common.cuh"
#include "layers/batchnorm2d_work_split.h"
#include "tensor/cuda_check.h"

namespace cbnn::cuda {
namespace {

using namespace batchnorm_split;
using namespace batchnorm_split::nhwc;

// The finishing kernels: kFinishChannels channels per block (coalesced partial reads along C) x
// kFinishLanes lanes over the slabs.
constexpr int kFinishChannels = 32;
constexpr int kFinishLanes = kBlock / kFinishChannels;

// This thread's place in the launch.
__device__ Place place(const Geometry& g) {
    return batchnorm_split::nhwc::place(g, blockIdx.x, blockIdx.y, static_cast<int>(threadIdx.x));
}

// Calls body(at, n) for each batch of up to kUnroll of the thread's rows: at[u] is the unit index
// (row * U + unit) of the batch's u-th row, valid for u < n (1 <= n <= kUnroll; later entries may
// point past the tensor and must not be read).
template <class Body>
__device__ void for_each_batch(const Geometry& g, const Place& p, Body&& body) {
    if (!p.loads) return;
    for (int64_t row = p.row; row < p.row_end; row += kUnroll * int64_t{g.ty}) {
        int64_t at[kUnroll];
        const int n = batch_units(g, p, row, at);
        body(at, n);
    }
}

// Rows u < n of a batch of t (units at[u]) into out[u]; nothing when t is nullptr. Inlined, so
// out stays in registers.
template <int V, class A>
__device__ __forceinline__ void load_batch(const A* __restrict__ t, const int64_t* at, int n,
                                           Pack<V>* out) {
    if (!t) return;
#pragma unroll
    for (int u = 0; u < kUnroll; ++u)
        if (u < n) out[u] = load<V>(t, at[u]);
}

// Combines the states of the threads with the same tx across ty into ty == 0, in a fixed tree
// (stride tree_top, ..., 1; a slot absorbs slot ty + stride when that exists). Every thread of
// the block calls it; the result is complete in the ty == 0 threads. One call per kernel (S and
// Combine name one static shared array).
template <class S, class Combine>
__device__ S reduce_rows(S mine, const Geometry& g, const Place& p, Combine combine) {
    __shared__ S lanes[kBlock];
    lanes[threadIdx.x] = mine;
    for (int stride = g.tree_top; stride > 0; stride /= 2) {
        __syncthreads();
        if (tree_absorbs(g, p.ty, stride)) {
            mine = combine(mine, lanes[threadIdx.x + stride * g.tx]);
            lanes[threadIdx.x] = mine;
        }
    }
    return mine;
}

// After reduce_rows: thread (i, 0) of block (s, t) stores the slab totals of its V channels,
// partials[s C + c] = first[k] and partials[(slabs + s) C + c] = second[k], c = unit V + k.
template <int V>
__device__ void store_partials(const Geometry& g, const Place& p, const float (&first)[V],
                               const float (&second)[V], float* __restrict__ partials) {
    if (p.ty != 0 || p.unit >= g.units) return;
    const int64_t at = static_cast<int64_t>(blockIdx.x) * g.C + p.unit * V;
#pragma unroll
    for (int k = 0; k < V; ++k) {
        partials[at + k] = first[k];
        partials[g.slabs * g.C + at + k] = second[k];
    }
}

struct DoublePair {
    double a, b;
};

// For the finishing kernels (kFinishChannels x kFinishLanes threads, channel c = blockIdx.x
// kFinishChannels + lane): the sum over the slabs s of term(s), a pair of doubles. Lane row r adds
// slabs r, r + kFinishLanes, ... in order, then every thread adds the kFinishLanes row sums in
// order, so all threads of a channel hold the same bits. Every thread calls it.
template <class Term>
__device__ DoublePair slab_sums(const Geometry& g, bool valid, Term term) {
    __shared__ DoublePair sums[kFinishLanes][kFinishChannels];
    const int lane = static_cast<int>(threadIdx.x) % kFinishChannels;
    const int row = static_cast<int>(threadIdx.x) / kFinishChannels;
    DoublePair s{0.0, 0.0};
    if (valid) {
        for (int64_t k = row; k < g.slabs; k += kFinishLanes) {
            const DoublePair t = term(k);
            s.a += t.a;
            s.b += t.b;
        }
    }
    sums[row][lane] = s;
    __syncthreads();
    DoublePair total{0.0, 0.0};
    for (int r = 0; r < kFinishLanes; ++r) {
        total.a += sums[r][lane].a;
        total.b += sums[r][lane].b;
    }
    __syncthreads();  // the array is free again for another call
    return total;
}

// 4-channel units when C splits into whole, aligned vectors of A.
template <class A>
int vector_width(int64_t C, std::initializer_list<const void*> pointers) {
    return C % 4 == 0 && aligned(4 * sizeof(A), pointers) ? 4 : 1;
}

dim3 grid_of(const Geometry& g) {
    CBNN_CHECK(g.tiles <= 65535, "batch_norm2d (NHWC): C = ", g.C, " needs ", g.tiles,
               " channel tiles, more than a grid's 65535");
    return dim3(static_cast<unsigned>(g.slabs), static_cast<unsigned>(g.tiles));
}

unsigned finish_blocks(int64_t C) { return static_cast<unsigned>(ceil_div(C, kFinishChannels)); }

}  // namespace
}  // namespace cbnn::cuda
