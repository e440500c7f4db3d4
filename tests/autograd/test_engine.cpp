// The autograd engine (autograd/engine.h): topological order, gradient accumulation, retain_graph,
// saved-tensor version checks, grad mode, and the rules for leaves, detach and .grad ownership.
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "autograd/engine.h"
#include "autograd/functions.h"
#include "autograd/grad_mode.h"
#include "autograd/node.h"
#include "gtest/gtest.h"
#include "tensor/unary.h"
#include "tests/support/expect_error.h"
#include "tests/support/random.h"
#include "tests/support/tolerance.h"

namespace cbnn {
namespace {

using testing::all_close;
using testing::kF64Exact;
using testing::throws_error;

// Identity whose backward counts its calls: a node must run exactly once per backward, after all
// of its consumers have sent their gradients.
class CountingIdentity : public autograd::Node {
  public:
    explicit CountingIdentity(std::vector<std::vector<double>>* seen) : seen_(seen) {}
    const char* name() const override { return "counting_identity"; }
    std::vector<Tensor> apply(std::vector<Tensor> grads) override {
        seen_->push_back(grads[0].to_vector<double>());
        return {grads[0]};
    }

  private:
    std::vector<std::vector<double>>* seen_;
};

Tensor counting_identity(const Tensor& x, std::vector<std::vector<double>>* seen) {
    Tensor y = x.detach();
    if (autograd::any_requires_grad({x})) {
        autograd::connect(std::make_shared<CountingIdentity>(seen), {x}, {&y});
    }
    return y;
}

Tensor leaf(const std::vector<double>& values) {
    Tensor t = Tensor::from_vector<double>(values, {static_cast<int64_t>(values.size())});
    t.set_requires_grad();
    return t;
}

TEST(Engine, DiamondGraphRunsTheSharedNodeOnceWithTheSummedGradient) {
    Tensor x = leaf({0.5, -1.0, 2.0});
    std::vector<std::vector<double>> seen;
    const Tensor h = counting_identity(x, &seen);
    // Two branches from h that merge again: y = exp(h) * h^2.
    const Tensor y = exp(h) * square(h);
    const Tensor w = Tensor::from_vector<double>({1.0, 2.0, -3.0}, {3});
    sum(w * y).backward();
    ASSERT_EQ(seen.size(), 1u) << "the shared node ran more than once";
    std::vector<double> expected;
    for (int i = 0; i < 3; ++i) {
        const double v = x.to_vector<double>()[static_cast<size_t>(i)];
        const double wi = w.to_vector<double>()[static_cast<size_t>(i)];
        expected.push_back(wi * std::exp(v) * (v * v + 2 * v));
    }
    EXPECT_TRUE(all_close(seen[0], expected, kF64Exact));
    EXPECT_TRUE(all_close(x.grad().to_vector<double>(), expected, kF64Exact));
}

TEST(Engine, DeepDiamondWithUnequalBranchLengths) {
    // h feeds a long branch (four ops) and a short one (one op); h must wait for both.
    Tensor x = leaf({0.3, -0.7});
    std::vector<std::vector<double>> seen;
    const Tensor h = counting_identity(x * 2.0, &seen);
    const Tensor long_branch = log1p(square(sigmoid(h) + 1.0) * 0.5);
    const Tensor y = long_branch + h * 3.0;
    sum(y).backward();
    ASSERT_EQ(seen.size(), 1u);
    std::vector<double> expected;
    for (double v : x.to_vector<double>()) {
        const double hv = 2 * v, s = 1 / (1 + std::exp(-hv)), u = 0.5 * (s + 1) * (s + 1);
        const double dh = (1 / (1 + u)) * (s + 1) * s * (1 - s) + 3.0;
        expected.push_back(2 * dh);
    }
    EXPECT_TRUE(all_close(x.grad().to_vector<double>(), expected, kF64Exact));
}

TEST(Engine, SameTensorTwiceInOneOp) {
    Tensor x = leaf({1.5, -2.0});
    sum(x * x).backward();
    EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{3.0, -4.0}));
    Tensor y = leaf({1.0, 2.0});
    sum(y + y + y).backward();
    EXPECT_EQ(y.grad().to_vector<double>(), (std::vector<double>{3.0, 3.0}));
    Tensor z = leaf({3.0});
    sum(z / z).backward();  // d(z/z)/dz = 0
    EXPECT_NEAR(z.grad().item<double>(), 0.0, 1e-15);
}

