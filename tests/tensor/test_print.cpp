// Printing (tensor/print.cpp): nested brackets, elision past edge_items, dtypes and layouts.
#include <sstream>

#include "autograd/functions.h"
#include "gtest/gtest.h"

namespace cbnn {
namespace {

TEST(Print, ThreeDimensionsWithAndWithoutElision) {
    const Tensor x = Tensor::arange(24, DType::f32).view({2, 3, 4});
    EXPECT_EQ(x.to_string(),
              "f32[2, 3, 4] cpu\n"
              "[[[0, 1, 2, 3],\n  [4, 5, 6, 7],\n  [8, 9, 10, 11]],\n"
              " [[12, 13, 14, 15],\n  [16, 17, 18, 19],\n  [20, 21, 22, 23]]]");
    EXPECT_EQ(x.to_string(1),
              "f32[2, 3, 4] cpu\n"
              "[[[0, ..., 3],\n  ...,\n  [8, ..., 11]],\n"
              " [[12, ..., 15],\n  ...,\n  [20, ..., 23]]]");
}

TEST(Print, ZeroEdgeItemsPrintsOnlyTheEllipsis) {
    EXPECT_EQ(Tensor::arange(10).to_string(0), "i64[10] cpu\n[...]");
    EXPECT_EQ(Tensor::arange(6).view({3, 2}).to_string(0), "i64[3, 2] cpu\n[...]");
}

TEST(Print, EmptyTransposedAndGradTensors) {
    EXPECT_EQ(Tensor::zeros({2, 0}).to_string(), "f32[2, 0] cpu\n[[],\n []]");
    EXPECT_EQ(Tensor::zeros({0}).to_string(), "f32[0] cpu\n[]");
    const Tensor t = Tensor::from_vector<double>({1, 2, 3, 4, 5, 6}, {2, 3}).t();
    EXPECT_EQ(t.to_string(), "f64[3, 2] cpu\n[[1, 4],\n [2, 5],\n [3, 6]]");
    Tensor g = Tensor::from_vector<double>({0.5, -1.25}, {2});
    g.set_requires_grad();
    EXPECT_EQ(g.to_string(), "f64[2] cpu requires_grad\n[0.5, -1.25]");
    std::ostringstream os;
    os << Tensor::from_vector<uint8_t>({0, 255}, {2});
    EXPECT_EQ(os.str(), "u8[2] cpu\n[0, 255]");
    EXPECT_EQ(Tensor().to_string(), "Tensor(undefined)");
}

}  // namespace
}  // namespace cbnn
