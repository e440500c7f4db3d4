// Views (autograd/view_functions.cpp): view/reshape, transpose, narrow, unsqueeze/squeeze,
// flatten, contiguous, detach. Views share storage and the version counter with their base, and
// gradients flow back through them onto the base's shape.
#include <vector>

#include "autograd/functions.h"
#include "autograd/grad_mode.h"
#include "autograd/gradcheck.h"
#include "gtest/gtest.h"
#include "tests/support/expect_error.h"
#include "tests/support/random.h"
#include "tests/support/tolerance.h"

namespace cbnn {
namespace {

using testing::throws_error;

Tensor iota(const Shape& shape) {
    std::vector<double> v(static_cast<size_t>(shape_numel(shape)));
    for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(i);
    return Tensor::from_vector<double>(v, shape);
}

TEST(Views, ViewAndReshapeInferMinusOne) {
    const Tensor x = iota({2, 3, 4});
    EXPECT_EQ(x.view({6, 4}).shape(), (Shape{6, 4}));
    EXPECT_EQ(x.view({-1, 4}).shape(), (Shape{6, 4}));
    EXPECT_EQ(x.view({2, -1}).shape(), (Shape{2, 12}));
    EXPECT_EQ(x.view({-1}).shape(), (Shape{24}));
    EXPECT_EQ(x.view({-1}).to_vector<double>(), x.to_vector<double>());
    EXPECT_EQ(x.view({6, 4}).strides(), (Shape{4, 1}));
    EXPECT_EQ(x.reshape({4, -1}).shape(), (Shape{4, 6}));
    EXPECT_EQ(iota({1}).view({}).shape(), Shape{});
    EXPECT_EQ(Tensor::zeros({0, 3}).view({-1, 3}).shape(), (Shape{0, 3}));
}

TEST(Views, ViewAndReshapeErrorsNameTheShapes) {
    const Tensor x = iota({2, 3, 4});
    EXPECT_TRUE(throws_error([&] { x.view({5, 5}); }, {"view", "[5, 5]", "24"}));
    EXPECT_TRUE(throws_error([&] { x.view({-1, -1}); }, {"view", "only one", "[-1, -1]"}));
    EXPECT_TRUE(throws_error([&] { x.view({5, -1}); }, {"view", "[5, -1]", "24"}));
    EXPECT_TRUE(throws_error([&] { x.view({0, -1}); }, {"view", "[0, -1]"}));
    EXPECT_TRUE(throws_error([&] { x.view({-2, 12}); }, {"view", "[-2, 12]"}));
    EXPECT_TRUE(throws_error([&] { x.reshape({7}); }, {"[7]", "24"}));
    // A transposed tensor cannot be viewed (its elements are not in row-major order) but can be
    // reshaped, which copies.
    const Tensor t = x.transpose(0, 2);
    EXPECT_TRUE(throws_error([&] { t.view({24}); }, {"view", "not contiguous", "reshape"}));
    const Tensor r = t.reshape({24});
    EXPECT_FALSE(r.shares_storage(x));
    EXPECT_EQ(r.to_vector<double>(), t.contiguous().to_vector<double>());
}

TEST(Views, TransposeSwapsShapeAndStrides) {
    const Tensor x = iota({2, 3, 4});
    const Tensor t = x.transpose(0, 2);
    EXPECT_EQ(t.shape(), (Shape{4, 3, 2}));
    EXPECT_EQ(t.strides(), (Shape{1, 4, 12}));
    EXPECT_FALSE(t.is_contiguous());
    EXPECT_TRUE(t.shares_storage(x));
    // t[k][j][i] = x[i][j][k] = 12 i + 4 j + k
    const std::vector<double> v = t.to_vector<double>();
    for (int k = 0; k < 4; ++k)
        for (int j = 0; j < 3; ++j)
            for (int i = 0; i < 2; ++i)
                EXPECT_EQ(v[static_cast<size_t>((k * 3 + j) * 2 + i)], 12 * i + 4 * j + k);
    EXPECT_EQ(x.transpose(-1, 0).shape(), t.shape());
    const Tensor m = iota({2, 3});
    EXPECT_EQ(m.t().to_vector<double>(), (std::vector<double>{0, 3, 1, 4, 2, 5}));
    EXPECT_EQ(m.t().t().to_vector<double>(), m.to_vector<double>());
    EXPECT_TRUE(throws_error([&] { m.transpose(0, 2); }, {"transpose", "dimension 2"}));
}

TEST(Views, NarrowIsAnOffsetView) {
    const Tensor x = iota({4, 5});
    const Tensor rows = x.narrow(0, 1, 2);
    EXPECT_EQ(rows.shape(), (Shape{2, 5}));
    EXPECT_EQ(rows.offset(), 5);
    EXPECT_TRUE(rows.is_contiguous());
    EXPECT_EQ(rows.to_vector<double>(), (std::vector<double>{5, 6, 7, 8, 9, 10, 11, 12, 13, 14}));
    const Tensor cols = x.narrow(1, 2, 2);
    EXPECT_EQ(cols.offset(), 2);
    EXPECT_FALSE(cols.is_contiguous());
    EXPECT_EQ(cols.to_vector<double>(), (std::vector<double>{2, 3, 7, 8, 12, 13, 17, 18}));
    // Narrow of a narrow accumulates offsets; negative dims count from the end.
    const Tensor inner = rows.narrow(-1, 3, 2);
    EXPECT_EQ(inner.offset(), 8);
    EXPECT_EQ(inner.to_vector<double>(), (std::vector<double>{8, 9, 13, 14}));
    EXPECT_EQ(x.narrow(0, 4, 0).numel(), 0);
    EXPECT_EQ(x.narrow(0, 3, 1).to_vector<double>(), (std::vector<double>{15, 16, 17, 18, 19}));
}

TEST(Views, NarrowOutOfRangeIsAnError) {
    const Tensor x = iota({4, 5});
    EXPECT_TRUE(throws_error([&] { x.narrow(0, 3, 2); }, {"narrow", "[3, 5)", "size 4"}));
    EXPECT_TRUE(throws_error([&] { x.narrow(1, -1, 2); }, {"narrow", "size 5"}));
    EXPECT_TRUE(throws_error([&] { x.narrow(1, 0, -1); }, {"narrow"}));
    EXPECT_TRUE(throws_error([&] { x.narrow(2, 0, 1); }, {"narrow", "dimension 2"}));
}

TEST(Views, UnsqueezeSqueezeAndFlatten) {
    const Tensor x = iota({2, 3});
    EXPECT_EQ(x.unsqueeze(0).shape(), (Shape{1, 2, 3}));
    EXPECT_EQ(x.unsqueeze(1).shape(), (Shape{2, 1, 3}));
    EXPECT_EQ(x.unsqueeze(2).shape(), (Shape{2, 3, 1}));
    EXPECT_EQ(x.unsqueeze(-1).shape(), (Shape{2, 3, 1}));
    EXPECT_TRUE(x.unsqueeze(1).is_contiguous());
    EXPECT_EQ(x.unsqueeze(1).squeeze(1).shape(), x.shape());
    EXPECT_EQ(x.unsqueeze(0).to_vector<double>(), x.to_vector<double>());
    EXPECT_EQ(iota({1}).squeeze(0).shape(), Shape{});
    EXPECT_EQ(iota({}).unsqueeze(0).shape(), (Shape{1}));
    // unsqueeze of a transposed view keeps the element order.
    EXPECT_EQ(x.t().unsqueeze(1).to_vector<double>(), x.t().to_vector<double>());
    EXPECT_TRUE(throws_error([&] { x.squeeze(0); }, {"squeeze", "dimension 0", "not 1"}));
    EXPECT_TRUE(throws_error([&] { x.unsqueeze(3); }, {"unsqueeze", "dimension 3"}));

    const Tensor y = iota({2, 3, 4, 5});
    EXPECT_EQ(y.flatten().shape(), (Shape{120}));
    EXPECT_EQ(y.flatten(1).shape(), (Shape{2, 60}));
    EXPECT_EQ(y.flatten(1, 2).shape(), (Shape{2, 12, 5}));
    EXPECT_EQ(y.flatten(-2).shape(), (Shape{2, 3, 20}));
    EXPECT_EQ(y.flatten(2, 2).shape(), y.shape());
    EXPECT_TRUE(y.flatten(1).shares_storage(y));
    EXPECT_EQ(iota({}).flatten().shape(), (Shape{1}));
    EXPECT_EQ(y.transpose(0, 3).flatten().to_vector<double>(),
              y.transpose(0, 3).to_vector<double>());
    EXPECT_TRUE(throws_error([&] { y.flatten(2, 1); }, {"flatten"}));
}

TEST(Views, ContiguousCopiesOnlyWhenNeeded) {
    const Tensor x = iota({3, 4});
    EXPECT_TRUE(x.contiguous().is_same(x));
    EXPECT_TRUE(x.narrow(0, 1, 2).contiguous().shares_storage(x));
    const Tensor t = x.t();
    const Tensor c = t.contiguous();
    EXPECT_FALSE(c.shares_storage(x));
    EXPECT_TRUE(c.is_contiguous());
    EXPECT_EQ(c.strides(), (Shape{3, 1}));
    EXPECT_EQ(c.to_vector<double>(), t.to_vector<double>());
    // Size-1 dimensions do not break contiguity whatever their stride.
    EXPECT_TRUE(iota({3, 1}).t().is_contiguous());
}

TEST(Views, ViewsShareStorageAndVersionCounter) {
    Tensor x = iota({3, 4});
    std::vector<Tensor> views = {x.view({12}),   x.reshape({4, 3}), x.t(),     x.narrow(1, 1, 2),
                                 x.unsqueeze(0), x.flatten(),       x.detach()};
    for (const Tensor& v : views) {
        EXPECT_TRUE(v.shares_storage(x));
        EXPECT_EQ(v.version(), x.version());
    }
    const uint64_t before = x.version();
    x.narrow(0, 2, 1).fill_(-1.0);  // contiguous row view
    EXPECT_EQ(x.version(), before + 1);
    for (const Tensor& v : views) EXPECT_EQ(v.version(), x.version());
    EXPECT_EQ(x.to_vector<double>()[8], -1.0);
    EXPECT_EQ(views[2].to_vector<double>()[2], -1.0);  // x.t()[0][2] = x[2][0]
    // A write through a view is visible in the base.
    views[3].copy_(Tensor::full({3, 2}, 7.0, DType::f64));
    EXPECT_EQ(x.to_vector<double>()[1], 7.0);
    EXPECT_EQ(x.to_vector<double>()[0], 0.0);
}

TEST(Views, DetachSharesDataButNotHistory) {
    Tensor x = iota({2, 2});
    x.set_requires_grad();
    const Tensor y = x * 2.0;
    const Tensor d = y.detach();
    EXPECT_TRUE(d.shares_storage(y));
    EXPECT_FALSE(d.requires_grad());
    EXPECT_TRUE(d.is_leaf());
    EXPECT_EQ(d.to_vector<double>(), y.to_vector<double>());
    EXPECT_EQ(d.shape(), y.shape());
}

void expect_gradcheck(const autograd::GradcheckFunction& f, const std::vector<Tensor>& inputs) {
    const autograd::GradcheckResult r = autograd::gradcheck(f, inputs);
    EXPECT_TRUE(r.ok) << r.message;
    EXPECT_GT(r.checked, 0);
}

TEST(Views, GradcheckThroughEachView) {
    const Tensor x = testing::random_tensor({3, 4}, -1, 1, 1);
    const Tensor x3 = testing::random_tensor({2, 3, 4}, -1, 1, 2);
    using In = const std::vector<Tensor>&;
    // The square after each view makes the gradient depend on which element went where.
    expect_gradcheck([](In in) { return square(in[0].view({4, 3})); }, {x});
    expect_gradcheck([](In in) { return square(in[0].view({-1})); }, {x});
    expect_gradcheck([](In in) { return square(in[0].reshape({2, 6})); }, {x});
    expect_gradcheck([](In in) { return square(in[0].t().reshape({12})); }, {x});
    expect_gradcheck([](In in) { return square(in[0].transpose(0, 2)); }, {x3});
    expect_gradcheck([](In in) { return square(in[0].narrow(1, 1, 2)); }, {x});
    expect_gradcheck([](In in) { return square(in[0].narrow(0, 2, 1)); }, {x});
    expect_gradcheck([](In in) { return square(in[0].narrow(1, 1, 2).narrow(2, 3, 1)); }, {x3});
    expect_gradcheck([](In in) { return square(in[0].unsqueeze(1)); }, {x});
    expect_gradcheck([](In in) { return square(in[0].unsqueeze(1).squeeze(1)); }, {x});
    expect_gradcheck([](In in) { return square(in[0].flatten(1)); }, {x3});
    expect_gradcheck([](In in) { return square(in[0].t().flatten()); }, {x});
    expect_gradcheck([](In in) { return square(in[0].t().contiguous()); }, {x});
    expect_gradcheck([](In in) { return square(in[0].clone()); }, {x});
    // Several views of one tensor combined: gradients from each add up in the base.
    expect_gradcheck(
        [](In in) {
            const Tensor& a = in[0];
            return a.narrow(1, 0, 2) * a.narrow(1, 2, 2) + a.t().narrow(0, 1, 2).t() * in[1];
        },
        {x, testing::random_tensor({3, 2}, -1, 1, 3)});
    expect_gradcheck([](In in) { return exp(in[0].view({2, 6}).narrow(0, 1, 1)); }, {x});
}

TEST(Views, NarrowGradientIsZeroOutsideTheWindow) {
    Tensor x = Tensor::zeros({2, 4}, DType::f64);
    x.set_requires_grad();
    const Tensor w = Tensor::from_vector<double>({1, 2, 3, 4}, {2, 2});
    sum(w * x.narrow(1, 1, 2)).backward();
    EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{0, 1, 2, 0, 0, 3, 4, 0}));
    EXPECT_EQ(x.grad().shape(), x.shape());
}

