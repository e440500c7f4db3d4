// TrainStep (train/train_step.h) in graph mode against eager mode on a ResNet-8 with the
// class-balanced focal loss: three models from one seed, two trained eagerly (A, B) and one by
// graph replay (G), over warm-up steps, the capturing step, replays, a partial batch (eager
// fallback) and replays after it, with a learning rate that changes every step. G must agree
// with A as closely as B does (bound: 4x the eager-vs-eager difference, or 1e-5 of the largest
// value when eager runs are deterministic). A replay with the model in eval mode is refused.
// Skips without a GPU.
#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "losses/cb_loss.h"
#include "models/resnet_cifar.h"
#include "tensor/copy.h"
#include "tensor/reduce.h"
#include "tests/support/expect_error.h"
#include "tests/support/gpu.h"
#include "tests/support/random.h"
#include "tests/support/tolerance.h"
#include "train/sgd.h"
#include "train/train_step.h"

namespace cbnn::train {
namespace {

struct TrainingRun {
    std::unique_ptr<ResNetCifar> model;
    std::unique_ptr<Sgd> sgd;
    std::unique_ptr<TrainStep> step;
    std::vector<double> losses;
};

TrainingRun make_run(const ClassBalancedLoss& criterion, bool graph) {
    TrainingRun r;
    Generator gen(11);
    ResNetCifarOptions o;
    o.depth = 8;
    r.model = std::make_unique<ResNetCifar>(o, gen);
    r.model->to(Device::cuda());
    SgdOptions opt;
    opt.momentum = 0.9;
    opt.weight_decay = 2e-4;
    r.sgd = std::make_unique<Sgd>(r.model->named_parameters(), opt);
    r.step = std::make_unique<TrainStep>(*r.model, criterion, *r.sgd,
                                         TrainStepOptions{.cuda_graph = graph});
    return r;
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
    const std::vector<double> x = testing::host_values(a), y = testing::host_values(b);
    double d = 0.0;
    for (size_t i = 0; i < x.size(); ++i) d = std::max(d, std::abs(x[i] - y[i]));
    return d;
}

double max_abs(const Tensor& a) {
    double m = 0.0;
    for (double v : testing::host_values(a)) m = std::max(m, std::abs(v));
    return m;
}

TEST(TrainStepCuda, GraphReplayAgreesWithEagerSteps) {
    CBNN_REQUIRE_GPU();
    const std::vector<int64_t> counts = {500, 300, 200, 120, 80, 50, 30, 20, 10, 5};
    const ClassBalancedLoss criterion({LossType::focal, 0.999, 1.0}, counts, DType::f32,
                                      Device::cuda());
    TrainingRun a = make_run(criterion, false), b = make_run(criterion, false),
                g = make_run(criterion, true);
    const int steps = 9;
    for (int s = 0; s < steps; ++s) {
        const int64_t batch = s == 5 ? 12 : 16;  // step 5: a partial batch, run eagerly
        const Batch data{
            testing::random_tensor({batch, 3, 32, 32}, -1, 1, 100 + s, DType::f32).cuda(),
            testing::random_labels(batch, 10, 200 + s).cuda()};
        const double lr = 0.1 * (s + 1) / steps;
        for (TrainingRun* r : {&a, &b, &g}) {
            int inspected = 0;
            const StepOutputs out = r->step->run(data, lr, [&] {
                ++inspected;
                for (const auto& [name, p] : r->sgd->parameters())
                    ASSERT_TRUE(p.grad().defined()) << name << " at step " << s;
            });
            EXPECT_EQ(inspected, 1);
            EXPECT_EQ(out.logits.shape(), (Shape{batch, 10}));
            r->losses.push_back(out.loss.cpu().item<float>());
        }
    }
    // Warm-up steps 0-1 eager, step 2 captured and replayed, 3-4 replays, 5 eager, 6-8 replays.
    EXPECT_TRUE(g.step->graph_mode());
    EXPECT_EQ(g.step->replays(), 6);
    EXPECT_EQ(a.step->replays(), 0);
    for (int s = 0; s < steps; ++s) {
        const double eager = std::abs(b.losses[s] - a.losses[s]);
        const double bound = std::max(4 * eager, 1e-5 * std::abs(a.losses[s]));
        EXPECT_LE(std::abs(g.losses[s] - a.losses[s]), bound)
            << "loss at step " << s << ": graph " << g.losses[s] << ", eager " << a.losses[s];
    }
    const NamedTensors pa = a.model->named_parameters(), pb = b.model->named_parameters(),
                       pg = g.model->named_parameters();
    for (size_t i = 0; i < pa.size(); ++i) {
        const double eager = max_abs_diff(pb[i].second, pa[i].second);
        const double graph = max_abs_diff(pg[i].second, pa[i].second);
        const double bound = std::max(4 * eager, 1e-5 * max_abs(pa[i].second));
        EXPECT_LE(graph, bound) << pa[i].first << ": eager runs differ by " << eager;
    }
    const NamedTensors ba = a.model->named_buffers(), bg = g.model->named_buffers();
    for (size_t i = 0; i < ba.size(); ++i) {
        const double eager = max_abs_diff(b.model->named_buffers()[i].second, ba[i].second);
        EXPECT_LE(max_abs_diff(bg[i].second, ba[i].second),
                  std::max(4 * eager, 1e-5 * max_abs(ba[i].second)))
            << ba[i].first;
    }
    // The graph was captured in training mode: with the model switched to eval mode (as after an
    // evaluation that forgot to switch back), a replay would still train batch norm on the
    // batch's statistics, so the step refuses instead.
    g.model->eval();
    const Batch full{testing::random_tensor({16, 3, 32, 32}, -1, 1, 300, DType::f32).cuda(),
                     testing::random_labels(16, 10, 301).cuda()};
    EXPECT_TRUE(testing::throws_error([&] { g.step->run(full, 0.1); },
                                      {"--cuda-graph", "training mode", "eval mode"}));
    EXPECT_EQ(g.step->replays(), 6);

    // A parameter whose data moved after the capture (as Module::to moves it; the old block kept
    // alive here so the new one cannot land at the same address): the graph would update the old
    // memory while the model reads the new, so the step refuses.
    g.model->train();
    const Tensor& moved = pg[0].second;
    const Tensor old_place = moved.detach();
    moved.impl().storage = ops::contiguous_copy(moved.detach()).impl().storage;
    EXPECT_TRUE(testing::throws_error([&] { g.step->run(full, 0.1); },
                                      {"--cuda-graph", pg[0].first, "has moved"}));
    EXPECT_EQ(g.step->replays(), 6);
}

// A ResNet-8 whose forward reads a value back to the host (as a debugging print would): fine
// eagerly, not capturable.
class HostReadingModel : public Layer {
  public:
    explicit HostReadingModel(Generator& gen) : net_(std::make_shared<ResNetCifar>(opts(), gen)) {
        register_module("net", net_);
    }
    Tensor forward(const Tensor& x) override {
        Tensor y = net_->forward(x);
        // A device-to-host copy and a sync.
        last_sum_ = ops::sum_all(y.detach()).cpu().item<float>();
        return y;
    }
    std::string type_name() const override { return "HostReadingModel"; }