TEST(Engine, GradientsAccumulateAcrossBackwardCalls) {
    Tensor x = leaf({1.0, 2.0});
    sum(x * 3.0).backward();
    sum(square(x)).backward();
    EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{3 + 2, 3 + 4}));
    // Resetting the gradient starts over.
    x.set_grad(Tensor());
    EXPECT_FALSE(x.grad().defined());
    sum(x).backward();
    EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{1, 1}));
}

TEST(Engine, SecondBackwardWithoutRetainGraphFails) {
    Tensor x = leaf({0.5, 1.5});
    const Tensor y = sum(exp(x));
    y.backward();
    EXPECT_TRUE(
        throws_error([&] { y.backward(); }, {"exp", "already freed", "retain_graph=*/true"}));
    EXPECT_TRUE(all_close(x.grad().to_vector<double>(), {std::exp(0.5), std::exp(1.5)}, kF64Exact))
        << "the failed backward must not have changed .grad";
}

TEST(Engine, RetainGraphAllowsASecondBackwardThatAccumulates) {
    Tensor x = leaf({0.5, 1.5});
    const Tensor y = sum(exp(x) * x);
    y.backward(Tensor(), /*retain_graph=*/true);
    const std::vector<double> once = x.grad().to_vector<double>();
    y.backward(Tensor(), /*retain_graph=*/true);
    y.backward();
    for (size_t i = 0; i < once.size(); ++i)
        EXPECT_NEAR(x.grad().to_vector<double>()[i], 3 * once[i], 1e-12);
    EXPECT_TRUE(throws_error([&] { y.backward(); }, {"already freed"}));
}

TEST(Engine, InPlaceChangeOfASavedInputMakesBackwardThrow) {
    Tensor x = leaf({0.5, 1.5});
    const uint64_t saved = x.version();
    const Tensor y = sum(log(x));  // log saves its input x
    {
        NoGradGuard no_grad;
        x.fill_(2.0);
    }
    const std::string versions =
        "version " + std::to_string(saved) + " when saved, " + std::to_string(saved + 1) + " now";
    EXPECT_TRUE(throws_error([&] { y.backward(); }, {"log", "'x'", versions, "in place"}));
    EXPECT_TRUE(autograd::grad_enabled()) << "a failed backward must restore grad mode";

    Tensor a = leaf({1.0, 2.0});
    const Tensor b = Tensor::from_vector<double>({3.0, 4.0}, {2});
    const Tensor z = sum(a * b);                                     // mul saves both operands
    b.detach().copy_(Tensor::from_vector<double>({0.0, 0.0}, {2}));  // b needs no guard
    EXPECT_TRUE(throws_error([&] { z.backward(); }, {"mul", "'b'", "modified in place"}));
}

TEST(Engine, InPlaceChangeOfASavedOutputOrAViewMakesBackwardThrow) {
    Tensor x = leaf({0.5, 1.5, -1.0, 2.0});
    Tensor y = exp(x);  // exp saves its output y
    const Tensor loss = sum(y);
    {
        NoGradGuard no_grad;
        y.narrow(0, 1, 2).fill_(0.0);  // through a view: same storage, same version counter
    }
    EXPECT_TRUE(throws_error([&] { loss.backward(); }, {"exp", "'y'", "modified in place"}));
}

TEST(Engine, ChangingAnUnsavedTensorIsAllowed) {
    // x + y saves nothing: changing the inputs afterwards does not affect its gradient.
    Tensor x = leaf({1.0, 2.0});
    Tensor c = Tensor::from_vector<double>({5.0, 6.0}, {2});
    const Tensor y = sum(x + c);
    c.fill_(0.0);
    y.backward();
    EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{1, 1}));

    // exp's derivative reads only its output, x * s's reads neither: changing x is fine.
    Tensor u = leaf({0.5, 1.0});
    const Tensor e = sum(exp(u) + u * 3.0 + (1.0 - u) / 2.0);
    {
        NoGradGuard no_grad;
        u.fill_(-9.0);
    }
    e.backward();
    EXPECT_TRUE(all_close(u.grad().to_vector<double>(),
                          {std::exp(0.5) + 3 - 0.5, std::exp(1.0) + 3 - 0.5}, kF64Exact));

    // d(p * k)/dp reads k, never p; d(p / k)/dp reads k only.
    Tensor p = leaf({2.0, 4.0});
    const Tensor k = Tensor::from_vector<double>({3.0, 5.0}, {2});
    const Tensor f = sum(p * k + p / k);
    {
        NoGradGuard no_grad;
        p.fill_(0.0);
    }
    f.backward();
    EXPECT_TRUE(all_close(p.grad().to_vector<double>(), {3 + 1 / 3.0, 5 + 1 / 5.0}, kF64Exact));
}

