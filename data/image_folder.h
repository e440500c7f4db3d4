#pragma once
// Image folders in the ImageNet layout, root/<class>/<file>, decoded with stb_image (JPEG, PNG).
//
// Classes are the sub-folders of root sorted by name (byte order), label = position in that order;
// the files of a class are sorted by name. Hidden entries (".name") are ignored; every other
// regular file is taken to be an image, so a stray non-image is reported, never silently dropped.
//
// Two ways to read a folder:
//   * list_image_folder: the lazy variant for large sets of any image size (ImageNet,
//     iNaturalist): paths and labels only; decode_image() decodes one file when a batch needs it.
//   * read_image_folder / decode_image_list: decode every image once, on several threads, into an
//     in-memory Dataset (CIFAR). All images must then have the same size; the first that does not
//     is an error naming it. Output order is the list order whatever the thread count.
//
// Corrupt or non-image files are a cbnn::Error naming the file, or, with skip_bad_images, are
// left out and listed (DecodeReport::bad_files, and a warning on stderr).

#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace cbnn {

// Larger images are refused before any pixel is decoded, so a corrupt header cannot make the
// decoder allocate gigabytes (8192 x 8192 is far beyond any dataset image).
constexpr int64_t kMaxImagePixels = int64_t{1} << 26;

enum class ImageLayout { planar, hwc };  // planar: C x H x W (as Dataset); hwc: H x W x C

struct Image {
    int64_t channels = 0, height = 0, width = 0;
    std::vector<uint8_t> pixels;  // channels * height * width, in the requested layout
};

// Decodes a JPEG or PNG file, converted to 3 channels (RGB; grey and alpha are converted by
// stb_image). Errors name the path and stb_image's reason.
Image decode_image(const std::string& path, ImageLayout layout = ImageLayout::planar);
// The same from bytes in memory; `name` is used in error messages.
Image decode_image_memory(const uint8_t* data, size_t size, const std::string& name,
                          ImageLayout layout = ImageLayout::planar);

// Paths and labels of images under `root`: the lazy dataset.
struct ImageList {
    std::string root;                      // files are relative to this folder
    std::vector<std::string> class_names;  // index = label
    std::vector<std::string> files;        // relative to root, '/'-separated
    std::vector<int64_t> labels;

    int64_t size() const { return static_cast<int64_t>(files.size()); }
    std::string path(int64_t i) const;  // root + "/" + files[i]
    std::vector<int64_t> class_counts() const;
    // The images at `indices`, in that order.
    ImageList subset(const std::vector<int64_t>& indices) const;
};

// Errors: root missing or not a folder, no class folders, a class folder with no files.
ImageList list_image_folder(const std::string& root);

struct DecodeOptions {
    int threads = 0;               // 0: std::thread::hardware_concurrency()
    bool skip_bad_images = false;  // skip corrupt files (listed in the report) instead of failing
};

struct DecodeReport {
    std::vector<std::string> bad_files;  // "relative/path: reason", in list order
};

// Decodes every image of `list` into memory (3 channels, planar). files in the result are the
// list's relative paths. `report` (optional) receives the skipped files.
Dataset decode_image_list(const ImageList& list, const DecodeOptions& options = {},
                          DecodeReport* report = nullptr);
Dataset read_image_folder(const std::string& root, const DecodeOptions& options = {},
                          DecodeReport* report = nullptr);

// Checks, without decoding pixels, that each file has a JPEG/PNG header stb_image accepts and a
// size within kMaxImagePixels; returns the list less the bad files when skip_bad_images (they go
// to `report`), else throws on the first bad file. For inspecting large lazy sets quickly.
ImageList check_image_headers(const ImageList& list, const DecodeOptions& options = {},
                              DecodeReport* report = nullptr);

}  // namespace cbnn
