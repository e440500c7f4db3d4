#pragma once
// BM_StepBreakdown's instruments, for bench/bench_train_step.cpp: CUDA events at every op
// boundary, booked per (op kind, phase) through the autograd graph observer (Timeline); per phase
// of a step, whether it can be captured as a CUDA graph and the tensors it allocates; and the cuDNN
// algorithms of the case's convolution shapes, each direction timed once on its own. Only the
// breakdown uses them, and only with CUDA (all of it is under CBNN_WITH_CUDA), so they are kept
// apart from the step under test (bench/train_step_case.h) and from the benchmark bodies and
// registrations, which keeps each file short enough to read (DESIGN.md's file-size guideline).
//
// Included by bench/bench_train_step.cpp only (CMake builds one executable per bench/bench_*.cpp),
// so everything here stays in the anonymous namespace it had in that file: a second includer would
// get its own copies.
#include <array>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "autograd/engine.h"
#include "autograd/node.h"
#include "bench/bench_util.h"
#include "bench/train_step_case.h"
#include "layers/conv2d.h"
#include "layers/conv2d_algorithms.h"
#include "layers/conv2d_igemm.h"
#include "tensor/allocator.h"
#include "tensor/rng.h"

namespace cbnn::bench {
namespace {

#ifdef CBNN_WITH_CUDA

enum class Phase : uint8_t { forward, backward, other };

// Node names (autograd Node::name()) to the kinds of the table; unknown names stand for
// themselves.
std::string op_kind(const std::string& name) {
    static const std::vector<std::pair<std::string, std::string>> kinds = {
        {"conv2d", "conv"},
        {"batch_norm2d", "bn"},
        {"relu", "relu"},
        {"add", "add"},
        {"max_pool2d", "pool"},
        {"avg_pool2d", "pool"},
        {"mean", "pool"},
        {"pad_channels", "shortcut pad"},
        {"matmul", "linear"},
        {"cb_softmax_loss", "loss"},
        {"cb_sigmoid_loss", "loss"},
        {"cb_focal_loss", "loss"},
        {"AccumulateGrad", "grad accumulate"},
        {"view", "view"},
        {"transpose", "view"},
        {"flatten", "view"},
        {"squeeze", "view"},
        {"unsqueeze", "view"},
        {"narrow", "view"},
    };
    for (const auto& [node, kind] : kinds)
        if (name == node) return kind;
    return name;
}

// Records a CUDA event at each op boundary of a step; each event closes the interval since the
// previous one and books it to a (kind, phase) row. Events come from a pool reused every step.
class Timeline : public autograd::GraphObserver {
  public:
    Timeline() = default;
    Timeline(const Timeline&) = delete;
    Timeline& operator=(const Timeline&) = delete;
    ~Timeline() override {
        for (cudaEvent_t e : pool_) CBNN_CUDA_CHECK_NOTHROW(cudaEventDestroy(e));
    }

    // The start of a step: books nothing.
    void start() { mark(Phase::other, ""); }
    void mark(Phase phase, const std::string& kind) {
        if (used_ == pool_.size()) {
            cudaEvent_t e;
            CBNN_CUDA_CHECK(cudaEventCreate(&e));
            pool_.push_back(e);
        }
        cudaEvent_t e = pool_[used_++];
        CBNN_CUDA_CHECK(cudaEventRecord(e, cuda::current_stream()));
        marks_.push_back({e, phase, kind});
    }
    void on_record(const autograd::Node& node) override {
        mark(Phase::forward, op_kind(node.name()));
    }
    void on_apply_begin(const autograd::Node&) override { mark(Phase::backward, "engine"); }
    void on_apply_end(const autograd::Node& node) override {
        mark(Phase::backward, op_kind(node.name()));
    }

    // Waits for the step's events and adds its intervals to the rows.
    void collect() {
        if (marks_.empty()) return;
        CBNN_CUDA_CHECK(cudaEventSynchronize(marks_.back().event));
        for (size_t i = 1; i < marks_.size(); ++i) {
            float ms = 0.f;
            CBNN_CUDA_CHECK(cudaEventElapsedTime(&ms, marks_[i - 1].event, marks_[i].event));
            Row& row = row_for(marks_[i].kind);
            row.ms[static_cast<int>(marks_[i].phase)] += ms;
            if (marks_[i].phase != Phase::backward || marks_[i].kind != "engine") ++row.count;
        }
        marks_.clear();
        used_ = 0;
        ++steps_;
    }

