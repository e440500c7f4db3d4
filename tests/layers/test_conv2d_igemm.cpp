// cbnn's implicit-GEMM convolution kernels, the parts the CPU can check (layers/conv2d_igemm.h):
// the setting, which shapes the kernels take, the index maps against their definitions, the
// weight tiles' strided layout the kernels read them in, the work split's coverage, and the
// kernels' decomposition (warp by warp, tile by tile, partial sums by chunk) run with scalar
// float64 arithmetic against the reference convolution. What the CPU cannot check (the
// tensor-core calls, shared memory, the launches) is tested in test_conv2d_igemm_cuda.cpp.
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
}

TEST(Conv2dIgemm, AppliesOnlyWhenChosenAndAligned) {
    const Conv2dShape s = nhwc_shape(4, 16, 8, 8, 16, 3, 1, 1);
    alignas(32) static const char memory[64] = {};
    const void* aligned = memory;
    const void* odd = memory + 16;
    EXPECT_FALSE(conv2d_igemm_applies(s, DType::bf16, {aligned}));
    const ConvKernelsSetting cbnn(ConvKernels::cbnn);
    EXPECT_TRUE(conv2d_igemm_applies(s, DType::bf16, {aligned, aligned}));
    EXPECT_FALSE(conv2d_igemm_applies(s, DType::bf16, {aligned, odd}));
    {
        const Tf32Setting tf32(true);
        EXPECT_TRUE(conv2d_igemm_applies(s, DType::f32, {aligned}));
    }
    const Tf32Setting fp32(false);
    EXPECT_FALSE(conv2d_igemm_applies(s, DType::f32, {aligned}));
}

// The shapes the decomposition is checked on: strides 1 and 2, 1x1 and 3x3, non-square images,
// 16 to 64 channels (48: three column tiles, which only one tile per warp divides).
std::vector<Conv2dShape> decomposition_shapes() {
    return {nhwc_shape(2, 16, 8, 8, 32, 3, 1, 1), nhwc_shape(2, 32, 8, 8, 16, 3, 2, 1),
            nhwc_shape(2, 16, 4, 6, 48, 3, 1, 1), nhwc_shape(2, 32, 8, 8, 64, 1, 2, 0),
            nhwc_shape(1, 64, 8, 4, 64, 3, 1, 1), nhwc_shape(2, 48, 8, 7, 16, 3, 2, 1)};
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
            EXPECT_LE(q.workspace_floats, std::max(kIgemmMaxPartialFloats, s.K * s.R * s.S * s.C));
        }
}

// ---- the decomposition, in float64 -------------------------------------------------------------

constexpr double kUnwritten = std::numeric_limits<double>::quiet_NaN();

// A tensor's elements in storage order (NHWC for channels-last activations, KRSC for weights).
std::vector<double> storage(const Tensor& t) {
    const Tensor dense = t.contiguous(kNhwc);
    const double* p = dense.data<double>();
    return std::vector<double>(p, p + dense.numel());
}

// The forward / data-gradient kernel: per warp, 16 rows x 16 col_fragments columns, summed over
// taps and 16-channel slices of the staged tile.
std::vector<double> emulate_gather(const Conv2dShape& s, bool backward_data,
                                   const std::vector<double>& in, const std::vector<double>& w,
                                   int64_t sm_count) {
    const IgemmGatherPlan p = igemm_gather_plan(s, backward_data, sm_count);
    std::vector<double> out(static_cast<size_t>(p.rows * p.out_channels), kUnwritten);
    for (int64_t bx = 0; bx < p.blocks_x; ++bx)
        for (int64_t by = 0; by < p.blocks_y; ++by)
            for (int64_t warp = 0; warp < kIgemmWarpsPerBlock; ++warp) {
                const int64_t row0 = (bx * kIgemmWarpsPerBlock + warp) * 16;
                if (row0 >= p.rows) continue;
                const int64_t col0 = by * 16 * p.col_fragments, cols = 16 * p.col_fragments;
                std::vector<double> acc(static_cast<size_t>(16 * cols), 0.0);
                for (int64_t r = 0; r < s.R; ++r)
                    for (int64_t t = 0; t < s.S; ++t)
                        for (int64_t c0 = 0; c0 < p.in_channels; c0 += 16) {
                            double tile[16][16];
                            for (int64_t i = 0; i < 16; ++i) {
                                const int64_t src = igemm_tap_source(
                                    s, backward_data, igemm_row_pixel(s, backward_data, row0 + i),
                                    r, t);
                                for (int64_t c = 0; c < 16; ++c)
                                    tile[i][c] =
                                        src < 0
                                            ? 0.0
                                            : in[static_cast<size_t>(src * p.in_channels + c0 + c)];
                            }
                            for (int64_t i = 0; i < 16; ++i)
                                for (int64_t j = 0; j < cols; ++j)
                                    for (int64_t c = 0; c < 16; ++c)
                                        acc[static_cast<size_t>(i * cols + j)] +=
                                            tile[i][c] *
                                            w[static_cast<size_t>(igemm_weight_offset(
                                                s, backward_data, r * s.S + t, c0 + c, col0 + j))];
                        }
                for (int64_t i = 0; i < 16; ++i)
                    for (int64_t j = 0; j < cols; ++j) {
                        double& o =
                            out[static_cast<size_t>((row0 + i) * p.out_channels + col0 + j)];
                        EXPECT_TRUE(std::isnan(o)) << "written twice: row " << row0 + i;
                        o = acc[static_cast<size_t>(i * cols + j)];
                    }
            }
    return out;
}

