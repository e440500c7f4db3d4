// GpuCifarLoader (data/gpu_loader.h). Compiled in every build; without CUDA the constructor throws.
#include "data/gpu_loader.h"

#include <algorithm>
#include <vector>

#include "data/augment.h"
#include "tensor/copy.h"
#include "tensor/dispatch.h"
#include "tensor/error.h"

namespace cbnn {

namespace {
LoaderOptions with_cuda_device(LoaderOptions options) {
    options.device = Device::cuda();
    return options;
}
}  // namespace

GpuCifarLoader::GpuCifarLoader(const Dataset& dataset, LoaderOptions options)
    : options_(with_cuda_device(std::move(options))),
      plan_(checked_batch_plan(dataset, options_, "gpu cifar loader")) {
    CBNN_CHECK(!options_.transform, "gpu cifar loader: transforms are not supported (CIFAR only)");
    size_ = dataset.size();
    images_ =
        Tensor::empty({size_, kCifarChannels, kCifarSize, kCifarSize}, DType::u8, options_.device);
    CBNN_ON_CUDA(cuda::copy_bytes(images_.raw_data(), images_.device(), dataset.images.data(),
                                  Device::cpu(), dataset.images.size()));
    labels_host_ = Tensor::from_vector<int64_t>(dataset.labels, {size_});
}

void GpuCifarLoader::upload_epochs(int64_t first, int64_t count) {
    std::vector<int64_t> perm;
    perm.reserve(static_cast<size_t>(count * size_));
    for (int64_t e = first; e < first + count; ++e) {
        const std::vector<int64_t> order = epoch_order(size_, options_, e);
        perm.insert(perm.end(), order.begin(), order.end());
    }
    const int64_t* all = labels_host_.data<int64_t>();
    std::vector<int64_t> labels(perm.size());
    for (size_t i = 0; i < perm.size(); ++i) labels[i] = all[perm[i]];
    // Fresh tensors each epoch. Kernels of the previous epoch may still be queued reading the old
    // ones; their memory may be reused at once because every use is ordered on cbnn's one stream.
    const int64_t length = count * size_;
    permutation_ = Tensor::from_vector<int64_t>(perm, {length}, options_.device);
    labels_ = Tensor::from_vector<int64_t>(labels, {length}, options_.device);
    uploaded_first_ = first;
    uploaded_count_ = count;
}

Batch GpuCifarLoader::next() {
    const BatchPlan::Span span = plan_.span(next_batch_);
    const int64_t first_epoch = plan_.first_epoch_of(next_batch_);
    const int64_t last_epoch = plan_.last_epoch_of(next_batch_);
    if (first_epoch < uploaded_first_ || last_epoch >= uploaded_first_ + uploaded_count_)
        upload_epochs(first_epoch, plan_.batching() == Batching::stream ? 2 : 1);
    const int64_t at = span.start - uploaded_first_ * size_;  // in the uploaded orders
    Batch out;
    out.images = Tensor::empty({span.length, kCifarChannels, kCifarSize, kCifarSize}, DType::f32,
                               options_.device);
    CBNN_ON_CUDA(cuda::cifar_augment(images_.data<uint8_t>(), permutation_.data<int64_t>() + at,
                                     span.length, options_.seed, static_cast<uint64_t>(span.start),
                                     options_.train, options_.scaling, out.images.data<float>()));
    out.labels = ops::contiguous_copy(labels_.narrow(0, at, span.length));
    ++next_batch_;
    return out;
}

}  // namespace cbnn