    // The table, per step (averaged over the collected steps), rows in order of first appearance.
    void print(const std::string& title, double plain_step_ms) const {
        double step_ms = 0.0;
        for (const Row& r : rows_) step_ms += r.total();
        step_ms /= static_cast<double>(steps_);
        std::printf("\n%s: instrumented step %.3f ms (plain step %.3f ms), mean of %d steps\n",
                    title.c_str(), step_ms, plain_step_ms, steps_);
        std::printf("%-16s %6s %12s %12s %12s %12s %7s\n", "kind", "calls", "forward ms",
                    "backward ms", "other ms", "total ms", "share");
        for (const Row& r : rows_) {
            const double n = static_cast<double>(steps_);
            std::printf("%-16s %6lld %12.3f %12.3f %12.3f %12.3f %6.1f%%\n", r.kind.c_str(),
                        static_cast<long long>(r.count / steps_), r.ms[0] / n, r.ms[1] / n,
                        r.ms[2] / n, r.total() / n, 100.0 * r.total() / n / step_ms);
        }
    }

  private:
    struct Mark {
        cudaEvent_t event;
        Phase phase;
        std::string kind;
    };
    struct Row {
        std::string kind;
        int64_t count = 0;
        double ms[3] = {0.0, 0.0, 0.0};
        double total() const { return ms[0] + ms[1] + ms[2]; }
    };
    Row& row_for(const std::string& kind) {
        for (Row& r : rows_)
            if (r.kind == kind) return r;
        rows_.push_back({kind});
        return rows_.back();
    }

    std::vector<cudaEvent_t> pool_;
    size_t used_ = 0;
    std::vector<Mark> marks_;
    std::vector<Row> rows_;
    int steps_ = 0;
};

// Installs the timeline for a scope.
class Observing {
  public:
    explicit Observing(Timeline& t) : previous_(autograd::set_graph_observer(&t)) {}
    ~Observing() { autograd::set_graph_observer(previous_); }
    Observing(const Observing&) = delete;
    Observing& operator=(const Observing&) = delete;

