#include "data/dataset.h"

#include <cstring>

#include "tensor/error.h"

namespace cbnn {

std::vector<int64_t> Dataset::class_counts() const {
    std::vector<int64_t> counts(class_names.size(), 0);
    for (int64_t y : labels) {
        CBNN_CHECK(y >= 0 && y < num_classes(), "dataset: label ", y, " outside [0, ",
                   num_classes(), ")");
        ++counts[static_cast<size_t>(y)];
    }
    return counts;
}

Dataset Dataset::subset(const std::vector<int64_t>& indices) const {
    Dataset out;
    out.class_names = class_names;
    out.channels = channels;
    out.height = height;
    out.width = width;
    out.images.resize(indices.size() * static_cast<size_t>(image_bytes()));
    for (size_t k = 0; k < indices.size(); ++k) {
        const int64_t i = indices[k];
        CBNN_CHECK(i >= 0 && i < size(), "dataset subset: index ", i, " outside [0, ", size(), ")");
        std::memcpy(out.images.data() + k * static_cast<size_t>(image_bytes()), image(i),
                    static_cast<size_t>(image_bytes()));
        out.labels.push_back(labels[static_cast<size_t>(i)]);
        if (!coarse_labels.empty())
            out.coarse_labels.push_back(coarse_labels[static_cast<size_t>(i)]);
        if (!files.empty()) out.files.push_back(files[static_cast<size_t>(i)]);
    }
    return out;
}

}  // namespace cbnn