TEST(Views, TransposeGradientIsTransposedBack) {
    Tensor x = Tensor::zeros({2, 3}, DType::f64);
    x.set_requires_grad();
    const Tensor w = Tensor::from_vector<double>({1, 2, 3, 4, 5, 6}, {3, 2});
    sum(w * x.t()).backward();
    EXPECT_EQ(x.grad().shape(), (Shape{2, 3}));
    EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{1, 3, 5, 2, 4, 6}));
}

TEST(Views, CopyIntoAStridedViewWritesOnlyTheWindow) {
    Tensor big = Tensor::zeros({3, 5}, DType::f64);
    const Tensor src = Tensor::from_vector<double>({1, 2, 3, 4, 5, 6}, {3, 2});
    big.narrow(1, 2, 2).copy_(src);
    EXPECT_EQ(big.to_vector<double>(),
              (std::vector<double>{0, 0, 1, 2, 0, 0, 0, 3, 4, 0, 0, 0, 5, 6, 0}));
    // A transposed window of a transposed base, with a broadcast source and a dtype cast.
    Tensor m = Tensor::zeros({4, 3}, DType::f32);
    m.t().narrow(1, 1, 2).copy_(Tensor::from_vector<int64_t>({7, 8, 9}, {3, 1}));
    EXPECT_EQ(m.to_vector<float>(), (std::vector<float>{0, 0, 0, 7, 8, 9, 7, 8, 9, 0, 0, 0}));
}

TEST(Views, InPlaceWriteThroughAViewOfAGradTensorIsRefused) {
    Tensor x = iota({2, 3});
    x.set_requires_grad();
    EXPECT_TRUE(throws_error([&] { x.narrow(0, 0, 1).fill_(1.0); }, {"fill_", "requires grad"}));
    {
        NoGradGuard no_grad;
        x.narrow(0, 0, 1).fill_(1.0);
    }
    EXPECT_EQ(x.to_vector<double>()[0], 1.0);
}

}  // namespace
}  // namespace cbnn
