// Filter-gradient kernels of cbnn's implicit-GEMM convolutions (layers/conv2d_igemm.h).
// dw[k][tap][c] = sum over output pixels m of dy[m][k] * x[src(m, tap)][c]: a GEMM with few outputs
// (K x R S C <= 64 x 576) and a long reduction (N P Q rows), split in two kernels:
//   partial_sums: a warp per (tap, 16-channel slice) item, chunk of rows and group of output
//     channels; for every 16 rows it stages the gathered x tile (16 rows x 16 channels) and
//     multiplies the dy tiles, read in place as column-major 16 (k) x 16 (m) operands, into its
//     group's accumulator tiles, then writes its part of the chunk's partial K x R S C block;
//   sum_chunks: kIgemmChunkLanes threads per dw element add the chunks' partial sums in the
//     header's fixed order (lane l: chunks l, l + L, ...; then the lanes in order) and round
//     once. The result depends only on the shape and the plan, never on scheduling.
// A row tile with no source row for the tap (all padding) adds nothing and is skipped.
#include "layers/conv2d_igemm_cuda.cuh"
#include "tensor/cuda_check.h"
#include "tensor/cuda_context.h"

namespace cbnn::cuda {

namespace {

using namespace igemm;

template <class T, int kKFragments>
__global__ void __launch_bounds__(kThreads)
    partial_sums_kernel(const T* __restrict__ x, const T* __restrict__ dy,
                        float* __restrict__ partial, Conv2dShape s, IgemmFilterPlan p) {
    __shared__ __align__(32) T tiles[kIgemmWarpsPerBlock][kTileElements<T>];
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int64_t item = int64_t{blockIdx.y} * kIgemmWarpsPerBlock + warp;
    if (item >= p.items) return;
    const int64_t slices = s.C / 16, tap = item / slices, c0 = (item % slices) * 16;
    const int64_t r = tap / s.S, t = tap % s.S;
    const int64_t chunk = blockIdx.x;
    const int64_t begin = chunk * p.rows_per_chunk;
    const int64_t end = begin + p.rows_per_chunk < p.rows ? begin + p.rows_per_chunk : p.rows;
    const int i = lane >> 1;
    const int64_t k0 = int64_t{blockIdx.z} * 16 * kKFragments;
    T* tile = tiles[warp];

    Accumulator<T> acc[kKFragments];
#pragma unroll
    for (int f = 0; f < kKFragments; ++f) wmma::fill_fragment(acc[f], 0.f);
    for (int64_t m0 = begin; m0 < end; m0 += 16) {
        const int64_t src = igemm_tap_source(s, false, igemm_row_pixel(s, false, m0 + i), r, t);
        if (__all_sync(0xffffffffu, src < 0)) continue;  // warp-uniform: all 16 rows padding
        __syncwarp();  // every lane has loaded its fragments of the previous tile
        stage_tile(x, src, s.C, c0, tile, lane);
        __syncwarp();
#pragma unroll
        for (int kk = 0; kk < 16; kk += Mma<T>::kDepth) {
            // rows m0 + kk ... of the x tile: the (m, c) operand
            OperandFragment<T, wmma::matrix_b, wmma::row_major> b;
            wmma::load_matrix_sync(b, Mma<T>::cast(tile) + kk * Mma<T>::kPitch, Mma<T>::kPitch);
            round_operands<T>(b);
#pragma unroll
            for (int f = 0; f < kKFragments; ++f) {
                // dy[m][k] for 16 k and kDepth m: the (k, m) operand, column-major with ld K
                OperandFragment<T, wmma::matrix_a, wmma::col_major> a;
                wmma::load_matrix_sync(a, Mma<T>::cast(dy) + (m0 + kk) * s.K + k0 + 16 * f, s.K);
                round_operands<T>(a);
                wmma::mma_sync(acc[f], a, b, acc[f]);
            }
        }
    }
    // This chunk's block: partial[chunk][k][tap * C + c], a K x R S C matrix per chunk.
    const int64_t ldw = s.R * s.S * s.C;
#pragma unroll
    for (int f = 0; f < kKFragments; ++f) {
        float* to = partial + (chunk * s.K + k0 + 16 * f) * ldw + tap * s.C + c0;
        wmma::store_matrix_sync(to, acc[f], ldw, wmma::mem_row_major);
    }
}

// A block per 32 consecutive dw elements (coalesced reads of each chunk), kIgemmChunkLanes
// lanes (threadIdx.y) per element.
template <class T>
__global__ void __launch_bounds__(32 * kIgemmChunkLanes)
    sum_chunks_kernel(const float* __restrict__ partial, T* __restrict__ dw, int64_t elements,
                      int64_t chunks) {
    __shared__ float lane_sums[kIgemmChunkLanes][33];
    const int64_t e = int64_t{blockIdx.x} * 32 + threadIdx.x;
    float sum = 0.f;
    if (e < elements)
        for (int64_t c = threadIdx.y; c < chunks; c += kIgemmChunkLanes)
            sum += partial[c * elements + e];
    lane_sums[threadIdx.y][threadIdx.x] = sum;
    __syncthreads();
    if (threadIdx.y == 0 && e < elements) {
        float total = 0.f;
        for (int l = 0; l < kIgemmChunkLanes; ++l) total += lane_sums[l][threadIdx.x];
        dw[e] = convert<T>(total);
    }
}

template <class T>
void launch(const T* x, const T* dy, T* dw, float* workspace, const Conv2dShape& s) {
    const IgemmFilterPlan p = igemm_filter_plan(s, igemm_sm_count());
    const dim3 grid(static_cast<unsigned>(p.chunks), static_cast<unsigned>(p.blocks_y),
                    static_cast<unsigned>(p.k_groups));
    const auto run = [&](auto kernel) {
        kernel<<<grid, kThreads, 0, current_stream()>>>(x, dy, workspace, s, p);
        CBNN_CUDA_LAUNCH_CHECK();
    };
    switch (p.k_fragments) {
        case 4:
            run(partial_sums_kernel<T, 4>);
            break;
        case 2:
            run(partial_sums_kernel<T, 2>);
            break;
        default:
            run(partial_sums_kernel<T, 1>);
    }
    const int64_t elements = s.K * s.R * s.S * s.C;
    sum_chunks_kernel<T><<<static_cast<unsigned>((elements + 31) / 32), dim3(32, kIgemmChunkLanes),
                           0, current_stream()>>>(workspace, dw, elements, p.chunks);
    CBNN_CUDA_LAUNCH_CHECK();
}

}  // namespace

void igemm_conv2d_backward_filter(const float* x, const float* dy, float* dw, float* workspace,
                                  const Conv2dShape& s) {
    launch(x, dy, dw, workspace, s);
}
void igemm_conv2d_backward_filter(const bfloat16* x, const bfloat16* dy, bfloat16* dw,
                                  float* workspace, const Conv2dShape& s) {
    launch(x, dy, dw, workspace, s);
}

}  // namespace cbnn::cuda
