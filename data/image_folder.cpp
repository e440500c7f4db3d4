#include "data/image_folder.h"

#include <stb/stb_image.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>

#include "data/stb_guard.h"
#include "tensor/error.h"
#include "tensor/file_io.h"

namespace cbnn {
namespace fs = std::filesystem;

namespace {

// Runs body(i) for i in [0, n) on `threads` threads; indices are handed out one at a time so a
// slow file does not hold back a whole chunk. body must not throw.
template <class Body>
void parallel_for(int64_t n, int threads, Body body) {
    if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    threads = static_cast<int>(std::min<int64_t>(threads, std::max<int64_t>(n, 1)));
    std::atomic<int64_t> next{0};
    auto work = [&] {
        for (int64_t i = next++; i < n; i = next++) body(i);
    };
    std::vector<std::thread> pool;
    for (int t = 1; t < threads; ++t) pool.emplace_back(work);
    work();
    for (std::thread& t : pool) t.join();
}

std::vector<std::string> sorted_entries(const fs::path& dir, bool want_dirs) {
    std::vector<std::string> names;
    for (const fs::directory_entry& e : fs::directory_iterator(dir)) {
        const std::string name = e.path().filename().string();
        if (name.empty() || name[0] == '.') continue;
        if (want_dirs ? e.is_directory() : !e.is_directory()) names.push_back(name);
    }
    std::sort(names.begin(), names.end());
    return names;
}

// cbnn-train-cifar has no flag to skip files; cbnn-data and the ImageNet/iNaturalist trainers do.
constexpr const char* kBadImageAdvice =
    " (remove or replace the file; --skip-bad-images, where a tool has it, leaves such files out)";

void report_skipped(const std::string& root, const std::vector<std::string>& bad) {
    if (bad.empty()) return;
    std::fprintf(stderr, "warning: skipped %zu bad image(s) under %s:\n", bad.size(), root.c_str());
    for (const std::string& b : bad) std::fprintf(stderr, "  %s\n", b.c_str());
}

}  // namespace

Image decode_image_memory(const uint8_t* data, size_t size, const std::string& name,
                          ImageLayout layout) {
    std::vector<uint8_t> cleaned;
    if (png_drop_empty_idat(data, size, cleaned)) {
        data = cleaned.data();
        size = cleaned.size();
    }
    CBNN_CHECK(size > 0, "image ", name, " is empty");
    CBNN_CHECK(size <= static_cast<size_t>(INT32_MAX), "image ", name, " is too large (", size,
               " bytes)");
    const int len = static_cast<int>(size);
    CBNN_CHECK(jpeg_huffman_tables_safe(data, size), "image ", name,
               " is a corrupt JPEG (a Huffman table with more than 256 codes)");
    int w = 0, h = 0, c = 0;
    if (!stbi_info_from_memory(data, len, &w, &h, &c)) {
        CBNN_FAIL("image ", name, " is not a JPEG or PNG image stb_image can read (",
                  stbi_failure_reason(), ")");
    }
    CBNN_CHECK(w > 0 && h > 0 && int64_t{w} * h <= kMaxImagePixels, "image ", name, " has size ", w,
               "x", h, ", outside 1 .. ", kMaxImagePixels, " pixels");
    constexpr int kChannels = 3;
    uint8_t* pixels = stbi_load_from_memory(data, len, &w, &h, &c, kChannels);
    if (pixels == nullptr) {
        CBNN_FAIL("image ", name, " cannot be decoded: ", stbi_failure_reason());
    }
    Image out;
    out.channels = kChannels;
    out.height = h;
    out.width = w;
    const size_t plane = static_cast<size_t>(w) * static_cast<size_t>(h);
    out.pixels.resize(plane * kChannels);
    if (layout == ImageLayout::hwc) {
        std::memcpy(out.pixels.data(), pixels, out.pixels.size());
    } else {
        for (size_t p = 0; p < plane; ++p)
            for (size_t ch = 0; ch < kChannels; ++ch)
                out.pixels[ch * plane + p] = pixels[p * kChannels + ch];
    }
    stbi_image_free(pixels);
    return out;
}

Image decode_image(const std::string& path, ImageLayout layout) {
    const std::vector<uint8_t> bytes = read_file_bytes(path, "image");
    return decode_image_memory(bytes.data(), bytes.size(), path, layout);
}

std::string ImageList::path(int64_t i) const {
    CBNN_CHECK(i >= 0 && i < size(), "image list: index ", i, " outside [0, ", size(), ")");
    return root + "/" + files[static_cast<size_t>(i)];
}

std::vector<int64_t> ImageList::class_counts() const {
    std::vector<int64_t> counts(class_names.size(), 0);
    for (int64_t y : labels) {
        CBNN_CHECK(y >= 0 && y < static_cast<int64_t>(class_names.size()), "image list: label ", y,
                   " outside [0, ", class_names.size(), ")");
        ++counts[static_cast<size_t>(y)];
    }
    return counts;
}

ImageList ImageList::subset(const std::vector<int64_t>& indices) const {
    ImageList out;
    out.root = root;
    out.class_names = class_names;
    for (int64_t i : indices) {
        CBNN_CHECK(i >= 0 && i < size(), "image list subset: index ", i, " outside [0, ", size(),
                   ")");
        out.files.push_back(files[static_cast<size_t>(i)]);
        out.labels.push_back(labels[static_cast<size_t>(i)]);
    }
    return out;
}

ImageList list_image_folder(const std::string& root) {
    check_folder(root, "image folder");
    ImageList list;
    list.root = root;
    list.class_names = sorted_entries(root, /*want_dirs=*/true);
    CBNN_CHECK(!list.class_names.empty(), "image folder ", root,
               " has no class folders (expected root/<class>/<image>)");
    for (size_t c = 0; c < list.class_names.size(); ++c) {
        const std::string& name = list.class_names[c];
        const std::vector<std::string> files = sorted_entries(fs::path(root) / name, false);
        CBNN_CHECK(!files.empty(), "image folder ", root, ": class folder ", name, " is empty");
        for (const std::string& f : files) {
            list.files.push_back(name + "/" + f);
            list.labels.push_back(static_cast<int64_t>(c));
        }
    }
    return list;
}

Dataset decode_image_list(const ImageList& list, const DecodeOptions& options,
                          DecodeReport* report) {
    const int64_t n = list.size();
    CBNN_CHECK(static_cast<int64_t>(list.labels.size()) == n, "image list: ", n, " files but ",
               list.labels.size(), " labels");
    std::vector<Image> images(static_cast<size_t>(n));
    std::vector<std::string> errors(static_cast<size_t>(n));
    parallel_for(n, options.threads, [&](int64_t i) {
        try {
            images[static_cast<size_t>(i)] = decode_image(list.path(i));
        } catch (const std::exception& e) {
            errors[static_cast<size_t>(i)] = e.what();
        }
    });

    Dataset out;
    out.class_names = list.class_names;
    std::vector<std::string> bad;
    int64_t first = -1;
    for (int64_t i = 0; i < n; ++i) {
        const size_t k = static_cast<size_t>(i);
        if (!errors[k].empty()) {
            CBNN_CHECK(options.skip_bad_images, errors[k], kBadImageAdvice);
            bad.push_back(list.files[k] + ": " + errors[k]);
            continue;
        }
        Image& img = images[k];
        if (first < 0) {
            first = i;
            out.channels = img.channels;
            out.height = img.height;
            out.width = img.width;
            out.images.reserve(static_cast<size_t>(n * out.image_bytes()));
        }
        CBNN_CHECK(
            img.channels == out.channels && img.height == out.height && img.width == out.width,
            "image folder ", list.root, ": ", list.files[k], " is ", img.width, "x", img.height,
            " but ", list.files[static_cast<size_t>(first)], " is ", out.width, "x", out.height,
            "; an in-memory dataset needs images of one size (use the lazy "
            "list_image_folder + decode_image for images of varying size)");
        out.images.insert(out.images.end(), img.pixels.begin(), img.pixels.end());
        std::vector<uint8_t>().swap(img.pixels);
        out.labels.push_back(list.labels[k]);
        out.files.push_back(list.files[k]);
    }
    report_skipped(list.root, bad);
    if (report != nullptr) report->bad_files = bad;
    return out;
}

Dataset read_image_folder(const std::string& root, const DecodeOptions& options,
                          DecodeReport* report) {
    return decode_image_list(list_image_folder(root), options, report);
}

ImageList check_image_headers(const ImageList& list, const DecodeOptions& options,
                              DecodeReport* report) {
    const int64_t n = list.size();
    std::vector<std::string> errors(static_cast<size_t>(n));
    parallel_for(n, options.threads, [&](int64_t i) {
        const std::string path = list.path(i);
        try {
            const std::vector<uint8_t> bytes = read_file_bytes(path, "image");
            int w = 0, h = 0, c = 0;
            CBNN_CHECK(!bytes.empty() && bytes.size() <= static_cast<size_t>(INT32_MAX), "image ",
                       path, " is empty or too large");
            CBNN_CHECK(
                stbi_info_from_memory(bytes.data(), static_cast<int>(bytes.size()), &w, &h, &c),
                "image ", path, " is not a JPEG or PNG image stb_image can read (",
                stbi_failure_reason(), ")");
            CBNN_CHECK(w > 0 && h > 0 && int64_t{w} * h <= kMaxImagePixels, "image ", path,
                       " has size ", w, "x", h, ", outside 1 .. ", kMaxImagePixels, " pixels");
        } catch (const std::exception& e) {
            errors[static_cast<size_t>(i)] = e.what();
        }
    });
    std::vector<int64_t> keep;
    std::vector<std::string> bad;
    for (int64_t i = 0; i < n; ++i) {
        const std::string& err = errors[static_cast<size_t>(i)];
        if (err.empty()) {
            keep.push_back(i);
            continue;
        }
        CBNN_CHECK(options.skip_bad_images, err, kBadImageAdvice);
        bad.push_back(list.files[static_cast<size_t>(i)] + ": " + err);
    }
    report_skipped(list.root, bad);
    if (report != nullptr) report->bad_files = bad;
    return bad.empty() ? list : list.subset(keep);
}

}  // namespace cbnn
