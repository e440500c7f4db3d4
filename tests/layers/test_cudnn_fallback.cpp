// CudnnFallback (layers/cudnn_fallback.h): a configuration cuDNN refuses runs cbnn's own
// implementation, is said once and remembered; other configurations still try cuDNN; other errors
// propagate. The cuDNN side is a stand-in lambda: the logic is host code and runs without a GPU.
#include <string>

#include "gtest/gtest.h"
#include "layers/cudnn_fallback.h"

namespace cbnn {
namespace {

struct Calls {
    int cudnn = 0, own = 0;
};

void run(CudnnFallback& fallback, const std::string& config, Calls& calls, bool cudnn_refuses) {
    fallback.run(
        config,
        [&] {
            ++calls.cudnn;
            if (cudnn_refuses)
                throw UnsupportedByLibraryError("cuDNN error CUDNN_STATUS_NOT_SUPPORTED in x");
        },
        [&] { ++calls.own; });
}

TEST(CudnnFallback, ARefusedConfigurationRunsOwnKernelsAndIsRemembered) {
    CudnnFallback fallback("batch_norm2d");
    Calls calls;
    testing::internal::CaptureStderr();
    run(fallback, "bf16 nhwc", calls, true);
    const std::string said = testing::internal::GetCapturedStderr();
    EXPECT_EQ(calls.cudnn, 1);
    EXPECT_EQ(calls.own, 1);
    EXPECT_TRUE(fallback.refused("bf16 nhwc"));
    EXPECT_NE(said.find("batch_norm2d: cuDNN refused bf16 nhwc (cuDNN error "
                        "CUDNN_STATUS_NOT_SUPPORTED in x)"),
              std::string::npos)
        << said;

    // Remembered: cuDNN is not asked again, and nothing more is printed.
    testing::internal::CaptureStderr();
    run(fallback, "bf16 nhwc", calls, true);
    EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
    EXPECT_EQ(calls.cudnn, 1);
    EXPECT_EQ(calls.own, 2);

    // Another configuration still takes cuDNN.
    run(fallback, "f32 nhwc", calls, false);
    EXPECT_EQ(calls.cudnn, 2);
    EXPECT_EQ(calls.own, 2);
    EXPECT_FALSE(fallback.refused("f32 nhwc"));
}

TEST(CudnnFallback, OtherErrorsPropagateWithoutFallingBack) {
    CudnnFallback fallback("batch_norm2d");
    Calls calls;
    EXPECT_THROW(fallback.run(
                     "f32 nchw", [] { throw Error("cuDNN error CUDNN_STATUS_EXECUTION_FAILED"); },
                     [&] { ++calls.own; }),
                 Error);
    EXPECT_EQ(calls.own, 0);
    EXPECT_FALSE(fallback.refused("f32 nchw"));
}

}  // namespace
}  // namespace cbnn
