// CUDA twin of tests/layers/test_batchnorm2d.cpp, for both CUDA kernel families (cuDNN's and
// cbnn's own, layers/batchnorm2d.h): forward (training and inference), running-stat updates over
// two steps and backward against the CPU f64 reference on ResNet-32's layer shapes (batch 8 and
// 128: the own kernels split a channel into several slices of images), uneven slices and odd
// shapes; eval-mode autograd and the module on the device.
// Per-channel results reduce over n = N*H*W values, hence f32_sum_tolerance(n).
#include <vector>

#include "autograd/functions.h"
#include "gtest/gtest.h"
#include "layers/batchnorm2d.h"
#include "tests/layers/batchnorm_test_util.h"
#include "tests/support/gpu.h"
#include "tests/support/random.h"
#include "tests/support/tolerance.h"

namespace cbnn {
namespace {

using testing::all_close;

constexpr double kMomentum = 0.1, kEps = 1e-5;

// ResNet-32's three stage widths at batch 8, then odd shapes, batch 1, and two values a channel.
const Shape kShapes[] = {{8, 16, 32, 32}, {8, 32, 16, 16}, {8, 64, 8, 8}, {128, 16, 32, 32},
                         {128, 48, 4, 4}, {3, 5, 7, 9},    {1, 4, 3, 5},  {2, 3, 1, 1}};

class BatchNorm2dCuda : public ::testing::TestWithParam<BatchNormKernels> {
  protected:
    void TearDown() override {
        testing::skip_if_cudnn_refused(GetParam(), {{DType::f32, MemoryFormat::contiguous}});
    }
    BatchNormKernelsSetting kernels_{GetParam()};
};

Tensor f64(const Tensor& t) { return testing::host_f64(t); }

TEST_P(BatchNorm2dCuda, TrainingForwardRunningStatsAndBackwardMatchTheCpu) {
    CBNN_REQUIRE_GPU();
    uint64_t seed = 1;
    for (const Shape& shape : kShapes) {
        SCOPED_TRACE(::testing::Message() << shape);
        const int64_t C = shape[1];
        const testing::Tolerance tol = testing::f32_sum_tolerance(shape[0] * shape[2] * shape[3]);
        const Tensor gamma = testing::random_tensor({C}, 0.5, 1.5, seed++, DType::f32);
        const Tensor beta = testing::random_tensor({C}, -1, 1, seed++, DType::f32);
        Tensor rm = testing::random_tensor({C}, -0.5, 0.5, seed++, DType::f32);
        Tensor rv = testing::random_tensor({C}, 0.5, 2, seed++, DType::f32);
        Tensor rm_ref = f64(rm), rv_ref = f64(rv);
        rm = rm.cuda();
        rv = rv.cuda();
        for (int step = 0; step < 2; ++step) {
            SCOPED_TRACE(::testing::Message() << "step " << step);
            const Tensor x = testing::random_tensor(shape, -1, 2, seed++, DType::f32);
            const Tensor dy = testing::random_tensor(shape, -1, 1, seed++, DType::f32);
            const ops::BatchNormForward got = ops::batch_norm2d_training(
                x.cuda(), gamma.cuda(), beta.cuda(), rm, rv, kMomentum, kEps);
            const ops::BatchNormForward ref = ops::batch_norm2d_training(
                f64(x), f64(gamma), f64(beta), rm_ref, rv_ref, kMomentum, kEps);
            ASSERT_TRUE(got.y.is_cuda());
            EXPECT_TRUE(all_close(got.y, ref.y, tol));
            EXPECT_TRUE(all_close(got.save_mean, ref.save_mean, tol));
            EXPECT_TRUE(all_close(got.save_invstd, ref.save_invstd, tol));
            EXPECT_TRUE(all_close(rm, rm_ref, tol));
            EXPECT_TRUE(all_close(rv, rv_ref, tol));
            const ops::BatchNormGrads g = ops::batch_norm2d_backward(
                x.cuda(), dy.cuda(), gamma.cuda(), got.save_mean, got.save_invstd, kEps);
            const ops::BatchNormGrads r = ops::batch_norm2d_backward(
                f64(x), f64(dy), f64(gamma), ref.save_mean, ref.save_invstd, kEps);
            EXPECT_TRUE(all_close(g.dx, r.dx, tol));
            EXPECT_TRUE(all_close(g.dgamma, r.dgamma, tol));
            EXPECT_TRUE(all_close(g.dbeta, r.dbeta, tol));
        }
    }
}

TEST_P(BatchNorm2dCuda, InferenceForwardAndEvalBackwardMatchTheCpu) {
    CBNN_REQUIRE_GPU();
    uint64_t seed = 100;
    for (const Shape& shape : kShapes) {
        SCOPED_TRACE(::testing::Message() << shape);
        const int64_t C = shape[1];
        const testing::Tolerance tol = testing::f32_sum_tolerance(shape[0] * shape[2] * shape[3]);
        const Tensor x = testing::random_tensor(shape, -1, 2, seed++, DType::f32);
        const Tensor w = testing::random_tensor(shape, -1, 1, seed++, DType::f32);
        const Tensor gamma = testing::random_tensor({C}, 0.5, 1.5, seed++, DType::f32);
        const Tensor beta = testing::random_tensor({C}, -1, 1, seed++, DType::f32);
        const Tensor rm = testing::random_tensor({C}, -0.5, 0.5, seed++, DType::f32);
        const Tensor rv = testing::random_tensor({C}, 0.5, 2, seed++, DType::f32);
        auto run = [&](auto&& place) {
            Tensor xl = place(x), gl = place(gamma), bl = place(beta);
            xl.set_requires_grad();
            gl.set_requires_grad();
            bl.set_requires_grad();
            const Tensor y = batch_norm2d(xl, gl, bl, place(rm), place(rv), false, kMomentum, kEps);
            sum(y * place(w)).backward();
            return std::vector<Tensor>{y, xl.grad(), gl.grad(), bl.grad()};
        };
        const std::vector<Tensor> got = run([](const Tensor& t) { return t.cuda(); });
        const std::vector<Tensor> ref = run([](const Tensor& t) { return f64(t); });
        ASSERT_TRUE(got[0].is_cuda());
        EXPECT_TRUE(all_close(got[0], ref[0], testing::kCudaVsCpu));
        for (size_t i = 1; i < got.size(); ++i) EXPECT_TRUE(all_close(got[i], ref[i], tol)) << i;
    }
}

TEST_P(BatchNorm2dCuda, ModuleOnTheDeviceMatchesTheCpuModule) {
    CBNN_REQUIRE_GPU();
    BatchNorm2d on_gpu(16), on_cpu(16);
    on_gpu.to(Device::cuda());
    const Shape shape{8, 16, 32, 32};
    const testing::Tolerance tol = testing::f32_sum_tolerance(8 * 32 * 32);
    for (int step = 0; step < 2; ++step) {
        const Tensor x = testing::random_tensor(shape, -1, 2, 200 + step, DType::f32);
        const Tensor w = testing::random_tensor(shape, -1, 1, 300 + step, DType::f32);
        const Tensor y = on_gpu(x.cuda());
        const Tensor y_ref = on_cpu(x);
        EXPECT_TRUE(all_close(y, y_ref, tol));
        sum(y * w.cuda()).backward();
        sum(y_ref * w).backward();
    }
    EXPECT_TRUE(all_close(on_gpu.running_mean(), on_cpu.running_mean(), tol));
    EXPECT_TRUE(all_close(on_gpu.running_var(), on_cpu.running_var(), tol));
    EXPECT_TRUE(all_close(on_gpu.weight().grad(), on_cpu.weight().grad(), tol));
    EXPECT_TRUE(all_close(on_gpu.bias().grad(), on_cpu.bias().grad(), tol));
    on_gpu.eval();
    on_cpu.eval();
    const Tensor x = testing::random_tensor(shape, -1, 2, 400, DType::f32);
    EXPECT_TRUE(all_close(on_gpu(x.cuda()), on_cpu(x), testing::kCudaVsCpu));
}

INSTANTIATE_TEST_SUITE_P(Kernels, BatchNorm2dCuda,
                         ::testing::Values(BatchNormKernels::cudnn, BatchNormKernels::cbnn),
                         [](const ::testing::TestParamInfo<BatchNormKernels>& info) {
                             return info.param == BatchNormKernels::cudnn ? "cudnn" : "cbnn";
                         });

}  // namespace
}  // namespace cbnn