TEST(Engine, NoGradGuardStopsRecordingAndRestoresTheMode) {
    Tensor x = leaf({1.0, 2.0});
    EXPECT_TRUE(autograd::grad_enabled());
    {
        NoGradGuard outer;
        EXPECT_FALSE(autograd::grad_enabled());
        const Tensor y = exp(x) * 2.0 + x;
        EXPECT_FALSE(y.requires_grad());
        EXPECT_TRUE(y.is_leaf());
        EXPECT_FALSE(x.narrow(0, 0, 1).requires_grad());
        {
            NoGradGuard inner;
            EXPECT_FALSE(autograd::grad_enabled());
        }
        EXPECT_FALSE(autograd::grad_enabled()) << "the inner guard must restore 'off', not 'on'";
    }
    EXPECT_TRUE(autograd::grad_enabled());
    const Tensor z = exp(x);
    EXPECT_TRUE(z.requires_grad());
    EXPECT_FALSE(z.is_leaf());
    EXPECT_STREQ(z.grad_fn()->name(), "exp");
}

TEST(Engine, SetRequiresGradOnlyOnFloatingLeaves) {
    Tensor x = leaf({1.0});
    Tensor y = x * 2.0;
    EXPECT_TRUE(throws_error([&] { y.set_requires_grad(); },
                             {"set_requires_grad", "leaf", "mul_scalar", "detach"}));
    Tensor i = Tensor::arange(3);
    EXPECT_TRUE(throws_error([&] { i.set_requires_grad(); }, {"set_requires_grad", "i64[3]"}));
    Tensor u = Tensor::zeros({2}, DType::u8);
    EXPECT_TRUE(throws_error([&] { u.set_requires_grad(); }, {"u8[2]"}));
    i.set_requires_grad(false);  // turning it off is always fine
    EXPECT_FALSE(i.requires_grad());
    Tensor d = y.detach();
    d.set_requires_grad();
    EXPECT_TRUE(d.requires_grad());
    EXPECT_TRUE(Tensor::zeros({2}).set_requires_grad().requires_grad());  // f32 leaves too
}

TEST(Engine, InPlaceWritesOnGradTensorsAreRefusedUnlessGradIsOff) {
    Tensor x = leaf({1.0, 2.0});
    EXPECT_TRUE(throws_error([&] { x.fill_(0.0); }, {"fill_", "requires grad", "NoGradGuard"}));
    EXPECT_TRUE(
        throws_error([&] { x.copy_(Tensor::zeros({2}, DType::f64)); }, {"copy_", "requires grad"}));
    EXPECT_TRUE(throws_error([&] { x.zero_(); }, {"requires grad"}));
    Tensor y = exp(x);
    EXPECT_TRUE(throws_error([&] { y.fill_(0.0); }, {"fill_", "requires grad"}));
    EXPECT_EQ(x.to_vector<double>(), (std::vector<double>{1.0, 2.0}));
    {
        NoGradGuard no_grad;
        x.fill_(3.0);
        x.copy_(Tensor::from_vector<double>({4.0, 5.0}, {2}));
    }
    EXPECT_EQ(x.to_vector<double>(), (std::vector<double>{4.0, 5.0}));
    EXPECT_TRUE(x.requires_grad());
}

TEST(Engine, BackwardArgumentErrors) {
    Tensor x = leaf({1.0, 2.0});
    const Tensor y = exp(x);
    EXPECT_TRUE(throws_error([&] { y.backward(); }, {"backward", "non-scalar", "f64[2]"}));
    EXPECT_TRUE(throws_error([&] { y.backward(Tensor::ones({3}, DType::f64)); },
                             {"backward", "f64[3]", "f64[2]"}));
    EXPECT_TRUE(throws_error([&] { y.backward(Tensor::ones({2}, DType::f32)); },
                             {"backward", "f32[2]", "f64[2]"}));
    const Tensor c = Tensor::ones({1}, DType::f64);
    EXPECT_TRUE(throws_error([&] { c.backward(); }, {"backward", "does not require grad"}));
    EXPECT_TRUE(throws_error([&] { sum(x.detach()).backward(); }, {"does not require grad"}));
    EXPECT_FALSE(x.grad().defined()) << "failed calls must not leave a gradient";
    // A given gradient works for any shape; a one-element tensor needs none.
    y.backward(Tensor::from_vector<double>({1.0, -1.0}, {2}));
    EXPECT_TRUE(
        all_close(x.grad().to_vector<double>(), {std::exp(1.0), -std::exp(2.0)}, kF64Exact));
    Tensor s = leaf({2.0});
    (s * 3.0).backward();
    EXPECT_EQ(s.grad().item<double>(), 3.0);
}

