// cbnn's implicit-GEMM convolution kernels on the GPU (layers/conv2d_igemm.h, `--conv-kernels
// cbnn`) against the CPU float64 reference, with the bounds the cuDNN tests use for the same
// arithmetic (tests/support/conv2d_checks.h): bf16 (FP32 sums plus one rounding) and TF32. Also:
// that these kernels, not cuDNN, ran; that unsupported shapes still go to cuDNN; that the filter
// gradient repeats bit for bit; and the Conv2d module on top. The decomposition itself is checked
// on the CPU in test_conv2d_igemm.cpp.
#include <cstdint>
#include <vector>

#include "autograd/functions.h"
#include "gtest/gtest.h"
#include "layers/conv2d.h"
#include "layers/conv2d_igemm.h"
#include "tensor/backend.h"
#include "tests/support/conv2d_checks.h"
#include "tests/support/gpu.h"
#include "tests/support/host.h"
#include "tests/support/random.h"
#include "tests/support/tolerance.h"

namespace cbnn {
namespace {

using namespace testing;  // the checks of tests/support/conv2d_checks.h

// ResNet-32's convolutions but the stem at batch 3 (a batch no cuDNN test uses, so a cuDNN call
// would have to select a new algorithm), one at batch 32 (many filter-gradient chunks), and odd
// ones: three column tiles (K 48), a 1x1 stride-2 projection, a non-square stride-2 input.
const Case kCases[] = {
    {3, 16, 32, 32, 16, 3, 3, 1, 1}, {3, 16, 32, 32, 32, 3, 3, 2, 1},
    {3, 32, 16, 16, 32, 3, 3, 1, 1}, {3, 32, 16, 16, 64, 3, 3, 2, 1},
    {3, 64, 8, 8, 64, 3, 3, 1, 1},   {32, 16, 32, 32, 16, 3, 3, 1, 1},
    {2, 16, 4, 6, 48, 3, 3, 1, 1},   {2, 32, 8, 8, 64, 1, 1, 2, 0},
    {2, 48, 8, 7, 16, 3, 3, 2, 1},
};

Conv2dShape nhwc_shape(const Case& c) {
    Conv2dShape s = conv2d_shape({c.N, c.C, c.H, c.W}, {c.K, c.C, c.R, c.S}, c.stride, c.pad);
    s.channels_last = true;
    return s;
}

TEST(Conv2dIgemmCuda, Bf16MatchesCpuFloat64AndSkipsCudnn) {
    CBNN_REQUIRE_GPU();
    const ConvKernelsSetting cbnn(ConvKernels::cbnn);
    uint64_t seed = 11000;
    for (const Case& c : kCases) {
        ASSERT_TRUE(conv2d_igemm_supports(nhwc_shape(c), DType::bf16, false)) << c.str();
        const Problem p = bf16_problem(c, seed += 10);
        const int64_t selections = cuda::conv2d_algorithm_selections();
        const Results got = on_gpu_channels_last(p, c);
        EXPECT_EQ(cuda::conv2d_algorithm_selections(), selections) << "cuDNN ran " << c.str();
        EXPECT_EQ(got.y.dtype(), DType::bf16);
        EXPECT_EQ(got.dw.dtype(), DType::bf16);
        expect_close(got, p, c, nullptr, "cbnn bf16 ", kBf16Rounding);
    }
}

TEST(Conv2dIgemmCuda, Tf32WithinItsTolerance) {
    CBNN_REQUIRE_GPU();
    const ConvKernelsSetting cbnn(ConvKernels::cbnn);
    const Tf32Setting tf32(true);
    uint64_t seed = 12000;
    for (const Case& c : kCases) {
        ASSERT_TRUE(conv2d_igemm_supports(nhwc_shape(c), DType::f32, true)) << c.str();
        const Problem p = make_problem(c, seed += 10);
        expect_tf32_close(on_gpu_channels_last(p, c), reference(p, c), c, "cbnn TF32 ");
    }
}

// The stem (3 channels), strict FP32 and NCHW data are not the kernels' to take: cuDNN runs them
// (a new shape selects an algorithm) and they stay within cuDNN's bounds.
TEST(Conv2dIgemmCuda, OtherConvolutionsStayWithCudnn) {
    CBNN_REQUIRE_GPU();
    const ConvKernelsSetting cbnn(ConvKernels::cbnn);
    const Tf32Setting fp32(false);
    const Case stem{7, 3, 32, 32, 16, 3, 3, 1, 1};  // a batch no other test uses: a new plan
    const Problem p = make_problem(stem, 13000);
    int64_t before = cuda::conv2d_algorithm_selections();
    expect_close(on_gpu_channels_last(p, stem), p, stem, nullptr, "stem ");
    EXPECT_EQ(cuda::conv2d_algorithm_selections(), before + 3);
    const Case narrow{7, 16, 8, 8, 16, 3, 3, 1, 1};  // supported in bf16, not in strict FP32
    const Problem q = make_problem(narrow, 13010);
    before = cuda::conv2d_algorithm_selections();
    expect_close(on_gpu_channels_last(q, narrow), q, narrow, nullptr, "strict FP32 ");
    EXPECT_EQ(cuda::conv2d_algorithm_selections(), before + 3);
}

TEST(Conv2dIgemmCuda, FilterGradientRepeatsBitForBit) {
    CBNN_REQUIRE_GPU();
    const ConvKernelsSetting cbnn(ConvKernels::cbnn);
    const Case c{32, 16, 32, 32, 16, 3, 3, 1, 1};
    const Problem p = bf16_problem(c, 14000);
    const auto nhwc = [](const Tensor& t) {
        return t.cuda().contiguous(MemoryFormat::channels_last);
    };
    const auto dw = [&] {
        return host_values(
            ops::conv2d_backward_filter(nhwc(p.x), nhwc(p.dy), p.w.shape(), c.stride, c.pad));
    };
    EXPECT_EQ(dw(), dw());
}

// The Conv2d module with a bf16 channels-last input through cbnn's kernels: the f32 master
// weight's gradient within bf16 operand rounding (1 % of the norm, as in test_conv2d_bf16.cpp)
// of cuDNN's.
TEST(Conv2dIgemmCuda, ModuleGradientsFollowCudnns) {
    CBNN_REQUIRE_GPU();
    Generator gen(15);
    Conv2d conv(16, 32, 3, 1, 1, false, gen);
    conv.to(Device::cuda());
    const Tensor x = random_tensor({4, 16, 8, 8}, -1, 1, 15001, DType::f32)
                         .cuda()
                         .to(DType::bf16, MemoryFormat::channels_last);
    const Tensor upstream = random_tensor({4, 32, 8, 8}, -1, 1, 15002, DType::f32).cuda();
    const auto weight_grad = [&](ConvKernels kernels) {
        const ConvKernelsSetting setting(kernels);
        conv.weight().set_grad(Tensor());
        sum(conv(x).to(DType::f32) * upstream).backward();
        return conv.weight().grad();
    };
    const Tensor ours = weight_grad(ConvKernels::cbnn), cudnn = weight_grad(ConvKernels::cudnn);
    EXPECT_EQ(ours.dtype(), DType::f32);
    EXPECT_TRUE(ours.is_contiguous());
    EXPECT_LE(norm_relative_error(ours, cudnn), 1e-2);
}

}  // namespace
}  // namespace cbnn
