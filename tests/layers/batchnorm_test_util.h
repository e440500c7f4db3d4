#pragma once
// Helpers of the batch-norm tests (tests/layers/test_batchnorm*.cpp).
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <utility>

#include "gtest/gtest.h"
#include "layers/batchnorm2d.h"
#include "tensor/tensor.h"
#include "tests/support/tolerance.h"

namespace cbnn::testing {

// Same dtype, shape and bits of every element, on any device and in any layout (-0 differs from
// +0, unlike ==; every dtype widens to f64 exactly).
inline ::testing::AssertionResult bitwise_equal(const Tensor& a, const Tensor& b) {
    if (a.dtype() != b.dtype() || a.shape() != b.shape())
        return ::testing::AssertionFailure() << a.description() << " vs " << b.description();
    const Tensor ha = host_f64(a), hb = host_f64(b);
    const double *va = ha.data<double>(), *vb = hb.data<double>();
    if (ha.numel() == 0 || std::memcmp(va, vb, ha.nbytes()) == 0)
        return ::testing::AssertionSuccess();
    int64_t i = 0;
    while (std::memcmp(&va[i], &vb[i], sizeof(double)) == 0) ++i;
    return ::testing::AssertionFailure() << "element " << i << ": " << va[i] << " vs " << vb[i];
}

// For the TearDown of a test run with cuDNN's kernels: when cuDNN refused one of `configs` (dtype
// and layout) in this process, cbnn's kernels ran in its place (layers/cudnn_fallback.h), so the
// test reports a skip that says so instead of a pass under cuDNN's name.
inline void skip_if_cudnn_refused(BatchNormKernels kernels,
                                  std::initializer_list<std::pair<DType, MemoryFormat>> configs) {
    if (kernels != BatchNormKernels::cudnn) return;
    for (const auto& [dtype, format] : configs) {
        if (batchnorm_cudnn_refused(dtype, format))
            GTEST_SKIP() << "cuDNN refused batch norm on " << dtype_name(dtype) << " "
                         << memory_format_name(format)
                         << " (see stderr): cbnn's kernels ran in its place";
    }
}

}  // namespace cbnn::testing
