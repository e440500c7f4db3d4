#include "data/inat.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <unordered_map>

#include "tensor/error.h"
#include "tensor/file_io.h"

namespace cbnn {

namespace {

using nlohmann::json;

const json& member(const json& object, const char* key, const std::string& where,
                   const std::string& file) {
    CBNN_CHECK(object.is_object(), "iNat file ", file, ": ", where, " is not a JSON object");
    const auto it = object.find(key);
    CBNN_CHECK(it != object.end(), "iNat file ", file, ": ", where, " has no \"", key, "\"");
    return *it;
}

int64_t integer(const json& object, const char* key, const std::string& where,
                const std::string& file) {
    const json& v = member(object, key, where, file);
    CBNN_CHECK(v.is_number_integer(), "iNat file ", file, ": ", where, " \"", key,
               "\" is not an integer: ", v.dump());
    return v.get<int64_t>();
}

std::string text(const json& object, const char* key, const std::string& where,
                 const std::string& file) {
    const json& v = member(object, key, where, file);
    CBNN_CHECK(v.is_string(), "iNat file ", file, ": ", where, " \"", key,
               "\" is not a string: ", v.dump());
    return v.get<std::string>();
}

const json& array(const json& root, const char* key, const std::string& file) {
    const json& v = member(root, key, "the top level", file);
    CBNN_CHECK(v.is_array(), "iNat file ", file, ": \"", key, "\" is not an array");
    return v;
}

std::string entry(const char* list, size_t i) {
    return std::string(list) + "[" + std::to_string(i) + "]";
}

}  // namespace

ImageList parse_inat(const std::string& json_text, const std::string& json_name,
                     const std::string& image_root) {
    json root;
    try {
        root = json::parse(json_text);
    } catch (const json::exception& e) {
        CBNN_FAIL("iNat file ", json_name, " is not valid JSON: ", e.what());
    }
    const json& images = array(root, "images", json_name);
    const json& annotations = array(root, "annotations", json_name);
    const json& categories = array(root, "categories", json_name);

    std::map<int64_t, std::string> category_names;  // sorted by id: the label order
    for (size_t i = 0; i < categories.size(); ++i) {
        const std::string where = entry("categories", i);
        const int64_t id = integer(categories[i], "id", where, json_name);
        const std::string name = text(categories[i], "name", where, json_name);
        CBNN_CHECK(category_names.emplace(id, name).second, "iNat file ", json_name, ": ", where,
                   " repeats category id ", id);
    }
    CBNN_CHECK(!category_names.empty(), "iNat file ", json_name, " has no categories");
    ImageList out;
    out.root = image_root;
    std::unordered_map<int64_t, int64_t> label_of_category;
    for (const auto& [id, name] : category_names) {
        label_of_category.emplace(id, static_cast<int64_t>(out.class_names.size()));
        out.class_names.push_back(name);
    }

    std::unordered_map<int64_t, size_t> image_index;
    for (size_t i = 0; i < images.size(); ++i) {
        const std::string where = entry("images", i);
        const int64_t id = integer(images[i], "id", where, json_name);
        std::string file = text(images[i], "file_name", where, json_name);
        CBNN_CHECK(!file.empty(), "iNat file ", json_name, ": ", where, " has an empty file_name");
        // Paths are read as <image root>/<file_name>: one that leaves the root is refused.
        const std::filesystem::path relative(file);
        bool climbs = false;
        for (const auto& part : relative) climbs = climbs || part == "..";
        CBNN_CHECK(relative.is_relative() && !climbs, "iNat file ", json_name, ": ", where,
                   " file_name '", file, "' must be a path inside the image folder (relative, ",
                   "no '..')");
        CBNN_CHECK(image_index.emplace(id, i).second, "iNat file ", json_name, ": ", where,
                   " repeats image id ", id);
        out.files.push_back(std::move(file));
    }
    CBNN_CHECK(!out.files.empty(), "iNat file ", json_name, " has no images");

    out.labels.assign(out.files.size(), -1);
    for (size_t a = 0; a < annotations.size(); ++a) {
        const std::string where = entry("annotations", a);
        const int64_t image_id = integer(annotations[a], "image_id", where, json_name);
        const int64_t category_id = integer(annotations[a], "category_id", where, json_name);
        const auto img = image_index.find(image_id);
        CBNN_CHECK(img != image_index.end(), "iNat file ", json_name, ": ", where,
                   " names image id ", image_id, ", which is not in \"images\"");
        const auto cat = label_of_category.find(category_id);
        CBNN_CHECK(cat != label_of_category.end(), "iNat file ", json_name, ": ", where,
                   " names category id ", category_id, ", which is not in \"categories\"");
        int64_t& label = out.labels[img->second];
        CBNN_CHECK(label < 0, "iNat file ", json_name, ": ", where, " annotates image id ",
                   image_id, " (", out.files[img->second], ") a second time");
        label = cat->second;
    }
    for (size_t i = 0; i < out.labels.size(); ++i) {
        CBNN_CHECK(out.labels[i] >= 0, "iNat file ", json_name, ": ", entry("images", i), " (",
                   out.files[i], ") has no annotation");
    }
    return out;
}

ImageList read_inat(const std::string& json_path, const std::string& image_root, bool check_files) {
    namespace fs = std::filesystem;
    check_regular_file(json_path, "iNat file");
    check_folder(image_root, "iNat image folder");
    std::ifstream in(json_path);
    CBNN_CHECK(in.good(), "cannot open iNat file ", json_path);
    std::ostringstream buffer;
    buffer << in.rdbuf();
    ImageList list = parse_inat(buffer.str(), json_path, image_root);
    if (check_files) {
        std::error_code ec;
        int64_t missing = 0;
        std::string first;
        for (const std::string& f : list.files) {
            if (!fs::is_regular_file(fs::path(image_root) / f, ec)) {
                if (missing++ == 0) first = f;
            }
        }
        CBNN_CHECK(missing == 0, "iNat file ", json_path, ": ", missing,
                   " image file(s) missing "
                   "under ",
                   image_root, ", the first: ", first);
    }
    return list;
}

}  // namespace cbnn
