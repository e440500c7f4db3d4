// The work split of cbnn's CUDA batch-norm kernels (layers/batchnorm2d_work_split.h), replayed on
// the CPU for every block and thread of a launch: each unit of the activations is visited exactly
// once and by a thread of its own channel (a gap or an overlap would bias the statistics silently),
// the NHWC slab partials and the row-reduction tree cover every slot once, grids stay within
// CUDA's limits and the partials fit the scratch. Shapes: every batch-norm shape of ResNet-50 at
// batch 128 and of ResNet-32 at batches 128 and 512, and awkward ones (C = 3, 33, 36; fewer rows
// than a block's threads; one image).
#include <cstdint>
#include <vector>

#include "gtest/gtest.h"
#include "layers/batchnorm2d_work_split.h"

namespace cbnn {
namespace {

using namespace batchnorm_split;

struct Nchw {
    int64_t N, C, H, W;
};

const Nchw kShapes[] = {
    // ResNet-50, batch 128: stem, then each stage's 1x1 / 3x3 / expansion widths.
    {128, 64, 112, 112},
    {128, 64, 56, 56},
    {128, 256, 56, 56},
    {128, 128, 56, 56},
    {128, 128, 28, 28},
    {128, 512, 28, 28},
    {128, 256, 28, 28},
    {128, 256, 14, 14},
    {128, 1024, 14, 14},
    {128, 512, 14, 14},
    {128, 512, 7, 7},
    {128, 2048, 7, 7},
    // ResNet-32 (CIFAR), batches 128 and 512.
    {128, 16, 32, 32},
    {128, 32, 16, 16},
    {128, 64, 8, 8},
    {512, 16, 32, 32},
    {512, 32, 16, 16},
    {512, 64, 8, 8},
    // Awkward: no 4-vectors, several channel tiles, tiny row counts, one image, non-power-of-2 ty.
    {2, 3, 5, 7},
    {3, 33, 4, 5},
    {2, 36, 3, 3},
    {1, 8, 1, 2},
    {1, 5, 1, 3},
    {1, 12, 1, 7},
    {7, 3, 9, 13},
    {5, 1000, 3, 3},
};

// The vector widths a call may take: 4 when the vectorised dimension allows it, and 1 (any shape,
// or an unaligned view). Above 2^22 elements only the width aligned tensors take, to keep the
// replay fast; the small shapes cover V = 1 with vectorisable dimensions.
std::vector<int> widths(const Nchw& s, int64_t vectorised) {
    if (vectorised % 4 != 0) return {1};
    if (s.N * s.C * s.H * s.W > (int64_t{1} << 22)) return {4};
    return {1, 4};
}

// Calls body(shape, V) for every shape and the vector widths of its vectorised dimension (H W for
// NCHW, C for NHWC), with the case in the failure messages.
template <class Body>
void for_each_case(bool nhwc, Body body) {
    for (const Nchw& s : kShapes) {
        for (int V : widths(s, nhwc ? s.C : s.H * s.W)) {
            SCOPED_TRACE(::testing::Message()
                         << s.N << "x" << s.C << "x" << s.H << "x" << s.W << " V = " << V);
            body(s, V);
        }
    }
}

// Counts how often each unit is visited, remembering the first unit visited twice or by a thread
// of the wrong channel.
struct Visits {
    std::vector<uint8_t> count;
    int64_t wrong = 0, first_wrong = -1;
    explicit Visits(int64_t units) : count(static_cast<size_t>(units), 0) {}
    void visit(int64_t unit, bool right_place) {
        if (unit < 0 || unit >= static_cast<int64_t>(count.size()) || !right_place) {
            if (wrong++ == 0) first_wrong = unit;
            return;
        }
        ++count[static_cast<size_t>(unit)];
    }
    // Every unit exactly once, none out of place.
    ::testing::AssertionResult exactly_once() const {
        if (wrong > 0)
            return ::testing::AssertionFailure()
                   << wrong << " visits out of place, the first at unit " << first_wrong;
        for (size_t i = 0; i < count.size(); ++i)
            if (count[i] != 1)
                return ::testing::AssertionFailure()
                       << "unit " << i << " visited " << int{count[i]} << " times";
        return ::testing::AssertionSuccess();
    }
};

TEST(BatchNormWorkSplit, NchwSlicesVisitEveryUnitOfTheirChannelOnce) {
    for_each_case(false, [](const Nchw& s, int V) {
        const int64_t hw_units = s.H * s.W / V;
        const int64_t S = nchw::slices_per_channel(s.N, s.C);
        ASSERT_GE(S, 1);
        ASSERT_LE(S, s.N);
        EXPECT_LE(S, 2147483647);  // gridDim.x; C is checked on launch (gridDim.y)
        EXPECT_EQ(S > 1, s.N > 1 && s.C < nchw::kTargetBlocks);
        Visits visits(s.N * s.C * hw_units);
        for (int64_t c = 0; c < s.C; ++c) {
            for (int64_t slice = 0; slice < S; ++slice) {
                int64_t n0, n1;
                nchw::slice_images(s.N, S, slice, &n0, &n1);
                ASSERT_LT(n0, n1) << "empty slice " << slice;
                for (int t = 0; t < kBlock; ++t) {
                    nchw::Cursor cur(n0, n1, c, s.C, hw_units, t);
                    int64_t at[kUnroll];
                    while (cur.gather(at)) {
                        for (int u = 0; u < kUnroll; ++u) {
                            if (at[u] < 0) continue;
                            const int64_t plane = at[u] / hw_units, n = plane / s.C;
                            visits.visit(at[u], plane % s.C == c && n >= n0 && n < n1);
                        }
                    }
                }
            }
        }
        EXPECT_TRUE(visits.exactly_once());
        EXPECT_GE(nchw::scratch_floats(s.N, s.C), s.C * S * 3);
    });
}

// Replays a launch of grid (slabs, tiles) x kBlock threads.
template <class Body>
void for_each_thread(const nhwc::Geometry& g, Body body) {
    for (int64_t slab = 0; slab < g.slabs; ++slab)
        for (int64_t tile = 0; tile < g.tiles; ++tile)
            for (int t = 0; t < kBlock; ++t) body(slab, nhwc::place(g, slab, tile, t));
}

TEST(BatchNormWorkSplit, NhwcGeometryStaysWithinTheGridAndTheScratch) {
    for_each_case(true, [](const Nchw& s, int V) {
        const int64_t rows = s.N * s.H * s.W;
        const nhwc::Geometry g = nhwc::geometry(rows, s.C, V);
        EXPECT_EQ(g.units * V, s.C);
        EXPECT_GE(g.tx, 1);
        EXPECT_LE(g.tx * g.ty, kBlock);
        EXPECT_EQ(g.tiles * g.tx >= g.units && (g.tiles - 1) * g.tx < g.units, true);
        EXPECT_EQ(g.rows_per_slab % g.ty, 0);
        EXPECT_LT((g.slabs - 1) * g.rows_per_slab, rows);
        EXPECT_GE(g.slabs * g.rows_per_slab, rows);
        EXPECT_LE(g.slabs, 2147483647);
        EXPECT_LE(g.tiles, 65535);
        int64_t total = 0;
        for (int64_t slab = 0; slab < g.slabs; ++slab) {
            EXPECT_GE(nhwc::slab_rows(g, slab), 1);
            total += nhwc::slab_rows(g, slab);
        }
        EXPECT_EQ(total, rows);  // the finishing kernels weight slab means by these counts
        EXPECT_GE(nhwc::scratch_floats(rows, s.C), 2 * g.slabs * s.C + 3 * s.C);
    });
}

TEST(BatchNormWorkSplit, NhwcThreadsVisitEveryUnitOfTheirColumnOnce) {
    for_each_case(true, [](const Nchw& s, int V) {
        const nhwc::Geometry g = nhwc::geometry(s.N * s.H * s.W, s.C, V);
        Visits visits(g.rows * g.units);
        int64_t bad_batches = 0;
        for_each_thread(g, [&](int64_t slab, const nhwc::Place& p) {
            if (!p.loads) return;
            const int64_t first = slab * g.rows_per_slab;
            for (int64_t row = p.row; row < p.row_end; row += kUnroll * int64_t{g.ty}) {
                int64_t at[kUnroll];
                const int n = nhwc::batch_units(g, p, row, at);
                // The kernels divide by n and read exactly the first n entries.
                if (n < 1) ++bad_batches;
                for (int u = 0; u < kUnroll; ++u) {
                    const int64_t r = row + u * int64_t{g.ty};
                    if ((u < n) != (r < p.row_end)) ++bad_batches;
                    if (u >= n) continue;
                    const int64_t unit_row = at[u] / g.units;
                    visits.visit(at[u], at[u] % g.units == p.unit && unit_row >= first &&
                                            unit_row < first + g.rows_per_slab);
                }
            }
        });
        EXPECT_EQ(bad_batches, 0);
        EXPECT_TRUE(visits.exactly_once());
    });
}

TEST(BatchNormWorkSplit, NhwcPartialsAreStoredOncePerSlabAndChannel) {
    for_each_case(true, [](const Nchw& s, int V) {
        const nhwc::Geometry g = nhwc::geometry(s.N * s.H * s.W, s.C, V);
        // store_partials: thread (i, 0) with a unit writes its V channels of its slab.
        Visits visits(g.slabs * s.C);
        for_each_thread(g, [&](int64_t slab, const nhwc::Place& p) {
            if (p.ty != 0 || p.unit >= g.units) return;
            for (int k = 0; k < V; ++k) visits.visit(slab * s.C + p.unit * V + k, true);
        });
        EXPECT_TRUE(visits.exactly_once());
    });
}

// reduce_rows: slot ty starts with row lane ty's state; at each stride (tree_top, ..., 1) the
// slots that absorb take their partner's state of the previous stride. Slot 0 must end with every
// lane exactly once, and no partner may be one of the idle threads (ty >= g.ty).
TEST(BatchNormWorkSplit, NhwcRowTreeCombinesEveryRowLaneOnce) {
    for (int64_t C : {1, 2, 3, 4, 5, 7, 12, 16, 33, 36, 64, 1000, 2048}) {
        for (int V : widths({1, C, 1, 1}, C)) {
            SCOPED_TRACE(::testing::Message() << "C = " << C << " V = " << V);
            const nhwc::Geometry g = nhwc::geometry(1000, C, V);
            std::vector<std::vector<int>> slot(static_cast<size_t>(g.ty),
                                               std::vector<int>(static_cast<size_t>(g.ty), 0));
            for (int ty = 0; ty < g.ty; ++ty) slot[ty][ty] = 1;
            for (int stride = g.tree_top; stride > 0; stride /= 2) {
                const std::vector<std::vector<int>> before = slot;
                for (int ty = 0; ty < g.ty; ++ty) {
                    if (!nhwc::tree_absorbs(g, ty, stride)) continue;
                    ASSERT_LT(ty + stride, g.ty);
                    for (int k = 0; k < g.ty; ++k) slot[ty][k] += before[ty + stride][k];
                }
            }
            for (int k = 0; k < g.ty; ++k) EXPECT_EQ(slot[0][k], 1) << "row lane " << k;
        }
    }
}

}  // namespace
}  // namespace cbnn
