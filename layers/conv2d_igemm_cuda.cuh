#pragma once
// Device pieces shared by cbnn's implicit-GEMM convolution kernels (layers/conv2d_igemm.h):
// the tensor-core operand types per element type, the staging of a 16 x 16 activation tile in
// shared memory, and the TF32 rounding of f32 operands.
#include <cuda_bf16.h>
#include <mma.h>

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "layers/conv2d_igemm.h"
#include "tensor/bfloat16.h"

namespace cbnn::cuda::igemm {

namespace wmma = nvcuda::wmma;

inline constexpr int kThreads = 32 * kIgemmWarpsPerBlock;

// Operands of one warp-wide multiply-accumulate (WMMA) for element type T:
//   bf16: m16n16k16 on __nv_bfloat16 (cbnn's bfloat16 has the same bits), FP32 accumulation;
//   f32:  m16n16k8 on TF32 (the f32 values rounded to TF32 after loading), FP32 accumulation.
// kPitch: elements per row of a staged 16 x 16 tile. The 8 or 4 extra elements move each row to
// another shared-memory bank group; rows stay 16-byte aligned for the vector stores and tile
// starts 32-byte aligned, as load_matrix_sync requires.
template <class T>
struct Mma;
template <>
struct Mma<bfloat16> {
    using Element = __nv_bfloat16;
    using Operand = __nv_bfloat16;
    static constexpr int kDepth = 16;
    static constexpr int kPitch = 24;
    static __device__ const Element* cast(const bfloat16* p) {
        return reinterpret_cast<const Element*>(p);
    }
};
template <>
struct Mma<float> {
    using Element = float;
    using Operand = wmma::precision::tf32;
    static constexpr int kDepth = 8;
    static constexpr int kPitch = 20;
    static __device__ const Element* cast(const float* p) { return p; }
};

template <class T>
inline constexpr int kTileElements = 16 * Mma<T>::kPitch;
// Accumulator tiles are written out through a 16 x kResultPitch f32 staging tile.
inline constexpr int kResultPitch = 20;

template <class T, class Use, class Layout>
using OperandFragment =
    wmma::fragment<Use, 16, 16, Mma<T>::kDepth, typename Mma<T>::Operand, Layout>;
template <class T>
using Accumulator = wmma::fragment<wmma::accumulator, 16, 16, Mma<T>::kDepth, float>;

// TF32 operands are f32 loads rounded to TF32; bf16 operands are used as loaded.
template <class T, class Fragment>
__device__ void round_operands(Fragment& f) {
    if constexpr (std::is_same_v<T, float>) {
        for (int e = 0; e < f.num_elements; ++e) f.x[e] = wmma::__float_to_tf32(f.x[e]);
    }
}

// 8 elements of T as 16-byte vectors (1 for bf16, 2 for f32).
template <class T>
inline constexpr int kVectors = static_cast<int>(8 * sizeof(T) / sizeof(uint4));

// One warp stages a 16 x 16 tile: lane l copies channels c0 + 8 (l % 2) ... + 7 of `row` (a
// pixel of the NHWC tensor `src` with `channels` channels; -1: zeros) into row l / 2 of `tile`.
// Both lanes of a row pass the same `row`.
template <class T>
__device__ void stage_tile(const T* __restrict__ src, int64_t row, int64_t channels, int64_t c0,
                           T* tile, int lane) {
    const int i = lane >> 1, half = lane & 1;
    uint4* to = reinterpret_cast<uint4*>(tile + i * Mma<T>::kPitch + half * 8);
    if (row < 0) {
#pragma unroll
        for (int v = 0; v < kVectors<T>; ++v) to[v] = make_uint4(0, 0, 0, 0);
        return;
    }
    const uint4* from = reinterpret_cast<const uint4*>(src + row * channels + c0 + half * 8);
#pragma unroll
    for (int v = 0; v < kVectors<T>; ++v) to[v] = __ldg(from + v);
}

// Writes 8 consecutive elements (16-byte aligned) with kVectors<T> vector stores.
template <class T>
__device__ void store8(T* to, const T (&values)[8]) {
    uint4 packed[kVectors<T>];
    memcpy(packed, values, sizeof packed);
#pragma unroll
    for (int v = 0; v < kVectors<T>; ++v) reinterpret_cast<uint4*>(to)[v] = packed[v];
}

}  // namespace cbnn::cuda::igemm
