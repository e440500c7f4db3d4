// iNaturalist COCO-style annotation files: labels from sorted category ids, and bad input.
#include "data/inat.h"
#include "gtest/gtest.h"
#include "tests/data/data_test_support.h"
#include "tests/support/expect_error.h"

namespace cbnn {
namespace {

using cbnn::testing::throws_error;

const char* kJson = R"({
  "info": {"year": 2018},
  "images": [{"id": 10, "file_name": "train_val2018/Aves/7/a.jpg", "width": 4, "height": 4},
             {"id": 11, "file_name": "train_val2018/Plantae/3/b.jpg"},
             {"id": 12, "file_name": "train_val2018/Aves/7/c.jpg"}],
  "annotations": [{"id": 1, "image_id": 11, "category_id": 3},
                  {"id": 2, "image_id": 10, "category_id": 7},
                  {"id": 3, "image_id": 12, "category_id": 7}],
  "categories": [{"id": 7, "name": "Aves sp."}, {"id": 3, "name": "Plantae sp."},
                 {"id": 5, "name": "unused"}]
})";

std::string with(std::string text, const std::string& from, const std::string& to) {
    const size_t at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return text.replace(at, from.size(), to);
}

TEST(Inat, LabelsFollowSortedCategoryIds) {
    const ImageList list = parse_inat(kJson, "train2018.json", "/root");
    EXPECT_EQ(list.class_names, (std::vector<std::string>{"Plantae sp.", "unused", "Aves sp."}));
    EXPECT_EQ(list.labels, (std::vector<int64_t>{2, 0, 2}));
    EXPECT_EQ(list.files[1], "train_val2018/Plantae/3/b.jpg");
    EXPECT_EQ(list.path(0), "/root/train_val2018/Aves/7/a.jpg");
    EXPECT_EQ(list.class_counts(), (std::vector<int64_t>{1, 0, 2}));
}

TEST(Inat, ReadsFilesAndDecodesImages) {
    const std::string root = cbnn::testing::scratch_dir("inat_ok");
    cbnn::testing::write_text(root + "/train2018.json", kJson);
    for (const char* f : {"train_val2018/Aves/7/a.jpg", "train_val2018/Plantae/3/b.jpg",
                          "train_val2018/Aves/7/c.jpg"})
        cbnn::testing::write_bytes(
            root + "/" + f, cbnn::testing::encode_image(cbnn::testing::pattern(6, 5, 0), 6, 5, 90));
    const ImageList list = read_inat(root + "/train2018.json", root);
    ASSERT_EQ(list.size(), 3);
    const Image img = decode_image(list.path(2));
    EXPECT_EQ(img.width, 6);
    EXPECT_EQ(img.height, 5);
}

TEST(Inat, MalformedJsonIsAnError) {
    EXPECT_TRUE(throws_error([] { parse_inat("{\"images\": [", "bad.json", "/r"); },
                             {"bad.json", "not valid JSON"}));
    EXPECT_TRUE(throws_error([] { parse_inat("[1, 2]", "arr.json", "/r"); },
                             {"arr.json", "not a JSON object"}));
    EXPECT_TRUE(throws_error(
        [] { parse_inat(with(kJson, "\"annotations\"", "\"notes\""), "x.json", "/r"); },
        {"x.json", "has no \"annotations\""}));
    EXPECT_TRUE(throws_error(
        [] {
            parse_inat(
                with(kJson, "\"file_name\": \"train_val2018/Plantae/3/b.jpg\"", "\"file\": 1"),
                "x.json", "/r");
        },
        {"images[1]", "has no \"file_name\""}));
    EXPECT_TRUE(throws_error(
        [] { parse_inat(with(kJson, "\"id\": 7,", "\"id\": \"7\","), "x.json", "/r"); },
        {"categories[0]", "\"id\" is not an integer", "\"7\""}));
    EXPECT_TRUE(throws_error(
        [] { parse_inat(with(kJson, "\"images\": [", "\"images\": 3, \"x\": ["), "x.json", "/r"); },
        {"\"images\" is not an array"}));
    // A file_name must stay inside the image folder.
    for (const char* escape : {"/etc/passwd", "train_val2018/../../secret.jpg"})
        EXPECT_TRUE(throws_error(
            [&] {
                parse_inat(with(kJson, "train_val2018/Plantae/3/b.jpg", escape), "x.json", "/r");
            },
            {"images[1]", escape, "inside the image folder"}))
            << escape;
}

TEST(Inat, DanglingOrRepeatedIdsAreErrors) {
    EXPECT_TRUE(throws_error(
        [] { parse_inat(with(kJson, "\"image_id\": 11", "\"image_id\": 99"), "x.json", "/r"); },
        {"annotations[0]", "image id 99", "not in \"images\""}));
    EXPECT_TRUE(throws_error(
        [] { parse_inat(with(kJson, "\"category_id\": 3", "\"category_id\": 4"), "x.json", "/r"); },
        {"annotations[0]", "category id 4"}));
    EXPECT_TRUE(
        throws_error([] { parse_inat(with(kJson, "\"id\": 12,", "\"id\": 10,"), "x.json", "/r"); },
                     {"images[2]", "repeats image id 10"}));
    EXPECT_TRUE(throws_error(
        [] { parse_inat(with(kJson, "\"image_id\": 12", "\"image_id\": 10"), "x.json", "/r"); },
        {"annotations[2]", "a second time"}));
    EXPECT_TRUE(throws_error(
        [] {
            parse_inat(with(kJson, R"({"id": 3, "image_id": 12, "category_id": 7})",
                            R"({"id": 3, "image_id": 10, "category_id": 7, "x": 0})"),
                       "x.json", "/r");
        },
        {"second time"}));
}

TEST(Inat, MissingFilesAreErrors) {
    const std::string root = cbnn::testing::scratch_dir("inat_missing");
    EXPECT_TRUE(throws_error([&] { read_inat(root + "/train2018.json", root); },
                             {"train2018.json", "does not exist"}));
    cbnn::testing::write_text(root + "/train2018.json", kJson);
    cbnn::testing::write_bytes(root + "/train_val2018/Aves/7/a.jpg", {1, 2, 3});
    EXPECT_TRUE(throws_error(
        [&] { read_inat(root + "/train2018.json", root); },
        {"train2018.json", "2 image file(s) missing", "train_val2018/Plantae/3/b.jpg"}));
    EXPECT_TRUE(throws_error([&] { read_inat(root + "/train2018.json", root + "/nope"); },
                             {"nope", "does not exist"}));
    // A folder given as the JSON, a file as the image folder.
    EXPECT_TRUE(
        throws_error([&] { read_inat(root, root); }, {"iNat file " + root + " is a directory"}));
    EXPECT_TRUE(throws_error([&] { read_inat(root + "/train2018.json", root + "/train2018.json"); },
                             {"iNat image folder " + root + "/train2018.json is not a folder"}));
    EXPECT_EQ(read_inat(root + "/train2018.json", root, /*check_files=*/false).size(), 3);
}

}  // namespace
}  // namespace cbnn
