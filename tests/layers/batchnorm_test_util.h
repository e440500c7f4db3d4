#pragma once
// Helpers of the batch-norm tests (tests/layers/test_batchnorm*.cpp).
#include <cstring>
#include <vector>

#include "gtest/gtest.h"
#include "tensor/tensor.h"
#include "tests/support/tolerance.h"

namespace cbnn::testing {

// Same dtype, shape and bits of every element, on any device and in any layout (-0 differs from
// +0, unlike ==; every dtype widens to f64 exactly).
inline ::testing::AssertionResult bitwise_equal(const Tensor& a, const Tensor& b) {
    if (a.dtype() != b.dtype() || a.shape() != b.shape())
        return ::testing::AssertionFailure() << a.description() << " vs " << b.description();
    const std::vector<double> va = host_values(a), vb = host_values(b);
    for (size_t i = 0; i < va.size(); ++i) {
        if (std::memcmp(&va[i], &vb[i], sizeof(double)) != 0)
            return ::testing::AssertionFailure()
                   << "element " << i << ": " << va[i] << " vs " << vb[i];
    }
    return ::testing::AssertionSuccess();
}

}  // namespace cbnn::testing
