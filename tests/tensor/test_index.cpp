// Indexing on the CPU: gather / index_select / one_hot (autograd/functions.h) and the op functions
// scatter_add / index_add (tensor/index.h). Hand-computed values, float64 gradchecks (with repeated
// indices, so the backward's accumulation is exercised), f32 vs f64 agreement, and every bad input.
#include <cstdint>
#include <initializer_list>
#include <random>
#include <string>
#include <vector>

#include "autograd/functions.h"
#include "autograd/grad_mode.h"
#include "autograd/gradcheck.h"
#include "gtest/gtest.h"
#include "tensor/index.h"
#include "tests/support/expect_error.h"
#include "tests/support/random.h"
#include "tests/support/tolerance.h"

namespace cbnn {
namespace {

using testing::all_close;
using testing::kF32VsF64;
using testing::kF64Exact;
using testing::random_index;
using testing::random_tensor;

Tensor idx(const std::vector<int64_t>& v, const Shape& shape) {
    return Tensor::from_vector<int64_t>(v, shape);
}
Tensor f64(const std::vector<double>& v, const Shape& shape) {
    return Tensor::from_vector<double>(v, shape);
}
// x[a][b][c] = a * 6 + b * 2 + c, shape (2, 3, 2).
Tensor x232(DType dtype = DType::f64) { return Tensor::arange(12, dtype).view({2, 3, 2}); }

// dx of y = f(x) for upstream gradient g, through the autograd engine.
template <class F>
Tensor backward_of(const Tensor& x_value, const Tensor& g, F&& f) {
    Tensor x = x_value.detach().clone();
    x.set_requires_grad(true);
    const Tensor y = f(x);
    y.backward(g);
    return x.grad();
}

// ---- gather -----------------------------------------------------------------------------------

TEST(Gather, HandComputedDim0AndDim1) {
    const Tensor x = f64({1, 2, 3, 4, 5, 6}, {2, 3});
    const Tensor y1 = gather(x, 1, idx({2, 0, 1, 1}, {2, 2}));
    EXPECT_EQ(y1.shape(), (Shape{2, 2}));
    EXPECT_EQ(testing::host_values(y1), (std::vector<double>{3, 1, 5, 5}));
    // Along dim 0 a column picks its row.
    EXPECT_EQ(testing::host_values(gather(x, 0, idx({1, 1, 0, 0, 0, 1}, {2, 3}))),
              (std::vector<double>{4, 5, 3, 1, 2, 6}));
    EXPECT_EQ(testing::host_values(gather(x, 0, idx({1, 0, 1}, {1, 3}))),
              (std::vector<double>{4, 2, 6}));
    // Negative dim counts from the end; the losses' pattern gather(logits, 1, labels.unsqueeze(1)).
    const Tensor labels = idx({2, 0}, {2});
    const Tensor picked = gather(x, -1, labels.unsqueeze(1));
    EXPECT_EQ(picked.shape(), (Shape{2, 1}));
    EXPECT_EQ(testing::host_values(picked), (std::vector<double>{3, 4}));
}

TEST(Gather, IndexMayBeSmallerOutsideDimAndAnySizeAlongDim) {
    const Tensor x = f64({1, 2, 3, 4, 5, 6}, {2, 3});
    // PyTorch semantics: index.size(d) <= x.size(d) for d != dim, any size along dim.
    EXPECT_EQ(testing::host_values(gather(x, 1, idx({1}, {1, 1}))), (std::vector<double>{2}));
    EXPECT_EQ(testing::host_values(gather(x, 1, idx({0, 2, 2, 1}, {1, 4}))),
              (std::vector<double>{1, 3, 3, 2}));
    EXPECT_EQ(testing::host_values(gather(x, 0, idx({1, 0}, {1, 2}))), (std::vector<double>{4, 2}));
    const Tensor y = gather(x232(), 2, idx({1, 1, 0, 0, 1, 0}, {1, 2, 3}));
    EXPECT_EQ(y.shape(), (Shape{1, 2, 3}));
    EXPECT_EQ(testing::host_values(y), (std::vector<double>{1, 1, 0, 2, 3, 2}));
    // Empty index: empty result of the index's shape.
    EXPECT_EQ(gather(x, 1, Tensor::zeros({2, 0}, DType::i64)).shape(), (Shape{2, 0}));
}

TEST(Gather, HandComputed3DForwardAndBackward) {
    const Tensor index = idx({2, 0, 1, 1, 0, 2, 2, 2}, {2, 2, 2});
    // out[a][k][c] = x[a][index[a][k][c]][c] = a * 6 + index * 2 + c
    const Tensor y = gather(x232(), 1, index);
    EXPECT_EQ(y.shape(), (Shape{2, 2, 2}));
    EXPECT_EQ(testing::host_values(y), (std::vector<double>{4, 1, 2, 3, 6, 11, 10, 11}));
    // dy[a][k][c] = 1 + a * 4 + k * 2 + c; dx[a][r][c] = sum of dy[a][k][c] over index == r.
    const Tensor g = Tensor::arange(8, DType::f64).view({2, 2, 2}) + 1.0;
    const Tensor dx = backward_of(x232(), g, [&](const Tensor& x) { return gather(x, 1, index); });
    EXPECT_EQ(dx.shape(), (Shape{2, 3, 2}));
    EXPECT_EQ(testing::host_values(dx), (std::vector<double>{0, 2, 3, 4, 1, 0, 5, 0, 0, 0, 7, 14}));
}

TEST(Gather, BackwardWithSmallerIndexFillsOnlyTheLeadingBlock) {
    const Tensor x = f64({1, 2, 3, 4, 5, 6}, {2, 3});
    const Tensor index = idx({2, 2, 0}, {1, 3});
    const Tensor dx = backward_of(x, f64({1, 10, 100}, {1, 3}),
                                  [&](const Tensor& t) { return gather(t, 1, index); });
    EXPECT_EQ(dx.shape(), (Shape{2, 3}));
    EXPECT_EQ(testing::host_values(dx), (std::vector<double>{100, 0, 11, 0, 0, 0}));
}

TEST(Gather, NonContiguousOperandsGiveTheSameResult) {
    const Tensor base = random_tensor({5, 4}, -1, 1, 11);
    const Tensor xt = base.t();  // (4, 5) view
    const Tensor index_base = random_index({3, 4}, 4, 12);
    const Tensor index = index_base.t();  // (4, 3) view, values in [0, 4)
    ASSERT_FALSE(xt.is_contiguous());
    ASSERT_FALSE(index.is_contiguous());
    EXPECT_TRUE(
        all_close(gather(xt, 0, index), gather(xt.contiguous(), 0, index.contiguous()), kF64Exact));
    const Tensor g = random_tensor({4, 3}, -1, 1, 13);
    const Tensor dx1 = backward_of(xt, g.t().contiguous().t(),  // a non-contiguous upstream grad
                                   [&](const Tensor& t) { return gather(t, 0, index); });
    const Tensor dx2 = backward_of(
        xt.contiguous(), g, [&](const Tensor& t) { return gather(t, 0, index.contiguous()); });
    EXPECT_TRUE(all_close(dx1, dx2, kF64Exact));
}

TEST(Gather, ScatterAddOpHandComputed) {
    // Repeated indices accumulate; the result has the given shape.
    const Tensor src = f64({1, 2, 3, 4, 5, 6}, {2, 3});
    const Tensor out = ops::scatter_add(src, 1, idx({0, 0, 2, 1, 1, 1}, {2, 3}), Shape{2, 4});
    EXPECT_EQ(out.shape(), (Shape{2, 4}));
    EXPECT_EQ(testing::host_values(out), (std::vector<double>{3, 0, 3, 0, 0, 15, 0, 0}));
    const Tensor out0 = ops::scatter_add(f64({1, 2}, {1, 2}), 0, idx({2, 2}, {1, 2}), Shape{3, 3});
    EXPECT_EQ(testing::host_values(out0), (std::vector<double>{0, 0, 0, 0, 0, 0, 1, 2, 0}));
}

TEST(Gather, GradcheckFloat64WithRepeatedIndices) {
    struct Case {
        Shape x_shape;
        int64_t dim;
        Shape index_shape;
    };
    const std::vector<Case> cases = {
        {{3, 4}, 1, {3, 6}},        // K > R: every row repeats indices
        {{3, 4}, 0, {5, 4}},        // dim 0
        {{3, 4}, 0, {2, 3}},        // index smaller than x outside dim
        {{2, 3, 4}, 1, {2, 5, 4}},  // 3-D, middle dim
        {{2, 3, 4}, 2, {2, 2, 7}},  // 3-D, last dim
        {{6}, 0, {9}},              // 1-D
    };
    uint64_t seed = 100;
    for (const Case& c : cases) {
        const Tensor x = random_tensor(c.x_shape, -2, 2, ++seed);
        const Tensor index =
            random_index(c.index_shape, c.x_shape[static_cast<size_t>(c.dim)], ++seed);
        const int64_t dim = c.dim;
        const autograd::GradcheckResult r = autograd::gradcheck(
            [dim](const std::vector<Tensor>& in) { return gather(in[0], dim, in[1]); }, {x, index});
        EXPECT_TRUE(r.ok) << "x " << c.x_shape << " dim " << dim << " index " << c.index_shape
                          << ": " << r.message;
        EXPECT_EQ(r.checked, x.numel());
    }
}

// ---- index_select -------------------------------------------------------------------------------

TEST(IndexSelect, HandComputedDim0Dim1AndRepeats) {
    const Tensor x = f64({1, 2, 3, 4, 5, 6}, {2, 3});
    const Tensor y0 = index_select(x, 0, idx({1, 1, 0}, {3}));
    EXPECT_EQ(y0.shape(), (Shape{3, 3}));
    EXPECT_EQ(testing::host_values(y0), (std::vector<double>{4, 5, 6, 4, 5, 6, 1, 2, 3}));
    const Tensor y1 = index_select(x, 1, idx({2, 0, 2, 2}, {4}));
    EXPECT_EQ(y1.shape(), (Shape{2, 4}));
    EXPECT_EQ(testing::host_values(y1), (std::vector<double>{3, 1, 3, 3, 6, 4, 6, 6}));
    EXPECT_EQ(index_select(x, -1, Tensor::zeros({0}, DType::i64)).shape(), (Shape{2, 0}));
}

TEST(IndexSelect, HandComputed3D) {
    const Tensor y = index_select(x232(), 1, idx({2, 0}, {2}));
    EXPECT_EQ(y.shape(), (Shape{2, 2, 2}));
    EXPECT_EQ(testing::host_values(y), (std::vector<double>{4, 5, 0, 1, 10, 11, 6, 7}));
    EXPECT_EQ(testing::host_values(index_select(x232(), 0, idx({1}, {1}))),
              (std::vector<double>{6, 7, 8, 9, 10, 11}));
    EXPECT_EQ(testing::host_values(index_select(x232(), 2, idx({1, 1, 0}, {3}))),
              (std::vector<double>{1, 1, 0, 3, 3, 2, 5, 5, 4, 7, 7, 6, 9, 9, 8, 11, 11, 10}));
}

TEST(IndexSelect, BackwardAccumulatesRepeatedIndices) {
    // Class weights w (C) gathered by labels (N).
    const Tensor w = f64({0.5, 1, 2, 4}, {4});
    const Tensor labels = idx({3, 0, 3, 1, 3}, {5});
    EXPECT_EQ(testing::host_values(index_select(w, 0, labels)),
              (std::vector<double>{4, 0.5, 4, 1, 4}));
    const Tensor dw = backward_of(w, f64({1, 10, 100, 1000, 10000}, {5}),
                                  [&](const Tensor& t) { return index_select(t, 0, labels); });
    EXPECT_EQ(testing::host_values(dw), (std::vector<double>{10, 1000, 0, 10101}));
    // dim 1: dx[o][r] = sum of dy[o][j] over index[j] == r.
    const Tensor index = idx({2, 0, 2, 2}, {4});
    const Tensor dx =
        backward_of(f64({1, 2, 3, 4, 5, 6}, {2, 3}), f64({1, 2, 3, 4, 5, 6, 7, 8}, {2, 4}),
                    [&](const Tensor& t) { return index_select(t, 1, index); });
    EXPECT_EQ(testing::host_values(dx), (std::vector<double>{2, 0, 8, 6, 0, 20}));
}

TEST(IndexSelect, IndexAddOpHandComputed) {
    const Tensor out =
        ops::index_add(f64({1, 2, 3, 4, 5, 6}, {3, 2}), 0, idx({1, 1, 0}, {3}), Shape{3, 2});
    EXPECT_EQ(testing::host_values(out), (std::vector<double>{5, 6, 4, 6, 0, 0}));
}

TEST(IndexSelect, GradcheckFloat64WithRepeatedIndices) {
    struct Case {
        Shape x_shape;
        int64_t dim;
        std::vector<int64_t> index;
    };
    const std::vector<Case> cases = {
        {{4}, 0, {3, 0, 3, 1, 3, 3}}, {{3, 4}, 0, {2, 0, 2, 1, 2}}, {{3, 4}, 1, {3, 3, 0}},
        {{2, 3, 4}, 1, {1, 1, 2, 1}}, {{2, 3, 4}, 2, {0, 3, 0}},
    };
    uint64_t seed = 200;
    for (const Case& c : cases) {
        const Tensor x = random_tensor(c.x_shape, -2, 2, ++seed);
        const Tensor index = idx(c.index, {static_cast<int64_t>(c.index.size())});
        const int64_t dim = c.dim;
        // The index is captured by the lambda here (gather's test passes it as an input).
        const autograd::GradcheckResult r = autograd::gradcheck(
            [dim, index](const std::vector<Tensor>& in) { return index_select(in[0], dim, index); },
            {x});
        EXPECT_TRUE(r.ok) << "x " << c.x_shape << " dim " << dim << ": " << r.message;
        EXPECT_EQ(r.checked, x.numel());
    }
}

// ---- f32 vs f64
// -----------------------------------------------------------------------------------

TEST(Index, Float32AgreesWithFloat64ForwardAndBackward) {
    const Tensor x = random_tensor({4, 37, 3}, -3, 3, 300);
    const Tensor gindex = random_index({4, 50, 3}, 37, 301);
    const Tensor sindex = random_index({60}, 37, 302);
    const Tensor gg = random_tensor({4, 50, 3}, -1, 1, 303);
    const Tensor sg = random_tensor({4, 60, 3}, -1, 1, 304);
    auto gather1 = [&](const Tensor& t) { return gather(t, 1, gindex); };
    auto select1 = [&](const Tensor& t) { return index_select(t, 1, sindex); };
    for (DType dt : {DType::f32, DType::f64}) {
        EXPECT_EQ(gather(x.to(dt), 1, gindex).dtype(), dt);
        EXPECT_EQ(index_select(x.to(dt), 1, sindex).dtype(), dt);
    }
    EXPECT_TRUE(all_close(gather1(x.to(DType::f32)), gather1(x), kF32VsF64));
    EXPECT_TRUE(all_close(select1(x.to(DType::f32)), select1(x), kF32VsF64));
    // Sums of up to ~10 terms per element.
    EXPECT_TRUE(all_close(backward_of(x.to(DType::f32), gg.to(DType::f32), gather1),
                          backward_of(x, gg, gather1), kF32VsF64));
    EXPECT_TRUE(all_close(backward_of(x.to(DType::f32), sg.to(DType::f32), select1),
                          backward_of(x, sg, select1), kF32VsF64));
}

TEST(Index, SavedIndexModifiedInPlaceIsAnError) {
    Tensor index = idx({0, 2}, {2});
    Tensor x = f64({1, 2, 3}, {3});
    x.set_requires_grad(true);
    const Tensor y = index_select(x, 0, index);
    index.fill_(1.0);
    EXPECT_TRUE(testing::throws_error([&] { y.backward(Tensor::ones({2}, DType::f64)); },
                                      {"index_select", "modified in place"}));
}

// ---- one_hot
// --------------------------------------------------------------------------------------

TEST(OneHot, ValuesShapesAndDtypes) {
    const Tensor y = one_hot(idx({2, 0, 1}, {3}), 3);
    EXPECT_EQ(y.dtype(), DType::f32);
    EXPECT_EQ(y.shape(), (Shape{3, 3}));
    EXPECT_EQ(y.to_vector<float>(), (std::vector<float>{0, 0, 1, 1, 0, 0, 0, 1, 0}));
    const Tensor y64 = one_hot(idx({1, 3, 3, 0}, {2, 2}), 4, DType::f64);
    EXPECT_EQ(y64.dtype(), DType::f64);
    EXPECT_EQ(y64.shape(), (Shape{2, 2, 4}));
    EXPECT_EQ(y64.to_vector<double>(),
              (std::vector<double>{0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0, 0}));
    const Tensor scalar = one_hot(idx({1}, {}), 2);
    EXPECT_EQ(scalar.shape(), (Shape{2}));
    EXPECT_EQ(scalar.to_vector<float>(), (std::vector<float>{0, 1}));
    EXPECT_EQ(one_hot(Tensor::zeros({0}, DType::i64), 5).shape(), (Shape{0, 5}));
    // A non-contiguous view of labels.
    const Tensor labels_t = idx({0, 1, 2, 0}, {2, 2}).t();  // [[0, 2], [1, 0]]
    EXPECT_EQ(one_hot(labels_t, 3).to_vector<float>(),
              (std::vector<float>{1, 0, 0, 0, 0, 1, 0, 1, 0, 1, 0, 0}));
    EXPECT_FALSE(one_hot(idx({0}, {1}), 2).requires_grad());
}

// ---- bad inputs
// -----------------------------------------------------------------------------------

TEST(IndexErrors, OutOfRangeIndicesNameOpValueAndRange) {
    const Tensor x = f64({1, 2, 3, 4, 5, 6}, {2, 3});
    EXPECT_TRUE(testing::throws_error(
        [&] {
            gather(x, 1, idx({0, 3, 1, 1}, {2, 2}));
        },
        {"gather", "index 3 ", "flat position 1", "[0, 3)", "dimension 1"}));
    EXPECT_TRUE(testing::throws_error(
        [&] {
            gather(x, 1, idx({0, 1, -1, 1}, {2, 2}));
        },
        {"gather", "index -1 ", "flat position 2", "[0, 3)"}));
    EXPECT_TRUE(testing::throws_error(
        [&] {
            gather(x, 0, idx({0, 2, 1}, {1, 3}));
        },
        {"gather", "index 2 ", "[0, 2)"}));
    EXPECT_TRUE(testing::throws_error(
        [&] {
            index_select(x, 1, idx({0, 5}, {2}));
        },
        {"index_select", "index 5 ", "[0, 3)"}));
    EXPECT_TRUE(testing::throws_error([&] { index_select(x, 0, idx({-2}, {1})); },
                                      {"index_select", "index -2 ", "[0, 2)"}));
    EXPECT_TRUE(testing::throws_error(
        [&] {
            one_hot(idx({0, 3}, {2}), 3);
        },
        {"one_hot", "label 3 ", "flat position 1", "[0, 3)"}));
    EXPECT_TRUE(testing::throws_error([&] { one_hot(idx({-1}, {1}), 3); },
                                      {"one_hot", "label -1 ", "[0, 3)"}));
    EXPECT_TRUE(testing::throws_error(
        [&] {
            ops::scatter_add(f64({1, 2}, {1, 2}), 1, idx({0, 4}, {1, 2}), Shape{1, 4});
        },
        {"scatter_add", "index 4 ", "[0, 4)"}));
    EXPECT_TRUE(testing::throws_error(
        [&] {
            ops::index_add(f64({1, 2}, {2}), 0, idx({-1, 0}, {2}), Shape{3});
        },
        {"index_add", "index -1 ", "[0, 3)"}));
    // An empty dimension has no valid index.
    EXPECT_TRUE(testing::throws_error(
        [&] {
            index_select(Tensor::zeros({2, 0}, DType::f64), 1, idx({0}, {1}));
        },
        {"index_select", "[0, 0)"}));
}

TEST(IndexErrors, WrongDtypesAreNamed) {
    const Tensor x = f64({1, 2, 3, 4, 5, 6}, {2, 3});
    const Tensor findex = Tensor::zeros({2, 2}, DType::f32);
    EXPECT_TRUE(
        testing::throws_error([&] { gather(x, 1, findex); }, {"gather", "i64", "f32[2, 2]"}));
    EXPECT_TRUE(testing::throws_error([&] { index_select(x, 1, Tensor::zeros({2}, DType::u8)); },
                                      {"index_select", "i64", "u8[2]"}));
    EXPECT_TRUE(testing::throws_error([&] { one_hot(Tensor::zeros({2}, DType::f64), 3); },
                                      {"one_hot", "i64", "f64[2]"}));
    EXPECT_TRUE(
        testing::throws_error([&] { one_hot(idx({0}, {1}), 3, DType::i64); }, {"one_hot", "i64"}));
    EXPECT_TRUE(testing::throws_error(
        [&] {
            gather(Tensor::zeros({2, 3}, DType::i64), 1, idx({0}, {1, 1}));
        },
        {"gather", "f32 or f64", "i64[2, 3]"}));
    EXPECT_TRUE(testing::throws_error(
        [&] {
            ops::scatter_add(Tensor::zeros({1, 1}, DType::i64), 0, idx({0}, {1, 1}), Shape{1, 1});
        },
        {"scatter_add", "i64[1, 1]"}));
}

TEST(IndexErrors, WrongRanksShapesAndDims) {
    const Tensor x = f64({1, 2, 3, 4, 5, 6}, {2, 3});
    EXPECT_TRUE(testing::throws_error(
        [&] {
            gather(x, 1, idx({0, 1}, {2}));
        },
        {"gather", "as many dimensions", "i64[2]"}));
    EXPECT_TRUE(testing::throws_error(
        [&] {
            gather(x, 1, idx({0, 1, 2}, {3, 1}));
        },
        {"gather", "dimension 0", "i64[3, 1]"}));
    EXPECT_TRUE(testing::throws_error(
        [&] {
            gather(x, 2, idx({0}, {1, 1}));
        },
        {"gather", "dimension 2"}));
    EXPECT_TRUE(testing::throws_error([&] { gather(f64({1}, {}), 0, idx({0}, {})); },
                                      {"gather", "at least one"}));
    EXPECT_TRUE(testing::throws_error(
        [&] {
            index_select(x, 0, idx({0, 1}, {1, 2}));
        },
        {"index_select", "1-D", "i64[1, 2]"}));
    EXPECT_TRUE(
        testing::throws_error([&] { index_select(x, 0, idx({0}, {})); }, {"index_select", "1-D"}));
    EXPECT_TRUE(testing::throws_error([&] { index_select(x, -3, idx({0}, {1})); },
                                      {"index_select", "dimension -3"}));
    EXPECT_TRUE(testing::throws_error(
        [&] {
            ops::scatter_add(f64({1, 2}, {1, 2}), 0, idx({0}, {1, 1}), Shape{2, 2});
        },
        {"scatter_add", "same shape"}));
    EXPECT_TRUE(testing::throws_error(
        [&] {
            ops::index_add(f64({1, 2}, {2}), 0, idx({0, 1, 1}, {3}), Shape{3});
        },
        {"index_add", "must have shape [3]"}));
}

TEST(IndexErrors, NumClassesMustBePositive) {
    EXPECT_TRUE(
        testing::throws_error([&] { one_hot(idx({0}, {1}), 0); }, {"one_hot", "num_classes", "0"}));
    EXPECT_TRUE(testing::throws_error([&] { one_hot(idx({0}, {1}), -2); },
                                      {"one_hot", "num_classes", "-2"}));
}

}  // namespace
}  // namespace cbnn
