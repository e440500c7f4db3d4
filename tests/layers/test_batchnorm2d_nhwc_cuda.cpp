// Batch norm and the fused batch norm + ReLU (+ residual) on channels-last (NHWC) CUDA tensors,
// for both kernel families (cuDNN with NHWC descriptors, cbnn's layers/batchnorm2d_nhwc_cuda.cu;
// the fused op composes cuDNN's batch norm with the add and relu ops for f32 under cuDNN and takes
// cbnn's kernels for bf16), f32 and bf16 activations, against the CPU f64 reference: training
// forward, running statistics over two steps, backward (dx, dgamma, dbeta, dresidual), inference
// and eval backward; outputs channels-last; dy in NCHW with x in NHWC; ResNet shapes (ResNet-32's
// stages at batch 128, ResNet-50's 256 x 56 x 56 at batch 8 and 2048 x 7 x 7) and awkward ones
// (C = 3, 33, 36: no 4-channel vectors or several channel tiles; 2 to 7 rows, fewer than a
// block's); the unaligned (scalar) path; bitwise repeatability of cbnn's kernels.
//
// Tolerances, as in the NCHW twins (test_batchnorm2d_cuda.cpp, test_batchnorm_relu_cuda.cpp,
// test_batchnorm_bf16_cuda.cpp), whose orders of summation differ from the reference's as these
// do: per-channel results reduce over n = N*H*W values, f32_sum_tolerance(n); bf16 outputs are
// those f32 results rounded once, + 2^-8 + 2^-16 relative. The fused backward's reference masks
// with the GPU's y (a pre-activation within rounding of 0 may land on either side of the kink).
#include <cmath>
#include <vector>

#include "gtest/gtest.h"
#include "layers/batchnorm2d.h"
#include "layers/batchnorm_relu.h"
#include "tensor/copy.h"
#include "tests/layers/batchnorm_test_util.h"
#include "tests/support/gpu.h"
#include "tests/support/random.h"
#include "tests/support/shared_inputs.h"
#include "tests/support/tolerance.h"

