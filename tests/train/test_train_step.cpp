// TrainStep (train/train_step.h) on the CPU: eager mode is exactly the hand-written step
// (bit for bit, gradients inspected before the update), and graph mode's preconditions are
// clear errors. The graph itself is tested in test_train_step_cuda.cpp.
#include <cmath>
#include <memory>
#include <vector>

#include "gtest/gtest.h"
#include "losses/cb_loss.h"
#include "models/resnet_cifar.h"
#include "tests/support/expect_error.h"
#include "tests/support/random.h"
#include "tests/support/tolerance.h"
#include "train/sgd.h"
#include "train/train_step.h"

namespace cbnn::train {
namespace {

std::unique_ptr<ResNetCifar> tiny_resnet() {
    Generator gen(3);
    ResNetCifarOptions o;
    o.depth = 8;
    o.num_classes = 4;
    return std::make_unique<ResNetCifar>(o, gen);
}

SgdOptions sgd_options() {
    SgdOptions opt;
    opt.momentum = 0.9;
    opt.weight_decay = 2e-4;
    return opt;
}

TEST(TrainStep, EagerModeIsTheHandWrittenStep) {
    const ClassBalancedLoss criterion({LossType::focal, 0.99, 1.0}, {40, 20, 10, 5});
    auto manual = tiny_resnet(), stepped = tiny_resnet();
    Sgd manual_sgd(manual->named_parameters(), sgd_options());
    Sgd stepped_sgd(stepped->named_parameters(), sgd_options());
    TrainStep step(*stepped, criterion, stepped_sgd);
    for (int s = 0; s < 2; ++s) {
        const Batch batch{testing::random_tensor({6, 3, 32, 32}, -1, 1, 10 + s, DType::f32),
                          testing::random_labels(6, 4, 20 + s)};
        const double lr = 0.1 / (s + 1);
        manual_sgd.zero_grad();
        const Tensor logits = manual->forward(batch.images);
        const Tensor loss = criterion(logits, batch.labels);
        loss.backward();
        const Tensor stem_weight = manual->named_parameters()[0].second;
        const std::vector<double> before_update = testing::host_values(stem_weight);
        manual_sgd.step(lr);

        bool inspected = false;
        const StepOutputs out = step.run(batch, lr, [&] {
            inspected = true;
            // Before the update: the parameter still equals the manual one before its update.
            EXPECT_EQ(testing::host_values(stepped->named_parameters()[0].second), before_update);
            EXPECT_EQ(testing::host_values(stepped->named_parameters()[0].second.grad()),
                      testing::host_values(stem_weight.grad()));
        });
        EXPECT_TRUE(inspected);
        EXPECT_FALSE(out.loss.requires_grad());
        EXPECT_EQ(out.loss.cpu().item<float>(), loss.item<float>());
        EXPECT_EQ(testing::host_values(out.logits), testing::host_values(logits));
        const NamedTensors a = manual->named_parameters(), b = stepped->named_parameters();
        for (size_t i = 0; i < a.size(); ++i)
            EXPECT_EQ(testing::host_values(b[i].second), testing::host_values(a[i].second))
                << a[i].first << " after step " << s;
    }
    EXPECT_FALSE(step.graph_mode());
    EXPECT_EQ(step.replays(), 0);
}

TEST(TrainStep, GraphModePreconditionsAreClearErrors) {
    const ClassBalancedLoss criterion({LossType::softmax, 0.0, 0.0}, {1, 1, 1, 1});
    auto model = tiny_resnet();
    Sgd sgd(model->named_parameters(), sgd_options());
    EXPECT_TRUE(
        testing::throws_error([&] { TrainStep step(*model, criterion, sgd, {.cuda_graph = true}); },
                              {"--cuda-graph", "CUDA device", "cpu"}));
    EXPECT_TRUE(
        testing::throws_error([&] { TrainStep step(*model, criterion, sgd, {.warmup_steps = 0}); },
                              {"warmup_steps", "0"}));
}

}  // namespace
}  // namespace cbnn::train

namespace cbnn::train {
namespace {

// input_format channels_last: the step lays the batch out NHWC (one copy, with the dtype cast)
// and on the CPU computes what the NCHW step computes (the layers run their NCHW kernels on
// copies; only the head's average is summed in another order).
TEST(TrainStep, ChannelsLastInputFollowsTheNchwStep) {
    const ClassBalancedLoss criterion({LossType::softmax, 0.99, 0.0}, {40, 20, 10, 5});
    auto nchw = tiny_resnet(), nhwc = tiny_resnet();
    Sgd sgd_a(nchw->named_parameters(), sgd_options()),
        sgd_b(nhwc->named_parameters(), sgd_options());
    TrainStep a(*nchw, criterion, sgd_a);
    TrainStep b(*nhwc, criterion, sgd_b, {.input_format = MemoryFormat::channels_last});
    for (int s = 0; s < 2; ++s) {
        const Batch batch{testing::random_tensor({6, 3, 32, 32}, -1, 1, 40 + s, DType::f32),
                          testing::random_labels(6, 4, 50 + s)};
        const float la = a.run(batch, 0.1).loss.item<float>();
        const float lb = b.run(batch, 0.1).loss.item<float>();
        // f32 rounding of the reordered average pool, through one update: measured equal here;
        // 1e-6 relative allows a last-bit difference.
        EXPECT_NEAR(lb, la, 1e-6 * std::abs(la)) << "step " << s;
    }
    const NamedTensors pa = nchw->named_parameters(), pb = nhwc->named_parameters();
    for (size_t i = 0; i < pa.size(); ++i)
        EXPECT_TRUE(testing::all_close(pb[i].second, pa[i].second, testing::kF32VsF64))
            << pa[i].first;
}

}  // namespace
}  // namespace cbnn::train
