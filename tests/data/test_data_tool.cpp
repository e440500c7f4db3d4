// The cbnn-data tool, run as a user runs it: exit status and output, good and bad input.
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "gtest/gtest.h"
#include "tests/data/data_test_support.h"
#include "tests/support/run_tool.h"

namespace cbnn {
namespace {

using testing::ToolRun;

// stderr is merged into the output unless json_only (warnings go to stderr, JSON to stdout).
ToolRun run_data_tool(const std::string& args, bool json_only = false) {
    return testing::run_tool("cbnn-data", args, json_only);
}

nlohmann::json run_json(const std::string& args) {
    const ToolRun r = run_data_tool(args + " --json", /*json_only=*/true);
    EXPECT_EQ(r.status, 0) << r.output;
    if (r.status != 0) return {};
    return nlohmann::json::parse(r.output);
}

const std::vector<int64_t> kIf100 = {5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50};

TEST(DataTool, CifarMiniBinary) {
    CBNN_REQUIRE_DATA("cifar10-mini");
    const auto j =
        run_json("--dataset cifar10 --data " + cbnn::testing::data_dir() + "/cifar10-mini");
    EXPECT_EQ(j.at("format"), "cifar10-binary");
    EXPECT_EQ(j.at("classes").size(), 10u);
    EXPECT_EQ(j.at("classes")[3], "cat");
    EXPECT_EQ(j.at("train_counts").get<std::vector<int64_t>>(), std::vector<int64_t>(10, 20));
    EXPECT_EQ(j.at("test_counts").get<std::vector<int64_t>>(), std::vector<int64_t>(10, 20));
    EXPECT_TRUE(j.at("decode_errors").empty());
    const ToolRun table =
        run_data_tool("--dataset cifar10 --data " + cbnn::testing::data_dir() + "/cifar10-mini");
    EXPECT_EQ(table.status, 0);
    EXPECT_NE(table.output.find("airplane"), std::string::npos) << table.output;

    // A folder name that is not UTF-8 (any bytes) prints as U+FFFD in the JSON, not an error.
    const std::filesystem::path odd =
        std::filesystem::path(::testing::TempDir()) / "cbnn-data-mini-\xff";
    std::filesystem::remove(odd);
    std::filesystem::create_directory_symlink(cbnn::testing::data_dir() + "/cifar10-mini", odd);
    const auto odd_json = run_json("--dataset cifar10 --data '" + odd.string() + "'");
    EXPECT_NE(odd_json.at("description").get<std::string>().find("cbnn-data-mini-\xef\xbf\xbd"),
              std::string::npos)
        << odd_json.dump();
    std::filesystem::remove(odd);
}

// The JPEG folder is decoded in full by the tool (60,000 images, about 2 s on 2 cores): one run
// checks the subset list, a second the seeded selection and the written list.
TEST(DataTool, CifarJpegFolderWithSubsets) {
    CBNN_REQUIRE_DATA("cifar10-jpg");
    CBNN_REQUIRE_DATA("cifar10-lt");
    const std::string data = cbnn::testing::data_dir();
    const auto listed =
        run_json("--dataset cifar10 --data " + data + "/cifar10-jpg --subset-list " + data +
                 "/cifar10-lt/train_if100.txt");
    EXPECT_EQ(listed.at("format"), "cifar10-image-folder");
    EXPECT_EQ(listed.at("train_counts").get<std::vector<int64_t>>(), kIf100);
    EXPECT_EQ(listed.at("test_counts").get<std::vector<int64_t>>(), std::vector<int64_t>(10, 1000));
    EXPECT_EQ(listed.at("train_size"), 12406);

    const std::string out = cbnn::testing::scratch_dir("tool_lists") + "/if50.txt";
    const auto seeded = run_json("--dataset cifar10 --data " + data +
                                 "/cifar10-jpg --imbalance 50 --seed 0 --write-subset-list " + out);
    EXPECT_EQ(seeded.at("train_size"), 13996);
    EXPECT_EQ(cbnn::testing::read_bytes(out),
              cbnn::testing::read_bytes(data + "/cifar10-lt/train_if50.txt"));
}

TEST(DataTool, FolderWithBadImage) {
    const std::string root = cbnn::testing::scratch_dir("tool_folder");
    for (const char* split : {"train", "val"})
        for (const char* cls : {"ant", "bee"})
            for (int i = 0; i < 3; ++i)
                cbnn::testing::write_bytes(
                    root + "/" + split + "/" + cls + "/" + std::to_string(i) + ".jpg",
                    cbnn::testing::encode_image(cbnn::testing::pattern(5 + i, 4, i), 5 + i, 4, 80));
    cbnn::testing::write_text(root + "/train/bee/readme.txt", "hello");
    const ToolRun fail = run_data_tool("--dataset folder --data " + root);
    EXPECT_EQ(fail.status, 1);
    EXPECT_NE(fail.output.find("cbnn-data:"), std::string::npos) << fail.output;
    EXPECT_NE(fail.output.find("bee/readme.txt"), std::string::npos) << fail.output;
    EXPECT_NE(fail.output.find("--skip-bad-images"), std::string::npos) << fail.output;

    const auto j = run_json("--dataset folder --data " + root + " --skip-bad-images");
    EXPECT_EQ(j.at("classes"), (nlohmann::json{"ant", "bee"}));
    EXPECT_EQ(j.at("train_counts").get<std::vector<int64_t>>(), (std::vector<int64_t>{3, 3}));
    EXPECT_EQ(j.at("test_counts").get<std::vector<int64_t>>(), (std::vector<int64_t>{3, 3}));
    ASSERT_EQ(j.at("decode_errors").size(), 1u);
    EXPECT_NE(j.at("decode_errors")[0].get<std::string>().find("train/bee/readme.txt"),
              std::string::npos);

    const auto lt =
        run_json("--dataset folder --data " + root + " --skip-bad-images --imbalance 3");
    EXPECT_EQ(lt.at("train_counts").get<std::vector<int64_t>>(), (std::vector<int64_t>{3, 1}));
}

TEST(DataTool, Inat) {
    const std::string root = cbnn::testing::scratch_dir("tool_inat");
    cbnn::testing::write_text(
        root + "/train2018.json",
        R"({"images": [{"id": 1, "file_name": "i/1.png"}, {"id": 2, "file_name": "i/2.png"}],
                                  "annotations": [{"image_id": 1, "category_id": 9}, {"image_id": 2, "category_id": 9}],
                                  "categories": [{"id": 9, "name": "Felis catus"}, {"id": 4, "name": "Canis"}]})");
    for (const char* f : {"i/1.png", "i/2.png"})
        cbnn::testing::write_bytes(
            root + "/" + f, cbnn::testing::encode_image(cbnn::testing::pattern(3, 3, 0), 3, 3, 0));
    const auto j = run_json("--dataset inat --data " + root);
    EXPECT_EQ(j.at("classes"), (nlohmann::json{"Canis", "Felis catus"}));
    EXPECT_EQ(j.at("train_counts").get<std::vector<int64_t>>(), (std::vector<int64_t>{0, 2}));
    EXPECT_EQ(j.at("format"), "inat");
}

TEST(DataTool, BadInputExitsNonZeroWithAMessage) {
    const ToolRun missing = run_data_tool("--dataset cifar10 --data /nonexistent/cifar");
    EXPECT_EQ(missing.status, 1);
    EXPECT_NE(missing.output.find("cbnn-data: CIFAR folder /nonexistent/cifar does not exist"),
              std::string::npos)
        << missing.output;
    EXPECT_NE(run_data_tool("--dataset mnist --data /tmp").status, 0);
    EXPECT_NE(run_data_tool("--dataset cifar10").status, 0);
    const ToolRun help = run_data_tool("--help");
    EXPECT_EQ(help.status, 0);
    EXPECT_NE(help.output.find("--subset-list"), std::string::npos) << help.output;

    if (!cbnn::testing::have_data("cifar10-mini")) GTEST_SKIP() << "no shared/data/cifar10-mini";
    const std::string mini = cbnn::testing::data_dir() + "/cifar10-mini";
    const ToolRun low = run_data_tool("--dataset cifar10 --data " + mini + " --imbalance 0.5");
    EXPECT_EQ(low.status, 1);
    EXPECT_NE(low.output.find("imbalance factor 0.5"), std::string::npos) << low.output;
    const std::string list = cbnn::testing::scratch_dir("tool_bad_list") + "/l.txt";
    cbnn::testing::write_text(list, "#0\n#5\n#999\n");
    const ToolRun bad_list =
        run_data_tool("--dataset cifar10 --data " + mini + " --subset-list " + list);
    EXPECT_EQ(bad_list.status, 1);
    EXPECT_NE(bad_list.output.find("line 3: \"#999\" is not an image"), std::string::npos)
        << bad_list.output;
    const ToolRun no_list =
        run_data_tool("--dataset cifar10 --data " + mini + " --subset-list /nonexistent/l.txt");
    EXPECT_EQ(no_list.status, 1);
    EXPECT_NE(no_list.output.find("subset list /nonexistent/l.txt does not exist"),
              std::string::npos)
        << no_list.output;
    EXPECT_NE(
        run_data_tool("--dataset cifar10 --data " + mini + " --imbalance 10 --subset-list " + list)
            .status,
        0);
}

}  // namespace
}  // namespace cbnn
