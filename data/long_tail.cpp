#include "data/long_tail.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>
#include <unordered_map>

#include "tensor/error.h"
#include "tensor/file_io.h"

namespace cbnn {

std::vector<int64_t> long_tail_counts(int64_t n_max, int64_t num_classes, double imbalance) {
    CBNN_CHECK(std::isfinite(imbalance) && imbalance >= 1.0, "long tail: imbalance factor ",
               imbalance, " must be >= 1 (the ratio of the largest to the smallest class)");
    CBNN_CHECK(num_classes >= 1, "long tail: num_classes ", num_classes, " must be >= 1");
    CBNN_CHECK(n_max >= 1, "long tail: n_max ", n_max, " must be >= 1");
    std::vector<int64_t> counts(static_cast<size_t>(num_classes));
    const double ratio = 1.0 / imbalance;
    for (int64_t i = 0; i < num_classes; ++i) {
        const double exponent =
            num_classes == 1 ? 0.0 : static_cast<double>(i) / static_cast<double>(num_classes - 1);
        counts[static_cast<size_t>(i)] =
            static_cast<int64_t>(static_cast<double>(n_max) * std::pow(ratio, exponent));
    }
    return counts;
}

namespace {

// NumPy's random_interval (numpy/random/src/distributions/distributions.c) for max < 2^32.
uint32_t numpy_interval(std::mt19937& gen, uint32_t max) {
    if (max == 0) return 0;
    uint32_t mask = max;
    mask |= mask >> 1;
    mask |= mask >> 2;
    mask |= mask >> 4;
    mask |= mask >> 8;
    mask |= mask >> 16;
    uint32_t value;
    while ((value = static_cast<uint32_t>(gen()) & mask) > max) {
    }
    return value;
}

}  // namespace

std::vector<int64_t> select_long_tail(const std::vector<int64_t>& labels, int64_t num_classes,
                                      double imbalance, uint64_t seed) {
    CBNN_CHECK(seed <= 0xffffffffull, "long tail: seed ", seed,
               " must fit in 32 bits (NumPy's legacy RandomState seeding)");
    CBNN_CHECK(num_classes >= 1, "long tail: num_classes ", num_classes, " must be >= 1");
    std::vector<std::vector<int64_t>> by_class(static_cast<size_t>(num_classes));
    for (size_t i = 0; i < labels.size(); ++i) {
        const int64_t y = labels[i];
        CBNN_CHECK(y >= 0 && y < num_classes, "long tail: label ", y, " of image ", i,
                   " outside [0, ", num_classes, ")");
        by_class[static_cast<size_t>(y)].push_back(static_cast<int64_t>(i));
    }
    int64_t n_max = 0;
    for (const auto& idx : by_class) n_max = std::max<int64_t>(n_max, idx.size());
    CBNN_CHECK(n_max > 0, "long tail: the dataset is empty");
    const std::vector<int64_t> counts = long_tail_counts(n_max, num_classes, imbalance);

    std::mt19937 gen(static_cast<uint32_t>(seed));
    std::vector<int64_t> keep;
    for (int64_t c = 0; c < num_classes; ++c) {
        std::vector<int64_t>& idx = by_class[static_cast<size_t>(c)];
        const int64_t want = counts[static_cast<size_t>(c)];
        CBNN_CHECK(static_cast<int64_t>(idx.size()) >= want, "long tail: class ", c, " has ",
                   idx.size(), " images, fewer than the ", want, " that imbalance factor ",
                   imbalance, " keeps");
        CBNN_CHECK(idx.size() <= 0xffffffffull, "long tail: class ", c, " is too large");
        for (size_t k = idx.size(); k-- > 1;) {
            const uint32_t j = numpy_interval(gen, static_cast<uint32_t>(k));
            std::swap(idx[k], idx[j]);
        }
        keep.insert(keep.end(), idx.begin(), idx.begin() + want);
    }
    std::sort(keep.begin(), keep.end());
    return keep;
}

std::vector<std::string> image_names(const std::vector<std::string>& files, int64_t size) {
    if (!files.empty()) return files;
    std::vector<std::string> names(static_cast<size_t>(size));
    for (int64_t i = 0; i < size; ++i) {
        // Appending rather than "#" + to_string(i): GCC 12 warns falsely (-Wrestrict) on the
        // latter.
        std::string& name = names[static_cast<size_t>(i)];
        name = '#';
        name += std::to_string(i);
    }
    return names;
}

std::vector<std::string> read_subset_list(const std::string& path) {
    check_regular_file(path, "subset list");
    std::ifstream in(path);
    CBNN_CHECK(in.good(), "cannot open subset list ", path);
    std::vector<std::string> lines;
    std::string line;
    while (std::getline(in, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        lines.push_back(line);
    }
    CBNN_CHECK(!in.bad(), "cannot read subset list ", path);
    // Keep blank lines as "" so line numbers in errors stay right; subset_indices skips them.
    const bool any =
        std::any_of(lines.begin(), lines.end(), [](const std::string& s) { return !s.empty(); });
    CBNN_CHECK(any, "subset list ", path, " names no image");
    return lines;
}

std::vector<int64_t> subset_indices(const std::vector<std::string>& names,
                                    const std::vector<std::string>& list,
                                    const std::string& list_path) {
    std::unordered_map<std::string, int64_t> index;
    index.reserve(names.size());
    for (size_t i = 0; i < names.size(); ++i) index.emplace(names[i], static_cast<int64_t>(i));
    std::vector<char> taken(names.size(), 0);
    std::vector<int64_t> out;
    for (size_t line = 0; line < list.size(); ++line) {
        const std::string& name = list[line];
        if (name.empty()) continue;
        const auto it = index.find(name);
        CBNN_CHECK(it != index.end(), "subset list ", list_path, " line ", line + 1, ": ",
                   quote_for_message(name), " is not an image of the dataset");
        CBNN_CHECK(!taken[static_cast<size_t>(it->second)], "subset list ", list_path, " line ",
                   line + 1, ": ", quote_for_message(name), " is listed twice");
        taken[static_cast<size_t>(it->second)] = 1;
        out.push_back(it->second);
    }
    std::sort(out.begin(), out.end());
    return out;
}

void write_subset_list(const std::string& path, const std::vector<std::string>& names,
                       const std::vector<int64_t>& indices) {
    std::ofstream out(path);
    CBNN_CHECK(out.good(), "cannot write subset list ", path);
    for (int64_t i : indices) {
        CBNN_CHECK(i >= 0 && i < static_cast<int64_t>(names.size()), "write subset list: index ", i,
                   " outside [0, ", names.size(), ")");
        out << names[static_cast<size_t>(i)] << '\n';
    }
    out.flush();
    CBNN_CHECK(out.good(), "cannot write subset list ", path);
}

}  // namespace cbnn
