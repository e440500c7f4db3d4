// Image folders: listing order, threaded decoding, the lazy list, and bad input.
#include <filesystem>

#include "data/image_folder.h"
#include "gtest/gtest.h"
#include "tests/data/data_test_support.h"
#include "tests/support/expect_error.h"

namespace cbnn {
namespace {

using cbnn::testing::encode_image;
using cbnn::testing::pattern;
using cbnn::testing::throws_error;
using cbnn::testing::write_bytes;

// root/<class>/<file> with PNGs (lossless) of the pattern seeded by the image's position.
std::string make_folder(const std::string& name, int per_class, int size = 8) {
    const std::string root = cbnn::testing::scratch_dir(name);
    int seed = 0;
    for (const char* cls : {"b_dog", "a_cat", "c_emu"}) {
        for (int i = per_class - 1; i >= 0;
             --i)  // written in reverse: order must come from sorting
            write_bytes(root + "/" + cls + "/img" + std::to_string(i) + ".png",
                        encode_image(pattern(size, size, seed++), size, size, 0));
    }
    return root;
}

TEST(ImageFolder, SortedClassesAndFilesAndExactPngPixels) {
    const std::string root = make_folder("folder_sorted", 3);
    const Dataset d = read_image_folder(root);
    EXPECT_EQ(d.class_names, (std::vector<std::string>{"a_cat", "b_dog", "c_emu"}));
    EXPECT_EQ(d.labels, (std::vector<int64_t>{0, 0, 0, 1, 1, 1, 2, 2, 2}));
    EXPECT_EQ(d.files[0], "a_cat/img0.png");
    EXPECT_EQ(d.files[4], "b_dog/img1.png");
    ASSERT_EQ(d.image_bytes(), 3 * 8 * 8);
    // a_cat/img0.png was written with seed 5 (b_dog took 0..2, a_cat 3..5 in reverse order).
    const std::vector<uint8_t> hwc = pattern(8, 8, 5);
    for (int c = 0; c < 3; ++c)
        for (int p = 0; p < 64; ++p)
            ASSERT_EQ(d.image(0)[c * 64 + p], hwc[p * 3 + c]) << c << " " << p;
}

TEST(ImageFolder, OutputIsTheSameForAnyThreadCount) {
    const std::string root = make_folder("folder_threads", 20);
    const Dataset one = read_image_folder(root, {.threads = 1});
    const Dataset four = read_image_folder(root, {.threads = 4});
    EXPECT_EQ(one.images, four.images);
    EXPECT_EQ(one.labels, four.labels);
    EXPECT_EQ(one.files, four.files);
}

TEST(ImageFolder, LazyListDecodesAnySizeInEitherLayout) {
    const std::string root = cbnn::testing::scratch_dir("folder_lazy");
    write_bytes(root + "/x/small.png", encode_image(pattern(4, 3, 1), 4, 3, 0));
    write_bytes(root + "/x/wide.jpg", encode_image(pattern(40, 10, 2), 40, 10, 90));
    const ImageList list = list_image_folder(root);
    ASSERT_EQ(list.size(), 2);
    EXPECT_EQ(list.path(0), root + "/x/small.png");
    const Image small = decode_image(list.path(0), ImageLayout::hwc);
    EXPECT_EQ(small.width, 4);
    EXPECT_EQ(small.height, 3);
    EXPECT_EQ(small.pixels, pattern(4, 3, 1));
    const Image wide = decode_image(list.path(1));
    EXPECT_EQ(wide.width, 40);
    EXPECT_EQ(wide.height, 10);
    EXPECT_EQ(wide.channels, 3);
    // In memory, all images must have one size: the error names the odd file.
    EXPECT_TRUE(throws_error([&] { read_image_folder(root); },
                             {"x/wide.jpg", "40x10", "x/small.png", "4x3"}));
}

TEST(ImageFolder, MissingOrEmptyFoldersAreErrors) {
    EXPECT_TRUE(throws_error([] { list_image_folder("/nonexistent/images"); },
                             {"/nonexistent/images", "does not exist"}));
    const std::string root = cbnn::testing::scratch_dir("folder_empty");
    EXPECT_TRUE(throws_error([&] { list_image_folder(root); }, {"no class folders"}));
    std::filesystem::create_directories(root + "/cat");
    write_bytes(root + "/dog/0.png", encode_image(pattern(2, 2, 0), 2, 2, 0));
    EXPECT_TRUE(throws_error([&] { list_image_folder(root); }, {"class folder cat is empty"}));
}

TEST(ImageFolder, CorruptOrNonImageFileIsAnErrorOrSkipped) {
    const std::string root = make_folder("folder_corrupt", 2);
    cbnn::testing::write_text(root + "/b_dog/notes.txt", "not an image");
    std::vector<uint8_t> truncated = encode_image(pattern(8, 8, 3), 8, 8, 90);
    truncated.resize(truncated.size() / 3);
    write_bytes(root + "/c_emu/broken.jpg", truncated);
    EXPECT_TRUE(
        throws_error([&] { read_image_folder(root); }, {"b_dog/notes.txt", "not a JPEG or PNG"}));
    DecodeReport report;
    const Dataset d = read_image_folder(root, {.skip_bad_images = true}, &report);
    EXPECT_EQ(d.size(), 6);
    EXPECT_EQ(d.class_counts(), (std::vector<int64_t>{2, 2, 2}));
    ASSERT_EQ(report.bad_files.size(), 2u);
    EXPECT_NE(report.bad_files[0].find("b_dog/notes.txt"), std::string::npos)
        << report.bad_files[0];
    EXPECT_NE(report.bad_files[1].find("c_emu/broken.jpg"), std::string::npos)
        << report.bad_files[1];
    // The header check reads no pixels: it catches the text file; the truncated JPEG still has
    // an intact frame header, so only a full decode finds it.
    DecodeReport headers;
    const ImageList checked =
        check_image_headers(list_image_folder(root), {.skip_bad_images = true}, &headers);
    EXPECT_EQ(checked.size(), 7);
    EXPECT_EQ(headers.bad_files.size(), 1u);
    EXPECT_TRUE(throws_error([&] { check_image_headers(list_image_folder(root)); }, {"notes.txt"}));
}

TEST(ImageFolder, EmptyFileIsAnError) {
    const std::string root = cbnn::testing::scratch_dir("folder_zero");
    write_bytes(root + "/a/0.jpg", {});
    EXPECT_TRUE(throws_error([&] { read_image_folder(root); }, {"a/0.jpg", "empty"}));
}

}  // namespace
}  // namespace cbnn
