#pragma once
// In-memory image datasets: every image decoded once and kept as uint8, planar (N, C, H, W) with
// the same size for all images (CIFAR: 3 x 32 x 32), plus labels and class names. Large sets of
// variable-size images (ImageNet, iNaturalist) are read lazily instead (data/image_folder.h keeps
// paths and decodes per batch).
//
// `files` holds each image's path relative to the dataset root where the images came from files
// (image folders: "train/cat/0042.jpg"); long-tail subset lists (data/long_tail.h) name images by
// these paths. Binary formats (CIFAR .bin) have no paths; there `files` is empty.

#include <cstdint>
#include <string>
#include <vector>

namespace cbnn {

struct Dataset {
    std::vector<std::string> class_names;  // index = label
    int64_t channels = 0, height = 0, width = 0;
    std::vector<uint8_t> images;         // size() * channels * height * width, planar per image
    std::vector<int64_t> labels;         // in [0, class_names.size())
    std::vector<int64_t> coarse_labels;  // CIFAR-100 only: the 20 superclasses; else empty
    std::vector<std::string> files;      // relative paths, or empty for binary formats

    int64_t size() const { return static_cast<int64_t>(labels.size()); }
    int64_t num_classes() const { return static_cast<int64_t>(class_names.size()); }
    int64_t image_bytes() const { return channels * height * width; }
    const uint8_t* image(int64_t i) const { return images.data() + i * image_bytes(); }
    // Images per class, indexed by label.
    std::vector<int64_t> class_counts() const;
    // The images at `indices`, in that order (labels, coarse labels and files follow).
    Dataset subset(const std::vector<int64_t>& indices) const;
};

}  // namespace cbnn
