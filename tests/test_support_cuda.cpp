// CUDA twin of tests/test_support.cpp: host_values and host_f64 of CUDA tensors (both layouts,
// f32 and bf16, views) give the values of the generic copy and cast to f64.
#include <cstring>
#include <vector>

#include "gtest/gtest.h"
#include "tensor/copy.h"
#include "tests/layers/batchnorm_test_util.h"
#include "tests/support/gpu.h"
#include "tests/support/random.h"
#include "tests/support/tolerance.h"

namespace cbnn {
namespace {

TEST(TestSupportCuda, HostValuesAndHostF64GiveTheValuesOfTheGenericCast) {
    CBNN_REQUIRE_GPU();
    for (DType dtype : {DType::f32, DType::bf16}) {
        const Tensor x = testing::random_tensor({3, 8, 5, 7}, -2, 2, 11, dtype).cuda();
        for (const Tensor& t : {x, ops::contiguous_copy(x, MemoryFormat::channels_last),
                                x.narrow(1, 2, 3), x.transpose(1, 3)}) {
            SCOPED_TRACE(::testing::Message() << t.description() << " strides " << t.strides());
            const std::vector<double> expected = t.cpu().to(DType::f64).to_vector<double>();
            const std::vector<double> got = testing::host_values(t);
            ASSERT_EQ(got.size(), expected.size());
            EXPECT_EQ(std::memcmp(got.data(), expected.data(), got.size() * sizeof(double)), 0);
            const Tensor h = testing::host_f64(t);
            ASSERT_FALSE(h.is_cuda());
            EXPECT_TRUE(h.is_contiguous());
            EXPECT_TRUE(
                testing::bitwise_equal(h, Tensor::from_vector<double>(expected, t.shape())));
            EXPECT_TRUE(testing::bitwise_equal(t, t.cpu()));
            EXPECT_TRUE(testing::all_close(t, h, {0, 0}));
        }
    }
}

}  // namespace
}  // namespace cbnn
