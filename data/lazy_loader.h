#pragma once
// The lazy batch loader for large image sets (ImageNet folders, iNaturalist JSON): only the file
// list (data/image_folder.h ImageList) is kept in memory; each sample is decoded from its file
// (decode_image, stb_image) when a batch needs it, on the loader's worker threads, and transformed
// by imagenet_augment_train (random-resized crop + flip) or imagenet_augment_eval (resize + centre
// crop) of data/augment.h into (3, size, size) float32.
//
// It is data/loader.h's Loader (threads, prefetch, pinned staging for CUDA, state / set_state)
// over a Dataset of index records: record i is the 8-byte little-endian number i (channels 1,
// height 1, width 8), and the loader's per-sample transform reads the record, decodes file i and
// augments it. So, exactly as for in-memory datasets (data/loader.h), the sample at stream
// position p = e N + i is
//   index  = epoch_order(N, options, e)[i]
//   sample = augment(decode(file[index]), seed, counter = p)
// and batch g is the run of positions options.batching gives it (data/batch_plan.h): a pure
// function of (seed, g, the files), whatever the number of threads or a resume.
//
// Bad files. Without skip_bad_images, a file that cannot be decoded makes next() throw the
// cbnn::Error of decode_image, which names the file. With skip_bad_images, the constructor checks
// every file's header (check_image_headers: missing, non-image and truncated-header files) and
// leaves the bad ones out with a warning on stderr (bad_files() lists them); a file whose header
// is fine but whose pixels do not decode is found only when it is read: its sample becomes the
// all-zero (mean) image, keeps its label, and is warned about once and added to bad_files().

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "data/augment.h"
#include "data/dataset.h"
#include "data/image_folder.h"
#include "data/loader.h"

namespace cbnn {

struct LazyLoaderOptions {
    // batch_size, shuffle, drop_last, batching, seed, num_threads, prefetch, device; train selects
    // the training augmentation (else the evaluation transform). scaling and transform are unused.
    LoaderOptions loader;
    ImageNetAugmentOptions augment;  // size, crop ranges, mean / std
    bool skip_bad_images = false;
    int check_threads = 0;  // header-check threads with skip_bad_images (0: all cores)
};

class LazyImageLoader {
  public:
    LazyImageLoader(const ImageList& list, LazyLoaderOptions options);
    ~LazyImageLoader();
    LazyImageLoader(const LazyImageLoader&) = delete;
    LazyImageLoader& operator=(const LazyImageLoader&) = delete;

    Batch next();
    const BatchPlan& plan() const { return loader_->plan(); }
    int64_t batches_per_epoch() const { return loader_->batches_per_epoch(); }
    LoaderState state() const { return loader_->state(); }
    void set_state(LoaderState state) { loader_->set_state(state); }
    // The images loaded (the input list less the files left out by the header check).
    const ImageList& list() const { return list_; }
    int64_t size() const { return list_.size(); }
    // "relative/path: reason" of every file skipped so far (skip_bad_images).
    std::vector<std::string> bad_files() const;

  private:
    void transform(const uint8_t* record, uint64_t seed, uint64_t counter, float* out);

    ImageList list_;
    LazyLoaderOptions options_;
    Dataset records_;
    mutable std::mutex bad_mutex_;
    std::vector<std::string> bad_files_;
    std::unique_ptr<Loader> loader_;
};

}  // namespace cbnn
