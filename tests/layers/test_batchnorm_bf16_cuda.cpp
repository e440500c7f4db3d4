// CUDA twin of tests/layers/test_batchnorm_bf16.cpp: batch norm and the fused batch norm + ReLU
// (+ residual) with bf16 activations and f32 parameters and statistics on the GPU, for both kernel
// families (cuDNN's CUDNN_DATA_BFLOAT16 path and cbnn's own kernels; the fused op takes cbnn's
// kernels for bf16 under either setting), against the CPU f64 reference on the same bf16 values,
// on ResNet-32's and ResNet-50's layer shapes (batch 8 for the CPU reference's sake; C >= 512 runs
// the one-block-per-channel kernels) and odd shapes.
//
// Tolerances. The statistics, running statistics, dgamma and dbeta are f32 on the GPU, summed in
// f32 in another order than the CPU's double: f32_sum_tolerance(n), n = N*H*W, as for f32. The bf16
// outputs y, dx, dresidual are f32 results (within that same f32 bound of the f64 value) rounded
// once to bf16, which adds at most 2^-8 of the value (bf16 keeps 8 significant bits; unit roundoff
// 2^-8, best case 2^-9): rtol = f32 rtol + 2^-8 + 2^-16 (the last for 2^-8 times the f32 error).
#include <cmath>
#include <vector>

#include "gtest/gtest.h"
#include "layers/batchnorm2d.h"
#include "layers/batchnorm_relu.h"
#include "tests/layers/batchnorm_test_util.h"
#include "tests/support/gpu.h"
#include "tests/support/random.h"
#include "tests/support/shared_inputs.h"
#include "tests/support/tolerance.h"

