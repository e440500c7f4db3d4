// CUDA twin of tests/tensor/test_reduce.cpp: sum/max/mean/logsumexp along each dim on the GPU
// against the CPU f64 reference, bitwise determinism, argmax ties and NaN like the CPU.
#include <cmath>
#include <cstring>
#include <vector>

#include "autograd/functions.h"
#include "gtest/gtest.h"
#include "tensor/reduce.h"
#include "tests/support/gpu.h"
#include "tests/support/random.h"
#include "tests/support/tolerance.h"

namespace cbnn {
namespace {

using testing::all_close;

// Rows longer than the 512-thread block, a single row, more rows than the 65535-block grid,
// and inner > 1 (the column kernel).
const Shape kShapes[] = {{1, 700},  {1, 5},       {3, 1000}, {5, 513},   {70000, 3},
                         {4, 3, 7}, {2, 2000, 3}, {6, 1, 9}, {1, 100000}};

TEST(ReduceCuda, SumAndMaxAlongEachDimMatchCpu) {
    CBNN_REQUIRE_GPU();
    uint64_t seed = 1;
    for (const Shape& shape : kShapes) {
        // Positive values: sums do not cancel, so the relative bound of the table applies.
        const Tensor x = testing::random_tensor(shape, 0, 1, seed++, DType::f32);
        const Tensor x64 = x.to(DType::f64), xd = x.cuda();
        for (int64_t dim = 0; dim < x.dim(); ++dim) {
            SCOPED_TRACE(::testing::Message() << shape << " dim " << dim);
            const int64_t r = shape[static_cast<size_t>(dim)];
            const Tensor s = ops::sum(xd, dim);
            ASSERT_TRUE(s.is_cuda());
            EXPECT_TRUE(all_close(s, ops::sum(x64, dim), testing::f32_sum_tolerance(r)));
            EXPECT_TRUE(all_close(ops::mean(xd, dim, true), ops::mean(x64, dim, true),
                                  testing::f32_sum_tolerance(r)));
            const ops::MaxResult m = ops::max(xd, dim);
            const ops::MaxResult ref = ops::max(x, dim);
            EXPECT_EQ(m.values.to_vector<float>(), ref.values.to_vector<float>());
            EXPECT_EQ(m.indices.to_vector<int64_t>(), ref.indices.to_vector<int64_t>());
        }
        EXPECT_TRUE(
            all_close(ops::sum_all(xd), ops::sum_all(x64), testing::f32_sum_tolerance(x.numel())));
    }
}

TEST(ReduceCuda, TwoRunsAreBitwiseIdentical) {
    CBNN_REQUIRE_GPU();
    const Tensor x = testing::random_tensor({300, 4099}, -1, 1, 50, DType::f32).cuda();
    for (int64_t dim : {0, 1}) {
        const std::vector<float> a = ops::sum(x, dim).to_vector<float>();
        const std::vector<float> b = ops::sum(x, dim).to_vector<float>();
        ASSERT_EQ(a.size(), b.size());
        EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0) << "dim " << dim;
    }
    const std::vector<float> a = sum(x).to_vector<float>();
    const std::vector<float> b = sum(x).to_vector<float>();
    EXPECT_EQ(std::memcmp(a.data(), b.data(), sizeof(float)), 0);
}

TEST(ReduceCuda, ArgmaxTiesAndNanLikeCpu) {
    CBNN_REQUIRE_GPU();
    // Small integers: many ties, spread across the threads of a row block and across columns.
    std::vector<float> v(4 * 1500);
    for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>((i * 7919) % 13);
    v[2 * 1500 + 900] = NAN;
    v[2 * 1500 + 1400] = NAN;
    v[3 * 1500 + 1499] = 100.f;
    const Tensor x = Tensor::from_vector<float>(v, {4, 1500});
    for (int64_t dim : {0, 1}) {
        SCOPED_TRACE(::testing::Message() << "dim " << dim);
        const ops::MaxResult g = ops::max(x.cuda(), dim), c = ops::max(x, dim);
        EXPECT_EQ(g.indices.to_vector<int64_t>(), c.indices.to_vector<int64_t>());
        EXPECT_TRUE(all_close(g.values, c.values, testing::kF64Exact));  // NaN matches NaN
        EXPECT_EQ(argmax(x.cuda(), dim).to_vector<int64_t>(), argmax(x, dim).to_vector<int64_t>());
    }
    EXPECT_EQ(ops::max(x.cuda(), 1).indices.to_vector<int64_t>()[2], 900);
}

TEST(ReduceCuda, LogsumexpAndGradientsMatchCpu) {
    CBNN_REQUIRE_GPU();
    const Tensor x0 = testing::random_tensor({64, 1000}, -5, 5, 60, DType::f32);
    const Tensor w = testing::random_tensor({64}, -1, 1, 61, DType::f32);
    EXPECT_TRUE(all_close(logsumexp(x0.cuda(), 1), logsumexp(x0.to(DType::f64), 1),
                          testing::f32_sum_tolerance(1000)));
    auto grad = [&](Device device) {
        Tensor x = x0.to(device).detach();
        x.set_requires_grad();
        sum(w.to(device) * (logsumexp(x, 1) + max(x, 1) + mean(x, 1))).backward();
        return x.grad();
    };
    EXPECT_TRUE(all_close(grad(Device::cuda()), grad(Device::cpu()), testing::kCudaVsCpu));
    const Tensor big = Tensor::full({2, 600}, 1e4, DType::f32, Device::cuda());
    const std::vector<float> l = logsumexp(big, 1).to_vector<float>();
    EXPECT_NEAR(l[0], 1e4 + std::log(600.0), 2e-3);
}

}  // namespace
}  // namespace cbnn
