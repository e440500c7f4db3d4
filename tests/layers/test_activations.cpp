// ReLU and Flatten modules: values, gradients, use in a Sequential, and bad input.
#include <memory>
#include <vector>

#include "autograd/functions.h"
#include "autograd/gradcheck.h"
#include "gtest/gtest.h"
#include "layers/activations.h"
#include "layers/linear.h"
#include "tests/support/expect_error.h"
#include "tests/support/random.h"

namespace cbnn {
namespace {

using testing::throws_error;

TEST(ReLU, ValuesAndGradcheckAwayFromTheKink) {
    ReLU relu_layer;
    EXPECT_EQ(relu_layer.type_name(), "ReLU");
    EXPECT_EQ(relu_layer.parameter_count(), 0);
    const Tensor x = Tensor::from_vector<double>({-2, -0.5, 0.5, 3}, {2, 2});
    EXPECT_EQ(relu_layer(x).to_vector<double>(), (std::vector<double>{0, 0, 0.5, 3}));
    const auto r =
        autograd::gradcheck([&](const std::vector<Tensor>& t) { return relu_layer(t[0]); },
                            {testing::random_tensor_avoiding({3, 4, 2}, -1, 1, 1, {0.0}, 0.05)});
    EXPECT_TRUE(r.ok) << r.message;
    EXPECT_THROW(relu_layer(Tensor()), Error);
}

TEST(Flatten, KeepsTheBatchDimensionAndIsAViewOfContiguousInput) {
    Flatten flatten;
    EXPECT_EQ(flatten.type_name(), "Flatten");
    const Tensor x = testing::random_tensor({2, 3, 1, 4}, -1, 1, 2);
    const Tensor y = flatten(x);
    EXPECT_EQ(y.shape(), (Shape{2, 12}));
    EXPECT_TRUE(y.shares_storage(x));
    EXPECT_EQ(y.to_vector<double>(), x.to_vector<double>());
    EXPECT_EQ(flatten(Tensor::zeros({5, 7})).shape(), (Shape{5, 7}));
    const auto r =
        autograd::gradcheck([&](const std::vector<Tensor>& t) { return flatten(t[0]); }, {x});
    EXPECT_TRUE(r.ok) << r.message;
    EXPECT_TRUE(throws_error([&] { flatten(Tensor::zeros({5})); }, {"Flatten", "f32[5]"}));
}

TEST(Activations, HeadOfFlattenReLULinearInASequential) {
    Generator gen(3);
    auto fc = std::make_shared<Linear>(6, 2, true, gen, DType::f64);
    Sequential head({std::make_shared<Flatten>(), std::make_shared<ReLU>(), fc});
    EXPECT_EQ(head.parameter_count(), 14);
    EXPECT_EQ(head.named_parameters()[0].first, "2.weight");
    const Tensor x = testing::random_tensor_avoiding({4, 3, 2}, -1, 1, 4, {0.0}, 0.05);
    const Tensor expected = linear(relu(x.reshape({4, 6})), fc->weight(), fc->bias());
    EXPECT_EQ(head(x).to_vector<double>(), expected.to_vector<double>());
}

}  // namespace
}  // namespace cbnn
