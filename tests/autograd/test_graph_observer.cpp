// The graph observer (autograd/engine.h): which calls a profiler sees, in which order, and that
// none are made once it is removed.
#include <string>
#include <vector>

#include "autograd/engine.h"
#include "autograd/functions.h"
#include "autograd/node.h"
#include "gtest/gtest.h"
#include "tests/support/random.h"

namespace cbnn {
namespace {

class Recorder : public autograd::GraphObserver {
  public:
    void on_record(const autograd::Node& node) override { add("record ", node); }
    void on_apply_begin(const autograd::Node& node) override { add("begin ", node); }
    void on_apply_end(const autograd::Node& node) override { add("end ", node); }
    std::vector<std::string> calls;

  private:
    void add(const char* what, const autograd::Node& node) {
        calls.push_back(std::string(what) + node.name());
    }
};

// Installs an observer for a scope, so a failed expectation cannot leave it installed.
class Installed {
  public:
    explicit Installed(autograd::GraphObserver* observer)
        : previous_(autograd::set_graph_observer(observer)) {}
    ~Installed() { autograd::set_graph_observer(previous_); }

  private:
    autograd::GraphObserver* previous_;
};

TEST(GraphObserver, SeesEachRecordedOpAndEachBackwardNodeInOrder) {
    Tensor x = testing::random_tensor({2, 3}, 0.5, 1.5, 1).set_requires_grad();
    const Tensor w = testing::random_tensor({2, 3}, 0.5, 1.5, 2);
    Recorder recorder;
    {
        Installed installed(&recorder);
        const Tensor loss = sum(relu(x * w));
        EXPECT_EQ(recorder.calls,
                  (std::vector<std::string>{"record mul", "record relu", "record sum"}));
        recorder.calls.clear();
        loss.backward();
    }
    // A chain: each node runs after its only consumer; the leaf x is reached last.
    EXPECT_EQ(recorder.calls, (std::vector<std::string>{
                                  "begin sum", "end sum", "begin relu", "end relu", "begin mul",
                                  "end mul", "begin AccumulateGrad", "end AccumulateGrad"}));
    EXPECT_TRUE(x.grad().defined());
}

TEST(GraphObserver, RemovedObserverSeesNothing) {
    Recorder recorder;
    EXPECT_EQ(autograd::set_graph_observer(&recorder), nullptr);
    EXPECT_EQ(autograd::set_graph_observer(nullptr), &recorder);
    Tensor x = testing::random_tensor({4}, 0.5, 1.5, 3).set_requires_grad();
    sum(exp(x)).backward();
    EXPECT_TRUE(recorder.calls.empty());
    EXPECT_TRUE(x.grad().defined());
}

}  // namespace
}  // namespace cbnn
