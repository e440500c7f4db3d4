// The prefetching batch loader (design and determinism rules in data/loader.h).
#include "data/loader.h"

#include <algorithm>
#include <cstdlib>
#include <numeric>
#include <utility>

#include "tensor/backend.h"
#include "tensor/error.h"
#include "tensor/philox.h"

namespace cbnn {

namespace {
constexpr size_t kStagingAlignment = 64;
size_t align_up(size_t n) {
    return (n + kStagingAlignment - 1) / kStagingAlignment * kStagingAlignment;
}

bool is_cifar_shaped(const Dataset& d) {
    return d.channels == kCifarChannels && d.height == kCifarSize && d.width == kCifarSize;
}
}  // namespace

std::vector<int64_t> epoch_permutation(int64_t n, uint64_t seed, int64_t epoch) {
    CBNN_CHECK(n >= 0 && epoch >= 0,
               "epoch_permutation: expected n >= 0 and epoch >= 0, got n = ", n,
               ", epoch = ", epoch);
    std::vector<int64_t> perm(static_cast<size_t>(n));
    std::iota(perm.begin(), perm.end(), int64_t{0});
    const uint64_t key = seed ^ kShuffleKeySalt;
    for (int64_t i = n - 1; i > 0; --i) {
        const PhiloxBlock r = philox_at(key, epoch_sample_offset(n, epoch, i));
        const uint64_t bits = static_cast<uint64_t>(r.x[0]) << 32 | r.x[1];
        const auto j = static_cast<int64_t>(
            (static_cast<unsigned __int128>(bits) * static_cast<uint64_t>(i + 1)) >> 64);
        std::swap(perm[static_cast<size_t>(i)], perm[static_cast<size_t>(j)]);
    }
    return perm;
}

std::vector<int64_t> epoch_order(int64_t n, const LoaderOptions& options, int64_t epoch) {
    if (options.shuffle) return epoch_permutation(n, options.seed, epoch);
    std::vector<int64_t> order(static_cast<size_t>(n));
    std::iota(order.begin(), order.end(), int64_t{0});
    return order;
}

BatchPlan checked_batch_plan(const Dataset& dataset, const LoaderOptions& options,
                             const char* who) {
    // First: it checks batch_size >= 1, a non-empty dataset, drop_last and the batching.
    BatchPlan plan(dataset.size(), options.batch_size, options.drop_last, options.batching, who);
    CBNN_CHECK(dataset.num_classes() > 0, who, ": the dataset has no class names");
    CBNN_CHECK(
        dataset.image_bytes() > 0 &&
            dataset.images.size() == static_cast<size_t>(dataset.size() * dataset.image_bytes()),
        who, ": dataset holds ", dataset.images.size(), " image bytes, expected ", dataset.size(),
        " images of ", dataset.channels, "x", dataset.height, "x", dataset.width);
    for (int64_t i = 0; i < dataset.size(); ++i) {
        const int64_t y = dataset.labels[static_cast<size_t>(i)];
        CBNN_CHECK(y >= 0 && y < dataset.num_classes(), who, ": label ", y, " of image ", i,
                   " outside [0, ", dataset.num_classes(), ")");
    }
    CBNN_CHECK(options.num_threads >= 0, who, ": expected num_threads >= 0, got ",
               options.num_threads);
    CBNN_CHECK(options.num_threads == 0 || options.prefetch >= 1, who,
               ": expected prefetch >= 1, got ", options.prefetch);
    if (options.transform) {
        CBNN_CHECK(options.transform->out_shape.size() == 3 && options.transform->fn, who,
                   ": a transform needs a function and a (C, H, W) out_shape, got ",
                   options.transform->out_shape);
    } else {
        CBNN_CHECK(is_cifar_shaped(dataset), who, ": images of ", dataset.channels, "x",
                   dataset.height, "x", dataset.width,
                   " need a transform (the built-in CIFAR augmentation takes 3x32x32)");
    }
    if (options.device.is_cuda()) require_cuda(who);
    return plan;
}

struct Loader::Slot {
    int64_t length = 0;
    Tensor images, labels;  // CPU device: the batch itself
    int buffer = -1;        // CUDA device: the staging buffer holding it
    std::exception_ptr error;
};

Loader::Loader(const Dataset& dataset, LoaderOptions options)
    : dataset_(dataset),
      options_(std::move(options)),
      plan_(checked_batch_plan(dataset_, options_, "loader")) {
    const int64_t b = options_.batch_size;
    sample_shape_ = options_.transform ? options_.transform->out_shape
                                       : Shape{kCifarChannels, kCifarSize, kCifarSize};
    sample_numel_ = shape_numel(sample_shape_);
    if (options_.device.is_cuda()) {
        const size_t bytes = align_up(static_cast<size_t>(b * sample_numel_) * sizeof(float)) +
                             static_cast<size_t>(b) * sizeof(int64_t);
        const int count = options_.num_threads == 0 ? 1 : options_.prefetch;
        for (int i = 0; i < count; ++i) {
            buffers_.emplace_back(bytes);
            free_buffers_.push_back(i);
        }
    }
    for (int t = 0; t < options_.num_threads; ++t) workers_.emplace_back([this] { worker_loop(); });
}

Loader::~Loader() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stop_ = true;
    }
    work_cv_.notify_all();
    for (std::thread& t : workers_) t.join();
}

