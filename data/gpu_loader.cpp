// GpuCifarLoader (data/gpu_loader.h). Compiled in every build; without CUDA the constructor throws.
#include "data/gpu_loader.h"

#include <algorithm>
#include <vector>

#include "data/augment.h"
#include "tensor/copy.h"
#include "tensor/dispatch.h"
#include "tensor/error.h"

namespace cbnn {

GpuCifarLoader::GpuCifarLoader(const Dataset& dataset, LoaderOptions options)
    : options_(std::move(options)) {
    options_.device = Device::cuda();
    CBNN_CHECK(!options_.transform, "gpu cifar loader: transforms are not supported (CIFAR only)");
    check_loader_inputs(dataset, options_, "gpu cifar loader");
    size_ = dataset.size();
    const int64_t b = options_.batch_size;
    batches_per_epoch_ = options_.drop_last ? size_ / b : (size_ + b - 1) / b;
    images_ =
        Tensor::empty({size_, kCifarChannels, kCifarSize, kCifarSize}, DType::u8, options_.device);
    CBNN_ON_CUDA(cuda::copy_bytes(images_.raw_data(), images_.device(), dataset.images.data(),
                                  Device::cpu(), dataset.images.size()));
    labels_host_ = Tensor::from_vector<int64_t>(dataset.labels, {size_});
}

void GpuCifarLoader::upload_epoch(int64_t epoch) {
    std::vector<int64_t> perm;
    if (options_.shuffle) {
        perm = epoch_permutation(size_, options_.seed, epoch);
    } else {
        perm.resize(static_cast<size_t>(size_));
        for (int64_t i = 0; i < size_; ++i) perm[static_cast<size_t>(i)] = i;
    }
    const int64_t* all = labels_host_.data<int64_t>();
    std::vector<int64_t> labels(perm.size());
    for (size_t i = 0; i < perm.size(); ++i) labels[i] = all[perm[i]];
    // Fresh tensors each epoch. Kernels of the previous epoch may still be queued reading the old
    // ones; their memory may be reused at once because every use is ordered on cbnn's one stream.
    permutation_ = Tensor::from_vector<int64_t>(perm, {size_}, options_.device);
    labels_ = Tensor::from_vector<int64_t>(labels, {size_}, options_.device);
    uploaded_epoch_ = epoch;
}

Batch GpuCifarLoader::next() {
    if (uploaded_epoch_ != epoch_) upload_epoch(epoch_);
    const int64_t start = batch_ * options_.batch_size;
    const int64_t length = std::min(options_.batch_size, size_ - start);
    Batch out;
    out.images = Tensor::empty({length, kCifarChannels, kCifarSize, kCifarSize}, DType::f32,
                               options_.device);
    CBNN_ON_CUDA(cuda::cifar_augment(images_.data<uint8_t>(), permutation_.data<int64_t>() + start,
                                     length, options_.seed,
                                     epoch_sample_offset(size_, epoch_, start), options_.train,
                                     options_.scaling, out.images.data<float>()));
    out.labels = ops::contiguous_copy(labels_.narrow(0, start, length));
    if (++batch_ == batches_per_epoch_) {
        batch_ = 0;
        ++epoch_;
    }
    return out;
}

void GpuCifarLoader::set_state(LoaderState state) {
    CBNN_CHECK(state.epoch >= 0 && state.batch >= 0 && state.batch < batches_per_epoch_,
               "gpu cifar loader: state (epoch ", state.epoch, ", batch ", state.batch,
               ") outside epoch >= 0, batch in [0, ", batches_per_epoch_, ")");
    epoch_ = state.epoch;
    batch_ = state.batch;
}

}  // namespace cbnn
