// The lazy image loader (design in data/lazy_loader.h).
#include "data/lazy_loader.h"

#include <cstdio>
#include <cstring>
#include <utility>

#include "tensor/error.h"

namespace cbnn {

namespace {

constexpr int64_t kRecordBytes = sizeof(int64_t);

// Record i = the number i, little-endian, so the record bytes do not depend on the host.
Dataset index_records(const ImageList& list) {
    Dataset d;
    d.class_names = list.class_names;
    d.channels = 1;
    d.height = 1;
    d.width = kRecordBytes;
    d.labels = list.labels;
    d.images.resize(static_cast<size_t>(list.size() * kRecordBytes));
    for (int64_t i = 0; i < list.size(); ++i) {
        auto v = static_cast<uint64_t>(i);
        for (int64_t k = 0; k < kRecordBytes; ++k, v >>= 8)
            d.images[static_cast<size_t>(i * kRecordBytes + k)] = static_cast<uint8_t>(v & 0xFF);
    }
    return d;
}

int64_t record_index(const uint8_t* record) {
    uint64_t v = 0;
    for (int64_t k = kRecordBytes - 1; k >= 0; --k) v = v << 8 | record[k];
    return static_cast<int64_t>(v);
}

}  // namespace

LazyImageLoader::LazyImageLoader(const ImageList& list, LazyLoaderOptions options)
    : options_(std::move(options)) {
    CBNN_CHECK(list.files.size() == list.labels.size(), "lazy loader: ", list.files.size(),
               " files but ", list.labels.size(), " labels");
    if (options_.skip_bad_images) {
        DecodeOptions check;
        check.threads = options_.check_threads;
        check.skip_bad_images = true;
        DecodeReport report;
        list_ = check_image_headers(list, check, &report);
        bad_files_ = std::move(report.bad_files);
    } else {
        list_ = list;
    }
    records_ = index_records(list_);
    const int64_t size = options_.augment.size;
    CBNN_CHECK(size >= 1, "lazy loader: expected image size >= 1, got ", size);
    LoaderOptions loader = options_.loader;
    loader.transform =
        SampleTransform{{3, size, size},
                        [this](const uint8_t* record, uint64_t seed, uint64_t counter, float* out) {
                            transform(record, seed, counter, out);
                        }};
    loader_ = std::make_unique<Loader>(records_, std::move(loader));
}

LazyImageLoader::~LazyImageLoader() = default;

Batch LazyImageLoader::next() { return loader_->next(); }

std::vector<std::string> LazyImageLoader::bad_files() const {
    std::lock_guard<std::mutex> lock(bad_mutex_);
    return bad_files_;
}

void LazyImageLoader::transform(const uint8_t* record, uint64_t seed, uint64_t counter,
                                float* out) {
    const int64_t i = record_index(record);
    const int64_t size = options_.augment.size;
    Image image;
    try {
        image = decode_image(list_.path(i));
    } catch (const Error& e) {
        if (!options_.skip_bad_images) throw;
        std::memset(out, 0, static_cast<size_t>(3 * size * size) * sizeof(float));
        std::lock_guard<std::mutex> lock(bad_mutex_);
        const std::string entry = list_.files[static_cast<size_t>(i)] + ": " + e.what();
        for (const std::string& known : bad_files_)
            if (known == entry) return;
        std::fprintf(stderr, "warning: image %s does not decode; its sample is the mean image\n",
                     list_.path(i).c_str());
        bad_files_.push_back(entry);
        return;
    }
    if (options_.loader.train) {
        imagenet_augment_train(image.pixels.data(), image.channels, image.height, image.width, seed,
                               counter, options_.augment, out);
    } else {
        imagenet_augment_eval(image.pixels.data(), image.channels, image.height, image.width,
                              options_.augment, out);
    }
}

}  // namespace cbnn