// The filter-gradient kernels: per warp an item (tap, 16 channels) and group of output channels
// over a chunk of rows into the chunk's partial block, then the chunks summed in order.
std::vector<double> emulate_filter(const Conv2dShape& s, const std::vector<double>& x,
                                   const std::vector<double>& dy, int64_t sm_count) {
    const IgemmFilterPlan p = igemm_filter_plan(s, sm_count);
    const int64_t ld = s.R * s.S * s.C, elements = s.K * ld, group = 16 * p.k_fragments;
    std::vector<double> partial(static_cast<size_t>(p.workspace_floats), kUnwritten);
    for (int64_t chunk = 0; chunk < p.chunks; ++chunk)
        for (int64_t by = 0; by < p.blocks_y; ++by)
            for (int64_t k0 = 0; k0 < s.K; k0 += group)
                for (int64_t warp = 0; warp < kIgemmWarpsPerBlock; ++warp) {
                    const int64_t item = by * kIgemmWarpsPerBlock + warp;
                    if (item >= p.items) continue;
                    const int64_t tap = item / (s.C / 16), c0 = item % (s.C / 16) * 16;
                    const int64_t begin = chunk * p.rows_per_chunk;
                    const int64_t end = std::min(p.rows, begin + p.rows_per_chunk);
                    std::vector<double> acc(static_cast<size_t>(group * 16), 0.0);
                    for (int64_t m0 = begin; m0 < end; m0 += 16)
                        for (int64_t i = 0; i < 16; ++i) {
                            const int64_t src = igemm_tap_source(
                                s, false, igemm_row_pixel(s, false, m0 + i), tap / s.S, tap % s.S);
                            for (int64_t k = 0; k < group; ++k)
                                for (int64_t c = 0; c < 16; ++c)
                                    acc[static_cast<size_t>(k * 16 + c)] +=
                                        dy[static_cast<size_t>((m0 + i) * s.K + k0 + k)] *
                                        (src < 0 ? 0.0
                                                 : x[static_cast<size_t>(src * s.C + c0 + c)]);
                        }
                    for (int64_t k = 0; k < group; ++k)
                        for (int64_t c = 0; c < 16; ++c) {
                            double& o = partial[static_cast<size_t>((chunk * s.K + k0 + k) * ld +
                                                                    tap * s.C + c0 + c)];
                            EXPECT_TRUE(std::isnan(o)) << "written twice: chunk " << chunk;
                            o = acc[static_cast<size_t>(k * 16 + c)];
                        }
                }
    std::vector<double> dw(static_cast<size_t>(elements), 0.0);
    for (int64_t e = 0; e < elements; ++e)
        for (int64_t chunk = 0; chunk < p.chunks; ++chunk)
            dw[static_cast<size_t>(e)] += partial[static_cast<size_t>(chunk * elements + e)];
    return dw;  // an unwritten partial sum leaves a NaN here
}

void expect_near_all(const std::vector<double>& got, const std::vector<double>& expected,
                     const char* what) {
    ASSERT_EQ(got.size(), expected.size()) << what;
    for (size_t i = 0; i < got.size(); ++i)
        ASSERT_NEAR(got[i], expected[i], 1e-12) << what << ", element " << i;
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
        for (int64_t sm_count : {1, 4, 1000}) {
            SCOPED_TRACE(::testing::Message() << "SMs " << sm_count);
            expect_near_all(emulate_gather(s, false, storage(x), storage(w), sm_count), y,
                            "forward");
            expect_near_all(emulate_gather(s, true, storage(dy), storage(w), sm_count), dx,
                            "backward data");
            expect_near_all(emulate_filter(s, storage(x), storage(dy), sm_count), dw,
                            "backward filter");
        }
    }
}

}  // namespace
}  // namespace cbnn