TEST(Engine, BackwardOnALeafItself) {
    Tensor x = leaf({1.0, 2.0});
    Tensor g = Tensor::from_vector<double>({0.5, 0.25}, {2});
    x.backward(g);
    EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{0.5, 0.25}));
    g.fill_(9.0);  // the caller's tensor is not the gradient
    EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{0.5, 0.25}));
}

TEST(Engine, DetachCutsTheGraph) {
    Tensor x = leaf({1.0, 2.0});
    const Tensor y = x * 3.0;
    const Tensor z = sum(y.detach() * x);  // only the direct use of x carries gradient
    z.backward();
    EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{3.0, 6.0}));
    EXPECT_FALSE(sum(y.detach()).requires_grad());
}

TEST(Engine, IntermediateTensorsGetNoGrad) {
    Tensor x = leaf({1.0, 2.0});
    const Tensor y = x * 2.0;
    sum(y).backward();
    EXPECT_FALSE(y.grad().defined());
    EXPECT_TRUE(x.grad().defined());
}

TEST(Engine, F32GradientsOfF32Leaves) {
    Tensor x = Tensor::from_vector<float>({1.f, 2.f}, {2});
    x.set_requires_grad();
    sum(x * x).backward();
    EXPECT_EQ(x.grad().dtype(), DType::f32);
    EXPECT_EQ(x.grad().to_vector<float>(), (std::vector<float>{2.f, 4.f}));
}

// ---- .grad ownership: a leaf's gradient never aliases another tensor
// -----------------------------

// Changes a's gradient in place and checks that b's did not change.
void expect_independent(const Tensor& a, const Tensor& b) {
    ASSERT_TRUE(a.grad().defined());
    ASSERT_TRUE(b.grad().defined());
    EXPECT_FALSE(a.grad().shares_storage(b.grad()));
    const std::vector<double> before = b.grad().to(DType::f64).to_vector<double>();
    {
        NoGradGuard no_grad;
        a.grad().fill_(-123.0);
    }
    EXPECT_EQ(b.grad().to(DType::f64).to_vector<double>(), before);
}

TEST(Engine, LeafGradientsDoNotAliasEachOther) {
    {  // add passes the same gradient tensor to both operands
        Tensor x = leaf({1, 2}), y = leaf({3, 4});
        sum((x + y) * 2.0).backward();
        expect_independent(x, y);
        EXPECT_EQ(y.grad().to_vector<double>(), (std::vector<double>{2, 2}));
    }
    {  // ... also when one operand is reached through a view and the other directly
        Tensor x = leaf({1, 2, 3, 4}), y = leaf({5, 6, 7, 8});
        sum((x.view({2, 2}) + y.view({2, 2})) * 3.0).backward();
        expect_independent(y, x);
        EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{3, 3, 3, 3}));
    }
    {  // ... through clone, whose backward returns its incoming gradient unchanged
        Tensor x = leaf({1, 2}), y = leaf({3, 4});
        sum((x.clone() - y) * 2.0).backward();
        expect_independent(x, y);
        EXPECT_EQ(y.grad().to_vector<double>(), (std::vector<double>{-2, -2}));
    }
    {  // three leaves sharing one incoming gradient through a chain of adds
        Tensor x = leaf({1}), y = leaf({2}), z = leaf({3});
        sum((x + y + z) * 5.0).backward();
        expect_independent(x, y);
        expect_independent(y, z);
        EXPECT_EQ(z.grad().item<double>(), 5.0);
    }
    {  // a caller-given root gradient passes straight through add and view
        Tensor x = leaf({1, 2, 3, 4}), y = leaf({5, 6, 7, 8});
        const Tensor g = Tensor::from_vector<double>({1, 2, 3, 4}, {2, 2});
        (x.view({2, 2}) + y.view({2, 2})).backward(g);
        expect_independent(x, y);
        EXPECT_EQ(g.to_vector<double>(), (std::vector<double>{1, 2, 3, 4}));
        EXPECT_EQ(y.grad().to_vector<double>(), (std::vector<double>{1, 2, 3, 4}));
        {
            NoGradGuard no_grad;
            y.grad().fill_(0.0);
        }
        EXPECT_EQ(g.to_vector<double>(), (std::vector<double>{1, 2, 3, 4}));
    }
}

