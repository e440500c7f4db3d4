// The tests' own helpers (tests/support), whose fast paths must not change what the tests check:
// random_values and random_tensor give the values of std::uniform_real_distribution and of the
// generic cast; host_values, host_as, host_f64, all_close and bitwise_equal read every layout,
// dtype and special value as the generic cast does; SharedRandomInputs hands the parameterisations
// of a test the same tensors.
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <tuple>
#include <vector>

#include "gtest/gtest.h"
#include "tensor/copy.h"
#include "tests/layers/batchnorm_test_util.h"
#include "tests/support/random.h"
#include "tests/support/shared_inputs.h"
#include "tests/support/tolerance.h"

namespace cbnn {
namespace {

using testing::host_f64;
using testing::host_values;

// The reference path the helpers replace: the generic cast on the host.
std::vector<double> cast_values(const Tensor& t) {
    return t.cpu().to(DType::f64).to_vector<double>();
}

::testing::AssertionResult same_doubles(const std::vector<double>& a,
                                        const std::vector<double>& b) {
    if (a.size() != b.size())
        return ::testing::AssertionFailure() << a.size() << " vs " << b.size() << " values";
    for (size_t i = 0; i < a.size(); ++i)
        if (std::memcmp(&a[i], &b[i], sizeof(double)) != 0)
            return ::testing::AssertionFailure() << "value " << i << ": " << a[i] << " vs " << b[i];
    return ::testing::AssertionSuccess();
}

TEST(TestSupport, RandomValuesAreThoseOfLibstdcxxUniformRealDistribution) {
#ifndef __GLIBCXX__
    GTEST_SKIP() << "random_values reproduces libstdc++'s std::uniform_real_distribution";
#else
    for (const auto& [lo, hi, seed] :
         {std::tuple{-1.0, 2.0, uint64_t{1}}, std::tuple{0.5, 1.5, uint64_t{7}},
          std::tuple{-1e-3, 1e3, uint64_t{123456789}}}) {
        SCOPED_TRACE(::testing::Message() << lo << " " << hi << " " << seed);
        std::mt19937_64 rng(seed);
        std::uniform_real_distribution<double> dist(lo, hi);
        std::vector<double> expected(1 << 18);
        for (double& x : expected) x = dist(rng);
        EXPECT_TRUE(same_doubles(testing::random_values(1 << 18, lo, hi, seed), expected));
    }
#endif
}

TEST(TestSupport, RandomTensorOfADtypeIsTheF64OneCast) {
    const Shape shape{3, 5, 7, 2};
    const Tensor f64 = testing::random_tensor(shape, -1, 2, 42);
    EXPECT_TRUE(same_doubles(f64.to_vector<double>(), testing::random_values(210, -1, 2, 42)));
    for (DType dtype : {DType::f32, DType::bf16}) {
        SCOPED_TRACE(dtype_name(dtype));
        const Tensor t = testing::random_tensor(shape, -1, 2, 42, dtype);
        ASSERT_EQ(t.dtype(), dtype);
        ASSERT_EQ(t.shape(), shape);
        EXPECT_TRUE(testing::bitwise_equal(t, f64.to(dtype)));
    }
}

// Tensors of every dtype and odd layouts, special values included.
std::vector<Tensor> awkward_tensors() {
    const double inf = std::numeric_limits<double>::infinity();
    const Tensor special = Tensor::from_vector<double>(
        {std::nan(""), -0.0, 0.0, inf, -inf, 1e-300, -3.5, 1.0 / 3, 255, 7, 1e30, -1e-40},
        {2, 3, 2});
    const Tensor nchw = testing::random_tensor({2, 3, 4, 5}, -2, 2, 9);
    std::vector<Tensor> out;
    for (DType dtype : {DType::f64, DType::f32, DType::bf16}) {
        const Tensor s = special.to(dtype), x = nchw.to(dtype);
        out.push_back(s);
        out.push_back(x);
        out.push_back(ops::contiguous_copy(x, MemoryFormat::channels_last));
        out.push_back(x.transpose(1, 3));  // a last dimension of stride > 1
        out.push_back(x.narrow(2, 1, 2));  // an offset and gaps
        out.push_back(Tensor::make_view(s, {4, 2, 3}, {0, 3, 1}, 6));  // broadcast (stride 0)
        out.push_back(Tensor::make_view(s, {}, {}, 4));                // 0-d
        out.push_back(Tensor::empty({2, 0, 3}, dtype));
    }
    out.push_back(
        ops::cast(Tensor::from_vector<double>({0, 3, 17, 255, 128, 1}, {2, 3}), DType::u8));
    out.push_back(Tensor::from_vector<int64_t>({-5, 0, int64_t{1} << 40}, {3}));
    return out;
}

TEST(TestSupport, HostCopiesGiveTheValuesOfTheGenericCast) {
    for (const Tensor& t : awkward_tensors()) {
        SCOPED_TRACE(::testing::Message() << t.description() << " strides " << t.strides());
        const std::vector<double> expected = cast_values(t);
        EXPECT_TRUE(same_doubles(host_values(t), expected));
        const Tensor h = host_f64(t);
        ASSERT_FALSE(h.is_cuda());
        EXPECT_EQ(h.dtype(), DType::f64);
        EXPECT_EQ(h.shape(), t.shape());
        EXPECT_TRUE(h.is_contiguous());
        EXPECT_TRUE(same_doubles(h.to_vector<double>(), expected));
        EXPECT_TRUE(testing::all_close(t, h, {0, 0}));
        EXPECT_TRUE(testing::all_close(h, t, {0, 0}));
        for (DType dtype : {DType::f32, DType::bf16}) {
            const Tensor narrowed = testing::host_as(t, dtype);
            EXPECT_EQ(narrowed.dtype(), dtype);
            EXPECT_TRUE(narrowed.is_contiguous());
            EXPECT_TRUE(testing::bitwise_equal(narrowed, t.to(dtype)));
        }
    }
}

TEST(TestSupport, HostF64OfARowMajorF64TensorIsTheTensorItself) {
    const Tensor t = testing::random_tensor({2, 3, 4, 5}, -1, 1, 3);
    EXPECT_TRUE(host_f64(t).is_same(t));
    const Tensor channels_last = ops::contiguous_copy(t, MemoryFormat::channels_last);
    const Tensor h = host_f64(channels_last);
    EXPECT_FALSE(h.shares_storage(channels_last));
    EXPECT_TRUE(h.is_contiguous());
    EXPECT_TRUE(testing::bitwise_equal(h, t));
}

TEST(TestSupport, AllCloseAndBitwiseEqualStillReportTheWorstElement) {
    const Tensor a = Tensor::from_vector<double>({1, 2, 3, 4, 5, 6}, {2, 3});
    const Tensor b = Tensor::from_vector<double>({1, 2.5, 3, 4, 5.1, 6}, {2, 3});
    const ::testing::AssertionResult close = testing::all_close(a, b, {1e-3, 0});
    ASSERT_FALSE(close);
    EXPECT_NE(std::string(close.message()).find("2 of 6 elements differ; worst at 1"),
              std::string::npos)
        << close.message();
    EXPECT_TRUE(testing::all_close(a, b, {0.5, 0}));
    const ::testing::AssertionResult same = testing::bitwise_equal(a, b);
    ASSERT_FALSE(same);
    EXPECT_NE(std::string(same.message()).find("element 1: 2 vs 2.5"), std::string::npos)
        << same.message();
    // -0 and +0 are equal numbers but different bits.
    const Tensor zero = Tensor::from_vector<float>({0.0f}, {1});
    const Tensor minus_zero = Tensor::from_vector<float>({-0.0f}, {1});
    EXPECT_TRUE(testing::all_close(zero, minus_zero, {0, 0}));
    EXPECT_FALSE(testing::bitwise_equal(zero, minus_zero));
    EXPECT_TRUE(testing::bitwise_equal(Tensor::empty({0, 4}), Tensor::empty({0, 4})));
}

class SharedRandomInputsTest : public ::testing::TestWithParam<int> {
  protected:
    testing::SharedRandomInputs inputs_;
};

// The storage of the input the first parameterisation drew; the second (run right after it when
// the whole binary runs, alone under CTest) must get the same tensor. Weak: a static Tensor would
// be freed at exit after the CPU allocator.
std::weak_ptr<Storage> g_first_input;

TEST_P(SharedRandomInputsTest, TheParameterisationsGetTheSameTensors) {
    const Tensor t = inputs_.random_tensor({4, 5}, -1, 1, 3, DType::f32);
    EXPECT_TRUE(testing::bitwise_equal(t, testing::random_tensor({4, 5}, -1, 1, 3, DType::f32)));
    EXPECT_TRUE(inputs_.random_tensor({4, 5}, -1, 1, 3, DType::f32).is_same(t));
    for (const Tensor& other : {inputs_.random_tensor({4, 5}, -1, 1, 4, DType::f32),
                                inputs_.random_tensor({4, 5}, -1, 2, 3, DType::f32),
                                inputs_.random_tensor({5, 4}, -1, 1, 3, DType::f32),
                                inputs_.random_tensor({4, 5}, -1, 1, 3, DType::bf16)})
        EXPECT_FALSE(other.is_same(t));
    if (GetParam() == 0) {
        g_first_input = t.storage();
    } else if (const std::shared_ptr<Storage> first = g_first_input.lock()) {
        EXPECT_EQ(first, t.storage());
    }
}

INSTANTIATE_TEST_SUITE_P(Params, SharedRandomInputsTest, ::testing::Values(0, 1));

}  // namespace
}  // namespace cbnn
