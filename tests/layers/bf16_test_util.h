#pragma once
// Helpers of the bf16 layer tests (tests/layers/test_*_bf16*.cpp): bit-level comparisons, since a
// bf16 result is specified bit for bit (the f32 result rounded once), and the pooling geometries.
#include <cstdint>
#include <cstring>
#include <vector>

#include "gtest/gtest.h"
#include "tensor/bfloat16.h"
#include "tensor/tensor.h"

namespace cbnn::testing {

// The bit patterns of a bf16 tensor (on any device).
inline std::vector<uint16_t> bits_of(const Tensor& t) {
    EXPECT_EQ(t.dtype(), DType::bf16);
    std::vector<uint16_t> out;
    for (bfloat16 v : t.cpu().to_vector<bfloat16>()) out.push_back(v.bits);
    return out;
}

// Same dtype, shape and bit patterns (bf16 or f32; -0 differs from +0, unlike ==).
inline ::testing::AssertionResult same_bits(const Tensor& a, const Tensor& b) {
    if (a.dtype() != b.dtype() || a.shape() != b.shape())
        return ::testing::AssertionFailure() << a.description() << " vs " << b.description();
    const std::vector<float> va = a.cpu().to(DType::f32).to_vector<float>();
    const std::vector<float> vb = b.cpu().to(DType::f32).to_vector<float>();
    for (size_t i = 0; i < va.size(); ++i)
        if (std::memcmp(&va[i], &vb[i], sizeof(float)) != 0)
            return ::testing::AssertionFailure()
                   << "element " << i << ": " << va[i] << " vs " << vb[i];
    return ::testing::AssertionSuccess();
}

// A pooling case: input shape, square window, stride, padding.
struct PoolCase {
    Shape shape;
    int64_t kernel, stride, padding;
};

}  // namespace cbnn::testing
