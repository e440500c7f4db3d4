// One whole training step on the GPU (issue 7: measure first): forward, class-balanced loss
// (losses/cb_loss.h, beta 0.9999; softmax, or focal with gamma 1), backward, SGD step (momentum
// 0.9, weight decay; train/sgd.h), on synthetic data that is already on the GPU.
//
//   BM_TrainStep/depth/batch/math/loss/augment/tuned/graph/nhwc/algos/convk
//     depth 32: ResNet-32 (models/resnet_cifar.h), 3 x 32 x 32, 10 classes
//     depth 50: ResNet-50 (models/resnet.h), 3 x 224 x 224, 1000 classes
//     math 0: FP32, 1: TF32 tensor cores for convolutions and matmuls (tensor/backend.h),
//       2: bf16 mixed precision (the batch cast to bf16; bf16 body, f32 weights and head:
//       train/train_step.h Precision::bf16)
//     loss 0: CB softmax, 2: CB focal (LossType order)
//     augment 1 (ResNet-32 only): each step first takes its batch from the GPU-resident loader
//       (data/gpu_loader.h: crop + flip + x/128 - 1) over a synthetic 12,406-image uint8 set, as
//       the CIFAR trainer does; augment 0: one fixed random batch
//     tuned 1: cuDNN's timed algorithm search (layers/conv2d.h) and cbnn's own batch-norm kernels
//       (layers/batchnorm2d.h); tuned 0: heuristic search and cuDNN's batch norm (the defaults
//       until cbnn's batch norm became the default on 2026-11-27)
//     graph 1: the step (all but the augmentation) replayed from a CUDA graph (train/train_step.h,
//       as `--cuda-graph` trains; captured during the warm-up steps); graph 0: eager
//     nhwc 1: the batch laid out channels-last before the forward, so every layer runs NHWC
//       (tensor/memory_format.h, `--layout nhwc`); nhwc 0: NCHW
//     algos 1: cuDNN's convolution candidates in the search's order, nondeterministic algorithms
//       included (layers/conv2d_algorithms.h, `--conv-algos fastest`); algos 0: deterministic
//       first (the default)
//     convk 1: cbnn's implicit-GEMM tensor-core convolution kernels where they apply (layers/
//       conv2d_igemm.h, `--conv-kernels cbnn`: channels-last bf16/TF32 convolutions of 16-64
//       channels, so only with nhwc 1 and math 1 or 2; cuDNN for the rest, e.g. ResNet-32's stem);
//       convk 0: cuDNN for every convolution (the default). Adding this argument appended
//       "/convk:0" to every earlier case's name; the cases are otherwise unchanged
//   BM_TrainStepPadded/.../convk/chpad: the same with the stem's 3-channel image (and its weight)
//     padded with zero channels to chpad (layers/conv2d.h conv_channel_multiple; the values are
//     the unpadded step's): 4 or 8 for cuDNN's channels-last tensor-core kernels, 16 to put
//     ResNet-32's stem on cbnn's kernels too (with convk 1). A list of its own, so the names of
//     BM_TrainStep's cases stay as they were.
//   With CBNN_PROFILE_STEPS=N, each case runs N more steps after its warm-up, untimed, inside
//   cudaProfilerStart/Stop, for a kernel profiler started with profiling off (bench/
//   profile_range.h; scripts/gpu-check.sh's CBNN_PROFILE_CASES runs ncu so).
//   Time: ms per step over CUDA events around `repeats` steps after kWarmupSteps (manual time);
//   items_per_second is images per second. Counters: host_ms, the host's time to queue one step
//   (close to the step time: the GPU waits for launches), and host_max_ms, the slowest single
//   step's (near the step time while host_ms is not: some calls block, e.g. on a full launch
//   queue; run 4's batch-512 graph cases showed host_ms 2.5-4.2 ms unexplained); allocs, tensor
//   allocations per step (tensor/allocator.h; cache hits included); cudaMalloc, raw allocations per
//   step (0 once warm); mem_GB, the memory the allocator holds (in use + cached: the case's
//   high-water mark, as the cache starts empty and never gives blocks back); loss, the last step's
//   loss (a non-finite loss after the warm-up skips the case). An error (out of memory) skips only
//   its case.
//
//   BM_StepBreakdown/depth/batch/math/loss/augment/tuned/nhwc/algos/convk (eager): the same step,
//   with a table of where the time goes, per op kind:
//   forward and backward of conv, bn, relu, add, pool, ..., the loss, the SGD update, the
//   augmentation; share of the step. Events are recorded at every op boundary through the graph
//   observer (autograd/engine.h), so the instrumented step is slower than the plain one (both are
//   printed; the benchmark's time is the plain step). Forward time of an op is the time from the
//   previous op's end to its own end, so host gaps (launch-bound steps) are charged to the op that
//   waited; "engine" is the backward time outside the nodes (summing gradients of tensors used
//   twice, host gaps). It also prints tensor allocations per phase, and per phase whether the
//   step can be captured as a CUDA graph: a host synchronisation (or a raw cudaMalloc) inside a
//   phase makes stream capture fail, and the first such call is named with its file and line.
//   Last, the cuDNN algorithms each convolution shape of the step runs (layers/conv2d_algorithms.h:
//   per direction the algorithm, whether it is deterministic, its math type and workspace, the
//   timed search's measurement), with one call of each direction timed on its own; with convk 1
//   the shapes on cbnn's kernels are left out of that table (bench_conv's BM_ConvNhwc times them).
//
// Without a GPU every case is skipped with a message.
//
// The case and the step under test (Case, KernelSettings, TrainStep, kWarmupSteps, run_case) are
// in bench/train_step_case.h; the breakdown's instruments (Timeline, the capture check, the conv
// algorithm table) in bench/step_breakdown.h.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

