// Indexing on CUDA: gather / index_select / one_hot forward and backward against the CPU float64
// reference on randomized shapes (N = 1, C not a multiple of 32, repeated indices), bitwise
// determinism of the backwards (two runs, and CUDA f32 == CPU f32, which sums in the same order),
// and the CUDA index check's errors.
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <random>
#include <string>
#include <vector>

#include "autograd/functions.h"
#include "gtest/gtest.h"
#include "tensor/index.h"
#include "tests/support/expect_error.h"
#include "tests/support/gpu.h"
#include "tests/support/random.h"
#include "tests/support/tolerance.h"

namespace cbnn {
namespace {

using testing::all_close;
using testing::kCudaVsCpu;
using testing::random_index;
using testing::random_tensor;

bool bitwise_equal(const Tensor& a, const Tensor& b) {
    const std::vector<float> va = a.to_vector<float>(), vb = b.to_vector<float>();
    return va.size() == vb.size() &&
           std::memcmp(va.data(), vb.data(), va.size() * sizeof(float)) == 0;
}

struct Run {
    Tensor y, dx;
};

// y = f(x) and dx for upstream g, with x and g moved to `device` (and `dtype`).
template <class F>
Run run(const Tensor& x64, const Tensor& g64, Device device, DType dtype, F&& f) {
    Tensor x = x64.detach().clone().to(dtype).to(device);
    x.set_requires_grad(true);
    const Tensor y = f(x);
    y.backward(g64.to(dtype).to(device));
    return {y, x.grad()};
}

// CUDA f32 vs CPU f64 (values and gradient), CUDA vs CPU f32 bitwise, and two CUDA runs bitwise.
template <class F>
void check_against_cpu(const Tensor& x64, const Shape& y_shape, uint64_t seed,
                       const std::string& what, F&& f) {
    const Tensor g64 = random_tensor(y_shape, -1, 1, seed);
    const Run ref = run(x64, g64, Device::cpu(), DType::f64, f);
    const Run cpu32 = run(x64, g64, Device::cpu(), DType::f32, f);
    const Run a = run(x64, g64, Device::cuda(), DType::f32, f);
    const Run b = run(x64, g64, Device::cuda(), DType::f32, f);
    ASSERT_TRUE(a.y.is_cuda() && a.dx.is_cuda()) << what;
    EXPECT_EQ(a.y.shape(), y_shape) << what;
    EXPECT_TRUE(all_close(a.y, ref.y, kCudaVsCpu)) << what;
    EXPECT_TRUE(all_close(a.dx, ref.dx, kCudaVsCpu)) << what;
    EXPECT_TRUE(bitwise_equal(a.y, b.y)) << what;
    EXPECT_TRUE(bitwise_equal(a.dx, b.dx)) << what << ": backward not bitwise repeatable";
    EXPECT_TRUE(bitwise_equal(a.dx, cpu32.dx)) << what << ": CUDA and CPU f32 sum differently";
}

TEST(IndexCuda, GatherMatchesCpuReference) {
    CBNN_REQUIRE_GPU();
    uint64_t seed = 1000;
    // The losses' pattern gather(logits (N, C), 1, labels.unsqueeze(1)).
    for (int64_t n : {1, 7, 300}) {
        for (int64_t c : {10, 33, 1000}) {
            const Tensor x = random_tensor({n, c}, -3, 3, ++seed);
            const Tensor index = random_index({n}, c, ++seed).unsqueeze(1);
            check_against_cpu(x, {n, 1}, ++seed, "logits " + x.shape().str(),
                              [&](const Tensor& t) { return gather(t, 1, index.to(t.device())); });
        }
    }
    struct Case {
        Shape x_shape;
        int64_t dim;
        Shape index_shape;
    };
    const std::vector<Case> cases = {
        {{5, 37, 3}, 1, {5, 70, 3}},  // many repeats per line
        {{5, 37, 3}, 0, {9, 37, 3}},  // dim 0
        {{5, 37, 3}, 2, {4, 20, 6}},  // index smaller outside dim (PyTorch semantics)
        {{1, 45}, 1, {1, 1}},         // N = 1
        {{129}, 0, {1000}},           // 1-D, beyond one block
    };
    for (const Case& c : cases) {
        const Tensor x = random_tensor(c.x_shape, -3, 3, ++seed);
        const Tensor index =
            random_index(c.index_shape, c.x_shape[static_cast<size_t>(c.dim)], ++seed);
        check_against_cpu(x, c.index_shape, ++seed,
                          "x " + c.x_shape.str() + " dim " + std::to_string(c.dim) + " index " +
                              c.index_shape.str(),
                          [&](const Tensor& t) { return gather(t, c.dim, index.to(t.device())); });
    }
}

TEST(IndexCuda, IndexSelectMatchesCpuReference) {
    CBNN_REQUIRE_GPU();
    uint64_t seed = 2000;
    // Class weights w (C) gathered by labels (N): repeated labels everywhere.
    for (int64_t n : {1, 7, 300, 5000}) {
        for (int64_t c : {10, 33, 1000}) {
            const Tensor w = random_tensor({c}, 0.1, 2, ++seed);
            const Tensor labels = random_index({n}, c, ++seed);
            check_against_cpu(
                w, {n}, ++seed, "w [" + std::to_string(c) + "] by " + std::to_string(n) + " labels",
                [&](const Tensor& t) { return index_select(t, 0, labels.to(t.device())); });
        }
    }
    struct Case {
        Shape x_shape;
        int64_t dim;
        int64_t m;
    };
    const std::vector<Case> cases = {
        {{5, 37, 3}, 1, 80}, {{5, 37, 3}, 0, 11}, {{5, 37, 3}, 2, 4},
        {{1, 45}, 0, 1},     {{3, 1}, 1, 7},
    };
    for (const Case& c : cases) {
        const Tensor x = random_tensor(c.x_shape, -3, 3, ++seed);
        const Tensor index = random_index({c.m}, c.x_shape[static_cast<size_t>(c.dim)], ++seed);
        Shape y_shape = c.x_shape;
        y_shape[static_cast<size_t>(c.dim)] = c.m;
        check_against_cpu(
            x, y_shape, ++seed,
            "x " + c.x_shape.str() + " dim " + std::to_string(c.dim) + " m " + std::to_string(c.m),
            [&](const Tensor& t) { return index_select(t, c.dim, index.to(t.device())); });
    }
}

TEST(IndexCuda, OneHotMatchesCpu) {
    CBNN_REQUIRE_GPU();
    for (int64_t c : {1, 10, 33}) {
        const Tensor labels = random_index({4, 25}, c, 3000 + static_cast<uint64_t>(c));
        const Tensor y = one_hot(labels.cuda(), c);
        EXPECT_TRUE(y.is_cuda());
        EXPECT_EQ(y.dtype(), DType::f32);
        EXPECT_EQ(y.shape(), (Shape{4, 25, c}));
        EXPECT_EQ(y.to_vector<float>(), one_hot(labels, c).to_vector<float>());
    }
    EXPECT_EQ(one_hot(Tensor::zeros({0}, DType::i64, Device::cuda()), 3).shape(), (Shape{0, 3}));
}

TEST(IndexCuda, OutOfRangeIsAClearErrorNamingTheFirstBadIndex) {
    CBNN_REQUIRE_GPU();
    const Tensor x = Tensor::zeros({2, 3}, DType::f32, Device::cuda());
    EXPECT_TRUE(testing::throws_error(
        [&] {
            gather(x, 1, Tensor::from_vector<int64_t>({0, 1, 3, -1}, {2, 2}).cuda());
        },
        {"gather", "index 3 ", "flat position 2", "[0, 3)", "cuda"}));
    EXPECT_TRUE(testing::throws_error(
        [&] {
            index_select(x, 0, Tensor::from_vector<int64_t>({1, -1}, {2}).cuda());
        },
        {"index_select", "index -1 ", "flat position 1", "[0, 2)"}));
    EXPECT_TRUE(testing::throws_error(
        [&] {
            one_hot(Tensor::from_vector<int64_t>({4, 0, 5}, {3}).cuda(), 4);
        },
        {"one_hot", "label 4 ", "flat position 0", "[0, 4)"}));
    EXPECT_TRUE(testing::throws_error(
        [&] {
            ops::scatter_add(Tensor::zeros({1, 2}, DType::f32, Device::cuda()), 1,
                             Tensor::from_vector<int64_t>({0, 9}, {1, 2}).cuda(), Shape{1, 4});
        },
        {"scatter_add", "index 9 ", "[0, 4)"}));
    EXPECT_TRUE(testing::throws_error(
        [&] {
            ops::index_add(Tensor::zeros({2}, DType::f32, Device::cuda()), 0,
                           Tensor::from_vector<int64_t>({0, -7}, {2}).cuda(), Shape{3});
        },
        {"index_add", "index -7 ", "[0, 3)"}));
    // Many blocks: the smallest bad position wins.
    std::vector<int64_t> big(200000, 1);
    big[199999] = -5;
    big[123457] = 10;
    big[150000] = 11;
    EXPECT_TRUE(testing::throws_error(
        [&] { one_hot(Tensor::from_vector<int64_t>(big, {200000}).cuda(), 10); },
        {"label 10 ", "flat position 123457", "[0, 10)"}));
    // The device is still usable afterwards.
    const Tensor ok = gather(Tensor::ones({2, 3}, DType::f32, Device::cuda()), 1,
                             Tensor::from_vector<int64_t>({2, 0}, {2, 1}).cuda());
    EXPECT_EQ(ok.to_vector<float>(), (std::vector<float>{1, 1}));
}

TEST(IndexCuda, MixedDevicesAndF64AreErrors) {
    CBNN_REQUIRE_GPU();
    const Tensor x = Tensor::zeros({2, 3}, DType::f32, Device::cuda());
    const Tensor index = Tensor::zeros({2, 1}, DType::i64);
    EXPECT_TRUE(
        testing::throws_error([&] { gather(x, 1, index); }, {"gather", "different devices"}));
    EXPECT_TRUE(testing::throws_error([&] { gather(x.cpu(), 1, index.cuda()); },
                                      {"gather", "different devices"}));
    EXPECT_TRUE(testing::throws_error([&] { index_select(x, 0, Tensor::zeros({1}, DType::i64)); },
                                      {"index_select", "different devices"}));
    EXPECT_TRUE(
        testing::throws_error([&] { one_hot(index.cuda(), 3, DType::f64); }, {"one_hot", "f32"}));
}

}  // namespace
}  // namespace cbnn
