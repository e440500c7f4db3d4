// Class-balanced losses: loss-type parsing, config validation and every bad-input error.
#include <cmath>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "losses/cb_loss.h"
#include "tests/losses/cb_loss_test_inputs.h"
#include "tests/support/expect_error.h"

namespace cbnn {
namespace {

TEST(CbLossApi, ParseLossType) {
    for (LossType t : {LossType::softmax, LossType::sigmoid, LossType::focal})
        EXPECT_EQ(parse_loss_type(loss_type_name(t)), t);
    EXPECT_EQ(parse_loss_type("focal"), LossType::focal);
    EXPECT_TRUE(testing::throws_error([] { parse_loss_type("Focal"); },
                                      {"'Focal'", "softmax, sigmoid or focal"}));
    EXPECT_TRUE(testing::throws_error([] { parse_loss_type(""); }, {"unknown loss type"}));
}

TEST(CbLossApi, ConfigValidation) {
    EXPECT_NO_THROW((LossConfig{LossType::focal, 0.9999, 2.0}.validate()));
    EXPECT_NO_THROW((LossConfig{LossType::softmax, 0.0, 0.0}.validate()));
    EXPECT_TRUE(testing::throws_error(
        [] {
            LossConfig{LossType::focal, 1.0, 1.0}.validate();
        },
        {"beta", "1"}));
    EXPECT_TRUE(testing::throws_error(
        [] {
            LossConfig{LossType::sigmoid, std::nan(""), 0.0}.validate();
        },
        {"beta"}));
    EXPECT_TRUE(testing::throws_error(
        [] {
            LossConfig{LossType::focal, 0.9, -0.5}.validate();
        },
        {"gamma", "-0.5"}));
    EXPECT_TRUE(testing::throws_error(
        [] {
            LossConfig{LossType::focal, 0.9, std::nan("")}.validate();
        },
        {"gamma"}));
    EXPECT_TRUE(testing::throws_error(
        [] {
            LossConfig{LossType::focal, 0.9, INFINITY}.validate();
        },
        {"gamma"}));
}

TEST(CbLossApi, BadInputsAreClearErrors) {
    const testing::LossProblem p = testing::random_problem(4, 5, 7);
    const auto loss = [&](const Tensor& z, const Tensor& y, const Tensor& w, double gamma = 1.0) {
        return [=] { class_balanced_loss(z, y, w, LossType::focal, gamma); };
    };
    EXPECT_TRUE(testing::throws_error(loss(p.logits.reshape({20}), p.labels, p.weights),
                                      {"(N, C)", "f64[20]"}));
    EXPECT_TRUE(
        testing::throws_error(loss(p.logits.reshape({2, 2, 5}), p.labels, p.weights), {"(N, C)"}));
    EXPECT_TRUE(testing::throws_error(
        loss(Tensor::zeros({0, 5}, DType::f64), Tensor::zeros({0}, DType::i64), p.weights),
        {"non-empty"}));
    EXPECT_TRUE(testing::throws_error(loss(p.logits, p.labels.narrow(0, 0, 3), p.weights),
                                      {"labels of shape (4)"}));
    EXPECT_TRUE(testing::throws_error(loss(p.logits, p.labels.reshape({4, 1}), p.weights),
                                      {"labels of shape (4)"}));
    EXPECT_TRUE(testing::throws_error(loss(p.logits, p.labels.to(DType::f32), p.weights),
                                      {"labels", "i64"}));
    EXPECT_TRUE(testing::throws_error(loss(p.logits, p.labels, Tensor::ones({4}, DType::f64)),
                                      {"5 class weights", "f64[4]"}));
    EXPECT_TRUE(testing::throws_error(loss(p.logits, p.labels, p.weights.to(DType::f32)),
                                      {"weights", "f64"}));
    EXPECT_TRUE(testing::throws_error(loss(p.logits.to(DType::i64), p.labels, p.weights),
                                      {"f32 or f64 logits"}));
    EXPECT_TRUE(testing::throws_error(loss(p.logits, p.labels, p.weights, -1.0), {"gamma", "-1"}));
    EXPECT_TRUE(
        testing::throws_error(loss(p.logits, p.labels, p.weights, std::nan("")), {"gamma"}));
    const Tensor w_grad = p.weights.clone().set_requires_grad();
    EXPECT_TRUE(
        testing::throws_error(loss(p.logits, p.labels, w_grad), {"weights must not require grad"}));
    EXPECT_TRUE(testing::throws_error(
        [&] { class_balanced_loss(Tensor(), p.labels, p.weights, LossType::softmax); },
        {"undefined"}));
}

TEST(CbLossApi, LabelOutOfRangeNamesRowLabelAndC) {
    const testing::LossProblem p = testing::random_problem(4, 5, 9);
    for (const int64_t bad : {int64_t{5}, int64_t{-1}}) {
        std::vector<int64_t> y = p.labels.to_vector<int64_t>();
        y[2] = bad;
        const Tensor labels = Tensor::from_vector<int64_t>(y, {4});
        for (LossType type : {LossType::softmax, LossType::sigmoid, LossType::focal}) {
            EXPECT_TRUE(testing::throws_error(
                [&] { class_balanced_loss(p.logits, labels, p.weights, type, 2.0); },
                {"label " + std::to_string(bad), "row 2", "[0, 5)"}));
            EXPECT_TRUE(testing::throws_error(
                [&] { ops::class_balanced_loss(p.logits, labels, p.weights, type); }, {"row 2"}));
        }
    }
}

}  // namespace
}  // namespace cbnn
