#pragma once
// A tiny long-tailed image set written by the image-trainer tests: ImageNet layout
// <root>/train/<class>/*, <root>/val/<class>/* (PNG and JPEG, 40x40 and 48x36 so that the crop and
// resize paths are exercised), and iNaturalist annotation files <root>/train2018.json and
// <root>/val2018.json naming the same images.

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/data/data_test_support.h"

namespace cbnn::testing {

struct TinyImageSet {
    std::string root;
    std::vector<int> train_counts;  // per class
    int val_per_class = 2;
};

inline std::string tiny_image_file(const std::string& split, int cls, int i) {
    return split + "/class" + std::to_string(cls) + "/img" + std::to_string(i) +
           (i % 2 == 0 ? ".png" : ".jpg");
}

// Writes the set under scratch_dir(name); train_counts images per class (default 6, 6, 6).
inline TinyImageSet write_tiny_image_set(const std::string& name,
                                         std::vector<int> train_counts = {6, 6, 6}) {
    TinyImageSet set{scratch_dir(name), std::move(train_counts), 2};
    nlohmann::json splits[2];
    for (int s = 0; s < 2; ++s) {
        const std::string split = s == 0 ? "train" : "val";
        nlohmann::json images = nlohmann::json::array(), annotations = nlohmann::json::array(),
                       categories = nlohmann::json::array();
        int id = 0;
        for (int cls = 0; cls < static_cast<int>(set.train_counts.size()); ++cls) {
            categories.push_back({{"id", 100 + cls}, {"name", "class" + std::to_string(cls)}});
            const int count =
                s == 0 ? set.train_counts[static_cast<size_t>(cls)] : set.val_per_class;
            for (int i = 0; i < count; ++i, ++id) {
                const int w = i % 3 == 2 ? 48 : 40, h = i % 3 == 2 ? 36 : 40;
                // Class-dependent colours, so that a model can learn something.
                std::vector<uint8_t> hwc = pattern(w, h, cls * 17 + i);
                for (size_t p = 0; p < hwc.size(); p += 3) hwc[p + static_cast<size_t>(cls)] = 230;
                const std::string file = tiny_image_file(split, cls, i);
                write_bytes(set.root + "/" + file, encode_image(hwc, w, h, i % 2 == 0 ? 0 : 90));
                images.push_back({{"id", id}, {"file_name", file}, {"width", w}, {"height", h}});
                annotations.push_back({{"id", id}, {"image_id", id}, {"category_id", 100 + cls}});
            }
        }
        splits[s] = {{"images", images}, {"annotations", annotations}, {"categories", categories}};
    }
    write_text(set.root + "/train2018.json", splits[0].dump());
    write_text(set.root + "/val2018.json", splits[1].dump());
    return set;
}

}  // namespace cbnn::testing
