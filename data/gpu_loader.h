#pragma once
// The GPU-resident CIFAR loader: the whole uint8 dataset (N x 3 x 32 x 32: 37 MB for 12,406
// images, 150 MB for 50,000) is uploaded once; each epoch's permutation is drawn on the host
// (epoch_permutation, data/loader.h) and uploaded with the labels in that order (one host-to-device
// copy of 16 N bytes per epoch); each batch is made by the CUDA augmentation kernel
// (cuda::cifar_augment, data/augment.h) straight into a float tensor on the GPU. next() queues
// work on cbnn's stream and never waits for the device.
//
// Its batches equal data/loader.h's Loader for the same dataset and options bit for bit: same
// permutation, same stream offsets (epoch N + position), same CBNN_HD pixel formula. Options that
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
    int64_t batches_per_epoch() const { return batches_per_epoch_; }
    int64_t epoch() const { return epoch_; }
    LoaderState state() const { return {epoch_, batch_}; }
    void set_state(LoaderState state);
    void set_epoch(int64_t epoch) { set_state({epoch, 0}); }

  private:
    void upload_epoch(int64_t epoch);

    LoaderOptions options_;
    int64_t size_ = 0;
    int64_t batches_per_epoch_ = 0;
    Tensor images_;       // (N, 3, 32, 32) u8, CUDA
    Tensor labels_host_;  // (N) i64, CPU
    int64_t epoch_ = 0, batch_ = 0;
    int64_t uploaded_epoch_ = -1;
    Tensor permutation_;  // (N) i64, CUDA: this epoch's order
    Tensor labels_;       // (N) i64, CUDA: labels in that order
};

}  // namespace cbnn
