#pragma once
// CIFAR-10 and CIFAR-100 in the original binary format, and `load_cifar`, which also accepts the
// same data as an image folder.
//
// Binary records (no header, no padding), 32 x 32 RGB planes, row-major, uint8:
//   CIFAR-10:  <label 0..9> <1024 R> <1024 G> <1024 B>                       3073 bytes
//   CIFAR-100: <coarse 0..19> <fine 0..99> <1024 R> <1024 G> <1024 B>          3074 bytes
// The pixel planes are exactly Dataset's planar layout, so records are copied as they are.
// CIFAR-10 files: data_batch_1.bin .. data_batch_5.bin (train; the batches present must be
// 1..k with no gap) and test_batch.bin; names from batches.meta.txt (one a line), else the
// standard names. CIFAR-100 files: train.bin, test.bin; the fine label is the label, the coarse
// one is kept in Dataset::coarse_labels; names from fine_label_names.txt when present, else
// "class_<i>". A file whose size is not a whole number of records, or a label byte out of range,
// is a cbnn::Error naming the file and the record.

#include <cstdint>
#include <string>
#include <vector>

#include "data/augment.h"  // kCifarImageBytes
#include "data/dataset.h"
#include "data/image_folder.h"

namespace cbnn {

// Parses CIFAR records from memory: label_bytes = 1 (CIFAR-10) or 2 (CIFAR-100). Class names are
// left empty (the caller sets them). `name` is used in error messages.
Dataset parse_cifar_records(const uint8_t* data, size_t size, int label_bytes,
                            const std::string& name);

Dataset read_cifar10_binary(const std::string& dir, bool train);
Dataset read_cifar100_binary(const std::string& dir, bool train);

enum class CifarFormat { binary, image_folder };

struct CifarLoad {
    Dataset dataset;
    CifarFormat format = CifarFormat::binary;
    std::string description;  // e.g. "CIFAR-10 binary (data_batch_1.bin): 200 images"
    DecodeReport decode_report;
};

// Loads the train or test split of CIFAR-10 (num_classes 10) or CIFAR-100 (100) from `dir`,
// which holds either the binary files or an image folder dir/train/<class>/..., dir/test/<class>/
// (as shared/data/cifar10-jpg), detected in that order. Image-folder files are named relative to
// dir ("train/cat/0042.jpg"); the folder must have num_classes classes of 32 x 32 images.
CifarLoad load_cifar(const std::string& dir, bool train, int num_classes,
                     const DecodeOptions& options = {});
// Which format `dir` holds, without reading it (an error names what was looked for).
CifarFormat detect_cifar_format(const std::string& dir, int num_classes);

const char* to_string(CifarFormat format);

}  // namespace cbnn
