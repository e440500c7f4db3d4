// Loader throughput on synthetic CIFAR-sized datasets (12,406 images: CIFAR-10 IF100; 50,000:
// full CIFAR-10), batch 128, training augmentation (pad + crop + flip, x/128 - 1):
//   BM_CpuLoader/<N>/<threads>  the prefetching CPU loader delivering CPU batches, images/s
//                               (wall time per batch as the consumer sees it)
//   BM_GpuLoader/<N>            the GPU-resident loader, images/s over CUDA-event time
// Each benchmark first checks one batch against the plain CPU reference (no threads).
#include <cstdint>
#include <vector>

#include "bench/bench_util.h"
#include "data/gpu_loader.h"
#include "data/loader.h"

namespace cbnn::bench {
namespace {

constexpr int64_t kBatch = 128;

const Dataset& dataset(int64_t n) { return synthetic_cifar(n); }

LoaderOptions options(int threads) {
    LoaderOptions o;
    o.batch_size = kBatch;
    o.seed = 1;
    o.num_threads = threads;
    o.prefetch = 2 * threads + 2;
    return o;
}

// The first batch from the reference path (no threads) as host vectors.
std::vector<float> reference_first_batch(const Dataset& d) {
    Loader ref(d, options(0));
    return ref.next().images.to_vector<float>();
}

void BM_CpuLoader(benchmark::State& state) {
    const Dataset& d = dataset(state.range(0));
    const int threads = static_cast<int>(state.range(1));
    Loader loader(d, options(threads));
    if (loader.next().images.to_vector<float>() != reference_first_batch(d)) {
        skip_with(state, "first batch differs from the reference");
        return;
    }
    for (auto _ : state) benchmark::DoNotOptimize(loader.next().images.raw_data());
    state.SetItemsProcessed(state.iterations() * kBatch);
}
BENCHMARK(BM_CpuLoader)
    ->ArgsProduct({{12406, 50000}, {1, 2, 4}})
    ->ArgNames({"images", "threads"})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

void BM_GpuLoader(benchmark::State& state) {
    if (skip_without_gpu(state)) return;
    const Dataset& d = dataset(state.range(0));
    GpuCifarLoader loader(d, options(0));
    if (loader.next().images.to_vector<float>() != reference_first_batch(d)) {
        skip_with(state, "first batch differs from the CPU loader");
        return;
    }
    loader.set_state({0, 0});
    time_cuda(
        state, [&] { loader.next(); }, 50);
    state.SetItemsProcessed(state.iterations() * kBatch);
}
BENCHMARK(BM_GpuLoader)
    ->Arg(12406)
    ->Arg(50000)
    ->ArgName("images")
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace cbnn::bench

BENCHMARK_MAIN();
