// Batch norm and the fused batch norm + ReLU (+ residual) on channels-last (NHWC) inputs on the
// CPU (layers/batchnorm2d.h, layers/batchnorm_relu.h): the NCHW reference runs on NCHW copies, so
// every result is bitwise the NCHW op's, in f64, f32 and bf16, training and inference, forward and
// backward; y, dx and dresidual come back in x's format; operands in the other format (dy,
// residual, y) are accepted; tensors in both formats at once (C == 1, H == W == 1) stay NCHW;
// f64 gradchecks through channels-last inputs, and the module on a channels-last batch.
#include <tuple>
#include <utility>
#include <vector>

#include "autograd/functions.h"
#include "autograd/gradcheck.h"
#include "autograd/node.h"
#include "gtest/gtest.h"
#include "layers/batchnorm2d.h"
#include "layers/batchnorm_relu.h"
#include "tensor/copy.h"
#include "tests/layers/batchnorm_test_util.h"
#include "tests/support/random.h"
#include "tests/support/tolerance.h"

namespace cbnn {
namespace {

using testing::bitwise_equal;
constexpr double kMomentum = 0.1, kEps = 1e-5;
constexpr MemoryFormat kNchw = MemoryFormat::contiguous;
constexpr MemoryFormat kNhwc = MemoryFormat::channels_last;
const DType kDtypes[] = {DType::f64, DType::f32, DType::bf16};

Tensor nhwc(const Tensor& t) { return ops::contiguous_copy(t, kNhwc); }

// Activations of `dtype` and per-channel tensors of its parameter dtype (f32 for bf16).
struct Inputs {
    Tensor x, residual, dy, gamma, beta, running_mean, running_var;
};

Inputs random_inputs(const Shape& shape, DType dtype, uint64_t seed) {
    const int64_t C = shape[1];
    const DType p = dtype == DType::bf16 ? DType::f32 : dtype;
    return {testing::random_tensor(shape, -1, 2, seed, dtype),
            testing::random_tensor(shape, -1, 1, seed + 1, dtype),
            testing::random_tensor(shape, -1, 1, seed + 2, dtype),
            testing::random_tensor({C}, 0.5, 1.5, seed + 3, p),
            testing::random_tensor({C}, -1, 1, seed + 4, p),
            testing::random_tensor({C}, -0.5, 0.5, seed + 5, p),
            testing::random_tensor({C}, 0.5, 2, seed + 6, p)};
}

// Fresh copies of the running statistics, so that each run starts from the same values.
struct Stats {
    Tensor mean, var;
};
Stats fresh(const Inputs& in) { return {in.running_mean.clone(), in.running_var.clone()}; }

const Shape kShape{3, 5, 4, 6};

// A training forward on a channels-last x against the NCHW one: y channels-last and bitwise the
// NCHW y, the same saved and running statistics.
void expect_same_training(const ops::BatchNormForward& cl, const Stats& cl_stats,
                          const ops::BatchNormForward& ref, const Stats& ref_stats) {
    EXPECT_EQ(cl.y.memory_format(), kNhwc);
    EXPECT_TRUE(bitwise_equal(cl.y, ref.y));
    EXPECT_TRUE(bitwise_equal(cl.save_mean, ref.save_mean));
    EXPECT_TRUE(bitwise_equal(cl.save_invstd, ref.save_invstd));
    EXPECT_TRUE(bitwise_equal(cl_stats.mean, ref_stats.mean));
    EXPECT_TRUE(bitwise_equal(cl_stats.var, ref_stats.var));
}

// dx in `format`, and dx, dgamma, dbeta bitwise the NCHW op's (BatchNormGrads or
// BatchNormReluGrads).
template <class Grads>
void expect_same_grads(const Grads& g, const Grads& ref, MemoryFormat format) {
    EXPECT_EQ(g.dx.memory_format(), format);
    EXPECT_TRUE(bitwise_equal(g.dx, ref.dx));
    EXPECT_TRUE(bitwise_equal(g.dgamma, ref.dgamma));
    EXPECT_TRUE(bitwise_equal(g.dbeta, ref.dbeta));
}

TEST(BatchNormChannelsLast, PlainOpsAreBitwiseTheNchwOpsAndKeepTheFormat) {
    uint64_t seed = 1;
    for (DType dtype : kDtypes) {
        SCOPED_TRACE(::testing::Message() << dtype);
        const Inputs in = random_inputs(kShape, dtype, seed);
        seed += 10;
        const Tensor x_cl = nhwc(in.x), dy_cl = nhwc(in.dy);
        ASSERT_EQ(x_cl.memory_format(), kNhwc);

        Stats ref_stats = fresh(in), cl_stats = fresh(in);
        const ops::BatchNormForward ref = ops::batch_norm2d_training(
            in.x, in.gamma, in.beta, ref_stats.mean, ref_stats.var, kMomentum, kEps);
        const ops::BatchNormForward cl = ops::batch_norm2d_training(
            x_cl, in.gamma, in.beta, cl_stats.mean, cl_stats.var, kMomentum, kEps);
        EXPECT_EQ(ref.y.memory_format(), kNchw);
        expect_same_training(cl, cl_stats, ref, ref_stats);

        const ops::BatchNormGrads g_ref =
            ops::batch_norm2d_backward(in.x, in.dy, in.gamma, ref.save_mean, ref.save_invstd, kEps);
        // dy in x's format, in the other format, and x NCHW with a channels-last dy.
        for (const auto& [x, dy, format] :
             {std::tuple{x_cl, dy_cl, kNhwc}, std::tuple{x_cl, in.dy, kNhwc},
              std::tuple{in.x, dy_cl, kNchw}}) {
            SCOPED_TRACE(::testing::Message() << "x " << memory_format_name(x.memory_format())
                                              << ", dy " << memory_format_name(dy.memory_format()));
            const ops::BatchNormGrads g =
                ops::batch_norm2d_backward(x, dy, in.gamma, ref.save_mean, ref.save_invstd, kEps);
            expect_same_grads(g, g_ref, format);
        }

        const Tensor y_ref = ops::batch_norm2d_inference(in.x, in.gamma, in.beta, in.running_mean,
                                                         in.running_var, kEps);
        const Tensor y_cl = ops::batch_norm2d_inference(x_cl, in.gamma, in.beta, in.running_mean,
                                                        in.running_var, kEps);
        EXPECT_EQ(y_cl.memory_format(), kNhwc);
        EXPECT_TRUE(bitwise_equal(y_cl, y_ref));

        const ops::BatchNormStats s =
            ops::batch_norm2d_running_stats(in.running_mean, in.running_var, kEps);
        const ops::BatchNormGrads e_ref =
            ops::batch_norm2d_backward_inference(in.x, in.dy, in.gamma, s.mean, s.invstd, true);
        for (const Tensor& dy : {dy_cl, in.dy}) {
            const ops::BatchNormGrads e =
                ops::batch_norm2d_backward_inference(x_cl, dy, in.gamma, s.mean, s.invstd, true);
            expect_same_grads(e, e_ref, kNhwc);
        }
    }
}

TEST(BatchNormChannelsLast, FusedOpsAreBitwiseTheNchwOpsAndKeepTheFormat) {
    uint64_t seed = 100;
    for (DType dtype : kDtypes) {
        for (bool with_residual : {true, false}) {
            SCOPED_TRACE(::testing::Message() << dtype << (with_residual ? " residual" : ""));
            const Inputs in = random_inputs(kShape, dtype, seed);
            seed += 10;
            const Tensor x_cl = nhwc(in.x), dy_cl = nhwc(in.dy);
            const Tensor r = with_residual ? in.residual : Tensor();
            // The residual in x's format and in the other one.
            const std::vector<Tensor> residuals =
                with_residual ? std::vector<Tensor>{nhwc(r), r} : std::vector<Tensor>{Tensor()};

            Stats ref_stats = fresh(in);
            const ops::BatchNormForward ref = ops::batch_norm_relu_training(
                in.x, r, in.gamma, in.beta, ref_stats.mean, ref_stats.var, kMomentum, kEps);
            const Tensor y_inf_ref = ops::batch_norm_relu_inference(
                in.x, r, in.gamma, in.beta, in.running_mean, in.running_var, kEps);
            for (const Tensor& residual : residuals) {
                Stats cl_stats = fresh(in);
                const ops::BatchNormForward cl =
                    ops::batch_norm_relu_training(x_cl, residual, in.gamma, in.beta, cl_stats.mean,
                                                  cl_stats.var, kMomentum, kEps);
                expect_same_training(cl, cl_stats, ref, ref_stats);
                const Tensor y_inf = ops::batch_norm_relu_inference(
                    x_cl, residual, in.gamma, in.beta, in.running_mean, in.running_var, kEps);
                EXPECT_EQ(y_inf.memory_format(), kNhwc);
                EXPECT_TRUE(bitwise_equal(y_inf, y_inf_ref));
            }

            const ops::BatchNormReluGrads g_ref = ops::batch_norm_relu_backward(
                in.x, ref.y, in.dy, in.gamma, ref.save_mean, ref.save_invstd, kEps, with_residual);
            // y and dy in x's format or NCHW.
            for (const auto& [y, dy] : {std::pair{nhwc(ref.y), dy_cl}, std::pair{ref.y, in.dy}}) {
                const ops::BatchNormReluGrads g = ops::batch_norm_relu_backward(
                    x_cl, y, dy, in.gamma, ref.save_mean, ref.save_invstd, kEps, with_residual);
                expect_same_grads(g, g_ref, kNhwc);
                ASSERT_EQ(g.dresidual.defined(), with_residual);
                if (with_residual) {
                    EXPECT_EQ(g.dresidual.memory_format(), kNhwc);
                    EXPECT_TRUE(bitwise_equal(g.dresidual, g_ref.dresidual));
                }
            }

            const ops::BatchNormStats s =
                ops::batch_norm2d_running_stats(in.running_mean, in.running_var, kEps);
            const ops::BatchNormReluGrads e_ref = ops::batch_norm_relu_backward_inference(
                in.x, y_inf_ref, in.dy, in.gamma, s.mean, s.invstd, true, with_residual);
            const ops::BatchNormReluGrads e = ops::batch_norm_relu_backward_inference(
                x_cl, nhwc(y_inf_ref), in.dy, in.gamma, s.mean, s.invstd, true, with_residual);
            expect_same_grads(e, e_ref, kNhwc);
            if (with_residual) {
                EXPECT_EQ(e.dresidual.memory_format(), kNhwc);
                EXPECT_TRUE(bitwise_equal(e.dresidual, e_ref.dresidual));
            }
        }
    }
}

TEST(BatchNormChannelsLast, TensorsInBothFormatsStayNchw) {
    // One channel or one pixel: channels-last strides that are also NCHW (memory_format() says
    // contiguous), so the outputs are NCHW, with the same values.
    for (const Shape& shape : {Shape{4, 1, 3, 3}, Shape{4, 3, 1, 1}}) {
        SCOPED_TRACE(::testing::Message() << shape);
        const Inputs in = random_inputs(shape, DType::f32, 200);
        Tensor x = Tensor::empty(shape, DType::f32, Device::cpu(), kNhwc);
        x.copy_(in.x);
        Stats a = fresh(in), b = fresh(in);
        const ops::BatchNormForward got = ops::batch_norm_relu_training(
            x, nhwc(in.residual), in.gamma, in.beta, a.mean, a.var, kMomentum, kEps);
        const ops::BatchNormForward ref = ops::batch_norm_relu_training(
            in.x, in.residual, in.gamma, in.beta, b.mean, b.var, kMomentum, kEps);
        EXPECT_TRUE(got.y.is_contiguous());
        EXPECT_TRUE(bitwise_equal(got.y, ref.y));
    }
}

// The plain and the fused op (residual in[3]) through a channels-last copy of x (and of the
// residual), so that gradcheck's NCHW inputs reach the ops in channels-last and their gradients
// come back through the copy.
Tensor channels_last_op(const std::vector<Tensor>& in, const Stats& stats, bool training) {
    const Tensor x = in[0].contiguous(kNhwc);
    EXPECT_EQ(x.memory_format(), kNhwc);
    if (in.size() < 4)
        return batch_norm2d(x, in[1], in[2], stats.mean, stats.var, training, kMomentum, kEps);
    return batch_norm_relu(x, in[3].contiguous(kNhwc), in[1], in[2], stats.mean, stats.var,
                           training, kMomentum, kEps);
}

TEST(BatchNormChannelsLast, GradcheckThroughChannelsLastInputs) {
    const Shape shape{2, 3, 2, 3};
    uint64_t seed = 300;
    for (bool training : {true, false}) {
        for (bool fused : {false, true}) {
            SCOPED_TRACE(::testing::Message()
                         << (training ? "training" : "eval") << (fused ? " fused" : ""));
            const Inputs in = random_inputs(shape, DType::f64, seed);
            seed += 10;
            const Stats stats = fresh(in);  // training updates them in place; y does not read them
            std::vector<Tensor> inputs{in.x, in.gamma, in.beta};
            if (fused) {
                // residual = t - bn(x) with every |t| >= 0.1: the pre-activations bn(x) +
                // residual keep away from the ReLU's kink.
                const Tensor bn = batch_norm2d(in.x, in.gamma, in.beta, in.running_mean.clone(),
                                               in.running_var.clone(), training, kMomentum, kEps);
                inputs.push_back(
                    testing::random_tensor_avoiding(shape, -2, 2, seed + 1, {0.0}, 0.1) - bn);
            }
            const autograd::GradcheckResult r = autograd::gradcheck(
                [&](const std::vector<Tensor>& v) { return channels_last_op(v, stats, training); },
                inputs);
            EXPECT_TRUE(r.ok) << r.message;
            EXPECT_GT(r.checked, 0);
        }
    }
}

TEST(BatchNormChannelsLast, ModuleOnAChannelsLastBatchMatchesTheNchwBatch) {
    BatchNorm2d on_nhwc(5), on_nchw(5);
    for (int step = 0; step < 2; ++step) {
        const Tensor x = testing::random_tensor(kShape, -1, 2, 400 + step, DType::f32);
        const Tensor r = testing::random_tensor(kShape, -1, 1, 410 + step, DType::f32);
        const Tensor w = testing::random_tensor(kShape, -1, 1, 420 + step, DType::f32);
        Tensor x_cl = nhwc(x), x_ref = x.clone();
        x_cl.set_requires_grad();
        x_ref.set_requires_grad();
        const Tensor y = on_nhwc.forward_relu(on_nhwc(x_cl), nhwc(r));
        const Tensor y_ref = on_nchw.forward_relu(on_nchw(x_ref), r);
        EXPECT_EQ(y.memory_format(), kNhwc);
        EXPECT_TRUE(bitwise_equal(y, y_ref));
        sum(y * w).backward();
        sum(y_ref * w).backward();
        EXPECT_TRUE(bitwise_equal(x_cl.grad(), x_ref.grad()));
    }
    EXPECT_TRUE(bitwise_equal(on_nhwc.running_mean(), on_nchw.running_mean()));
    EXPECT_TRUE(bitwise_equal(on_nhwc.running_var(), on_nchw.running_var()));
    EXPECT_TRUE(bitwise_equal(on_nhwc.weight().grad(), on_nchw.weight().grad()));
    EXPECT_TRUE(bitwise_equal(on_nhwc.bias().grad(), on_nchw.bias().grad()));
    // Eval mode with frozen parameters: the graph does not keep x, yet dx (the nodes' output,
    // before the engine stores it as .grad) takes x's format, whatever dy's.
    on_nhwc.eval();
    for (Tensor p : {on_nhwc.weight(), on_nhwc.bias()}) p.set_requires_grad(false);
    Tensor x_cl = nhwc(testing::random_tensor(kShape, -1, 2, 430, DType::f32));
    x_cl.set_requires_grad();
    const Tensor dy = testing::random_tensor(kShape, -1, 1, 431, DType::f32);
    for (const Tensor& y : {on_nhwc(x_cl), on_nhwc.forward_relu(x_cl)}) {
        ASSERT_TRUE(y.grad_fn());
        const std::vector<Tensor> grads = y.grad_fn()->apply({dy});
        ASSERT_TRUE(grads[0].defined());
        EXPECT_EQ(grads[0].memory_format(), kNhwc);
    }
}

}  // namespace
}  // namespace cbnn