TEST(Engine, AccumulationDoesNotWriteIntoAGradientTheCallerHolds) {
    Tensor x = leaf({1, 2});
    const Tensor mine = Tensor::from_vector<double>({10, 20}, {2});
    x.set_grad(mine);
    sum(x * 2.0).backward();
    EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{12, 22}));
    EXPECT_EQ(mine.to_vector<double>(), (std::vector<double>{10, 20}));
    // The first gradient kept by a leaf is not shared with the one kept by a later backward.
    Tensor y = leaf({1, 2});
    sum(y * 2.0).backward();
    const Tensor first = y.grad();
    sum(y * 3.0).backward();
    EXPECT_EQ(first.to_vector<double>(), (std::vector<double>{2, 2}));
    EXPECT_EQ(y.grad().to_vector<double>(), (std::vector<double>{5, 5}));
}

// Identity whose backward returns a fresh tensor (dy * 1) and remembers where its data lives;
// `keep` optionally holds a view of it, as another part of a graph might.
class FreshGradient : public autograd::Node {
  public:
    FreshGradient(const void** data, Tensor* keep) : data_(data), keep_(keep) {}
    const char* name() const override { return "fresh_gradient"; }
    std::vector<Tensor> apply(std::vector<Tensor> grads) override {
        Tensor fresh = ops::unary(UnaryOp::mul_scalar, grads[0], 1.0);
        *data_ = fresh.raw_data();
        if (keep_ != nullptr) *keep_ = fresh.view({-1});
        return {fresh};
    }

  private:
    const void** data_;
    Tensor* keep_;
};

Tensor fresh_gradient(const Tensor& x, const void** data, Tensor* keep) {
    Tensor y = x.detach();
    autograd::connect(std::make_shared<FreshGradient>(data, keep), {x}, {&y});
    return y;
}

TEST(Engine, AnUnsharedFirstGradientIsKeptWithoutACopy) {
    Tensor x = leaf({1, 2, 3});
    const void* data = nullptr;
    sum(fresh_gradient(x, &data, nullptr)).backward();
    EXPECT_EQ(x.grad().raw_data(), data) << "nothing else refers to it: no copy needed";
    EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{1, 1, 1}));
}

TEST(Engine, AFirstGradientWhoseStorageIsSharedIsCopied) {
    Tensor x = leaf({1, 2, 3});
    const void* data = nullptr;
    Tensor elsewhere;
    sum(fresh_gradient(x, &data, &elsewhere)).backward();
    EXPECT_NE(x.grad().raw_data(), data);
    EXPECT_FALSE(x.grad().shares_storage(elsewhere));
    {
        NoGradGuard no_grad;
        elsewhere.fill_(7.0);
    }
    EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{1, 1, 1}));
}

TEST(Engine, TransposedGradientIsStoredContiguous) {
    Tensor x = Tensor::zeros({2, 3}, DType::f64);
    x.set_requires_grad();
    sum(x.t() * Tensor::from_vector<double>({1, 2, 3, 4, 5, 6}, {3, 2})).backward();
    EXPECT_TRUE(x.grad().is_contiguous());
    EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{1, 3, 5, 2, 4, 6}));
}

TEST(Engine, GraphOnlyBranchesThatNeedGradRun) {
    // A branch that does not depend on a leaf requiring grad is not recorded at all.
    Tensor x = leaf({1.0});
    const Tensor c = Tensor::from_vector<double>({2.0}, {1});
    const Tensor y = exp(c) * x;
    ASSERT_EQ(y.grad_fn()->next_edges().size(), 2u);
    EXPECT_FALSE(y.grad_fn()->next_edges()[0].valid());
    EXPECT_TRUE(y.grad_fn()->next_edges()[1].valid());
    sum(y).backward();
    EXPECT_TRUE(all_close(x.grad().to_vector<double>(), {std::exp(2.0)}, kF64Exact));
}

}  // namespace
}  // namespace cbnn