// Called with mutex_ held.
std::shared_ptr<const std::vector<int64_t>> Loader::permutation(int64_t epoch) {
    auto it = permutations_.find(epoch);
    if (it != permutations_.end()) return it->second;
    auto shared =
        std::make_shared<const std::vector<int64_t>>(epoch_order(dataset_.size(), options_, epoch));
    permutations_.emplace(epoch, shared);
    return shared;
}

void Loader::fill(int64_t g, float* images, int64_t* labels) {
    const BatchPlan::Span span = plan_.span(g);
    const int64_t n = dataset_.size(), length = span.length;
    // The permutations the batch draws from: one, or two for a stream batch across an epoch end.
    const int64_t first_epoch = plan_.first_epoch_of(g), last_epoch = plan_.last_epoch_of(g);
    std::vector<std::shared_ptr<const std::vector<int64_t>>> perms;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        for (int64_t e = first_epoch; e <= last_epoch; ++e) perms.push_back(permutation(e));
    }
    std::vector<int64_t> gathered;
    const int64_t* indices = perms.front()->data() + span.start % n;
    if (perms.size() > 1) {
        gathered.resize(static_cast<size_t>(length));
        for (int64_t b = 0; b < length; ++b) {
            const int64_t p = span.start + b;
            gathered[static_cast<size_t>(b)] =
                (*perms[static_cast<size_t>(p / n - first_epoch)])[static_cast<size_t>(p % n)];
        }
        indices = gathered.data();
    }
    const auto offset = static_cast<uint64_t>(span.start);  // = epoch_sample_offset(n, e, i)
    if (options_.transform) {
        for (int64_t b = 0; b < length; ++b) {
            options_.transform->fn(dataset_.image(indices[b]), options_.seed,
                                   offset + static_cast<uint64_t>(b), images + b * sample_numel_);
        }
    } else {
        cpu::cifar_augment(dataset_.images.data(), indices, length, options_.seed, offset,
                           options_.train, options_.scaling, images);
    }
    for (int64_t b = 0; b < length; ++b)
        labels[b] = dataset_.labels[static_cast<size_t>(indices[b])];
}

void Loader::worker_loop() {
    const bool staged = options_.device.is_cuda();
    std::unique_lock<std::mutex> lock(mutex_);
    while (true) {
        work_cv_.wait(lock, [&] {
            return stop_ || (next_issue_ - next_return_ < options_.prefetch &&
                             (!staged || !free_buffers_.empty()));
        });
        if (stop_) return;
        const int64_t g = next_issue_++;
        const uint64_t generation = generation_;
        auto slot = std::make_unique<Slot>();
        if (staged) {
            slot->buffer = free_buffers_.back();
            free_buffers_.pop_back();
        }
        lock.unlock();
        try {
            slot->length = batch_length(g);
            Shape shape{slot->length};
            shape.insert(shape.end(), sample_shape_.begin(), sample_shape_.end());
            if (staged) {
                PinnedBuffer& buf = buffers_[static_cast<size_t>(slot->buffer)];
                buf.wait();
                auto* base = static_cast<char*>(buf.data());
                fill(g, reinterpret_cast<float*>(base),
                     reinterpret_cast<int64_t*>(
                         base + align_up(static_cast<size_t>(options_.batch_size * sample_numel_) *
                                         sizeof(float))));
            } else {
                slot->images = Tensor::empty(shape, DType::f32);
                slot->labels = Tensor::empty({slot->length}, DType::i64);
                fill(g, slot->images.data<float>(), slot->labels.data<int64_t>());
            }
        } catch (...) {
            slot->error = std::current_exception();
        }
        lock.lock();
        if (generation != generation_) {
            if (slot->buffer >= 0) free_buffers_.push_back(slot->buffer);
            work_cv_.notify_all();
            continue;
        }
        ready_[g] = std::move(slot);
        ready_cv_.notify_all();
    }
}

