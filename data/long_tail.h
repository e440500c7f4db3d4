#pragma once
// Long-tailed subsets of a balanced training set (PAPER.md section 2).
//
// Counts (PAPER.md 2.1, the official get_img_num_per_cls): for classes i = 0 .. C-1 in label
// order, n_i = int(n_max * (1/IF)^(i/(C-1))), computed in double with std::pow and truncated;
// IF >= 1 (IF = 1: every class n_max). C = 1 gives n_0 = n_max.
//
// Which images (select_long_tail): NumPy's legacy RandomState(seed).shuffle, reproduced exactly,
// so seed 0 gives the very lists in shared/data/cifar10-lt (tests/data/test_long_tail.cpp checks
// this against train_if100.txt):
//   gen = MT19937 (32-bit Mersenne twister, std::mt19937) seeded with `seed` (0 .. 2^32-1), one
//   generator for all classes, used class after class;
//   for each class c = 0 .. C-1:
//     idx = indices of the images of class c, in dataset order (image folders: file-name order);
//     Fisher-Yates as NumPy: for k = len-1 down to 1: j = interval(k); swap(idx[k], idx[j]),
//       where interval(k) draws u = gen() & mask (mask = all bits up to k's highest set bit) until
//       u <= k;
//     keep idx[0 .. n_c - 1];
//   the kept indices of all classes are returned sorted ascending (dataset order).
// n_max is the largest class; a class with fewer than n_c images is an error.
//
// Subset lists (as shared/data/cifar10-lt/train_if100.txt): one image a line, named by its path
// relative to the dataset root (Dataset::files / ImageList::files, e.g. "train/cat/0042.jpg").
// Binary datasets have no paths; their images are named "#<index>" (index in reading order).
// Blank lines are ignored; every other line must name an image of the dataset, once.

#include <cstdint>
#include <string>
#include <vector>

namespace cbnn {

std::vector<int64_t> long_tail_counts(int64_t n_max, int64_t num_classes, double imbalance);

// Indices (ascending) of the images kept; labels in [0, num_classes).
std::vector<int64_t> select_long_tail(const std::vector<int64_t>& labels, int64_t num_classes,
                                      double imbalance, uint64_t seed);

// Names of images for subset lists: `files` itself, or "#0", "#1", ... when files is empty.
std::vector<std::string> image_names(const std::vector<std::string>& files, int64_t size);

// Reads a subset list file: its non-blank lines, '\r' stripped. Errors: missing file, empty list.
std::vector<std::string> read_subset_list(const std::string& path);
// The indices (ascending) of the named images. A name not in `names` is an error naming it and
// its line number in `list_path`; so is a name listed twice.
std::vector<int64_t> subset_indices(const std::vector<std::string>& names,
                                    const std::vector<std::string>& list,
                                    const std::string& list_path);
// Writes the names of the images at `indices`, one a line.
void write_subset_list(const std::string& path, const std::vector<std::string>& names,
                       const std::vector<int64_t>& indices);

}  // namespace cbnn
