// The CUDA pooling kernels' per-thread work (layers/pooling_elements.h) run on the CPU, one call
// per element as the grid-stride loops make them, on the ResNet shapes (ResNet-50's 3x3/2 stem
// max pool, ResNet-32's 2x2/2 option-A shortcut) and on odd shapes with padding and partial
// windows, in NCHW and NHWC, f32 and bf16 (where bf16's coarse values make max-pool ties common).
// What a GPU run would otherwise be the first to check: the storage-order index math of both
// layouts, the gather windows of the backward against the CPU reference's scatter, and the claims
// of layers/pooling.h that the results are bitwise the CPU reference's (max pooling, argmax, both
// backwards) and bitwise equal between the layouts.
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "gtest/gtest.h"
#include "layers/pooling.h"
#include "layers/pooling_elements.h"
#include "tensor/copy.h"
#include "tests/support/random.h"
#include "tests/support/tolerance.h"

namespace cbnn {
namespace {

struct Config {
    Shape shape;
    int64_t kernel, stride, padding;
};

const Config kConfigs[] = {{{1, 64, 112, 112}, 3, 2, 1},  // ResNet-50 stem max pool
                           {{8, 16, 32, 32}, 2, 2, 0},    // ResNet-32 shortcut 16 -> 32
                           {{8, 32, 16, 16}, 2, 2, 0},    // ResNet-32 shortcut 32 -> 64
                           {{3, 5, 7, 9}, 3, 2, 1},      {{2, 3, 9, 7}, 2, 2, 0},
                           {{1, 4, 6, 6}, 3, 1, 1},      {{2, 2, 11, 5}, 5, 3, 2},
                           {{2, 3, 1, 1}, 1, 1, 0}};

constexpr MemoryFormat kNchw = MemoryFormat::contiguous;
constexpr MemoryFormat kNhwc = MemoryFormat::channels_last;

::testing::Message describe(const Config& c, DType dtype, MemoryFormat format) {
    return ::testing::Message() << c.shape << " k" << c.kernel << " s" << c.stride << " p"
                                << c.padding << " " << dtype << " " << memory_format_name(format);
}

// Equal values, a NaN equal to a NaN (max pooling propagates them).
::testing::AssertionResult same_values(const Tensor& got, const Tensor& expected) {
    const std::vector<double> a = testing::host_values(got), e = testing::host_values(expected);
    if (a.size() != e.size()) return ::testing::AssertionFailure() << "sizes differ";
    for (size_t i = 0; i < a.size(); ++i) {
        if (a[i] == e[i] || (std::isnan(a[i]) && std::isnan(e[i]))) continue;
        return ::testing::AssertionFailure()
               << "element " << i << " (row-major) is " << a[i] << ", expected " << e[i];
    }
    return ::testing::AssertionSuccess();
}

// Every element of the four kernels on the CPU, with x and dy laid out in `format`, outputs in it.
struct ElementResults {
    Tensor max_y, argmax, max_dx, avg_y, avg_dx;
};

ElementResults run_elements(const Tensor& x_in, const Tensor& dy_in, const Config& c,
                            MemoryFormat format, bool count_include_pad) {
    Pool2dGeometry g = pool2d_geometry(c.shape, c.kernel, c.stride, c.padding, "test");
    g.channels_last = format == kNhwc;
    const Tensor x = ops::contiguous_copy(x_in, format), dy = ops::contiguous_copy(dy_in, format);
    const Shape out_shape{g.N, g.C, g.OH, g.OW};
    const DType dtype = x.dtype();
    ElementResults r{Tensor::empty(out_shape, dtype, Device::cpu(), format),
                     Tensor::empty(out_shape, DType::i64, Device::cpu(), format),
                     Tensor::empty(c.shape, dtype, Device::cpu(), format),
                     Tensor::empty(out_shape, dtype, Device::cpu(), format),
                     Tensor::empty(c.shape, dtype, Device::cpu(), format)};
    const auto run = [&]<class A>() {
        for (int64_t o = 0; o < shape_numel(out_shape); ++o) {
            max_pool2d_forward_element(x.data<A>(), r.max_y.data<A>(), r.argmax.data<int64_t>(), g,
                                       o);
            avg_pool2d_forward_element(x.data<A>(), r.avg_y.data<A>(), g, count_include_pad, o);
        }
        for (int64_t t = 0; t < shape_numel(c.shape); ++t) {
            max_pool2d_backward_element(dy.data<A>(), r.argmax.data<int64_t>(), r.max_dx.data<A>(),
                                        g, t);
            avg_pool2d_backward_element(dy.data<A>(), r.avg_dx.data<A>(), g, count_include_pad, t);
        }
    };
    if (dtype == DType::bf16) {
        run.template operator()<bfloat16>();
    } else {
        run.template operator()<float>();
    }
    return r;
}

// x in [-2, 2] with a NaN planted in the first plane (when it has room) so that its windows
// must return it.
Tensor pooling_input(const Config& c, DType dtype, uint64_t seed) {
    Tensor x = testing::random_tensor(c.shape, -2, 2, seed, DType::f32);
    if (c.shape[2] * c.shape[3] > 4) x.data<float>()[c.shape[3] + 1] = std::nanf("");
    return x.to(dtype);
}

TEST(PoolingElements, BothLayoutsGiveTheCpuReferenceBitwise) {
    uint64_t seed = 100;
    for (DType dtype : {DType::f32, DType::bf16}) {
        for (const Config& c : kConfigs) {
            for (bool include : {true, false}) {
                const Tensor x = pooling_input(c, dtype, seed++);
                const ops::MaxPool2dResult max = ops::max_pool2d(x, c.kernel, c.stride, c.padding);
                const Tensor dy =
                    testing::random_tensor(max.values.shape(), -1, 1, seed++, DType::f32).to(dtype);
                const Tensor max_dx = ops::max_pool2d_backward(dy, max.indices, c.shape, c.kernel,
                                                               c.stride, c.padding);
                const Tensor avg_dx =
                    ops::avg_pool2d_backward(dy, c.shape, c.kernel, c.stride, c.padding, include);
                for (MemoryFormat format : {kNchw, kNhwc}) {
                    SCOPED_TRACE(describe(c, dtype, format) << " count_include_pad " << include);
                    const ElementResults r = run_elements(x, dy, c, format, include);
                    EXPECT_TRUE(same_values(r.max_y, max.values));
                    EXPECT_EQ(r.argmax.to_vector<int64_t>(), max.indices.to_vector<int64_t>());
                    EXPECT_TRUE(same_values(r.max_dx, max_dx));
                    EXPECT_TRUE(same_values(r.avg_dx, avg_dx));
                }
            }
        }
    }
}

// The average's forward sums in float on the GPU (the CPU reference in double), so it is bitwise
// only between the layouts; against the reference it is within the f32 sum bound, and bf16 is
// the f32 result on the same values rounded once.
TEST(PoolingElements, AveragePoolForwardAcrossLayoutsAndDtypes) {
    uint64_t seed = 900;
    for (const Config& c : kConfigs) {
        for (bool include : {true, false}) {
            SCOPED_TRACE(describe(c, DType::f32, kNchw) << " count_include_pad " << include);
            const Tensor x = testing::random_tensor(c.shape, -2, 2, seed++, DType::bf16);
            const Tensor x32 = x.to(DType::f32);
            const Pool2dGeometry g = pool2d_geometry(c.shape, c.kernel, c.stride, c.padding, "t");
            const Tensor dy_full = Tensor::zeros({g.N, g.C, g.OH, g.OW});  // backward unused
            const ElementResults f32 = run_elements(x32, dy_full, c, kNchw, include);
            EXPECT_TRUE(testing::all_close(
                f32.avg_y,
                ops::avg_pool2d(x32.to(DType::f64), c.kernel, c.stride, c.padding, include),
                testing::f32_sum_tolerance(c.kernel * c.kernel)));
            EXPECT_TRUE(
                same_values(run_elements(x32, dy_full, c, kNhwc, include).avg_y, f32.avg_y));
            const Tensor bf16_dy = dy_full.to(DType::bf16);
            for (MemoryFormat format : {kNchw, kNhwc}) {
                EXPECT_TRUE(same_values(run_elements(x, bf16_dy, c, format, include).avg_y,
                                        f32.avg_y.to(DType::bf16)));
            }
        }
    }
}

}  // namespace
}  // namespace cbnn
