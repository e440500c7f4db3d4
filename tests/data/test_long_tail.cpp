// Long-tailed subsets: the counts of PAPER.md 2.1, the seeded selection (which reproduces
// shared/data/cifar10-lt), and subset list files.
#include <cmath>
#include <filesystem>
#include <numeric>

#include "data/image_folder.h"
#include "data/long_tail.h"
#include "gtest/gtest.h"
#include "tests/data/data_test_support.h"
#include "tests/support/expect_error.h"

namespace cbnn {
namespace {

using cbnn::testing::throws_error;

int64_t total(const std::vector<int64_t>& v) {
    return std::accumulate(v.begin(), v.end(), int64_t{0});
}

TEST(LongTailCounts, Cifar10MatchesPaperTable) {
    const std::vector<std::pair<double, std::vector<int64_t>>> table = {
        {200, {5000, 2775, 1540, 854, 474, 263, 146, 81, 45, 25}},
        {100, {5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50}},
        {50, {5000, 3237, 2096, 1357, 878, 568, 368, 238, 154, 100}},
        {20, {5000, 3584, 2569, 1842, 1320, 946, 678, 486, 348, 250}},
        {10, {5000, 3871, 2997, 2320, 1796, 1391, 1077, 834, 645, 500}},
        {1, std::vector<int64_t>(10, 5000)}};
    const std::vector<int64_t> totals = {11203, 12406, 13996, 17023, 20431, 50000};
    for (size_t k = 0; k < table.size(); ++k) {
        const auto counts = long_tail_counts(5000, 10, table[k].first);
        EXPECT_EQ(counts, table[k].second) << "IF " << table[k].first;
        EXPECT_EQ(total(counts), totals[k]) << "IF " << table[k].first;
    }
}

TEST(LongTailCounts, Cifar100MatchesPaperTables) {
    const std::vector<double> factors = {200, 100, 50, 20, 10, 1};
    const std::vector<int64_t> totals = {9502, 10847, 12608, 15907, 19573, 50000};
    const std::vector<int64_t> minimum = {2, 5, 10, 25, 50, 500};
    for (size_t k = 0; k < factors.size(); ++k) {
        const auto counts = long_tail_counts(500, 100, factors[k]);
        EXPECT_EQ(total(counts), totals[k]) << "IF " << factors[k];
        EXPECT_EQ(counts.back(), minimum[k]) << "IF " << factors[k];
        EXPECT_EQ(counts.front(), 500);
    }
    const std::vector<int64_t> if100 = {
        500, 477, 455, 434, 415, 396, 378, 361, 344, 328, 314, 299, 286, 273, 260, 248, 237,
        226, 216, 206, 197, 188, 179, 171, 163, 156, 149, 142, 135, 129, 123, 118, 112, 107,
        102, 98,  93,  89,  85,  81,  77,  74,  70,  67,  64,  61,  58,  56,  53,  51,  48,
        46,  44,  42,  40,  38,  36,  35,  33,  32,  30,  29,  27,  26,  25,  24,  23,  22,
        21,  20,  19,  18,  17,  16,  15,  15,  14,  13,  13,  12,  12,  11,  11,  10,  10,
        9,   9,   8,   8,   7,   7,   7,   6,   6,   6,   6,   5,   5,   5,   5};
    EXPECT_EQ(long_tail_counts(500, 100, 100), if100);
    // Head (classes 0-4) and tail (95-99) for the other factors.
    const std::vector<std::tuple<double, std::vector<int64_t>, std::vector<int64_t>>> ends = {
        {200, {500, 473, 449, 425, 403}, {3, 2, 2, 2, 2}},
        {50, {500, 480, 462, 444, 426}, {11, 11, 10, 10, 10}},
        {20, {500, 485, 470, 456, 442}, {28, 27, 26, 25, 25}},
        {10, {500, 488, 477, 466, 455}, {54, 53, 52, 51, 50}}};
    for (const auto& [factor, head, tail] : ends) {
        const auto counts = long_tail_counts(500, 100, factor);
        EXPECT_EQ(std::vector<int64_t>(counts.begin(), counts.begin() + 5), head)
            << "IF " << factor;
        EXPECT_EQ(std::vector<int64_t>(counts.end() - 5, counts.end()), tail) << "IF " << factor;
    }
}

TEST(LongTailCounts, ImbalanceBelowOneIsAnError) {
    EXPECT_TRUE(
        throws_error([] { long_tail_counts(5000, 10, 0.5); }, {"imbalance factor 0.5", ">= 1"}));
    EXPECT_TRUE(
        throws_error([] { long_tail_counts(5000, 10, std::nan("")); }, {"imbalance factor"}));
    EXPECT_TRUE(throws_error(
        [] {
            select_long_tail({0, 1}, 2, 0.99, 0);
        },
        {"imbalance factor 0.99"}));
    EXPECT_EQ(long_tail_counts(7, 1, 100), std::vector<int64_t>{7});
}

// 10 classes of 5000 images, labels interleaved (image i has label i mod 10).
std::vector<int64_t> balanced_labels() {
    std::vector<int64_t> labels(50000);
    for (size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<int64_t>(i % 10);
    return labels;
}

TEST(LongTailSelection, CountsAndDeterminism) {
    const auto labels = balanced_labels();
    const auto a = select_long_tail(labels, 10, 100, 7);
    ASSERT_EQ(a.size(), 12406u);
    EXPECT_TRUE(std::is_sorted(a.begin(), a.end()));
    std::vector<int64_t> counts(10, 0);
    for (int64_t i : a) ++counts[static_cast<size_t>(labels[static_cast<size_t>(i)])];
    EXPECT_EQ(counts, long_tail_counts(5000, 10, 100));
    EXPECT_EQ(select_long_tail(labels, 10, 100, 7), a);
    EXPECT_NE(select_long_tail(labels, 10, 100, 8), a);
    EXPECT_EQ(select_long_tail(labels, 10, 1, 7).size(), 50000u);
}

TEST(LongTailSelection, TooFewImagesOrBadSeedIsAnError) {
    std::vector<int64_t> labels = {0, 0, 0, 0, 1};  // class 1 has 1 image, IF 2 wants 2
    EXPECT_TRUE(throws_error([&] { select_long_tail(labels, 2, 2, 0); }, {"class 1 has 1 images"}));
    EXPECT_TRUE(throws_error([&] { select_long_tail({0, 1}, 2, 1, uint64_t{1} << 32); }, {"seed"}));
    EXPECT_TRUE(throws_error([&] { select_long_tail({0, 2}, 2, 1, 0); }, {"label 2"}));
}

// The lists in shared/data/cifar10-lt were drawn with NumPy's RandomState(0).shuffle; the
// selection reproduces them line for line from the file listing alone (no decoding).
TEST(LongTailSelection, SeedZeroReproducesSharedLists) {
    CBNN_REQUIRE_DATA("cifar10-jpg/train");
    CBNN_REQUIRE_DATA("cifar10-lt");
    ImageList list = list_image_folder(cbnn::testing::data_dir() + "/cifar10-jpg/train");
    for (std::string& f : list.files) f = "train/" + f;
    for (int factor : {200, 100, 50, 20, 10}) {
        const std::string path =
            cbnn::testing::data_dir() + "/cifar10-lt/train_if" + std::to_string(factor) + ".txt";
        const auto expected = read_subset_list(path);
        const auto kept = select_long_tail(list.labels, 10, factor, 0);
        ASSERT_EQ(kept.size(), expected.size()) << path;
        for (size_t k = 0; k < kept.size(); ++k)
            ASSERT_EQ(list.files[static_cast<size_t>(kept[k])], expected[k])
                << path << " line " << k + 1;
    }
}

TEST(SubsetList, If100ListGivesThePaperCounts) {
    CBNN_REQUIRE_DATA("cifar10-jpg/train");
    CBNN_REQUIRE_DATA("cifar10-lt");
    ImageList list = list_image_folder(cbnn::testing::data_dir() + "/cifar10-jpg/train");
    for (std::string& f : list.files) f = "train/" + f;
    const std::string path = cbnn::testing::data_dir() + "/cifar10-lt/train_if100.txt";
    const auto indices = subset_indices(list.files, read_subset_list(path), path);
    EXPECT_EQ(indices.size(), 12406u);
    EXPECT_EQ(list.subset(indices).class_counts(),
              (std::vector<int64_t>{5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50}));
}

TEST(SubsetList, WriteThenReadRoundTrips) {
    const std::string dir = cbnn::testing::scratch_dir("subset_roundtrip");
    const std::vector<std::string> names = image_names({}, 6);
    EXPECT_EQ(names[3], "#3");
    write_subset_list(dir + "/l.txt", names, {1, 4, 5});
    EXPECT_EQ(read_subset_list(dir + "/l.txt"), (std::vector<std::string>{"#1", "#4", "#5"}));
    cbnn::testing::write_text(dir + "/crlf.txt", "#5\r\n\r\n#0\r\n");
    EXPECT_EQ(subset_indices(names, read_subset_list(dir + "/crlf.txt"), "crlf.txt"),
              (std::vector<int64_t>{0, 5}));
}

TEST(SubsetList, NamingAFileNotInTheDatasetIsAnError) {
    const std::string dir = cbnn::testing::scratch_dir("subset_bad");
    const std::vector<std::string> names = {"train/a/0.jpg", "train/a/1.jpg", "train/b/0.jpg"};
    cbnn::testing::write_text(dir + "/l.txt", "train/a/0.jpg\ntrain/b/7.jpg\n");
    const auto lines = read_subset_list(dir + "/l.txt");
    EXPECT_TRUE(throws_error([&] { subset_indices(names, lines, "l.txt"); },
                             {"l.txt line 2", "train/b/7.jpg", "not an image"}));
    EXPECT_TRUE(throws_error(
        [&] {
            subset_indices(names, {"train/a/1.jpg", "train/a/1.jpg"}, "d.txt");
        },
        {"d.txt line 2", "listed twice"}));
    EXPECT_TRUE(throws_error([&] { read_subset_list(dir + "/missing.txt"); },
                             {"missing.txt", "does not exist"}));
    EXPECT_TRUE(throws_error([&] { read_subset_list(dir); }, {dir, "is a directory"}));
    cbnn::testing::write_text(dir + "/empty.txt", "\n\n");
    EXPECT_TRUE(throws_error([&] { read_subset_list(dir + "/empty.txt"); }, {"names no image"}));
}

// A binary file given as a list: the line quoted in the error is escaped and cut, never raw.
TEST(SubsetList, BinaryLinesAreQuotedEscapedAndCut) {
    const std::vector<std::string> names = {"train/a/0.jpg"};
    std::string binary = "\x01\x02\"\\ok\xff";
    binary += std::string(100, 'x');
    try {
        subset_indices(names, {binary}, "b.bin");
        ADD_FAILURE() << "expected an error";
    } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()), "subset list b.bin line 1: \"\\x01\\x02\\\"\\\\ok\\xff" +
                                             std::string(53, 'x') +
                                             "...\" (107 bytes) is not an image of the dataset");
    }
    EXPECT_EQ(quote_for_message("train/a/0.jpg"), "\"train/a/0.jpg\"");
    EXPECT_EQ(quote_for_message(std::string("a\0b\n", 4)), "\"a\\x00b\\x0a\"");
    EXPECT_EQ(quote_for_message("abcdef", 3), "\"abc...\" (6 bytes)");
}

}  // namespace
}  // namespace cbnn
