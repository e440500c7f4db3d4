#pragma once
// How a loader cuts its sample stream into batches and epochs (data/loader.h, data/gpu_loader.h).
//
// The sample stream is epoch 0's permutation of the N samples, then epoch 1's, and so on; the
// sample at position i of epoch e has stream position p = e N + i (the counter of its
// augmentation, epoch_sample_offset). A batch is always a run of consecutive stream positions.
//
//   epochs   (cbnn's default): each epoch is ceil(N / B) batches that never cross into the next
//            epoch, the last one partial (N mod B samples); with drop_last floor(N / B) batches,
//            the last N mod B samples of every epoch unused.
//   stream   (PAPER.md 3.2: the official code's repeat -> shuffle -> batch pipeline): batch g is
//            stream positions [g B, (g + 1) B), always full, so a batch may hold the last samples
//            of one epoch and the first of the next. A batch belongs to the epoch of its last
//            sample: epoch e is batches [floor(e N / B), floor((e + 1) N / B)), and E epochs are
//            floor(E N / B) steps, the official step count (19,384 for CIFAR-10-LT IF 100 at
//            batch 128, where `epochs` makes 200 x 97 = 19,400 with 200 batches of 118). Needs
//            N >= B (else an epoch could hold no batch). What is not copied: the official
//            pipeline draws its order from a shuffle buffer of 0.4 N + 3 B samples, a partial
//            shuffle; cbnn's epochs are full permutations.
//
// In both, the loader's state {epoch, batch} names the next batch as the batch-th batch of an
// epoch; a checkpoint stores it and set_state() resumes from it.

#include <cstdint>
#include <string>

namespace cbnn {

enum class Batching { epochs, stream };
// "epochs" | "stream"; anything else throws naming the value and the choices.
Batching parse_batching(const std::string& name);
const char* batching_name(Batching batching);

// Where a loader stands: the next batch to be returned is batch `batch` of epoch `epoch`.
struct LoaderState {
    int64_t epoch = 0;
    int64_t batch = 0;
    friend bool operator==(const LoaderState&, const LoaderState&) = default;
};

class BatchPlan {
  public:
    // n samples per epoch (>= 1), batches of batch_size (>= 1); drop_last only with epochs, and
    // there with n >= batch_size; stream needs n >= batch_size. Throws naming `who`.
    BatchPlan(int64_t n, int64_t batch_size, bool drop_last, Batching batching, const char* who);

    // Batch g (counted from the start of training, over all epochs): its first stream position
    // and its length.
    struct Span {
        int64_t start = 0;
        int64_t length = 0;
    };
    Span span(int64_t g) const;
    // The epochs whose permutations batch g draws from: first_epoch_of(g) .. last_epoch_of(g),
    // two at most (a stream batch across an epoch end).
    int64_t first_epoch_of(int64_t g) const { return span(g).start / n_; }
    int64_t last_epoch_of(int64_t g) const;

    // Epoch e is batches [first_batch(e), first_batch(e + 1)).
    int64_t first_batch(int64_t epoch) const;
    int64_t batches_in(int64_t epoch) const { return first_batch(epoch + 1) - first_batch(epoch); }
    // Epochs batching only, where every epoch has as many batches; throws naming `who` with stream
    // batching (its epochs differ by a batch: batches_in).
    int64_t batches_per_epoch() const;
    // The state naming batch g, and the g a state names (set_state's check: epoch >= 0, batch in
    // the epoch's range; throws naming `who`).
    LoaderState state_of(int64_t g) const;
    int64_t batch_of(LoaderState state) const;

    int64_t size() const { return n_; }
    int64_t batch_size() const { return batch_size_; }
    Batching batching() const { return batching_; }

  private:
    int64_t n_, batch_size_;
    Batching batching_;
    int64_t epoch_batches_;  // epochs: batches per epoch
    const char* who_;
};

}  // namespace cbnn
