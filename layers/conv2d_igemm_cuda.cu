// Forward and data-gradient kernels of cbnn's implicit-GEMM convolutions (layers/conv2d_igemm.h).
// One kernel serves both: a warp owns 16 GEMM rows (pixels) and 16 * kColFragments output
// channels; for every filter tap and 16-channel slice of the reduction it stages the 16 x 16
// activation tile (rows gathered through igemm_tap_source, zeros for padding) in shared memory
// and multiplies it with the matching weight tiles, read in place from the KRSC weight
// (column-major for the forward, row-major for the data gradient). Each output is rounded once.
// A tap with no source row for any of the warp's 16 rows (padding; for the data gradient of a
// strided convolution, every tap of the wrong parity) adds nothing and is skipped.
#include <atomic>

#include "layers/conv2d_igemm_cuda.cuh"
#include "tensor/cuda_check.h"
#include "tensor/cuda_context.h"

namespace cbnn::cuda {

namespace {

using namespace igemm;

template <class T, bool kBackwardData, int kColFragments>
__global__ void __launch_bounds__(kThreads)
    gather_gemm_kernel(const T* __restrict__ in, const T* __restrict__ w,
                       const T* __restrict__ bias, T* __restrict__ out, Conv2dShape s, int64_t rows,
                       int64_t in_channels, int64_t out_channels) {
    using B = std::conditional_t<kBackwardData, wmma::row_major, wmma::col_major>;
    __shared__ __align__(32) T tiles[kIgemmWarpsPerBlock][kTileElements<T>];
    __shared__ __align__(32) float results[kIgemmWarpsPerBlock][16 * kResultPitch];
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int64_t row0 = (int64_t{blockIdx.x} * kIgemmWarpsPerBlock + warp) * 16;
    if (row0 >= rows) return;  // rows is a multiple of 16: a warp's rows are all valid or none
    const int64_t col0 = int64_t{blockIdx.y} * 16 * kColFragments;
    const int i = lane >> 1, half = lane & 1;
    const IgemmPixel pixel = igemm_row_pixel(s, kBackwardData, row0 + i);
    const int64_t ldw = s.R * s.S * s.C;
    T* tile = tiles[warp];

    Accumulator<T> acc[kColFragments];
#pragma unroll
    for (int f = 0; f < kColFragments; ++f) wmma::fill_fragment(acc[f], 0.f);
    for (int64_t r = 0; r < s.R; ++r) {
        for (int64_t t = 0; t < s.S; ++t) {
            const int64_t tap = r * s.S + t;
            const int64_t src = igemm_tap_source(s, kBackwardData, pixel, r, t);
            if (__all_sync(0xffffffffu, src < 0)) continue;  // warp-uniform
            for (int64_t c0 = 0; c0 < in_channels; c0 += 16) {
                __syncwarp();  // every lane has loaded its fragments of the previous tile
                stage_tile(in, src, in_channels, c0, tile, lane);
                __syncwarp();
#pragma unroll
                for (int kk = 0; kk < 16; kk += Mma<T>::kDepth) {
                    OperandFragment<T, wmma::matrix_a, wmma::row_major> a;
                    wmma::load_matrix_sync(a, Mma<T>::cast(tile) + kk, Mma<T>::kPitch);
                    round_operands<T>(a);
#pragma unroll
                    for (int f = 0; f < kColFragments; ++f) {
                        OperandFragment<T, wmma::matrix_b, B> b;
                        const int64_t at =
                            igemm_weight_offset(s, kBackwardData, tap, c0 + kk, col0 + 16 * f);
                        wmma::load_matrix_sync(b, Mma<T>::cast(w) + at, ldw);
                        round_operands<T>(b);
                        wmma::mma_sync(acc[f], a, b, acc[f]);
                    }
                }
            }
        }
    }

    float* result = results[warp];
#pragma unroll
    for (int f = 0; f < kColFragments; ++f) {
        wmma::store_matrix_sync(result, acc[f], kResultPitch, wmma::mem_row_major);
        __syncwarp();
        const int64_t col = col0 + 16 * f + half * 8;
        T values[8];
#pragma unroll
        for (int e = 0; e < 8; ++e) {
            float v = result[i * kResultPitch + half * 8 + e];
            if (bias != nullptr) v += convert<float>(bias[col + e]);
            values[e] = convert<T>(v);
        }
        store8(out + (row0 + i) * out_channels + col, values);
        __syncwarp();  // every lane has read the tile before the next store_matrix_sync
    }
}

template <class T, bool kBackwardData>
void launch(const T* in, const T* w, const T* bias, T* out, const Conv2dShape& s) {
    const IgemmGatherPlan p = igemm_gather_plan(s, kBackwardData, igemm_sm_count());
    const dim3 grid(static_cast<unsigned>(p.blocks_x), static_cast<unsigned>(p.blocks_y));
    const auto run = [&](auto kernel) {
        kernel<<<grid, kThreads, 0, current_stream()>>>(in, w, bias, out, s, p.rows, p.in_channels,
                                                        p.out_channels);
        CBNN_CUDA_LAUNCH_CHECK();
    };
    switch (p.col_fragments) {
        case 4:
            run(gather_gemm_kernel<T, kBackwardData, 4>);
            break;
        case 2:
            run(gather_gemm_kernel<T, kBackwardData, 2>);
            break;
        default:
            run(gather_gemm_kernel<T, kBackwardData, 1>);
    }
}

}  // namespace

int64_t igemm_sm_count() {
    constexpr int kCachedDevices = 64;
    static std::atomic<int> cached[kCachedDevices] = {};  // 0: not asked yet
    const int device = current_device();
    int sm_count = device < kCachedDevices ? cached[device].load() : 0;
    if (sm_count == 0) {
        CBNN_CUDA_CHECK(cudaDeviceGetAttribute(&sm_count, cudaDevAttrMultiProcessorCount, device));
        if (device < kCachedDevices) cached[device] = sm_count;
    }
    return sm_count;
}

void igemm_conv2d_forward(const float* x, const float* w, const float* b, float* y,
                          const Conv2dShape& s) {
    launch<float, false>(x, w, b, y, s);
}
void igemm_conv2d_forward(const bfloat16* x, const bfloat16* w, const bfloat16* b, bfloat16* y,
                          const Conv2dShape& s) {
    launch<bfloat16, false>(x, w, b, y, s);
}
void igemm_conv2d_backward_data(const float* dy, const float* w, float* dx, const Conv2dShape& s) {
    launch<float, true>(dy, w, nullptr, dx, s);
}
void igemm_conv2d_backward_data(const bfloat16* dy, const bfloat16* w, bfloat16* dx,
                                const Conv2dShape& s) {
    launch<bfloat16, true>(dy, w, nullptr, dx, s);
}

}  // namespace cbnn::cuda