  private:
    static ResNetCifarOptions opts() {
        ResNetCifarOptions o;
        o.depth = 8;
        return o;
    }
    std::shared_ptr<ResNetCifar> net_;
    float last_sum_ = 0.0f;
};

// A step that cannot be captured is said once and the run goes on eagerly, with the eager run's
// results.
TEST(TrainStepCuda, AStepThatCannotBeCapturedRunsEagerly) {
    CBNN_REQUIRE_GPU();
    const ClassBalancedLoss criterion({LossType::softmax, 0.0, 0.0}, std::vector<int64_t>(10, 10),
                                      DType::f32, Device::cuda());
    // Runs 0 and 1 eager (their difference is what two eager runs may differ by), run 2 graphed.
    std::vector<std::vector<double>> losses(3);
    for (int run = 0; run < 3; ++run) {
        const bool graph = run == 2;
        Generator gen(5);
        HostReadingModel model(gen);
        model.to(Device::cuda());
        Sgd sgd(model.named_parameters(), SgdOptions{});
        TrainStep step(model, criterion, sgd, TrainStepOptions{.cuda_graph = graph});
        ::testing::internal::CaptureStderr();
        for (int s = 0; s < 5; ++s) {
            const Batch data{
                testing::random_tensor({8, 3, 32, 32}, -1, 1, 400 + s, DType::f32).cuda(),
                testing::random_labels(8, 10, 500 + s).cuda()};
            losses[run].push_back(step.run(data, 0.05).loss.cpu().item<float>());
        }
        const std::string said = ::testing::internal::GetCapturedStderr();
        EXPECT_FALSE(step.graph_mode());
        EXPECT_EQ(step.replays(), 0);
        if (graph) {
            EXPECT_NE(said.find("could not be captured"), std::string::npos) << said;
            EXPECT_NE(said.find("training goes on without the graph"), std::string::npos) << said;
        }
    }
    for (size_t s = 0; s < losses[0].size(); ++s) {
        const double eager = std::abs(losses[1][s] - losses[0][s]);
        EXPECT_LE(std::abs(losses[2][s] - losses[0][s]),
                  std::max(4 * eager, 1e-5 * std::abs(losses[0][s])))
            << "step " << s;
    }
}

}  // namespace
}  // namespace cbnn::train
