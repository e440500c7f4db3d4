#pragma once
// iNaturalist 2017/2018 annotation files (COCO style JSON), read into a lazy ImageList.
//
//   {"images":      [{"id": 7, "file_name": "train_val2018/Plantae/2342/abc.jpg", ...}, ...],
//    "annotations": [{"image_id": 7, "category_id": 2342, ...}, ...],
//    "categories":  [{"id": 2342, "name": "Plantae ...", ...}, ...]}
//
// Labels: the category ids sorted ascending, mapped to 0 .. C-1 (class_names in that order).
// Images keep the order of "images"; file_name is relative to the image root folder. Each image
// needs exactly one annotation (the classification sets have one). Errors (cbnn::Error naming the
// JSON file and the entry): malformed JSON, a missing key or a value of the wrong type, duplicate
// image or category ids, an annotation naming an unknown image or category, an image without an
// annotation, and (when checked) an image file that does not exist under the root.

#include <string>

#include "data/image_folder.h"

namespace cbnn {

// Parses annotation JSON text; `json_name` names it in errors. Files are not checked.
ImageList parse_inat(const std::string& json_text, const std::string& json_name,
                     const std::string& image_root);
// Reads `json_path`; with check_files, every image file must exist under image_root.
ImageList read_inat(const std::string& json_path, const std::string& image_root,
                    bool check_files = true);

}  // namespace cbnn
