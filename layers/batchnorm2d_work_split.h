#pragma once
// How cbnn's CUDA batch-norm kernels split their work among blocks and threads: the NCHW kernels'
// channel slices and per-thread cursor (layers/batchnorm2d_cuda.cu) and the NHWC kernels' slab x
// tile grid, thread places and row batches (layers/batchnorm2d_nhwc_cuda.cuh). CBNN_HD and free of
// CUDA built-ins (block and thread indices are parameters), so that CPU tests
// (tests/layers/test_batchnorm2d_work_split.cpp) can replay every block and thread of a launch at
// the real ResNet shapes and check that each element is visited exactly once: a gap or an
// overlap there would give wrong statistics without any error.
// Units: V adjacent elements (V = 4: one vector load; V = 1) of one NCHW plane or one NHWC row.
#include <algorithm>
#include <cstdint>

#include "tensor/hd.h"

namespace cbnn::batchnorm_split {

constexpr int kBlock = 256;  // threads of every batch-norm kernel
constexpr int kUnroll = 4;   // loads each thread issues before it uses the first

CBNN_HD int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

namespace nchw {

// Slices per channel: enough blocks for a few waves on a 132-SM GPU, never more than N (S > 1 only
// for C < kTargetBlocks). Grids: (S, C), C in gridDim.y (<= 65535), or (C) for S = 1 in training.
constexpr int64_t kTargetBlocks = 512;

inline int64_t slices_per_channel(int64_t N, int64_t C) {
    const int64_t want = ceil_div(kTargetBlocks, C);
    return want < N ? want : N;
}

// Device scratch of the training forward (count, mean, M2 per slice) and the backward (2 sums).
inline int64_t scratch_floats(int64_t N, int64_t C) { return C * slices_per_channel(N, C) * 3; }

// Slice s of S holds images [n0, n1) of its channel: every image in exactly one slice, none empty
// (S <= N).
CBNN_HD void slice_images(int64_t N, int64_t S, int64_t s, int64_t* n0, int64_t* n1) {
    *n0 = s * N / S;
    *n1 = (s + 1) * N / S;
}

// The units of slice (c, images [n0, n1)) that thread `thread` of a kBlock-thread block visits:
// thread, thread + kBlock, ... of the slice's (image, position) range, stepped without a division
// per element. offset is the unit index (n C + c) hw_units + hw.
struct Cursor {
    int64_t n, n1, hw, hw_size, step_n, step_hw, offset, step_offset, plane_stride;
    CBNN_HD Cursor(int64_t n0, int64_t n1_, int64_t c, int64_t C, int64_t hw_units, int thread)
        : n(n0 + thread / hw_units),
          n1(n1_),
          hw(thread % hw_units),
          hw_size(hw_units),
          step_n(kBlock / hw_units),
          step_hw(kBlock % hw_units),
          offset((n * C + c) * hw_units + hw),
          step_offset(step_n * C * hw_units + step_hw),
          plane_stride(C * hw_units) {}
    CBNN_HD bool valid() const { return n < n1; }
    CBNN_HD void advance() {
        n += step_n;
        hw += step_hw;
        offset += step_offset;
        if (hw >= hw_size) {  // step_hw < hw_size: at most one wrap
            hw -= hw_size;
            ++n;
            offset += plane_stride - hw_size;
        }
    }
    // The next kUnroll unit indices into at[] (-1 past the end); false when there are none.
    CBNN_HD bool gather(int64_t* at) {
        const bool any = valid();
#ifdef __CUDACC__
#pragma unroll
#endif
        for (int u = 0; u < kUnroll; ++u) {
            at[u] = valid() ? offset : -1;
            advance();
        }
        return any;
    }
};

}  // namespace nchw

namespace nhwc {

constexpr int kMaxUnitThreads = 32;      // tx: one warp across the units of a row
constexpr int64_t kTargetBlocks = 1024;  // a few waves of 256-thread blocks on a 132-SM GPU
constexpr int64_t kMinRowsPerThread = kUnroll;

// The work split of one call (layers/batchnorm2d_nhwc_cuda.cuh); passed to every kernel by value.
struct Geometry {
    int64_t rows;           // M = N*H*W
    int64_t C;              // channels
    int64_t units;          // U = C / V
    int64_t rows_per_slab;  // R, a multiple of ty
    int64_t slabs;          // ceil(M / R): gridDim.x
    int64_t tiles;          // ceil(U / tx): gridDim.y
    int tx, ty;             // threads across units and across rows
    int tree_top;           // half the power of two >= ty: the first stride of the row tree
};

inline Geometry geometry(int64_t rows, int64_t C, int V) {
    Geometry g{};
    g.rows = rows;
    g.C = C;
    g.units = C / V;
    g.tx = static_cast<int>(std::min<int64_t>(g.units, kMaxUnitThreads));
    g.ty = kBlock / g.tx;
    int top = 1;
    while (top < g.ty) top *= 2;
    g.tree_top = top / 2;
    g.tiles = ceil_div(g.units, g.tx);
    const int64_t wanted = ceil_div(kTargetBlocks, g.tiles);
    const int64_t most = ceil_div(rows, int64_t{g.ty} * kMinRowsPerThread);
    const int64_t slabs = std::max<int64_t>(1, std::min(wanted, most));
    g.rows_per_slab = ceil_div(ceil_div(rows, slabs), g.ty) * g.ty;
    g.slabs = ceil_div(rows, g.rows_per_slab);
    return g;
}

// Device scratch for rows x C activations: 2 slabs C partials, then 3 C coefficients, for
// whichever vector width a call takes (V = 4 needs C % 4 == 0; V = 1 for any C or unaligned data).
inline int64_t scratch_floats(int64_t rows, int64_t C) {
    int64_t slabs = geometry(rows, C, 1).slabs;
    if (C % 4 == 0) slabs = std::max(slabs, geometry(rows, C, 4).slabs);
    return 2 * slabs * C + 3 * C;
}

// Rows of slab s (all but the last have rows_per_slab).
CBNN_HD int64_t slab_rows(const Geometry& g, int64_t s) {
    const int64_t begin = s * g.rows_per_slab, end = begin + g.rows_per_slab;
    return (end < g.rows ? end : g.rows) - begin;
}

// A thread's place in the split: its unit and its rows row, row + ty, ... < row_end.
struct Place {
    int tx, ty;
    int64_t unit;  // channels unit V ... unit V + V - 1
    bool loads;    // has a unit and a row lane (the last tile and tx * ty < kBlock leave some idle)
    int64_t row, row_end;
};

// Thread `thread` of block (slab, tile).
CBNN_HD Place place(const Geometry& g, int64_t slab, int64_t tile, int thread) {
    Place p;
    p.tx = thread % g.tx;
    p.ty = thread / g.tx;
    p.unit = tile * g.tx + p.tx;
    p.loads = p.ty < g.ty && p.unit < g.units;
    const int64_t first = slab * g.rows_per_slab;
    p.row = first + p.ty;
    p.row_end = first + g.rows_per_slab < g.rows ? first + g.rows_per_slab : g.rows;
    return p;
}

// The batch of up to kUnroll of a thread's rows that starts at `row`: at[u] = row_u U + unit for
// row_u = row + u ty; returns how many of them (a prefix) are < row_end. Later entries may point
// past the tensor and must not be read.
CBNN_HD int batch_units(const Geometry& g, const Place& p, int64_t row, int64_t* at) {
    int n = 0;
#ifdef __CUDACC__
#pragma unroll
#endif
    for (int u = 0; u < kUnroll; ++u) {
        const int64_t r = row + u * int64_t{g.ty};
        at[u] = r * g.units + p.unit;
        n += r < p.row_end ? 1 : 0;
    }
    return n;
}

// The row tree of reduce_rows: at `stride`, slot ty absorbs slot ty + stride when both exist.
CBNN_HD bool tree_absorbs(const Geometry& g, int ty, int stride) {
    return ty < stride && ty + stride < g.ty;
}

}  // namespace nhwc

}  // namespace cbnn::batchnorm_split
