// cbnn's implicit-GEMM convolution kernels, the parts the CPU can check (layers/conv2d_igemm.h):
// the setting, which shapes the kernels take, the index maps against their definitions, the
// weight tiles' strided layout the kernels read them in, the work split's coverage, and the
// kernels' decomposition (warp by warp, tile by tile, partial sums by chunk) run with scalar
// float64 arithmetic against the reference convolution, each tensor-core call emulated with the
// kernel's own base offset, leading dimension, layout and depth (16 for bf16, 8 for TF32). What
// the CPU cannot check (the tensor-core hardware, shared memory, the launches) is tested in
// test_conv2d_igemm_cuda.cpp.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "gtest/gtest.h"
#include "layers/conv2d_igemm.h"
#include "tensor/backend.h"
#include "tests/support/expect_error.h"
#include "tests/support/random.h"

namespace cbnn {
namespace {

constexpr MemoryFormat kNhwc = MemoryFormat::channels_last;

Conv2dShape nhwc_shape(int64_t N, int64_t C, int64_t H, int64_t W, int64_t K, int64_t R,
                       int64_t stride, int64_t pad) {
    Conv2dShape s = conv2d_shape({N, C, H, W}, {K, C, R, R}, stride, pad);
    s.channels_last = true;
    return s;
}

TEST(Conv2dIgemm, KernelsSettingParsesNamesAndRestores) {
    EXPECT_EQ(conv_kernels(), ConvKernels::cudnn);  // the default
    EXPECT_EQ(parse_conv_kernels("cbnn"), ConvKernels::cbnn);
    EXPECT_EQ(parse_conv_kernels("cudnn"), ConvKernels::cudnn);
    EXPECT_STREQ(conv_kernels_name(ConvKernels::cbnn), "cbnn");
    EXPECT_STREQ(conv_kernels_name(ConvKernels::cudnn), "cudnn");
    EXPECT_TRUE(testing::throws_error([] { parse_conv_kernels("cutlass"); },
                                      {"conv kernels 'cutlass'", "cudnn, cbnn"}));
    {
        const ConvKernelsSetting cbnn(ConvKernels::cbnn);
        EXPECT_EQ(conv_kernels(), ConvKernels::cbnn);
    }
    EXPECT_EQ(conv_kernels(), ConvKernels::cudnn);
}

TEST(Conv2dIgemm, SupportsTheNarrowChannelsLastTensorCoreConvolutions) {
    // ResNet-32 at batch 128: every convolution but the 3-channel stem.
    for (const Conv2dShape& s :
         {nhwc_shape(128, 16, 32, 32, 16, 3, 1, 1), nhwc_shape(128, 16, 32, 32, 32, 3, 2, 1),
          nhwc_shape(128, 32, 16, 16, 32, 3, 1, 1), nhwc_shape(128, 32, 16, 16, 64, 3, 2, 1),
          nhwc_shape(128, 64, 8, 8, 64, 3, 1, 1), nhwc_shape(2, 32, 8, 8, 64, 1, 2, 0)}) {
        EXPECT_TRUE(conv2d_igemm_supports(s, DType::bf16, false));
        EXPECT_TRUE(conv2d_igemm_supports(s, DType::f32, true));
        EXPECT_FALSE(conv2d_igemm_supports(s, DType::f32, false));  // strict FP32: cuDNN
        EXPECT_FALSE(conv2d_igemm_supports(s, DType::f64, true));
        Conv2dShape nchw = s;
        nchw.channels_last = false;
        EXPECT_FALSE(conv2d_igemm_supports(nchw, DType::bf16, false));
    }
    EXPECT_FALSE(conv2d_igemm_supports(nhwc_shape(128, 3, 32, 32, 16, 3, 1, 1), DType::bf16,
                                       false));  // the stem
    EXPECT_FALSE(conv2d_igemm_supports(nhwc_shape(8, 64, 8, 8, 128, 3, 1, 1), DType::bf16, false));
    EXPECT_FALSE(conv2d_igemm_supports(nhwc_shape(8, 24, 8, 8, 16, 3, 1, 1), DType::bf16, false));
    // 1 x 3 x 5 output pixels: not whole tiles of 16 rows.
    EXPECT_FALSE(conv2d_igemm_supports(nhwc_shape(1, 16, 3, 5, 16, 3, 1, 1), DType::bf16, false));
    // 32 x 32 taps (1024) are taken, 33 x 33 are not: the filter gradient's grid and partial sums
    // grow with the taps.
    EXPECT_TRUE(
        conv2d_igemm_supports(nhwc_shape(16, 16, 32, 32, 16, 32, 1, 0), DType::bf16, false));
    EXPECT_FALSE(
        conv2d_igemm_supports(nhwc_shape(16, 16, 48, 48, 16, 33, 1, 0), DType::bf16, false));
    const IgemmFilterPlan widest = igemm_filter_plan(nhwc_shape(16, 64, 32, 32, 64, 32, 1, 0), 132);
    EXPECT_LE(widest.blocks_y, 65535);
    EXPECT_LE(widest.workspace_floats, kIgemmMaxPartialFloatsHard);
}

TEST(Conv2dIgemm, AppliesOnlyWhenChosenAndAligned) {
    const Conv2dShape s = nhwc_shape(4, 16, 8, 8, 16, 3, 1, 1);
    alignas(32) static const char memory[64] = {};
    const void* aligned = memory;
    const void* odd = memory + 16;
    EXPECT_FALSE(conv2d_igemm_chosen(s, DType::bf16));
    EXPECT_FALSE(conv2d_igemm_applies(s, DType::bf16, {aligned}));
    const ConvKernelsSetting cbnn(ConvKernels::cbnn);
    EXPECT_TRUE(conv2d_igemm_chosen(s, DType::bf16));
    EXPECT_TRUE(conv2d_igemm_applies(s, DType::bf16, {aligned, aligned}));
    EXPECT_FALSE(conv2d_igemm_applies(s, DType::bf16, {aligned, odd}));
    {
        const Tf32Setting tf32(true);
        EXPECT_TRUE(conv2d_igemm_applies(s, DType::f32, {aligned}));
    }
    const Tf32Setting fp32(false);
    EXPECT_FALSE(conv2d_igemm_chosen(s, DType::f32));
    EXPECT_FALSE(conv2d_igemm_applies(s, DType::f32, {aligned}));
}

// The shapes the decomposition is checked on: strides 1 and 2, 1x1 and 3x3, non-square images,
// 16 to 64 channels (48: three column tiles, which only one tile per warp divides).
std::vector<Conv2dShape> decomposition_shapes() {
    return {nhwc_shape(2, 16, 8, 8, 32, 3, 1, 1), nhwc_shape(2, 32, 8, 8, 16, 3, 2, 1),
            nhwc_shape(2, 16, 4, 6, 48, 3, 1, 1), nhwc_shape(2, 32, 8, 8, 64, 1, 2, 0),
            nhwc_shape(1, 64, 8, 4, 64, 3, 1, 1), nhwc_shape(2, 48, 8, 7, 16, 3, 2, 1),
            // 16 and 32 wide: a tile of 16 rows is one image row, so whole tiles have no source
            // (the padding above the first row; the stride-2 data gradient's other parity)
            nhwc_shape(1, 16, 4, 16, 16, 3, 1, 1), nhwc_shape(1, 16, 4, 32, 16, 3, 2, 1)};
}

TEST(Conv2dIgemm, TapSourcesFollowTheirDefinitions) {
    for (const Conv2dShape& s : decomposition_shapes()) {
        SCOPED_TRACE(::testing::Message() << "x " << s.N << "x" << s.H << "x" << s.W << " stride "
                                          << s.stride << " R " << s.R);
        for (int64_t n = 0; n < s.N; ++n) {
            // Forward: output pixel (p, q) reads input pixel (p s - pad + r, q s - pad + t).
            for (int64_t p = 0; p < s.P; ++p)
                for (int64_t q = 0; q < s.Q; ++q)
                    for (int64_t r = 0; r < s.R; ++r)
                        for (int64_t t = 0; t < s.S; ++t) {
                            const int64_t m = (n * s.P + p) * s.Q + q;
                            const int64_t h = p * s.stride - s.pad + r,
                                          w = q * s.stride - s.pad + t;
                            const bool inside = h >= 0 && h < s.H && w >= 0 && w < s.W;
                            ASSERT_EQ(
                                igemm_tap_source(s, false, igemm_row_pixel(s, false, m), r, t),
                                inside ? (n * s.H + h) * s.W + w : -1);
                        }
            // Data gradient: input pixel (h, w) reads the output pixel that reads it through tap
            // (r, t), found by search; none where no output pixel does.
            for (int64_t h = 0; h < s.H; ++h)
                for (int64_t w = 0; w < s.W; ++w)
                    for (int64_t r = 0; r < s.R; ++r)
                        for (int64_t t = 0; t < s.S; ++t) {
                            int64_t expected = -1;
                            for (int64_t p = 0; p < s.P; ++p)
                                for (int64_t q = 0; q < s.Q; ++q)
                                    if (p * s.stride - s.pad + r == h &&
                                        q * s.stride - s.pad + t == w)
                                        expected = (n * s.P + p) * s.Q + q;
                            const int64_t m = (n * s.H + h) * s.W + w;
                            ASSERT_EQ(igemm_tap_source(s, true, igemm_row_pixel(s, true, m), r, t),
                                      expected);
                        }
        }
    }
}

// The kernels load a 16 x 16 weight tile from its first element's offset with leading dimension
// R S C: column-major in the forward, row-major in the data gradient. True for every tile.
TEST(Conv2dIgemm, WeightTilesAreStridedMatrices) {
    for (const Conv2dShape& s : decomposition_shapes()) {
        const int64_t ld = s.R * s.S * s.C;
        for (bool backward_data : {false, true}) {
            const int64_t in = backward_data ? s.K : s.C, out = backward_data ? s.C : s.K;
            for (int64_t tap = 0; tap < s.R * s.S; ++tap)
                for (int64_t i0 = 0; i0 < in; i0 += 16)
                    for (int64_t j0 = 0; j0 < out; j0 += 16) {
                        const int64_t base = igemm_weight_offset(s, backward_data, tap, i0, j0);
                        for (int64_t i = 0; i < 16; ++i)
                            for (int64_t j = 0; j < 16; ++j)
                                ASSERT_EQ(
                                    igemm_weight_offset(s, backward_data, tap, i0 + i, j0 + j),
                                    base + (backward_data ? i * ld + j : i + j * ld));
                    }
        }
    }
}

TEST(Conv2dIgemm, GatherPlanCoversRowsAndColumns) {
    const Conv2dShape stage3 = nhwc_shape(128, 64, 8, 8, 64, 3, 1, 1);   // 512 row tiles
    EXPECT_EQ(igemm_gather_plan(stage3, false, 1).col_fragments, 4);     // 8 warps wanted
    EXPECT_EQ(igemm_gather_plan(stage3, false, 100).col_fragments, 2);   // 800: 512 * 2
    EXPECT_EQ(igemm_gather_plan(stage3, false, 1000).col_fragments, 1);  // 8000: 512 * 4
    EXPECT_EQ(igemm_gather_plan(nhwc_shape(2, 16, 4, 6, 48, 3, 1, 1), false, 1).col_fragments, 1);
    for (const Conv2dShape& s : decomposition_shapes())
        for (bool backward_data : {false, true})
            for (int64_t sm_count : {1, 4, 1000}) {
                const IgemmGatherPlan p = igemm_gather_plan(s, backward_data, sm_count);
                EXPECT_EQ(p.rows, backward_data ? s.N * s.H * s.W : s.N * s.P * s.Q);
                EXPECT_GE(p.blocks_x * kIgemmWarpsPerBlock * 16, p.rows);
                EXPECT_LT((p.blocks_x - 1) * kIgemmWarpsPerBlock * 16, p.rows);
                EXPECT_EQ(p.blocks_y * 16 * p.col_fragments, p.out_channels);
            }
}

TEST(Conv2dIgemm, FilterPlanSplitsRowsIntoNonEmptyChunks) {
    // ResNet-32 at batch 128 on 132 SMs (an H100), 4224 warps wanted.
    const IgemmFilterPlan stage1 = igemm_filter_plan(nhwc_shape(128, 16, 32, 32, 16, 3, 1, 1), 132);
    EXPECT_EQ(stage1.items, 9);
    EXPECT_EQ(stage1.rows, 131072);
    // ceil(4224 / 9) = 470 chunks wanted, 455 allowed by the 4 MB cap (2304 floats each): 8192
    // row tiles in runs of 19.
    EXPECT_EQ(stage1.rows_per_chunk, 16 * 19);
    EXPECT_EQ(stage1.chunks, 432);
    EXPECT_EQ(stage1.k_fragments, 1);
    EXPECT_EQ(stage1.k_groups, 1);
    EXPECT_EQ(stage1.workspace_floats, 432 * 16 * 144);
    // 64 channels: 28 chunks (36864 floats each), 27 after rounding the runs to 19 row tiles; 27 *
    // 36 items = 972 warps, so the output channels split into 4 groups of one tile.
    const IgemmFilterPlan stage3 = igemm_filter_plan(nhwc_shape(128, 64, 8, 8, 64, 3, 1, 1), 132);
    EXPECT_EQ(stage3.chunks, 27);
    EXPECT_EQ(stage3.k_fragments, 1);
    EXPECT_EQ(stage3.k_groups, 4);
    EXPECT_EQ(igemm_filter_plan(nhwc_shape(128, 64, 8, 8, 64, 3, 1, 1), 1).k_fragments, 4);
    for (const Conv2dShape& s : decomposition_shapes())
        for (int64_t sm_count : {1, 4, 1000}) {
            const IgemmFilterPlan q = igemm_filter_plan(s, sm_count);
            EXPECT_EQ(q.rows_per_chunk % 16, 0);
            EXPECT_GE(q.chunks * q.rows_per_chunk, q.rows);
            EXPECT_LT((q.chunks - 1) * q.rows_per_chunk, q.rows);
            EXPECT_EQ(q.items, s.R * s.S * s.C / 16);
            EXPECT_GE(q.blocks_y * kIgemmWarpsPerBlock, q.items);
            EXPECT_EQ(q.k_groups * q.k_fragments * 16, s.K);
            EXPECT_EQ(q.workspace_floats, q.chunks * s.K * s.R * s.S * s.C);
            EXPECT_LE(q.workspace_floats,
                      std::max(kIgemmMaxPartialFloatsHard, s.K * s.R * s.S * s.C));
            if (q.chunks * s.K * s.R * s.S * s.C > kIgemmMaxPartialFloats)  // chains needed them
                EXPECT_LE(q.rows_per_chunk, 16 * kIgemmMaxTilesPerChunk);
        }
    // Long reductions: chains of at most 64 row tiles, with more than 4 MB of partial sums where
    // that needs them. ResNet-32 at batch 512: 32768 row tiles, 512 chunks of 64 (4.7 MB).
    const IgemmFilterPlan wide = igemm_filter_plan(nhwc_shape(512, 16, 32, 32, 16, 3, 1, 1), 132);
    EXPECT_EQ(wide.rows_per_chunk, 16 * kIgemmMaxTilesPerChunk);
    EXPECT_EQ(wide.chunks, 512);
    // ResNet-50's 3x3 64 -> 64 at 56 x 56, batch 128: 25088 row tiles, 392 chunks of 64 (58 MB;
    // the 4 MB cap alone would make chains of 896); 392 * 36 items fill 132 SMs with 4 tiles of
    // output channels per warp.
    const IgemmFilterPlan r50 = igemm_filter_plan(nhwc_shape(128, 64, 56, 56, 64, 3, 1, 1), 132);
    EXPECT_EQ(r50.chunks, 392);
    EXPECT_EQ(r50.rows_per_chunk, 16 * kIgemmMaxTilesPerChunk);
    EXPECT_EQ(r50.k_fragments, 4);
    EXPECT_LE(r50.workspace_floats, kIgemmMaxPartialFloatsHard);
    // Batch 1024 there would need 3136 chunks (462 MB): capped at 64 MB, longer chains.
    const IgemmFilterPlan huge = igemm_filter_plan(nhwc_shape(1024, 64, 56, 56, 64, 3, 1, 1), 132);
    EXPECT_EQ(huge.chunks, kIgemmMaxPartialFloatsHard / (64 * 576));
    EXPECT_GT(huge.rows_per_chunk, 16 * kIgemmMaxTilesPerChunk);
    EXPECT_LE(huge.workspace_floats, kIgemmMaxPartialFloatsHard);
}

// ---- the decomposition, in float64 -------------------------------------------------------------

constexpr double kUnwritten = std::numeric_limits<double>::quiet_NaN();

// A tensor's elements in storage order (NHWC for channels-last activations, KRSC for weights).
std::vector<double> storage(const Tensor& t) {
    const Tensor dense = t.contiguous(kNhwc);
    const double* p = dense.data<double>();
    return std::vector<double>(p, p + dense.numel());
}

// The kernels' tensor-core calls, on the host: what wmma::load_matrix_sync reads for element
// (row, col) of a tile at `base` with leading dimension `ld` in either layout, and one
// multiply-accumulate acc (16 x 16, row-major) += A (16 x depth) B (depth x 16).
struct TileRef {
    const double* base;
    int64_t ld;
    bool row_major;
    double at(int64_t row, int64_t col) const {
        return row_major ? base[row * ld + col] : base[row + col * ld];
    }
};
void mma(std::vector<double>& acc, TileRef a, TileRef b, int depth) {
    for (int64_t i = 0; i < 16; ++i)
        for (int64_t j = 0; j < 16; ++j)
            for (int64_t k = 0; k < depth; ++k)
                acc[static_cast<size_t>(i * 16 + j)] += a.at(i, k) * b.at(k, j);
}

// The kernels' arithmetic shapes: bf16 multiplies 16 deep with 24-element staging rows, TF32 8
// deep with 20-element rows (layers/conv2d_igemm_cuda.cuh).
struct Depth {
    int depth;
    int64_t pitch;
};
constexpr Depth kBf16{16, 24}, kTf32{8, 20};

// One warp staging its 16 x 16 tile: rows from `src` (NHWC, `channels` wide) through the tap map,
// channels c0 ... c0 + 15, zeros for no source, in rows `pitch` apart.
std::vector<double> stage(const Conv2dShape& s, bool backward_data, const std::vector<double>& src,
                          int64_t channels, int64_t row0, int64_t r, int64_t t, int64_t c0,
                          int64_t pitch) {
    std::vector<double> tile(static_cast<size_t>(16 * pitch), 0.0);
    for (int64_t i = 0; i < 16; ++i) {
        const int64_t row =
            igemm_tap_source(s, backward_data, igemm_row_pixel(s, backward_data, row0 + i), r, t);
        if (row < 0) continue;
        for (int64_t c = 0; c < 16; ++c)
            tile[static_cast<size_t>(i * pitch + c)] =
                src[static_cast<size_t>(row * channels + c0 + c)];
    }
    return tile;
}

// True when none of the 16 rows from row0 has a source row for tap (r, t): the kernels skip such a
// tile (its staged tile would be all zeros).
bool no_source(const Conv2dShape& s, bool backward_data, int64_t row0, int64_t r, int64_t t) {
    for (int64_t i = 0; i < 16; ++i)
        if (igemm_tap_source(s, backward_data, igemm_row_pixel(s, backward_data, row0 + i), r, t) >=
            0)
            return false;
    return true;
}

// The forward / data-gradient kernel (conv2d_igemm_cuda.cu) step by step: per warp 16 rows and
// col_fragments tiles of 16 columns; per tap and 16-channel slice a staged tile, multiplied
// `depth` channels at a time with the weight tiles read in place (column-major forward,
// row-major data gradient, leading dimension R S C).
std::vector<double> emulate_gather(const Conv2dShape& s, bool backward_data,
                                   const std::vector<double>& in, const std::vector<double>& w,
                                   int64_t sm_count, Depth d) {
    const IgemmGatherPlan p = igemm_gather_plan(s, backward_data, sm_count);
    const int64_t ldw = s.R * s.S * s.C;
    std::vector<double> out(static_cast<size_t>(p.rows * p.out_channels), kUnwritten);
    for (int64_t bx = 0; bx < p.blocks_x; ++bx)
        for (int64_t by = 0; by < p.blocks_y; ++by)
            for (int64_t warp = 0; warp < kIgemmWarpsPerBlock; ++warp) {
                const int64_t row0 = (bx * kIgemmWarpsPerBlock + warp) * 16;
                if (row0 >= p.rows) continue;
                const int64_t col0 = by * 16 * p.col_fragments;
                std::vector<std::vector<double>> acc(static_cast<size_t>(p.col_fragments),
                                                     std::vector<double>(256, 0.0));
                for (int64_t r = 0; r < s.R; ++r)
                    for (int64_t t = 0; t < s.S; ++t)
                        for (int64_t c0 = 0;
                             c0 < p.in_channels && !no_source(s, backward_data, row0, r, t);
                             c0 += 16) {
                            const std::vector<double> tile =
                                stage(s, backward_data, in, p.in_channels, row0, r, t, c0, d.pitch);
                            for (int64_t kk = 0; kk < 16; kk += d.depth) {
                                const TileRef a{tile.data() + kk, d.pitch, true};
                                for (int f = 0; f < p.col_fragments; ++f) {
                                    const int64_t at = igemm_weight_offset(
                                        s, backward_data, r * s.S + t, c0 + kk, col0 + 16 * f);
                                    mma(acc[static_cast<size_t>(f)], a,
                                        {w.data() + at, ldw, backward_data}, d.depth);
                                }
                            }
                        }
                for (int f = 0; f < p.col_fragments; ++f)
                    for (int64_t i = 0; i < 16; ++i)
                        for (int64_t j = 0; j < 16; ++j) {
                            double& o = out[static_cast<size_t>((row0 + i) * p.out_channels + col0 +
                                                                16 * f + j)];
                            EXPECT_TRUE(std::isnan(o)) << "written twice: row " << row0 + i;
                            o = acc[static_cast<size_t>(f)][static_cast<size_t>(i * 16 + j)];
                        }
            }
    return out;
}

// The filter-gradient kernels (conv2d_igemm_filter_cuda.cu) step by step: per warp an item (tap,
// 16 channels) and group of k_fragments output-channel tiles over a chunk of rows; per 16 rows
// the staged x tile, multiplied `depth` rows at a time with dy tiles read in place (column-major,
// leading dimension K); each group's block stored into the chunk's partial sums (leading
// dimension R S C); then the chunks summed per element in the sum kernel's lane order.
std::vector<double> emulate_filter(const Conv2dShape& s, const std::vector<double>& x,
                                   const std::vector<double>& dy, int64_t sm_count, Depth d) {
    const IgemmFilterPlan p = igemm_filter_plan(s, sm_count);
    const int64_t ldw = s.R * s.S * s.C, elements = s.K * ldw;
    std::vector<double> partial(static_cast<size_t>(p.workspace_floats), kUnwritten);
    for (int64_t chunk = 0; chunk < p.chunks; ++chunk)
        for (int64_t by = 0; by < p.blocks_y; ++by)
            for (int64_t group = 0; group < p.k_groups; ++group)
                for (int64_t warp = 0; warp < kIgemmWarpsPerBlock; ++warp) {
                    const int64_t item = by * kIgemmWarpsPerBlock + warp;
                    if (item >= p.items) continue;
                    const int64_t tap = item / (s.C / 16), c0 = item % (s.C / 16) * 16;
                    const int64_t k0 = group * 16 * p.k_fragments;
                    const int64_t begin = chunk * p.rows_per_chunk;
                    const int64_t end = std::min(p.rows, begin + p.rows_per_chunk);
                    std::vector<std::vector<double>> acc(static_cast<size_t>(p.k_fragments),
                                                         std::vector<double>(256, 0.0));
                    for (int64_t m0 = begin; m0 < end; m0 += 16) {
                        if (no_source(s, false, m0, tap / s.S, tap % s.S)) continue;
                        const std::vector<double> tile =
                            stage(s, false, x, s.C, m0, tap / s.S, tap % s.S, c0, d.pitch);
                        for (int64_t kk = 0; kk < 16; kk += d.depth) {
                            const TileRef b{tile.data() + kk * d.pitch, d.pitch, true};
                            for (int f = 0; f < p.k_fragments; ++f)
                                mma(acc[static_cast<size_t>(f)],
                                    {dy.data() + (m0 + kk) * s.K + k0 + 16 * f, s.K, false}, b,
                                    d.depth);
                        }
                    }
                    for (int f = 0; f < p.k_fragments; ++f)
                        for (int64_t k = 0; k < 16; ++k)
                            for (int64_t c = 0; c < 16; ++c) {
                                double& o = partial[static_cast<size_t>(
                                    (chunk * s.K + k0 + 16 * f + k) * ldw + tap * s.C + c0 + c)];
                                EXPECT_TRUE(std::isnan(o)) << "written twice: chunk " << chunk;
                                o = acc[static_cast<size_t>(f)][static_cast<size_t>(k * 16 + c)];
                            }
                }
    std::vector<double> dw(static_cast<size_t>(elements), 0.0);
    for (int64_t e = 0; e < elements; ++e)
        for (int lane = 0; lane < kIgemmChunkLanes; ++lane) {
            double lane_sum = 0;
            for (int64_t chunk = lane; chunk < p.chunks; chunk += kIgemmChunkLanes)
                lane_sum += partial[static_cast<size_t>(chunk * elements + e)];
            dw[static_cast<size_t>(e)] += lane_sum;
        }
    return dw;  // an unwritten partial sum leaves a NaN here
}

void expect_near_all(const std::vector<double>& got, const std::vector<double>& expected,
                     const char* what) {
    ASSERT_EQ(got.size(), expected.size()) << what;
    for (size_t i = 0; i < got.size(); ++i)
        ASSERT_NEAR(got[i], expected[i], 1e-12) << what << ", element " << i;
}

// The skipped tiles exist in the decomposition shapes, so the emulation below runs that path.
TEST(Conv2dIgemm, TilesWithNoSourceRowAreFound) {
    const Conv2dShape wide = nhwc_shape(1, 16, 4, 16, 16, 3, 1, 1);
    EXPECT_TRUE(no_source(wide, false, 0, 0, 1));       // output row 0, the tap row above it
    EXPECT_FALSE(no_source(wide, false, 0, 1, 1));      // its own row
    EXPECT_TRUE(no_source(wide, false, 3 * 16, 2, 1));  // output row 3, the tap row below it
    const Conv2dShape strided = nhwc_shape(1, 16, 4, 32, 16, 3, 2, 1);
    // Data gradient, input row 0: the taps r with (0 + pad - r) odd have no output row.
    EXPECT_TRUE(no_source(strided, true, 0, 0, 1));
    EXPECT_FALSE(no_source(strided, true, 0, 1, 1));
    EXPECT_TRUE(no_source(strided, true, 0, 2, 1));
}

TEST(Conv2dIgemm, DecompositionComputesTheConvolution) {
    uint64_t seed = 500;
    for (const Conv2dShape& s : decomposition_shapes()) {
        SCOPED_TRACE(::testing::Message()
                     << "x [" << s.N << ", " << s.C << ", " << s.H << ", " << s.W << "] K " << s.K
                     << " R " << s.R << " stride " << s.stride);
        ASSERT_TRUE(conv2d_igemm_supports(s, DType::bf16, false));
        const Tensor x = testing::random_tensor({s.N, s.C, s.H, s.W}, -1, 1, ++seed);
        const Tensor w = testing::random_tensor({s.K, s.C, s.R, s.S}, -1, 1, ++seed);
        const Tensor dy = testing::random_tensor({s.N, s.K, s.P, s.Q}, -1, 1, ++seed);
        const std::vector<double> y = storage(ops::conv2d_forward(x, w, Tensor(), s.stride, s.pad));
        const std::vector<double> dx =
            storage(ops::conv2d_backward_data(dy, w, x.shape(), s.stride, s.pad));
        const std::vector<double> dw =
            storage(ops::conv2d_backward_filter(x, dy, w.shape(), s.stride, s.pad));
        for (int64_t sm_count : {1, 4, 1000})
            for (Depth d : {kBf16, kTf32}) {
                SCOPED_TRACE(::testing::Message() << "SMs " << sm_count << ", depth " << d.depth);
                expect_near_all(emulate_gather(s, false, storage(x), storage(w), sm_count, d), y,
                                "forward");
                expect_near_all(emulate_gather(s, true, storage(dy), storage(w), sm_count, d), dx,
                                "backward data");
                expect_near_all(emulate_filter(s, storage(x), storage(dy), sm_count, d), dw,
                                "backward filter");
            }
    }
}

}  // namespace
}  // namespace cbnn
