#pragma once
// The batch loader over an in-memory Dataset (data/dataset.h): per-epoch shuffle, batching,
// augmentation on background threads, and a pinned staging copy to the GPU.
//
// Determinism. The sample at stream position p = e N + i is permutation(e)[i], augmented with
// counter p, and batch g is a run of consecutive positions [start, start + length) given by
// options.batching (data/batch_plan.h: epochs, cbnn's default, or the paper's stream):
//   permutation(e) = epoch_permutation(N, seed, e) (Fisher-Yates driven by Philox, below),
//   indices        = permutation(p / N)[p % N] for p in [start, start + length),
//   images         = cifar_augment(indices, seed, offset = start)
// so batch g is a pure function of (seed, g) and does not depend on the number of threads, on
// prefetching, or on where a run was resumed (state() / set_state()), and the GPU-resident loader
// (data/gpu_loader.h) produces the same batches bit for bit.
//
// Shuffle stream: Fisher-Yates from the back; step i (i = N-1 .. 1) draws the Philox block with
// counter e N + i and key seed ^ kShuffleKeySalt (a key different from the augmentation's, whose
// counters e N + position would otherwise coincide), r = x0 << 32 | x1, and swaps i with
// j = (r (i + 1)) >> 64 in [0, i].
//
// Threads. num_threads workers compute batches ahead of the consumer, at most `prefetch` batches
// beyond the one being returned, across epoch boundaries; next() returns them in order. With
// num_threads = 0 next() computes each batch itself. For a CUDA device the workers write into
// PinnedBuffers (data/pinned_memory.h) and next() queues cudaMemcpyAsync on cbnn's stream; a
// worker waits for a buffer's previous copy before reusing it, so next() never synchronises.
//
// Output: Batch{images (B, C, H, W) f32, labels (B) i64} on options.device. Augmentation: the
// CIFAR transform (data/augment.h) when the dataset is 3 x 32 x 32 (random crop/flip when
// options.train, identity otherwise), or options.transform for other datasets.

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "data/augment.h"
#include "data/batch_plan.h"
#include "data/dataset.h"
#include "data/pinned_memory.h"
#include "tensor/tensor.h"

namespace cbnn {

inline constexpr uint64_t kShuffleKeySalt = 0x5DEECE66DA3B9E1Full;

struct Batch {
    Tensor images;  // (B, C, H, W) f32
    Tensor labels;  // (B) i64
};

// Transform of one sample for non-CIFAR datasets: image (C, H, W) u8 of the dataset -> out
// (out_shape) f32. `counter` is the sample's stream position (epoch N + position in the epoch).
struct SampleTransform {
    Shape out_shape;  // (C', H', W')
    std::function<void(const uint8_t* image, uint64_t seed, uint64_t counter, float* out)> fn;
};

struct LoaderOptions {
    int64_t batch_size = 128;
    bool shuffle = true;
    bool drop_last = false;                // epochs batching only
    Batching batching = Batching::epochs;  // data/batch_plan.h
    bool train = true;                     // CIFAR: random crop + flip; false: identity crop
    uint64_t seed = 0;
    int num_threads = 2;  // background workers; 0: batches are computed inside next()
    int prefetch = 4;     // batches computed ahead of the consumer (>= 1 when num_threads > 0)
    Device device = Device::cpu();
    CifarScaling scaling = CifarScaling::paper();
    std::optional<SampleTransform> transform;  // required for datasets that are not 3 x 32 x 32
};

// Epoch e's order of the N samples when shuffling (LoaderOptions::shuffle; without it the
// order is 0..N-1 in every epoch).
std::vector<int64_t> epoch_permutation(int64_t n, uint64_t seed, int64_t epoch);
// The order a loader takes epoch e's samples in: epoch_permutation with options.shuffle, else
// 0..N-1.
std::vector<int64_t> epoch_order(int64_t n, const LoaderOptions& options, int64_t epoch);
// The stream counter of the sample at `position` in epoch `epoch` of an N-sample dataset.
inline uint64_t epoch_sample_offset(int64_t n, int64_t epoch, int64_t position) {
    return static_cast<uint64_t>(epoch) * static_cast<uint64_t>(n) +
           static_cast<uint64_t>(position);
}
// Checks shared by both loaders (a non-empty dataset with consistent sizes and labels in range,
// batch_size >= 1, drop_last and batching that leave batches) and their batch plan; names the first
// bad value.
BatchPlan checked_batch_plan(const Dataset& dataset, const LoaderOptions& options, const char* who);

class Loader {
  public:
    // The dataset must outlive the loader (it is read, never copied).
    Loader(const Dataset& dataset, LoaderOptions options);
    ~Loader();
    Loader(const Loader&) = delete;
    Loader& operator=(const Loader&) = delete;

    // The next batch; after the last batch of an epoch comes batch 0 of the next one.
    Batch next();
    const BatchPlan& plan() const { return plan_; }
    // Epochs batching only (with stream batching epochs differ by a batch: plan().batches_in).
    int64_t batches_per_epoch() const { return plan_.batches_per_epoch(); }
    int64_t epoch() const;
    LoaderState state() const;
    // Drops prefetched batches and continues at `state` (epoch >= 0, batch in range).
    void set_state(LoaderState state);
    void set_epoch(int64_t epoch) { set_state({epoch, 0}); }
    const LoaderOptions& options() const { return options_; }

  private:
    struct Slot;
    // Batch number g counts batches over all epochs (plan_.span(g) says which samples).
    std::shared_ptr<const std::vector<int64_t>> permutation(int64_t epoch);
    void fill(int64_t g, float* images, int64_t* labels);
    int64_t batch_length(int64_t g) const { return plan_.span(g).length; }
    void worker_loop();
    Batch compute_now(int64_t g);

    const Dataset& dataset_;
    LoaderOptions options_;
    BatchPlan plan_;
    Shape sample_shape_;
    int64_t sample_numel_ = 0;

    mutable std::mutex mutex_;
    std::condition_variable work_cv_, ready_cv_;
    bool stop_ = false;
    uint64_t generation_ = 0;  // bumped by set_state: results of older generations are dropped
    int64_t next_issue_ = 0;   // next batch a worker claims
    int64_t next_return_ = 0;  // next batch next() returns
    std::map<int64_t, std::unique_ptr<Slot>> ready_;
    std::vector<PinnedBuffer> buffers_;  // CUDA device: staging buffers
    std::vector<int> free_buffers_;
    std::map<int64_t, std::shared_ptr<const std::vector<int64_t>>> permutations_;
    std::vector<std::thread> workers_;
};

}  // namespace cbnn