namespace cbnn {
namespace {

using testing::all_close;
using testing::Tolerance;

constexpr double kMomentum = 0.1, kEps = 1e-5;

const Shape kShapes[] = {{8, 16, 32, 32},   {8, 32, 16, 16},  {8, 64, 8, 8},    // ResNet-32
                         {128, 16, 32, 32},                                     // its batch
                         {8, 64, 56, 56},   {8, 512, 28, 28}, {8, 2048, 7, 7},  // ResNet-50
                         {3, 5, 7, 9},      {2, 3, 1, 1}};

Tolerance bf16_output_tolerance(int64_t n) {
    const Tolerance f32 = testing::f32_sum_tolerance(n);
    return {f32.atol, f32.rtol + std::ldexp(1.0, -8) + std::ldexp(1.0, -16)};
}

Tensor f64(const Tensor& t) { return testing::host_f64(t); }

// Random bf16 activations, f32 parameters and fresh running statistics on the GPU, fresh f64
// statistics for the CPU reference, and the tolerances for a reduction over n = N*H*W values.
struct Inputs {
    Tensor x, residual, dy, gamma, beta, rm, rv;  // GPU
    Tensor rm_ref, rv_ref;                        // CPU f64
    Tolerance stats, out;
};

Inputs random_inputs(testing::SharedRandomInputs& inputs, const Shape& shape, uint64_t seed) {
    const int64_t C = shape[1], n = shape[0] * shape[2] * shape[3];
    return {inputs.random_tensor(shape, -1, 2, seed, DType::bf16).cuda(),
            inputs.random_tensor(shape, -1, 1, seed + 1, DType::bf16).cuda(),
            inputs.random_tensor(shape, -1, 1, seed + 2, DType::bf16).cuda(),
            inputs.random_tensor({C}, 0.5, 1.5, seed + 3, DType::f32).cuda(),
            inputs.random_tensor({C}, -1, 1, seed + 4, DType::f32).cuda(),
            Tensor::zeros({C}, DType::f32, Device::cuda()),
            Tensor::ones({C}, DType::f32, Device::cuda()),
            Tensor::zeros({C}, DType::f64),
            Tensor::ones({C}, DType::f64),
            testing::f32_sum_tolerance(n),
            bf16_output_tolerance(n)};
}

class BatchNormBf16Cuda : public ::testing::TestWithParam<BatchNormKernels> {
  protected:
    void TearDown() override {
        testing::skip_if_cudnn_refused(GetParam(), {{DType::bf16, MemoryFormat::contiguous}});
    }
    BatchNormKernelsSetting kernels_{GetParam()};
    testing::SharedRandomInputs inputs_;  // the same for both kernel families
};

TEST_P(BatchNormBf16Cuda, TrainingForwardAndBackwardMatchTheCpu) {
    CBNN_REQUIRE_GPU();
    uint64_t seed = 1;
    for (const Shape& shape : kShapes) {
        SCOPED_TRACE(::testing::Message() << shape);
        const Inputs in = random_inputs(inputs_, shape, seed);
        const Tolerance &stats = in.stats, &out = in.out;
        seed += 10;
        const ops::BatchNormForward got =
            ops::batch_norm2d_training(in.x, in.gamma, in.beta, in.rm, in.rv, kMomentum, kEps);
        const ops::BatchNormForward ref = ops::batch_norm2d_training(
            f64(in.x), f64(in.gamma), f64(in.beta), in.rm_ref, in.rv_ref, kMomentum, kEps);
        ASSERT_EQ(got.y.dtype(), DType::bf16);
        ASSERT_EQ(got.save_mean.dtype(), DType::f32);
        EXPECT_TRUE(all_close(got.y, ref.y, out));
        EXPECT_TRUE(all_close(got.save_mean, ref.save_mean, stats));
        EXPECT_TRUE(all_close(got.save_invstd, ref.save_invstd, stats));
        EXPECT_TRUE(all_close(in.rm, in.rm_ref, stats));
        EXPECT_TRUE(all_close(in.rv, in.rv_ref, stats));
        const ops::BatchNormGrads g =
            ops::batch_norm2d_backward(in.x, in.dy, in.gamma, got.save_mean, got.save_invstd, kEps);
        const ops::BatchNormGrads r = ops::batch_norm2d_backward(
            f64(in.x), f64(in.dy), f64(in.gamma), ref.save_mean, ref.save_invstd, kEps);
        ASSERT_EQ(g.dx.dtype(), DType::bf16);
        ASSERT_EQ(g.dgamma.dtype(), DType::f32);
        EXPECT_TRUE(all_close(g.dx, r.dx, out));
        EXPECT_TRUE(all_close(g.dgamma, r.dgamma, stats));
        EXPECT_TRUE(all_close(g.dbeta, r.dbeta, stats));
    }
}

TEST_P(BatchNormBf16Cuda, InferenceForwardAndBackwardMatchTheCpu) {
    CBNN_REQUIRE_GPU();
    uint64_t seed = 100;
    for (const Shape& shape : kShapes) {
        SCOPED_TRACE(::testing::Message() << shape);
        const int64_t C = shape[1];
        // Per element, not a reduction: the f32 bound of one fused multiply-add plus the rounding.
        const Tolerance out = bf16_output_tolerance(1);
        const Tensor x = inputs_.random_tensor(shape, -1, 2, seed++, DType::bf16);
        const Tensor gamma = inputs_.random_tensor({C}, 0.5, 1.5, seed++, DType::f32);
        const Tensor beta = inputs_.random_tensor({C}, -1, 1, seed++, DType::f32);
        const Tensor rm = inputs_.random_tensor({C}, -0.5, 0.5, seed++, DType::f32);
        const Tensor rv = inputs_.random_tensor({C}, 0.5, 2, seed++, DType::f32);
        const Tensor got = ops::batch_norm2d_inference(x.cuda(), gamma.cuda(), beta.cuda(),
                                                       rm.cuda(), rv.cuda(), kEps);
        EXPECT_TRUE(all_close(
            got, ops::batch_norm2d_inference(f64(x), f64(gamma), f64(beta), f64(rm), f64(rv), kEps),
            out));
        // The eval-mode backward (composed from f32 ops on the widened dy, dx rounded once): dx
        // per element; dgamma and dbeta reduce over n = N*H*W.
        const Tensor dy = inputs_.random_tensor(shape, -1, 1, seed++, DType::bf16);
        const ops::BatchNormStats s = ops::batch_norm2d_running_stats(rm.cuda(), rv.cuda(), kEps);
        const ops::BatchNormStats s_ref = ops::batch_norm2d_running_stats(f64(rm), f64(rv), kEps);
        const ops::BatchNormGrads g = ops::batch_norm2d_backward_inference(
            x.cuda(), dy.cuda(), gamma.cuda(), s.mean, s.invstd, true);
        const ops::BatchNormGrads r = ops::batch_norm2d_backward_inference(
            f64(x), f64(dy), f64(gamma), s_ref.mean, s_ref.invstd, true);
        ASSERT_EQ(g.dx.dtype(), DType::bf16);
        ASSERT_EQ(g.dgamma.dtype(), DType::f32);
        EXPECT_TRUE(all_close(g.dx, r.dx, out));
        const Tolerance stats = testing::f32_sum_tolerance(shape[0] * shape[2] * shape[3]);
        EXPECT_TRUE(all_close(g.dgamma, r.dgamma, stats));
        EXPECT_TRUE(all_close(g.dbeta, r.dbeta, stats));
    }
}

TEST_P(BatchNormBf16Cuda, FusedReluAndResidualMatchTheCpu) {
    CBNN_REQUIRE_GPU();
    uint64_t seed = 200;
    for (const Shape& shape : kShapes) {
        SCOPED_TRACE(::testing::Message() << shape);
        const Inputs in = random_inputs(inputs_, shape, seed);
        const Tolerance &stats = in.stats, &out = in.out;
        seed += 10;
        const ops::BatchNormForward got = ops::batch_norm_relu_training(
            in.x, in.residual, in.gamma, in.beta, in.rm, in.rv, kMomentum, kEps);
        const ops::BatchNormForward ref =
            ops::batch_norm_relu_training(f64(in.x), f64(in.residual), f64(in.gamma), f64(in.beta),
                                          in.rm_ref, in.rv_ref, kMomentum, kEps);
        ASSERT_EQ(got.y.dtype(), DType::bf16);
        EXPECT_TRUE(all_close(got.y, ref.y, out));
        EXPECT_TRUE(all_close(in.rv, in.rv_ref, stats));
        // The reference masks with the GPU's y: a pre-activation within f32 error of 0 may fall on
        // the other side on the GPU, which is not a backward error.
        const ops::BatchNormReluGrads g = ops::batch_norm_relu_backward(
            in.x, got.y, in.dy, in.gamma, got.save_mean, got.save_invstd, kEps, true);
        const ops::BatchNormReluGrads r =
            ops::batch_norm_relu_backward(f64(in.x), f64(got.y), f64(in.dy), f64(in.gamma),
                                          ref.save_mean, ref.save_invstd, kEps, true);
        ASSERT_EQ(g.dx.dtype(), DType::bf16);
        EXPECT_TRUE(all_close(g.dx, r.dx, out));
        EXPECT_TRUE(all_close(g.dgamma, r.dgamma, stats));
        EXPECT_TRUE(all_close(g.dbeta, r.dbeta, stats));
        // dresidual = dy [y > 0]: exact on both sides with the same mask.
        EXPECT_TRUE(all_close(g.dresidual, r.dresidual, testing::kF64Exact));
    }
}

INSTANTIATE_TEST_SUITE_P(Kernels, BatchNormBf16Cuda,
                         ::testing::Values(BatchNormKernels::cudnn, BatchNormKernels::cbnn),
                         [](const auto& info) {
                             return info.param == BatchNormKernels::cudnn ? "cudnn" : "cbnn";
                         });

}  // namespace
}  // namespace cbnn
