// CIFAR-10/100 binary readers and load_cifar's format detection, on shared/data and on files the
// tests write themselves (there is no real CIFAR-100 here).
#include <cmath>
#include <cstdio>

#include "data/cifar.h"
#include "data/image_folder.h"
#include "gtest/gtest.h"
#include "tests/data/data_test_support.h"
#include "tests/support/expect_error.h"

namespace cbnn {
namespace {

using cbnn::testing::throws_error;
using cbnn::testing::write_bytes;
using cbnn::testing::write_text;

std::string mini() { return cbnn::testing::data_dir() + "/cifar10-mini"; }

TEST(Cifar10Binary, MiniHasTheDocumentedLabels) {
    CBNN_REQUIRE_DATA("cifar10-mini");
    for (bool train : {true, false}) {
        const Dataset d = read_cifar10_binary(mini(), train);
        ASSERT_EQ(d.size(), 200);
        EXPECT_EQ(d.channels, 3);
        EXPECT_EQ(d.height, 32);
        EXPECT_EQ(d.width, 32);
        EXPECT_TRUE(d.files.empty());
        EXPECT_TRUE(d.coarse_labels.empty());
        for (int64_t j = 0; j < 200; ++j) ASSERT_EQ(d.labels[static_cast<size_t>(j)], j % 10) << j;
        EXPECT_EQ(d.class_names.front(), "airplane");
        EXPECT_EQ(d.class_names.back(), "truck");
        EXPECT_EQ(d.class_counts(), std::vector<int64_t>(10, 20));
    }
}

// Record j of data_batch_1.bin is cifar10-jpg/train/<class j mod 10>/<j/10>.jpg decoded with
// libjpeg-turbo; stb_image decodes the same JPEGs slightly differently (IDCT and chroma
// upsampling), so this compares the first 20 JPEGs per class with a measured bound.
TEST(Cifar10Binary, MiniPixelsMatchStbDecodingOfTheJpegs) {
    CBNN_REQUIRE_DATA("cifar10-mini");
    CBNN_REQUIRE_DATA("cifar10-jpg/train");
    const Dataset d = read_cifar10_binary(mini(), true);
    int max_diff = 0;
    double sum_diff = 0;
    for (int64_t j = 0; j < 200; ++j) {
        char name[64];
        std::snprintf(name, sizeof name, "/train/%s/%04d.jpg",
                      d.class_names[static_cast<size_t>(j % 10)].c_str(), static_cast<int>(j / 10));
        const Image img = decode_image(cbnn::testing::data_dir() + "/cifar10-jpg" + name);
        ASSERT_EQ(img.pixels.size(), static_cast<size_t>(kCifarImageBytes));
        const uint8_t* rec = d.image(j);
        for (int64_t k = 0; k < kCifarImageBytes; ++k) {
            const int diff = std::abs(int{rec[k]} - int{img.pixels[static_cast<size_t>(k)]});
            max_diff = std::max(max_diff, diff);
            sum_diff += diff;
        }
    }
    const double mean_diff = sum_diff / (200.0 * kCifarImageBytes);
    // Measured over the 200 images: max 3 levels, mean 0.0927 levels (stb_image 2.27 vs
    // libjpeg-turbo 2.1.5). The bounds leave one level / ~50% of headroom for another stb build.
    EXPECT_LE(max_diff, 4);
    EXPECT_LE(mean_diff, 0.15);
}

// One CIFAR-100 record: coarse, fine, then a pixel pattern from the record index.
void add_record100(std::vector<uint8_t>& bytes, uint8_t coarse, uint8_t fine, int seed) {
    bytes.push_back(coarse);
    bytes.push_back(fine);
    for (int k = 0; k < kCifarImageBytes; ++k)
        bytes.push_back(static_cast<uint8_t>((k * 3 + seed * 17) % 251));
}

TEST(Cifar100Binary, ReadsFineAndCoarseLabelsAndPixels) {
    const std::string dir = cbnn::testing::scratch_dir("cifar100");
    std::vector<uint8_t> train, test;
    for (int r = 0; r < 5; ++r)
        add_record100(train, static_cast<uint8_t>(r * 4), static_cast<uint8_t>(r * 20 + 3), r);
    add_record100(test, 19, 99, 9);
    write_bytes(dir + "/train.bin", train);
    write_bytes(dir + "/test.bin", test);

    const Dataset d = read_cifar100_binary(dir, true);
    ASSERT_EQ(d.size(), 5);
    EXPECT_EQ(d.labels, (std::vector<int64_t>{3, 23, 43, 63, 83}));
    EXPECT_EQ(d.coarse_labels, (std::vector<int64_t>{0, 4, 8, 12, 16}));
    ASSERT_EQ(d.class_names.size(), 100u);
    EXPECT_EQ(d.class_names[42], "class_42");
    for (int r = 0; r < 5; ++r)
        for (int k = 0; k < kCifarImageBytes; k += 97)
            ASSERT_EQ(d.image(r)[k], static_cast<uint8_t>((k * 3 + r * 17) % 251));

    std::string names;
    for (int i = 0; i < 100; ++i) names += "fine" + std::to_string(i) + "\n";
    write_text(dir + "/fine_label_names.txt", names);
    const CifarLoad test_set = load_cifar(dir, false, 100);
    EXPECT_EQ(test_set.format, CifarFormat::binary);
    EXPECT_NE(test_set.description.find("CIFAR-100 binary"), std::string::npos);
    EXPECT_EQ(test_set.dataset.labels, std::vector<int64_t>{99});
    EXPECT_EQ(test_set.dataset.coarse_labels, std::vector<int64_t>{19});
    EXPECT_EQ(test_set.dataset.class_names[99], "fine99");
}

TEST(CifarBinary, TruncatedFileIsAnError) {
    const std::string dir = cbnn::testing::scratch_dir("cifar_truncated");
    std::vector<uint8_t> bytes;
    add_record100(bytes, 1, 2, 0);
    bytes.resize(bytes.size() - 100);
    write_bytes(dir + "/train.bin", bytes);
    EXPECT_TRUE(
        throws_error([&] { read_cifar100_binary(dir, true); },
                     {"train.bin", "2974 bytes", "not a multiple of the 3074-byte record"}));
    std::vector<uint8_t> c10(3073 * 2 + 5, 0);
    write_bytes(dir + "/data_batch_1.bin", c10);
    EXPECT_TRUE(throws_error([&] { read_cifar10_binary(dir, true); },
                             {"data_batch_1.bin", "3073-byte record"}));
}

TEST(CifarBinary, LabelOutOfRangeIsAnError) {
    const std::string dir = cbnn::testing::scratch_dir("cifar_label");
    std::vector<uint8_t> c10(3073 * 3, 0);
    c10[3073 * 2] = 10;
    write_bytes(dir + "/test_batch.bin", c10);
    EXPECT_TRUE(throws_error([&] { read_cifar10_binary(dir, false); },
                             {"test_batch.bin", "record 2", "label 10", "[0, 10)"}));
    std::vector<uint8_t> fine, coarse;
    add_record100(fine, 0, 100, 0);
    add_record100(coarse, 20, 5, 0);
    write_bytes(dir + "/train.bin", fine);
    write_bytes(dir + "/test.bin", coarse);
    EXPECT_TRUE(throws_error([&] { read_cifar100_binary(dir, true); }, {"record 0", "label 100"}));
    EXPECT_TRUE(throws_error([&] { read_cifar100_binary(dir, false); }, {"coarse label 20"}));
}

TEST(CifarBinary, MissingFolderOrFileIsAnError) {
    EXPECT_TRUE(throws_error([] { read_cifar10_binary("/nonexistent/cifar", true); },
                             {"/nonexistent/cifar", "does not exist"}));
    EXPECT_TRUE(
        throws_error([] { load_cifar("/nonexistent/cifar", true, 10); }, {"does not exist"}));
    const std::string dir = cbnn::testing::scratch_dir("cifar_missing");
    EXPECT_TRUE(throws_error([&] { read_cifar10_binary(dir, true); }, {"no data_batch_1.bin"}));
    EXPECT_TRUE(throws_error([&] { read_cifar10_binary(dir, false); },
                             {"test_batch.bin", "does not exist"}));
    EXPECT_TRUE(
        throws_error([&] { read_cifar100_binary(dir, true); }, {"train.bin", "does not exist"}));
    EXPECT_TRUE(throws_error([&] { load_cifar(dir, true, 10); },
                             {"neither the binary files", "train/ and test/"}));
    write_bytes(dir + "/data_batch_1.bin", std::vector<uint8_t>(3073, 0));
    write_bytes(dir + "/data_batch_3.bin", std::vector<uint8_t>(3073, 0));
    EXPECT_TRUE(throws_error([&] { read_cifar10_binary(dir, true); },
                             {"data_batch_3.bin but not data_batch_2.bin"}));
    EXPECT_TRUE(throws_error([&] { load_cifar(dir, true, 7); }, {"10 or 100", "7"}));
}

TEST(LoadCifar, DetectsBinaryAndImageFolder) {
    CBNN_REQUIRE_DATA("cifar10-mini");
    CBNN_REQUIRE_DATA("cifar10-jpg/test");
    EXPECT_EQ(detect_cifar_format(mini(), 10), CifarFormat::binary);
    const std::string jpg = cbnn::testing::data_dir() + "/cifar10-jpg";
    EXPECT_EQ(detect_cifar_format(jpg, 10), CifarFormat::image_folder);
    const CifarLoad test = load_cifar(jpg, false, 10);
    EXPECT_EQ(test.format, CifarFormat::image_folder);
    EXPECT_NE(test.description.find("image folder"), std::string::npos) << test.description;
    ASSERT_EQ(test.dataset.size(), 10000);
    EXPECT_EQ(test.dataset.class_counts(), std::vector<int64_t>(10, 1000));
    EXPECT_EQ(test.dataset.files.front(), "test/airplane/0000.jpg");
    EXPECT_EQ(test.dataset.class_names, read_cifar10_binary(mini(), false).class_names);
    EXPECT_TRUE(
        throws_error([&] { load_cifar(jpg, false, 100); }, {"10 class folders, expected 100"}));
}

// The whole 50,000-image train set, read once in this binary: counts and the channel means the
// data README quotes (0.4913, 0.4821, 0.4465) as a check of the decode as a whole.
TEST(LoadCifar, FullJpegTrainSet) {
    CBNN_REQUIRE_DATA("cifar10-jpg/train");
    const CifarLoad train = load_cifar(cbnn::testing::data_dir() + "/cifar10-jpg", true, 10);
    ASSERT_EQ(train.dataset.size(), 50000);
    EXPECT_EQ(train.dataset.class_counts(), std::vector<int64_t>(10, 5000));
    double sum[3] = {0, 0, 0};
    for (int64_t i = 0; i < train.dataset.size(); ++i)
        for (int c = 0; c < 3; ++c)
            for (int k = 0; k < 1024; ++k) sum[c] += train.dataset.image(i)[c * 1024 + k];
    // The README's means come from libjpeg-turbo; stb_image's decode differs by 0.09 levels on
    // average (MiniPixelsMatchStbDecodingOfTheJpegs), i.e. 3.6e-4 of the range. Measured here:
    // 0.49154, 0.48178, 0.44689, off by 2.4e-4, 3.2e-4, 3.9e-4; 1e-3 is 0.26 levels.
    const double expected[3] = {0.4913, 0.4821, 0.4465};
    for (int c = 0; c < 3; ++c)
        EXPECT_NEAR(sum[c] / (50000.0 * 1024 * 255), expected[c], 1e-3) << "channel " << c;
}

}  // namespace
}  // namespace cbnn
