#include "data/cifar.h"

#include <filesystem>
#include <fstream>
#include <iterator>

#include "tensor/error.h"
#include "tensor/file_io.h"

namespace cbnn {
namespace fs = std::filesystem;

namespace {

const std::vector<std::string> kCifar10Names = {"airplane", "automobile", "bird",  "cat",  "deer",
                                                "dog",      "frog",       "horse", "ship", "truck"};

std::vector<uint8_t> read_file(const fs::path& path) {
    check_regular_file(path.string(), "CIFAR file");
    return read_file_bytes(path.string(), "CIFAR file");
}

// Non-empty lines of a names file, trailing '\r' and spaces removed.
std::vector<std::string> read_names(const fs::path& path) {
    std::ifstream in(path);
    CBNN_CHECK(in.good(), "cannot open ", path.string());
    std::vector<std::string> names;
    std::string line;
    while (std::getline(in, line)) {
        while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
        if (!line.empty()) names.push_back(line);
    }
    return names;
}

void append(Dataset& to, const Dataset& from) {
    to.images.insert(to.images.end(), from.images.begin(), from.images.end());
    to.labels.insert(to.labels.end(), from.labels.begin(), from.labels.end());
    to.coarse_labels.insert(to.coarse_labels.end(), from.coarse_labels.begin(),
                            from.coarse_labels.end());
}

Dataset read_records(const fs::path& path, int label_bytes) {
    const std::vector<uint8_t> bytes = read_file(path);
    return parse_cifar_records(bytes.data(), bytes.size(), label_bytes, path.string());
}

void check_dir(const std::string& dir) { check_folder(dir, "CIFAR folder"); }

}  // namespace

Dataset parse_cifar_records(const uint8_t* data, size_t size, int label_bytes,
                            const std::string& name) {
    CBNN_CHECK(label_bytes == 1 || label_bytes == 2, "CIFAR: label_bytes must be 1 or 2, got ",
               label_bytes);
    const size_t record = static_cast<size_t>(label_bytes + kCifarImageBytes);
    CBNN_CHECK(size > 0, "CIFAR file ", name, " is empty");
    CBNN_CHECK(size % record == 0, "CIFAR file ", name, " has ", size,
               " bytes, not a multiple of the ", record, "-byte record (truncated or not ",
               label_bytes == 1 ? "CIFAR-10" : "CIFAR-100", "?)");
    const size_t n = size / record;
    const int64_t num_fine = label_bytes == 1 ? 10 : 100;
    Dataset out;
    out.channels = 3;
    out.height = 32;
    out.width = 32;
    out.images.resize(n * static_cast<size_t>(kCifarImageBytes));
    out.labels.resize(n);
    if (label_bytes == 2) out.coarse_labels.resize(n);
    for (size_t r = 0; r < n; ++r) {
        const uint8_t* rec = data + r * record;
        const int64_t fine = rec[label_bytes - 1];
        CBNN_CHECK(fine < num_fine, "CIFAR file ", name, ": record ", r, " has label ", fine,
                   ", outside [0, ", num_fine, ")");
        if (label_bytes == 2) {
            CBNN_CHECK(rec[0] < 20, "CIFAR file ", name, ": record ", r, " has coarse label ",
                       int{rec[0]}, ", outside [0, 20)");
            out.coarse_labels[r] = rec[0];
        }
        out.labels[r] = fine;
        std::copy(rec + label_bytes, rec + record,
                  out.images.begin() + static_cast<std::ptrdiff_t>(r * kCifarImageBytes));
    }
    return out;
}

Dataset read_cifar10_binary(const std::string& dir, bool train) {
    check_dir(dir);
    Dataset out;
    if (train) {
        int batches = 0;
        for (int b = 1; b <= 5; ++b) {
            if (fs::exists(fs::path(dir) / ("data_batch_" + std::to_string(b) + ".bin"))) {
                CBNN_CHECK(batches == b - 1, "CIFAR-10 folder ", dir, " has data_batch_", b,
                           ".bin but not data_batch_", batches + 1, ".bin");
                batches = b;
            }
        }
        CBNN_CHECK(batches > 0, "CIFAR-10 folder ", dir, " has no data_batch_1.bin");
        for (int b = 1; b <= batches; ++b)
            append(out,
                   read_records(fs::path(dir) / ("data_batch_" + std::to_string(b) + ".bin"), 1));
    } else {
        out = read_records(fs::path(dir) / "test_batch.bin", 1);
    }
    out.channels = 3;
    out.height = 32;
    out.width = 32;
    const fs::path meta = fs::path(dir) / "batches.meta.txt";
    if (fs::exists(meta)) {
        out.class_names = read_names(meta);
        CBNN_CHECK(out.class_names.size() == 10, meta.string(), " has ", out.class_names.size(),
                   " class names, expected 10");
    } else {
        out.class_names = kCifar10Names;
    }
    return out;
}

Dataset read_cifar100_binary(const std::string& dir, bool train) {
    check_dir(dir);
    Dataset out = read_records(fs::path(dir) / (train ? "train.bin" : "test.bin"), 2);
    const fs::path names = fs::path(dir) / "fine_label_names.txt";
    if (fs::exists(names)) {
        out.class_names = read_names(names);
        CBNN_CHECK(out.class_names.size() == 100, names.string(), " has ", out.class_names.size(),
                   " class names, expected 100");
    } else {
        for (int i = 0; i < 100; ++i) out.class_names.push_back("class_" + std::to_string(i));
    }
    return out;
}

const char* to_string(CifarFormat format) {
    return format == CifarFormat::binary ? "binary" : "image-folder";
}

CifarFormat detect_cifar_format(const std::string& dir, int num_classes) {
    CBNN_CHECK(num_classes == 10 || num_classes == 100,
               "CIFAR: num_classes must be 10 or 100, got ", num_classes);
    check_dir(dir);
    const fs::path d(dir);
    const bool binary = num_classes == 10
                            ? fs::exists(d / "data_batch_1.bin") || fs::exists(d / "test_batch.bin")
                            : fs::exists(d / "train.bin") || fs::exists(d / "test.bin");
    if (binary) return CifarFormat::binary;
    if (fs::is_directory(d / "train") && fs::is_directory(d / "test"))
        return CifarFormat::image_folder;
    CBNN_FAIL("CIFAR-", num_classes, " folder ", dir, " holds neither the binary files (",
              num_classes == 10 ? "data_batch_1.bin / test_batch.bin" : "train.bin / test.bin",
              ") nor an image folder with train/ and test/ class folders");
}

CifarLoad load_cifar(const std::string& dir, bool train, int num_classes,
                     const DecodeOptions& options) {
    CifarLoad out;
    out.format = detect_cifar_format(dir, num_classes);
    const std::string split = train ? "train" : "test";
    const std::string name = "CIFAR-" + std::to_string(num_classes);
    if (out.format == CifarFormat::binary) {
        out.dataset =
            num_classes == 10 ? read_cifar10_binary(dir, train) : read_cifar100_binary(dir, train);
        out.description = name + " binary " + split + " set in " + dir + ": " +
                          std::to_string(out.dataset.size()) + " images";
        return out;
    }
    ImageList list = list_image_folder((fs::path(dir) / split).string());
    CBNN_CHECK(static_cast<int>(list.class_names.size()) == num_classes, name, " image folder ",
               list.root, " has ", list.class_names.size(), " class folders, expected ",
               num_classes);
    list.root = dir;
    for (std::string& f : list.files) f = split + "/" + f;
    out.dataset = decode_image_list(list, options, &out.decode_report);
    CBNN_CHECK(out.dataset.size() > 0, name, " image folder ", dir, "/", split,
               " has no readable images");
    CBNN_CHECK(out.dataset.channels == 3 && out.dataset.height == 32 && out.dataset.width == 32,
               name, " image folder ", dir, "/", split, " has ", out.dataset.width, "x",
               out.dataset.height, " images, expected 32x32");
    out.description = name + " image folder " + split + " set in " + dir + ": " +
                      std::to_string(out.dataset.size()) + " images";
    if (!out.decode_report.bad_files.empty())
        out.description +=
            " (" + std::to_string(out.decode_report.bad_files.size()) + " bad files skipped)";
    return out;
}

}  // namespace cbnn