#include "bench/bench_main.h"
#include "bench/bench_util.h"
#include "bench/profile_range.h"
#include "bench/step_breakdown.h"
#include "bench/train_step_case.h"
#include "tensor/allocator.h"

namespace cbnn::bench {
namespace {

// BM_TrainStep's body; `arg_names` name the state's arguments.
void time_train_step(benchmark::State& state, const std::vector<std::string>& arg_names) {
    run_case(state, [&] {
        const Case c = case_of(state, arg_names);
        const KernelSettings kernels(c);
        TrainStep step(c);
        if (!warm_up(state, step)) return;
        run_profiled_steps([&] { step.run(); });  // CBNN_PROFILE_STEPS, for a kernel profiler
        const AllocatorStats before = cuda_memory_stats();
        double host_seconds = 0.0, slowest_host_call = 0.0;
        int64_t steps = 0;
        // Each call's host time too: a mean host_ms well under the step time can hide calls that
        // block (a full launch queue blocks the last calls for about a step each).
        const auto timed_step = [&] {
            const auto start = std::chrono::steady_clock::now();
            step.run();
            slowest_host_call = std::max(
                slowest_host_call,
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
        };
        for (auto _ : state) {
            const CallSeconds t = cuda_and_host_seconds_per_call(timed_step, c.repeats());
            state.SetIterationTime(t.device);
            host_seconds += t.host * c.repeats();
            steps += c.repeats();
        }
        const AllocatorStats after = cuda_memory_stats();
        const double n = static_cast<double>(steps);
        state.SetItemsProcessed(state.iterations() * c.batch);
        state.counters["host_ms"] = 1e3 * host_seconds / n;
        state.counters["host_max_ms"] = 1e3 * slowest_host_call;
        state.counters["allocs"] =
            static_cast<double>(allocations(after) - allocations(before)) / n;
        state.counters["cudaMalloc"] =
            static_cast<double>(after.raw_allocations - before.raw_allocations) / n;
        state.counters["mem_GB"] =
            static_cast<double>(after.in_use_bytes + after.cached_bytes) * 1e-9;
        state.counters["loss"] = step.last_loss();
        state.SetLabel(describe(c));
    });
}

void BM_TrainStep(benchmark::State& state) { time_train_step(state, kStepArgs); }
void BM_TrainStepPadded(benchmark::State& state) { time_train_step(state, kPaddedStepArgs); }

// One call of Iterations(1) per case: kWarmupSteps + repeats() steps, whatever
// --benchmark_min_time says. (With the minimum time, a case faster than 10 ms per step, such as
// every CUDA-graph case, would be run again from scratch with more iterations: a new model,
// warm-up, algorithm search and capture.) Medians of repeats: --benchmark_repetitions. Every
// registration below applies it, with the GPU's time per step in ms.
void once_per_case(benchmark::internal::Benchmark* b) {
    b->UseManualTime()->Iterations(1)->Unit(benchmark::kMillisecond);
}

// Args: kStepArgs (depth, batch, math, loss, augment, tuned, graph, nhwc, algos, convk). Most
// important first, so that a run cut short by its timeout still has them. First ANCHORS.md's
// cases, on a fixed synthetic batch as PyTorch's figures are: each PyTorch row's eager
// counterpart and cbnn's best attempt at the target (timed search, cbnn batch norm, CUDA graph),
// with the NCHW twin of each bf16 channels-last best case to show what the layout gains, and the
// ResNet-32 batch-128 FP32 and TF32 best attempts again with the fastest conv algorithms
// (nondeterministic allowed; unmeasured). Then the paper's CIFAR training (augmentation on the
// GPU, FP32): eager, replayed from a graph, with CB focal, and in bf16 NHWC. Three best attempts
// also run with cbnn's conv kernels (convk 1; unmeasured), registered at the end of the file:
// ResNet-32 batch 128 TF32 NHWC (whose cuDNN twin is the only TF32 NHWC ResNet-32 case), batch
// 512 bf16 NHWC, and the paper's step in bf16 NHWC; each adds a ResNet-32 case's few seconds.
// Timed-search sets: ResNet-32 x 9, ResNet-50 x 2 (cached per shape, dtype, layout, math and
// algorithm set).
BENCHMARK(BM_TrainStep)
    ->ArgNames(kStepArgs)
    // ResNet-32, batch 128, fp32 with TF32 convs (PyTorch 8,812 eager, 25,792 compiled; >= 40k)
    ->Args({32, 128, 1, 0, 0, 0, 0, 0, 0, 0})
    ->Args({32, 128, 1, 0, 0, 1, 1, 0, 0, 0})
    ->Args({32, 128, 1, 0, 0, 1, 1, 0, 1, 0})  // the same with the fastest conv algorithms
    ->Args({32, 128, 1, 0, 0, 1, 1, 1, 0, 0})  // NHWC (its twin on cbnn's convs: at the end)
    // ResNet-32, batch 512, bf16 channels-last (PyTorch 36,029; target >= 60k), and NCHW
    ->Args({32, 512, 2, 0, 0, 0, 0, 1, 0, 0})
    ->Args({32, 512, 2, 0, 0, 1, 1, 1, 0, 0})
    ->Args({32, 512, 2, 0, 0, 1, 1, 0, 0, 0})
    // ResNet-50, batch 128, bf16 channels-last (PyTorch 3,659; target >= 4,000), and NCHW eager
    ->Args({50, 128, 2, 0, 0, 0, 0, 1, 0, 0})
    ->Args({50, 128, 2, 0, 0, 1, 1, 1, 0, 0})
    ->Args({50, 128, 2, 0, 0, 0, 0, 0, 0, 0})
    // ResNet-50, batch 128, TF32 (PyTorch 1,801; target >= 2,000): NCHW, NHWC, best
    ->Args({50, 128, 1, 0, 0, 0, 0, 0, 0, 0})
    ->Args({50, 128, 1, 0, 0, 0, 0, 1, 0, 0})
    ->Args({50, 128, 1, 0, 0, 1, 1, 1, 0, 0})
    // PyTorch's other ResNet-32 rows: fp32 strict (11,400), b128 bf16 channels-last (9,857),
    // b512 fp32 with TF32 convs (19,941)
    ->Args({32, 128, 0, 0, 0, 1, 1, 0, 0, 0})
    ->Args({32, 128, 0, 0, 0, 1, 1, 0, 1, 0})  // the same with the fastest conv algorithms
    ->Args({32, 128, 2, 0, 0, 0, 0, 1, 0, 0})
    ->Args({32, 512, 1, 0, 0, 1, 1, 0, 0, 0})
    // The paper's training step (cbnn-train-cifar's default, then --cuda-graph, CB focal, and
    // --precision bf16 --layout nhwc with the tuned kernels)
    ->Args({32, 128, 0, 0, 1, 0, 0, 0, 0, 0})
    ->Args({32, 128, 0, 0, 1, 0, 1, 0, 0, 0})
    ->Args({32, 128, 0, 2, 1, 0, 1, 0, 0, 0})
    ->Args({32, 128, 2, 0, 1, 1, 1, 1, 0, 0})
    ->Apply(once_per_case);

void BM_StepBreakdown(benchmark::State& state) {
#ifdef CBNN_WITH_CUDA
    run_case(state, [&] {
        const Case c = case_of(state, kBreakdownArgs);
        const KernelSettings kernels(c);
        TrainStep step(c);
        if (!warm_up(state, step)) return;
        const double plain_ms =
            1e3 * cuda_seconds_per_call([&] { step.run(); }, std::max(2, c.repeats() / 4));
        std::printf("\n== %s ==\n", describe(c).c_str());
        print_capture_and_allocations(step);
        Timeline timeline;
        for (auto _ : state) {
            Observing observing(timeline);
            for (int i = 0; i < std::max(2, c.repeats() / 4); ++i) {
                timeline.start();
                if (step.has_loader()) {
                    step.load_batch();
                    timeline.mark(Phase::other, "augment");
                }
                Tensor loss = step.forward_loss();
                timeline.mark(Phase::forward, "other");
                loss.backward();
                timeline.mark(Phase::backward, "engine");
                step.update();
                timeline.mark(Phase::other, "sgd");
                timeline.collect();
            }
            state.SetIterationTime(plain_ms * 1e-3);
        }
        timeline.print(describe(c), plain_ms);
        print_conv_algorithms(c);
        std::fflush(stdout);
        state.SetItemsProcessed(state.iterations() * c.batch);
        state.SetLabel(describe(c));
    });
#else
    skip_without_gpu(state);
#endif
}

// The paper's CIFAR training (ResNet-32, batch 128, FP32, augmentation) with the default and the
// tuned kernels, each also with the fastest conv algorithms (nondeterministic ones allowed), and
// TF32 tuned with both algorithm sets; ResNet-32 at batch 512; ResNet-50 at batch 128 with TF32,
// NCHW and NHWC (heuristic search and cuDNN's batch norm: 522 ms per step NHWC against 74 NCHW on
// an H100, run 4), NHWC also with the fastest algorithms; the conv rows against the bn rows say
// how much of that is convolution. Each ResNet-50 NHWC case takes ~10 s at that step time. Last,
// the bf16 NHWC fast paths (ResNet-32's on cbnn's conv kernels at the end of the file).
// Args: kBreakdownArgs (depth, batch, math, loss, augment, tuned, nhwc, algos, convk).
BENCHMARK(BM_StepBreakdown)
    ->ArgNames(kBreakdownArgs)
    ->Args({32, 128, 0, 0, 1, 0, 0, 0, 0})
    ->Args({32, 128, 0, 0, 1, 1, 0, 0, 0})
    ->Args({32, 128, 0, 0, 1, 0, 0, 1, 0})
    ->Args({32, 128, 0, 0, 1, 1, 0, 1, 0})
    ->Args({32, 128, 1, 0, 1, 1, 0, 0, 0})
    ->Args({32, 128, 1, 0, 1, 1, 0, 1, 0})
    ->Args({32, 512, 0, 0, 0, 0, 0, 0, 0})
    ->Args({50, 128, 1, 0, 0, 0, 0, 0, 0})
    ->Args({50, 128, 1, 0, 0, 0, 1, 0, 0})
    ->Args({50, 128, 1, 0, 0, 0, 1, 1, 0})
    // The fast path (--precision bf16 --layout nhwc, tuned): where its time goes.
    ->Args({32, 128, 2, 0, 1, 1, 1, 0, 0})
    ->Args({32, 128, 2, 0, 1, 1, 1, 1, 0})
    ->Args({50, 128, 2, 0, 0, 1, 1, 0, 0})
    ->Apply(once_per_case);

// The stem's 3-channel image padded with zero channels (conv_channel_multiple, layers/conv2d.h;
// unmeasured): ResNet-50's fastest bf16 case with 4 and 8 channels (bench_conv's
// BM_ConvNhwc/bf16_stem times the stem alone). The twin with convk 1 and 16 channels, which puts
// every ResNet-32 convolution on cbnn's kernels, is at the end.
// Args: kPaddedStepArgs (kStepArgs, chpad).
BENCHMARK(BM_TrainStepPadded)
    ->ArgNames(kPaddedStepArgs)
    ->Args({50, 128, 2, 0, 0, 1, 1, 1, 0, 0, 4})
    ->Args({50, 128, 2, 0, 0, 1, 1, 1, 0, 0, 8})
    ->Apply(once_per_case);

// Last, the cases on cbnn's convolution kernels (convk 1; not yet run on a GPU), each the twin of
// a cuDNN case above: a fault in new kernels (a CUDA error poisons the whole process) then cannot
// cost the cases above. The three step cases, then the fast path's breakdown (its conv rows
// against its cuDNN twin's).
BENCHMARK(BM_TrainStep)
    ->ArgNames(kStepArgs)
    ->Args({32, 128, 1, 0, 0, 1, 1, 1, 0, 1})
    ->Args({32, 512, 2, 0, 0, 1, 1, 1, 0, 1})
    ->Args({32, 128, 2, 0, 1, 1, 1, 1, 0, 1})
    ->Apply(once_per_case);
BENCHMARK(BM_StepBreakdown)
    ->ArgNames(kBreakdownArgs)
    ->Args({32, 128, 2, 0, 1, 1, 1, 0, 1})
    ->Apply(once_per_case);
BENCHMARK(BM_TrainStepPadded)
    ->ArgNames(kPaddedStepArgs)
    ->Args({32, 128, 2, 0, 1, 1, 1, 1, 0, 1, 16})
    ->Apply(once_per_case);

}  // namespace
}  // namespace cbnn::bench

int main(int argc, char** argv) {
    try {
        cbnn::bench::profiled_steps();  // a bad CBNN_PROFILE_STEPS stops here, not in every case
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_train_step: %s\n", e.what());
        return 1;
    }
    return cbnn::bench::run_line_buffered(argc, argv);
}