namespace cbnn {
namespace {

using testing::all_close;
using testing::bitwise_equal;
using testing::Tolerance;

constexpr double kMomentum = 0.1, kEps = 1e-5;
constexpr MemoryFormat kNhwc = MemoryFormat::channels_last;

const Shape kShapes[] = {{128, 16, 32, 32}, {128, 64, 8, 8}, {4, 2048, 7, 7}, {8, 256, 56, 56},
                         {2, 3, 5, 7},      {3, 33, 4, 5},   {2, 36, 3, 3},   {1, 8, 1, 2},
                         {1, 5, 1, 3},      {1, 12, 1, 7}};

Tensor f64(const Tensor& t) { return testing::host_f64(t); }

// A CPU tensor as a channels-last CUDA tensor.
Tensor nhwc_cuda(const Tensor& t) { return ops::contiguous_copy(t.cuda(), kNhwc); }

int64_t values_per_channel(const Shape& s) { return s[0] * s[2] * s[3]; }

// Activation outputs (y, dx): f32 sums; bf16 adds one rounding.
Tolerance output_tolerance(int64_t n, DType dtype) {
    const Tolerance f32 = testing::f32_sum_tolerance(n);
    if (dtype != DType::bf16) return f32;
    return {f32.atol, f32.rtol + std::ldexp(1.0, -8) + std::ldexp(1.0, -16)};
}

// Channels-last activations of `dtype` and f32 parameters on the GPU, f64 running statistics for
// the CPU reference, from the host inputs of `inputs` (the same for both kernel families). The
// residual (undefined without `residual`) has a seed of its own: leaving it out changes no other
// value.
struct Case {
    Tensor x, residual, dy, gamma, beta, rm, rv;
    Tensor rm_ref, rv_ref;
};

Case random_case(testing::SharedRandomInputs& inputs, const Shape& shape, DType dtype,
                 uint64_t seed, bool residual = true) {
    const int64_t C = shape[1];
    Case c;
    c.x = nhwc_cuda(inputs.random_tensor(shape, -1, 2, seed, dtype));
    if (residual) c.residual = nhwc_cuda(inputs.random_tensor(shape, -1, 1, seed + 1, dtype));
    c.dy = nhwc_cuda(inputs.random_tensor(shape, -1, 1, seed + 2, dtype));
    c.gamma = inputs.random_tensor({C}, 0.5, 1.5, seed + 3, DType::f32).cuda();
    c.beta = inputs.random_tensor({C}, -1, 1, seed + 4, DType::f32).cuda();
    c.rm = inputs.random_tensor({C}, -0.5, 0.5, seed + 5, DType::f32).cuda();
    c.rv = inputs.random_tensor({C}, 0.5, 2, seed + 6, DType::f32).cuda();
    c.rm_ref = f64(c.rm);
    c.rv_ref = f64(c.rv);
    return c;
}

// The GPU training forward on c against the CPU's: y channels-last, y, the saved and the running
// statistics within tolerance.
void expect_training_close(const ops::BatchNormForward& got, const ops::BatchNormForward& ref,
                           const Case& c, Tolerance out, Tolerance stats) {
    ASSERT_TRUE(got.y.is_cuda());
    EXPECT_EQ(got.y.memory_format(), kNhwc);
    EXPECT_EQ(got.y.dtype(), c.x.dtype());
    EXPECT_TRUE(all_close(got.y, ref.y, out));
    EXPECT_TRUE(all_close(got.save_mean, ref.save_mean, stats));
    EXPECT_TRUE(all_close(got.save_invstd, ref.save_invstd, stats));
    EXPECT_TRUE(all_close(c.rm, c.rm_ref, stats));
    EXPECT_TRUE(all_close(c.rv, c.rv_ref, stats));
}

// The GPU backward's dx (channels-last), dgamma and dbeta against the CPU's.
void expect_grads_close(const Tensor& dx, const Tensor& dgamma, const Tensor& dbeta,
                        const Tensor& dx_ref, const Tensor& dgamma_ref, const Tensor& dbeta_ref,
                        Tolerance out, Tolerance stats) {
    EXPECT_EQ(dx.memory_format(), kNhwc);
    EXPECT_TRUE(all_close(dx, dx_ref, out));
    EXPECT_TRUE(all_close(dgamma, dgamma_ref, stats));
    EXPECT_TRUE(all_close(dbeta, dbeta_ref, stats));
}

class BatchNormNhwcCuda : public ::testing::TestWithParam<BatchNormKernels> {
  protected:
    void TearDown() override {
        testing::skip_if_cudnn_refused(GetParam(), {{DType::f32, MemoryFormat::channels_last},
                                                    {DType::bf16, MemoryFormat::channels_last}});
    }
    BatchNormKernelsSetting kernels_{GetParam()};
    testing::SharedRandomInputs inputs_;  // the same for both kernel families
};

TEST_P(BatchNormNhwcCuda, TrainingForwardRunningStatsAndBackwardMatchTheCpu) {
    CBNN_REQUIRE_GPU();
    uint64_t seed = 1;
    for (DType dtype : {DType::f32, DType::bf16}) {
        for (const Shape& shape : kShapes) {
            SCOPED_TRACE(::testing::Message() << dtype << " " << shape);
            const int64_t n = values_per_channel(shape);
            const Tolerance stats = testing::f32_sum_tolerance(n), out = output_tolerance(n, dtype);
            Case c = random_case(inputs_, shape, dtype, seed, false);
            seed += 10;
            for (int step = 0; step < 2; ++step) {
                SCOPED_TRACE(::testing::Message() << "step " << step);
                if (step == 1) c.x = nhwc_cuda(inputs_.random_tensor(shape, -2, 1, seed, dtype));
                const ops::BatchNormForward got =
                    ops::batch_norm2d_training(c.x, c.gamma, c.beta, c.rm, c.rv, kMomentum, kEps);
                const ops::BatchNormForward ref = ops::batch_norm2d_training(
                    f64(c.x), f64(c.gamma), f64(c.beta), c.rm_ref, c.rv_ref, kMomentum, kEps);
                expect_training_close(got, ref, c, out, stats);
                const ops::BatchNormGrads g = ops::batch_norm2d_backward(
                    c.x, c.dy, c.gamma, got.save_mean, got.save_invstd, kEps);
                const ops::BatchNormGrads r = ops::batch_norm2d_backward(
                    f64(c.x), f64(c.dy), f64(c.gamma), ref.save_mean, ref.save_invstd, kEps);
                expect_grads_close(g.dx, g.dgamma, g.dbeta, r.dx, r.dgamma, r.dbeta, out, stats);
                // An NCHW dy is brought to x's format: the same kernels on the same values.
                const ops::BatchNormGrads mixed = ops::batch_norm2d_backward(
                    c.x, ops::contiguous_copy(c.dy), c.gamma, got.save_mean, got.save_invstd, kEps);
                EXPECT_EQ(mixed.dx.memory_format(), kNhwc);
                EXPECT_TRUE(bitwise_equal(mixed.dx, g.dx));
            }
        }
    }
}

TEST_P(BatchNormNhwcCuda, FusedReluAndResidualMatchTheCpu) {
    CBNN_REQUIRE_GPU();
    uint64_t seed = 1000;
    for (DType dtype : {DType::f32, DType::bf16}) {
        for (const Shape& shape : kShapes) {
            for (bool with_residual : {true, false}) {
                SCOPED_TRACE(::testing::Message()
                             << dtype << " " << shape << (with_residual ? " residual" : ""));
                const int64_t n = values_per_channel(shape);
                const Tolerance stats = testing::f32_sum_tolerance(n);
                const Tolerance out = output_tolerance(n, dtype);
                const Case c = random_case(inputs_, shape, dtype, seed, with_residual);
                seed += 10;
                const Tensor& r = c.residual;
                const ops::BatchNormForward got = ops::batch_norm_relu_training(
                    c.x, r, c.gamma, c.beta, c.rm, c.rv, kMomentum, kEps);
                const ops::BatchNormForward ref = ops::batch_norm_relu_training(
                    f64(c.x), with_residual ? f64(r) : Tensor(), f64(c.gamma), f64(c.beta),
                    c.rm_ref, c.rv_ref, kMomentum, kEps);
                expect_training_close(got, ref, c, out, stats);
                const ops::BatchNormReluGrads g = ops::batch_norm_relu_backward(
                    c.x, got.y, c.dy, c.gamma, got.save_mean, got.save_invstd, kEps, with_residual);
                const ops::BatchNormReluGrads e = ops::batch_norm_relu_backward(
                    f64(c.x), f64(got.y), f64(c.dy), f64(c.gamma), ref.save_mean, ref.save_invstd,
                    kEps, with_residual);
                expect_grads_close(g.dx, g.dgamma, g.dbeta, e.dx, e.dgamma, e.dbeta, out, stats);
                ASSERT_EQ(g.dresidual.defined(), with_residual);
                if (with_residual) {
                    EXPECT_EQ(g.dresidual.memory_format(), kNhwc);
                    // dy [y > 0]: one product with 1 or 0, exact on both devices.
                    EXPECT_TRUE(all_close(g.dresidual, e.dresidual, {0, 0}));
                }
            }
        }
    }
}

TEST_P(BatchNormNhwcCuda, InferenceAndEvalBackwardMatchTheCpu) {
    CBNN_REQUIRE_GPU();
    uint64_t seed = 2000;
    for (DType dtype : {DType::f32, DType::bf16}) {
        // Per element, not a reduction (dx of the eval backward too); dgamma and dbeta reduce.
        const Tolerance out =
            dtype == DType::bf16 ? output_tolerance(1, dtype) : testing::kCudaVsCpu;
        for (const Shape& shape : kShapes) {
            SCOPED_TRACE(::testing::Message() << dtype << " " << shape);
            const Tolerance stats = testing::f32_sum_tolerance(values_per_channel(shape));
            const Case c = random_case(inputs_, shape, dtype, seed);
            seed += 10;
            const Tensor y = ops::batch_norm2d_inference(c.x, c.gamma, c.beta, c.rm, c.rv, kEps);
            EXPECT_EQ(y.memory_format(), kNhwc);
            EXPECT_TRUE(all_close(y,
                                  ops::batch_norm2d_inference(f64(c.x), f64(c.gamma), f64(c.beta),
                                                              c.rm_ref, c.rv_ref, kEps),
                                  out));
            const Tensor yr =
                ops::batch_norm_relu_inference(c.x, c.residual, c.gamma, c.beta, c.rm, c.rv, kEps);
            EXPECT_EQ(yr.memory_format(), kNhwc);
            EXPECT_TRUE(
                all_close(yr,
                          ops::batch_norm_relu_inference(f64(c.x), f64(c.residual), f64(c.gamma),
                                                         f64(c.beta), c.rm_ref, c.rv_ref, kEps),
                          out));
            const ops::BatchNormStats s = ops::batch_norm2d_running_stats(c.rm, c.rv, kEps);
            const ops::BatchNormStats s_ref =
                ops::batch_norm2d_running_stats(c.rm_ref, c.rv_ref, kEps);
            const ops::BatchNormReluGrads g = ops::batch_norm_relu_backward_inference(
                c.x, yr, c.dy, c.gamma, s.mean, s.invstd, true, true);
            const ops::BatchNormReluGrads e = ops::batch_norm_relu_backward_inference(
                f64(c.x), f64(yr), f64(c.dy), f64(c.gamma), s_ref.mean, s_ref.invstd, true, true);
            expect_grads_close(g.dx, g.dgamma, g.dbeta, e.dx, e.dgamma, e.dbeta, out, stats);
            EXPECT_EQ(g.dresidual.memory_format(), kNhwc);
            EXPECT_TRUE(all_close(g.dresidual, e.dresidual, {0, 0}));
        }
    }
}

TEST_P(BatchNormNhwcCuda, UnalignedInputsTakeTheScalarPathAndAgree) {
    CBNN_REQUIRE_GPU();
    // x and the residual start one element into their storage: channels-last with C % 4 == 0 (the
    // 4-channel vector path's shape) but not aligned to a vector.
    const Shape shape{4, 8, 4, 4};
    const int64_t numel = shape_numel(shape);
    const Shape strides = format_strides(shape, kNhwc);
    for (DType dtype : {DType::f32, DType::bf16}) {
        SCOPED_TRACE(::testing::Message() << dtype);
        const Tensor x_all = testing::random_tensor({numel + 1}, -1, 2, 50, dtype).cuda();
        const Tensor r_all = testing::random_tensor({numel + 1}, -1, 1, 51, dtype).cuda();
        const Tensor x = Tensor::make_view(x_all, shape, strides, 1);
        const Tensor r = Tensor::make_view(r_all, shape, strides, 1);
        ASSERT_EQ(x.memory_format(), kNhwc);
        const Tensor gamma = Tensor::ones({8}).cuda(), beta = Tensor::zeros({8}).cuda();
        const Tensor rm = Tensor::zeros({8}).cuda(), rv = Tensor::ones({8}).cuda();
        const Tensor rm_ref = Tensor::zeros({8}, DType::f64),
                     rv_ref = Tensor::ones({8}, DType::f64);
        const ops::BatchNormForward got =
            ops::batch_norm_relu_training(x, r, gamma, beta, rm, rv, kMomentum, kEps);
        const ops::BatchNormForward ref = ops::batch_norm_relu_training(
            f64(x), f64(r), f64(gamma), f64(beta), rm_ref, rv_ref, kMomentum, kEps);
        EXPECT_TRUE(all_close(got.y, ref.y, output_tolerance(4 * 16, dtype)));
    }
}

INSTANTIATE_TEST_SUITE_P(Kernels, BatchNormNhwcCuda,
                         ::testing::Values(BatchNormKernels::cudnn, BatchNormKernels::cbnn),
                         [](const ::testing::TestParamInfo<BatchNormKernels>& info) {
                             return info.param == BatchNormKernels::cudnn ? "cudnn" : "cbnn";
                         });

// cbnn's kernels sum in an order fixed by the shape: a second run gives the same bits.
TEST(BatchNormNhwcCbnnKernels, RepeatBitwise) {
    CBNN_REQUIRE_GPU();
    const BatchNormKernelsSetting own(BatchNormKernels::cbnn);
    testing::SharedRandomInputs inputs;
    uint64_t seed = 3000;
    for (DType dtype : {DType::f32, DType::bf16}) {
        for (const Shape& shape :
             {Shape{128, 16, 32, 32}, Shape{4, 2048, 7, 7}, Shape{3, 33, 4, 5}}) {
            SCOPED_TRACE(::testing::Message() << dtype << " " << shape);
            const Case c = random_case(inputs, shape, dtype, seed);
            seed += 10;
            auto run = [&] {
                const Tensor rm = c.rm.clone(), rv = c.rv.clone();
                const ops::BatchNormForward f = ops::batch_norm_relu_training(
                    c.x, c.residual, c.gamma, c.beta, rm, rv, kMomentum, kEps);
                const ops::BatchNormReluGrads g = ops::batch_norm_relu_backward(
                    c.x, f.y, c.dy, c.gamma, f.save_mean, f.save_invstd, kEps, true);
                const ops::BatchNormForward p =
                    ops::batch_norm2d_training(c.x, c.gamma, c.beta, rm, rv, kMomentum, kEps);
                const ops::BatchNormGrads b = ops::batch_norm2d_backward(
                    c.x, c.dy, c.gamma, p.save_mean, p.save_invstd, kEps);
                return std::vector<Tensor>{
                    f.y, f.save_mean, f.save_invstd, g.dx,    g.dgamma, g.dbeta, g.dresidual,
                    p.y, b.dx,        b.dgamma,      b.dbeta, rm,       rv};
            };
            const std::vector<Tensor> first = run(), second = run();
            for (size_t i = 0; i < first.size(); ++i)
                EXPECT_TRUE(bitwise_equal(first[i], second[i])) << "output " << i;
        }
    }
}

}  // namespace
}  // namespace cbnn
