// Divergence guard: global gradient norm against a hand-computed value, NaN/Inf losses and
// gradients detected and named, the norm limit, finite runs pass.
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/support/expect_error.h"
#include "train/guard.h"

namespace cbnn {
namespace {

using testing::error_message;

constexpr double kInf = std::numeric_limits<double>::infinity();
const double kNaN = std::nan("");

struct Params {
    Tensor a = Tensor::zeros({2}, DType::f64).set_requires_grad();
    Tensor b = Tensor::zeros({2, 2}, DType::f64).set_requires_grad();
    Tensor c = Tensor::zeros({1}, DType::f64).set_requires_grad();
    NamedTensors named() const {
        return {{"stem.weight", a}, {"stage2.0.conv1.weight", b}, {"fc.bias", c}};
    }
};

TEST(Guard, GlobalGradNormSkipsParametersWithoutGrad) {
    Params p;
    EXPECT_EQ(global_grad_norm(p.named()), 0.0);
    p.a.set_grad(Tensor::from_vector<double>({3.0, 0.0}, {2}));
    p.b.set_grad(Tensor::from_vector<double>({0.0, 4.0, 0.0, 12.0}, {2, 2}));
    EXPECT_DOUBLE_EQ(global_grad_norm(p.named()), 13.0);
    EXPECT_DOUBLE_EQ(check_gradients(p.named(), 7), 13.0);
}

TEST(Guard, MixedF32AndF64Gradients) {
    Tensor a = Tensor::zeros({2}).set_requires_grad();
    Tensor b = Tensor::zeros({1}, DType::f64).set_requires_grad();
    a.set_grad(Tensor::from_vector<float>({3.0f, 4.0f}, {2}));
    b.set_grad(Tensor::from_vector<double>({12.0}, {1}));
    EXPECT_DOUBLE_EQ(global_grad_norm({{"a", a}, {"b", b}}), 13.0);
}

TEST(Guard, LossNaNAndInf) {
    EXPECT_NO_THROW(check_loss(2.3, 1));
    EXPECT_EQ(error_message([] { check_loss(kNaN, 1234); }), "step 1234: loss is NaN");
    EXPECT_EQ(error_message([] { check_loss(kInf, 5); }), "step 5: loss is Inf");
    EXPECT_EQ(error_message([] { check_loss(-kInf, 5); }), "step 5: loss is -Inf");
    try {
        check_loss(kNaN, 42);
        FAIL() << "no exception";
    } catch (const DivergenceError& e) {
        EXPECT_EQ(e.kind(), DivergenceError::Kind::loss);
        EXPECT_EQ(e.step(), 42);
        EXPECT_EQ(e.parameter(), "");
    }
}

TEST(Guard, NonFiniteGradientsAreNamed) {
    for (double bad : {kInf, kNaN}) {
        Params p;
        p.a.set_grad(Tensor::from_vector<double>({1.0, 2.0}, {2}));
        p.b.set_grad(Tensor::from_vector<double>({0.0, bad, 1.0, 1.0}, {2, 2}));
        p.c.set_grad(Tensor::from_vector<double>({bad}, {1}));
        const std::string expected =
            std::string("step 1234: gradient norm is ") + (std::isnan(bad) ? "NaN" : "Inf") +
            " (parameter 'stage2.0.conv1.weight' has non-finite gradients)";
        EXPECT_EQ(error_message([&] { check_gradients(p.named(), 1234); }), expected);
        try {
            check_gradients(p.named(), 1234);
            FAIL() << "no exception";
        } catch (const DivergenceError& e) {
            EXPECT_EQ(e.kind(), DivergenceError::Kind::gradient);
            EXPECT_EQ(e.parameter(), "stage2.0.conv1.weight");
        }
    }
}

TEST(Guard, NormAboveLimit) {
    Params p;
    p.c.set_grad(Tensor::from_vector<double>({-5.0}, {1}));
    EXPECT_DOUBLE_EQ(check_gradients(p.named(), 1, 5.0), 5.0);
    EXPECT_EQ(error_message([&] { check_gradients(p.named(), 9, 4.0); }),
              "step 9: gradient norm 5 exceeds the limit 4");
    EXPECT_TRUE(testing::throws_error([&] { check_gradients(p.named(), 9, 0.0); }, {"max_norm"}));
}

TEST(Guard, OverflowingNormWithFiniteGradients) {
    // 3e38^2 overflows f32's sum of squares although every gradient value is finite.
    Tensor a = Tensor::zeros({1}).set_requires_grad();
    a.set_grad(Tensor::from_vector<float>({3e38f}, {1}));
    const std::string message = error_message([&] { check_gradients({{"a", a}}, 3); });
    EXPECT_EQ(message,
              "step 3: gradient norm is Inf (every gradient is finite: the sum of squares "
              "overflows)");
}

}  // namespace
}  // namespace cbnn
