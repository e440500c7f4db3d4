#pragma once
// The GPU-resident CIFAR loader: the whole uint8 dataset (N x 3 x 32 x 32: 37 MB for 12,406
// images, 150 MB for 50,000) is uploaded once; the permutations are drawn on the host
// (epoch_permutation, data/loader.h) and uploaded with the labels in that order, once per epoch:
// that epoch's alone (epochs batching), or with stream batching (data/batch_plan.h) that epoch's
// followed by the next one's, so that a batch across the epoch end reads one run of indices
// (16 N or 32 N bytes per epoch); each batch is made by the CUDA augmentation kernel
// (cuda::cifar_augment, data/augment.h) straight into a float tensor on the GPU. next() queues
// work on cbnn's stream and never waits for the device.
//
// Its batches equal data/loader.h's Loader for the same dataset and options bit for bit: same
// permutations, same stream offsets (epoch N + position), same CBNN_HD pixel formula. Options that
// concern host threads (num_threads, prefetch) and device (always CUDA) are ignored; a transform
// is refused (CIFAR-shaped datasets only).

#include <cstdint>

#include "data/dataset.h"
#include "data/loader.h"
#include "tensor/tensor.h"

namespace cbnn {

class GpuCifarLoader {
  public:
    // Uploads the dataset (kept by value on the GPU; `dataset` may be dropped afterwards).
    GpuCifarLoader(const Dataset& dataset, LoaderOptions options);

    Batch next();
    const BatchPlan& plan() const { return plan_; }
    // Epochs batching only (with stream batching epochs differ in length: plan().batches_in).
    int64_t batches_per_epoch() const { return plan_.batches_per_epoch(); }
    int64_t epoch() const { return state().epoch; }
    LoaderState state() const { return plan_.state_of(next_batch_); }
    void set_state(LoaderState state) { next_batch_ = plan_.batch_of(state); }
    void set_epoch(int64_t epoch) { set_state({epoch, 0}); }

  private:
    // Uploads the permutations and labels of epochs [first, first + count).
    void upload_epochs(int64_t first, int64_t count);

    LoaderOptions options_;
    BatchPlan plan_;
    int64_t size_ = 0;
    Tensor images_;           // (N, 3, 32, 32) u8, CUDA
    Tensor labels_host_;      // (N) i64, CPU
    int64_t next_batch_ = 0;  // counted over all epochs
    int64_t uploaded_first_ = -1, uploaded_count_ = 0;
    Tensor permutation_;  // (count N) i64, CUDA: the uploaded epochs' orders, one after another
    Tensor labels_;       // (count N) i64, CUDA: labels in that order
};

}  // namespace cbnn