  private:
    autograd::GraphObserver* previous_;
};

// Runs `work` under CUDA stream capture (never launched: nothing runs on the GPU) and returns
// "" if it could be captured, else why not: the first host synchronisation, raw allocation or
// other call that capture forbids, as the error it raised (with file and line).
std::string capture_blocker(const std::function<void()>& work) {
    const cudaStream_t stream = cuda::current_stream();
    CBNN_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
    std::string blocker;
    try {
        work();
    } catch (const std::exception& e) {
        blocker = e.what();
    }
    cudaGraph_t graph = nullptr;
    const cudaError_t end = cudaStreamEndCapture(stream, &graph);
    if (graph != nullptr) CBNN_CUDA_CHECK_NOTHROW(cudaGraphDestroy(graph));
    cudaGetLastError();  // the capture's errors are not sticky; clear them for the next launch
    if (blocker.empty() && end != cudaSuccess)
        blocker = std::string("capture ended with ") + cudaGetErrorName(end);
    return blocker;
}

// Per phase of a step: whether it can be captured (phases before it run for real, so each phase
// sees the state of a normal step), and its tensor allocations in a normal step.
void print_capture_and_allocations(TrainStep& step) {
    std::printf("CUDA graph capture per phase (the first forbidden call; none: capturable):\n");
    auto report = [](const char* phase, const std::string& blocker) {
        std::printf("  %-15s %s\n", phase, blocker.empty() ? "none" : blocker.c_str());
    };
    if (step.has_loader()) report("augment", capture_blocker([&] { step.load_batch(); }));
    step.load_batch();
    report("forward + loss", capture_blocker([&] { step.forward_loss(); }));
    Tensor loss = step.forward_loss();
    report("backward", capture_blocker([&] { loss.backward(); }));
    loss = step.forward_loss();
    loss.backward();
    report("sgd", capture_blocker([&] { step.update(); }));
    cuda_synchronize();

    std::printf("tensor allocations per phase (cudaMalloc in brackets):");
    AllocatorStats last = cuda_memory_stats();
    auto count = [&](const char* phase) {
        const AllocatorStats now = cuda_memory_stats();
        std::printf(" %s %lld (%lld)", phase,
                    static_cast<long long>(allocations(now) - allocations(last)),
                    static_cast<long long>(now.raw_allocations - last.raw_allocations));
        last = now;
    };
    if (step.has_loader()) {
        step.load_batch();
        count("augment");
    }
    loss = step.forward_loss();
    count("forward+loss");
    loss.backward();
    count("backward");
    step.update();
    count("sgd");
    std::printf("\n");
    cuda_synchronize();
}

// Whether a plan is one of the case's: its batch, element type, math, search, algorithm set and
// layout (the case's step makes no other plans; earlier cases with the same settings share them),
// and a shape that runs on cuDNN under the case's conv kernels (an earlier cuDNN case may have
// planned a shape that this case runs on cbnn's kernels). Called in the case's KernelSettings.
bool plan_of_case(const ConvAlgorithmRecord& r, const Case& c) {
    return !conv2d_igemm_chosen(r.shape, r.dtype) && r.shape.N == c.batch &&
           r.dtype == (c.bf16 ? DType::bf16 : DType::f32) && r.tensor_core == (c.tf32 || c.bf16) &&
           r.search == (c.tuned ? ConvAlgorithmSearch::timed : ConvAlgorithmSearch::heuristic) &&
           r.algorithms == (c.fastest ? ConvAlgorithms::fastest : ConvAlgorithms::deterministic) &&
           r.shape.channels_last == c.nhwc && r.device == cuda::current_device();
}

// The algorithms of the case's convolution shapes (layers/conv2d_algorithms.h), each direction
// that ran in the step timed once more on its own: one call after a warm-up call, on random
// data of the plan's shape and layout, under the case's settings (so through the same plan).
void print_conv_algorithms(const Case& c) {
    std::vector<ConvAlgorithmRecord> records;
    for (const ConvAlgorithmRecord& r : cuda::conv2d_algorithm_records())
        if (plan_of_case(r, c)) records.push_back(r);
    std::vector<std::array<double, 3>> call_ms;
    Generator gen(2);
    const MemoryFormat format = c.nhwc ? MemoryFormat::channels_last : MemoryFormat::contiguous;
    const auto random = [&](const Shape& shape, MemoryFormat layout) {
        Tensor t = Tensor::empty(shape, DType::f32, Device::cuda());
        normal_(t, gen);
        return t.to(c.bf16 ? DType::bf16 : DType::f32).contiguous(layout);
    };
    for (const ConvAlgorithmRecord& r : records) {
        const Conv2dShape& s = r.shape;
        const Tensor x = random({s.N, s.C, s.H, s.W}, format);
        const Tensor w = random({s.K, s.C, s.R, s.S}, MemoryFormat::contiguous);
        const Tensor dy = random({s.N, s.K, s.P, s.Q}, format);
        const std::function<void()> calls[3] = {
            [&] { ops::conv2d_forward(x, w, Tensor(), s.stride, s.pad); },
            [&] { ops::conv2d_backward_data(dy, w, x.shape(), s.stride, s.pad); },
            [&] { ops::conv2d_backward_filter(x, dy, w.shape(), s.stride, s.pad); }};
        std::array<double, 3> ms{-1.0, -1.0, -1.0};
        for (size_t d = 0; d < 3; ++d) {
            if (!r.pick[d]) continue;  // not run by the step (the stem's data gradient)
            calls[d]();
            ms[d] = 1e3 * cuda_seconds_per_call(calls[d], 1);
        }
        call_ms.push_back(ms);
    }
    std::printf("%s", format_conv_algorithm_table(records, call_ms).c_str());
    if (c.cbnn_convs)
        std::printf("(the shapes on cbnn's conv kernels are not listed: bench_conv BM_ConvNhwc)\n");
}
#endif

}  // namespace
}  // namespace cbnn::bench