Batch Loader::compute_now(int64_t g) {
    const int64_t length = batch_length(g);
    Shape shape{length};
    shape.insert(shape.end(), sample_shape_.begin(), sample_shape_.end());
    Batch batch{Tensor::empty(shape, DType::f32), Tensor::empty({length}, DType::i64)};
    fill(g, batch.images.data<float>(), batch.labels.data<int64_t>());
    return batch;
}

Batch Loader::next() {
    if (workers_.empty()) {
        int64_t g;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            g = next_return_++;
            permutations_.erase(permutations_.begin(),
                                permutations_.lower_bound(plan_.first_epoch_of(g)));
        }
        Batch batch = compute_now(g);
        if (options_.device.is_cuda()) {
            PinnedBuffer& buf = buffers_.front();
            buf.wait();
            const size_t image_bytes = batch.images.nbytes(), label_bytes = batch.labels.nbytes();
            std::copy_n(static_cast<const char*>(batch.images.raw_data()), image_bytes,
                        static_cast<char*>(buf.data()));
            std::copy_n(static_cast<const char*>(batch.labels.raw_data()), label_bytes,
                        static_cast<char*>(buf.data()) + align_up(image_bytes));
            Batch out{Tensor::empty(batch.images.shape(), DType::f32, options_.device),
                      Tensor::empty(batch.labels.shape(), DType::i64, options_.device)};
            buf.copy_to_device_async(out.images.raw_data(), 0, image_bytes);
            buf.copy_to_device_async(out.labels.raw_data(), align_up(image_bytes), label_bytes);
            return out;
        }
        return batch;
    }

    std::unique_ptr<Slot> slot;
    {
        std::unique_lock<std::mutex> lock(mutex_);
        ready_cv_.wait(lock, [&] { return ready_.count(next_return_) > 0; });
        auto it = ready_.find(next_return_);
        slot = std::move(it->second);
        ready_.erase(it);
        ++next_return_;
        permutations_.erase(permutations_.begin(),
                            permutations_.lower_bound(plan_.first_epoch_of(next_return_)));
    }
    work_cv_.notify_all();
    Batch out;
    std::exception_ptr error = slot->error;
    if (slot->buffer >= 0) {
        try {
            if (!error) {
                Shape shape{slot->length};
                shape.insert(shape.end(), sample_shape_.begin(), sample_shape_.end());
                out.images = Tensor::empty(shape, DType::f32, options_.device);
                out.labels = Tensor::empty({slot->length}, DType::i64, options_.device);
                const size_t image_stride = align_up(
                    static_cast<size_t>(options_.batch_size * sample_numel_) * sizeof(float));
                PinnedBuffer& buf = buffers_[static_cast<size_t>(slot->buffer)];
                buf.copy_to_device_async(out.images.raw_data(), 0, out.images.nbytes());
                buf.copy_to_device_async(out.labels.raw_data(), image_stride, out.labels.nbytes());
            }
        } catch (...) {
            error = std::current_exception();
        }
        {
            std::lock_guard<std::mutex> lock(mutex_);
            free_buffers_.push_back(slot->buffer);
        }
        work_cv_.notify_all();
    } else {
        out.images = slot->images;
        out.labels = slot->labels;
    }
    if (error) std::rethrow_exception(error);
    return out;
}

int64_t Loader::epoch() const { return state().epoch; }

LoaderState Loader::state() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return plan_.state_of(next_return_);
}

void Loader::set_state(LoaderState state) {
    const int64_t g = plan_.batch_of(state);
    {
        std::lock_guard<std::mutex> lock(mutex_);
        ++generation_;
        for (auto& [unused, slot] : ready_) {
            if (slot->buffer >= 0) free_buffers_.push_back(slot->buffer);
        }
        ready_.clear();
        next_issue_ = next_return_ = g;
    }
    work_cv_.notify_all();
}

}  // namespace cbnn
