// CUDA twin of tests/layers/test_batchnorm_relu.cpp for both kernel families (cuDNN composed with
// the relu/add ops, cbnn's own fused kernels): training forward, running statistics and backward
// (dx, dgamma, dbeta, dresidual) against the CPU f64 reference on ResNet shapes (ResNet-32's
// stages at batch 128, ResNet-50's widest layer), odd shapes, both slicings of the own kernels
// (S > 1 and S = 1 for C >= 512), the float4 path (H*W % 4 == 0) and its unaligned fallback;
// inference and eval-mode autograd; the module; device mismatches.
// The backward reference takes its ReLU mask from the GPU's y: an element whose pre-activation
// is within rounding of 0 may land on different sides of the kink on the two devices, and the
// backward is a function of y, not of how y was rounded. Per-channel results reduce over
// n = N*H*W values, hence f32_sum_tolerance(n).
#include <vector>

#include "autograd/functions.h"
#include "gtest/gtest.h"
#include "layers/batchnorm_relu.h"
#include "tests/layers/batchnorm_test_util.h"
#include "tests/support/expect_error.h"
#include "tests/support/gpu.h"
#include "tests/support/random.h"
#include "tests/support/shared_inputs.h"
#include "tests/support/tolerance.h"

namespace cbnn {
namespace {

using testing::all_close;

constexpr double kMomentum = 0.1, kEps = 1e-5;

const Shape kShapes[] = {{128, 16, 32, 32}, {128, 64, 8, 8}, {32, 2048, 7, 7}, {8, 512, 4, 4},
                         {3, 5, 7, 9},      {1, 4, 3, 5},    {2, 3, 1, 1}};

class BatchNormReluCuda : public ::testing::TestWithParam<BatchNormKernels> {
  protected:
    void TearDown() override {
        testing::skip_if_cudnn_refused(GetParam(), {{DType::f32, MemoryFormat::contiguous}});
    }
    BatchNormKernelsSetting kernels_{GetParam()};
    testing::SharedRandomInputs inputs_;  // the same for both kernel families
};

Tensor f64(const Tensor& t) { return testing::host_f64(t); }

TEST_P(BatchNormReluCuda, TrainingForwardAndBackwardMatchTheCpu) {
    CBNN_REQUIRE_GPU();
    uint64_t seed = 1;
    for (const Shape& shape : kShapes) {
        for (bool with_residual : {true, false}) {
            SCOPED_TRACE(::testing::Message() << shape << (with_residual ? " residual" : ""));
            const int64_t C = shape[1];
            const testing::Tolerance tol =
                testing::f32_sum_tolerance(shape[0] * shape[2] * shape[3]);
            const Tensor x = inputs_.random_tensor(shape, -1, 2, seed++, DType::f32);
            const Tensor r =
                with_residual ? inputs_.random_tensor(shape, -1, 1, seed++, DType::f32) : Tensor();
            const Tensor dy = inputs_.random_tensor(shape, -1, 1, seed++, DType::f32);
            const Tensor gamma = inputs_.random_tensor({C}, 0.5, 1.5, seed++, DType::f32);
            const Tensor beta = inputs_.random_tensor({C}, -1, 1, seed++, DType::f32);
            const Tensor rm = inputs_.random_tensor({C}, -0.5, 0.5, seed++, DType::f32);
            const Tensor rv = inputs_.random_tensor({C}, 0.5, 2, seed++, DType::f32);
            const Tensor rm_gpu = rm.cuda(), rv_gpu = rv.cuda(), rm_ref = f64(rm), rv_ref = f64(rv);
            const Tensor r_gpu = with_residual ? r.cuda() : Tensor();
            const Tensor r_ref = with_residual ? f64(r) : Tensor();
            const ops::BatchNormForward got = ops::batch_norm_relu_training(
                x.cuda(), r_gpu, gamma.cuda(), beta.cuda(), rm_gpu, rv_gpu, kMomentum, kEps);
            const ops::BatchNormForward ref = ops::batch_norm_relu_training(
                f64(x), r_ref, f64(gamma), f64(beta), rm_ref, rv_ref, kMomentum, kEps);
            ASSERT_TRUE(got.y.is_cuda());
            EXPECT_TRUE(all_close(got.y, ref.y, tol));
            EXPECT_TRUE(all_close(got.save_mean, ref.save_mean, tol));
            EXPECT_TRUE(all_close(got.save_invstd, ref.save_invstd, tol));
            EXPECT_TRUE(all_close(rm_gpu, rm_ref, tol));
            EXPECT_TRUE(all_close(rv_gpu, rv_ref, tol));
            const ops::BatchNormReluGrads g =
                ops::batch_norm_relu_backward(x.cuda(), got.y, dy.cuda(), gamma.cuda(),
                                              got.save_mean, got.save_invstd, kEps, with_residual);
            const ops::BatchNormReluGrads e =
                ops::batch_norm_relu_backward(f64(x), f64(got.y), f64(dy), f64(gamma),
                                              ref.save_mean, ref.save_invstd, kEps, with_residual);
            EXPECT_TRUE(all_close(g.dx, e.dx, tol));
            EXPECT_TRUE(all_close(g.dgamma, e.dgamma, tol));
            EXPECT_TRUE(all_close(g.dbeta, e.dbeta, tol));
            ASSERT_EQ(g.dresidual.defined(), with_residual);
            // dresidual = dy [y > 0]: one product with 1 or 0, exact on both devices.
            if (with_residual) EXPECT_TRUE(all_close(g.dresidual, e.dresidual, {0, 0}));
        }
    }
}

TEST_P(BatchNormReluCuda, UnalignedInputsTakeTheScalarPathAndAgree) {
    CBNN_REQUIRE_GPU();
    // x and the residual start one float into their storage: contiguous but not 16-byte aligned,
    // with H*W % 4 == 0 (the float4 path's shape).
    const Shape shape{4, 8, 4, 4};
    const int64_t n = shape_numel(shape);
    const Tensor x_all = testing::random_tensor({n + 1}, -1, 2, 50, DType::f32).cuda();
    const Tensor r_all = testing::random_tensor({n + 1}, -1, 1, 51, DType::f32).cuda();
    const Shape strides{128, 16, 4, 1};
    const Tensor x = Tensor::make_view(x_all, shape, strides, 1);
    const Tensor r = Tensor::make_view(r_all, shape, strides, 1);
    ASSERT_TRUE(x.is_contiguous());
    const Tensor gamma = Tensor::ones({8}, DType::f32), beta = Tensor::zeros({8}, DType::f32);
    const Tensor rm = Tensor::zeros({8}, DType::f32).cuda(), rv = Tensor::ones({8}).cuda();
    const Tensor rm_ref = Tensor::zeros({8}, DType::f64), rv_ref = Tensor::ones({8}, DType::f64);
    const ops::BatchNormForward got =
        ops::batch_norm_relu_training(x, r, gamma.cuda(), beta.cuda(), rm, rv, kMomentum, kEps);
    const ops::BatchNormForward ref = ops::batch_norm_relu_training(
        f64(x), f64(r), f64(gamma), f64(beta), rm_ref, rv_ref, kMomentum, kEps);
    EXPECT_TRUE(all_close(got.y, ref.y, testing::f32_sum_tolerance(4 * 16)));
}

TEST_P(BatchNormReluCuda, InferenceAndEvalBackwardMatchTheCpu) {
    CBNN_REQUIRE_GPU();
    uint64_t seed = 100;
    for (const Shape& shape : kShapes) {
        SCOPED_TRACE(::testing::Message() << shape);
        const int64_t C = shape[1];
        const testing::Tolerance tol = testing::f32_sum_tolerance(shape[0] * shape[2] * shape[3]);
        const Tensor x = inputs_.random_tensor(shape, -1, 2, seed++, DType::f32);
        const Tensor r = inputs_.random_tensor(shape, -1, 1, seed++, DType::f32);
        const Tensor w = inputs_.random_tensor(shape, -1, 1, seed++, DType::f32);
        const Tensor gamma = inputs_.random_tensor({C}, 0.5, 1.5, seed++, DType::f32);
        const Tensor beta = inputs_.random_tensor({C}, -1, 1, seed++, DType::f32);
        const Tensor rm = inputs_.random_tensor({C}, -0.5, 0.5, seed++, DType::f32);
        const Tensor rv = inputs_.random_tensor({C}, 0.5, 2, seed++, DType::f32);
        const Tensor y_gpu = ops::batch_norm_relu_inference(
            x.cuda(), r.cuda(), gamma.cuda(), beta.cuda(), rm.cuda(), rv.cuda(), kEps);
        const Tensor y_ref = ops::batch_norm_relu_inference(f64(x), f64(r), f64(gamma), f64(beta),
                                                            f64(rm), f64(rv), kEps);
        ASSERT_TRUE(y_gpu.is_cuda());
        EXPECT_TRUE(all_close(y_gpu, y_ref, testing::kCudaVsCpu));
        // Eval-mode backward, mask from the GPU's y (see the header).
        const ops::BatchNormStats s_gpu =
            ops::batch_norm2d_running_stats(rm.cuda(), rv.cuda(), kEps);
        const ops::BatchNormStats s_ref = ops::batch_norm2d_running_stats(f64(rm), f64(rv), kEps);
        const ops::BatchNormReluGrads g = ops::batch_norm_relu_backward_inference(
            x.cuda(), y_gpu, w.cuda(), gamma.cuda(), s_gpu.mean, s_gpu.invstd, true, true);
        const ops::BatchNormReluGrads e = ops::batch_norm_relu_backward_inference(
            f64(x), f64(y_gpu), f64(w), f64(gamma), s_ref.mean, s_ref.invstd, true, true);
        EXPECT_TRUE(all_close(g.dx, e.dx, testing::kCudaVsCpu));
        EXPECT_TRUE(all_close(g.dgamma, e.dgamma, tol));
        EXPECT_TRUE(all_close(g.dbeta, e.dbeta, tol));
        EXPECT_TRUE(all_close(g.dresidual, e.dresidual, {0, 0}));
    }
}

TEST_P(BatchNormReluCuda, ModuleOnTheDeviceMatchesTheCpuModule) {
    CBNN_REQUIRE_GPU();
    BatchNorm2d on_gpu(16), on_cpu(16);
    on_gpu.to(Device::cuda());
    // Small, so that no pre-activation is likely to fall within rounding of the kink (each device
    // masks with its own y here): ~1e-6 x 0.3 per unit of density x 4096 values.
    const Shape shape{8, 16, 4, 4};
    const testing::Tolerance tol = testing::f32_sum_tolerance(8 * 4 * 4);
    for (int step = 0; step < 2; ++step) {
        const Tensor x = testing::random_tensor(shape, -1, 2, 200 + step, DType::f32);
        const Tensor r = testing::random_tensor(shape, -1, 1, 250 + step, DType::f32);
        const Tensor w = testing::random_tensor(shape, -1, 1, 300 + step, DType::f32);
        const Tensor y = on_gpu.forward_relu(x.cuda(), r.cuda());
        const Tensor y_ref = on_cpu.forward_relu(x, r);
        EXPECT_TRUE(all_close(y, y_ref, tol));
        sum(y * w.cuda()).backward();
        sum(y_ref * w).backward();
    }
    EXPECT_TRUE(all_close(on_gpu.running_mean(), on_cpu.running_mean(), tol));
    EXPECT_TRUE(all_close(on_gpu.running_var(), on_cpu.running_var(), tol));
    EXPECT_TRUE(all_close(on_gpu.weight().grad(), on_cpu.weight().grad(), tol));
    EXPECT_TRUE(all_close(on_gpu.bias().grad(), on_cpu.bias().grad(), tol));
}

TEST_P(BatchNormReluCuda, DeviceMismatchesAreClearErrors) {
    CBNN_REQUIRE_GPU();
    const Shape shape{2, 3, 2, 2};
    const Tensor x = testing::random_tensor(shape, -1, 1, 400, DType::f32).cuda();
    const Tensor gamma = Tensor::ones({3}).cuda(), beta = Tensor::zeros({3}).cuda();
    const Tensor rm = Tensor::zeros({3}).cuda(), rv = Tensor::ones({3}).cuda();
    EXPECT_TRUE(testing::throws_error(
        [&] {
            batch_norm_relu(x, Tensor::zeros(shape), gamma, beta, rm, rv, true, kMomentum, kEps);
        },
        {"batch_norm_relu", "different devices"}));
    EXPECT_TRUE(testing::throws_error(
        [&] {
            batch_norm_relu(x, Tensor(), Tensor::ones({3}), beta, rm, rv, false, kMomentum, kEps);
        },
        {"batch_norm_relu", "different devices"}));
}

INSTANTIATE_TEST_SUITE_P(Kernels, BatchNormReluCuda,
                         ::testing::Values(BatchNormKernels::cudnn, BatchNormKernels::cbnn),
                         [](const ::testing::TestParamInfo<BatchNormKernels>& info) {
                             return info.param == BatchNormKernels::cudnn ? "cudnn" : "cbnn";
                         });

}  // namespace
}  // namespace cbnn
