// Whole-file reads and atomic writes (tensor/file_io.h), used by every file format.
#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"
#include "tensor/file_io.h"
#include "tests/support/expect_error.h"
#include "tests/support/scratch.h"

namespace cbnn {
namespace {

namespace fs = std::filesystem;

TEST(WriteFileAtomic, ReplacesContentsAndLeavesNoTemporary) {
    const std::string dir = testing::scratch_dir("file_io_write");
    const std::string p = dir + "/a.txt";
    std::ofstream(p + ".tmp") << "left over from an earlier crash";
    write_file_atomic(p, std::string("one"), "test");
    write_file_atomic(p, std::string("two"), "test");
    EXPECT_EQ(read_file_bytes(p, "test"), (std::vector<uint8_t>{'t', 'w', 'o'}));
    EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);
}

TEST(WriteFileAtomic, FailuresNameTheStepAndRemoveTheTemporary) {
    const std::string dir = testing::scratch_dir("file_io_fail");
    const std::string missing = dir + "/no_such_dir/a.txt";
    EXPECT_TRUE(
        testing::throws_error([&] { write_file_atomic(missing, std::string("x"), "saver"); },
                              {"saver: cannot create '" + missing + ".tmp'"}));
    // Renaming over a directory fails after the temporary was written.
    const std::string target = dir + "/a_dir";
    fs::create_directories(target);
    EXPECT_TRUE(testing::throws_error([&] { write_file_atomic(target, std::string("x"), "saver"); },
                                      {"saver: cannot rename"}));
    EXPECT_FALSE(fs::exists(target + ".tmp"));
}

TEST(ReadFileBytes, ReadsEveryByteAndNamesMissingFiles) {
    const std::string dir = testing::scratch_dir("file_io_read");
    const std::vector<uint8_t> data = {0, 255, 10, 13, 0, 7};
    write_file_atomic(dir + "/b.bin", data.data(), data.size(), "test");
    EXPECT_EQ(read_file_bytes(dir + "/b.bin", "test"), data);
    write_file_atomic(dir + "/empty", std::string(), "test");
    EXPECT_TRUE(read_file_bytes(dir + "/empty", "test").empty());
    EXPECT_TRUE(testing::throws_error([&] { read_file_bytes(dir + "/none", "loader"); },
                                      {"loader: cannot open '" + dir + "/none'"}));
    EXPECT_TRUE(testing::throws_error([&] { read_file_bytes(dir, "loader"); }, {"is a directory"}));
}

TEST(CheckPaths, NameWhatIsThereInstead) {
    const std::string dir = testing::scratch_dir("file_io_check");
    write_file_atomic(dir + "/f", std::string("x"), "test");
    EXPECT_NO_THROW(check_regular_file(dir + "/f", "list"));
    EXPECT_NO_THROW(check_folder(dir, "data"));
    EXPECT_TRUE(testing::throws_error([&] { check_regular_file(dir + "/none", "list"); },
                                      {"list " + dir + "/none does not exist"}));
    EXPECT_TRUE(testing::throws_error([&] { check_regular_file(dir, "list"); },
                                      {"list " + dir + " is a directory"}));
    EXPECT_TRUE(testing::throws_error([&] { check_regular_file("/dev/null", "list"); },
                                      {"list /dev/null is not a regular file"}));
    EXPECT_TRUE(testing::throws_error([&] { check_folder(dir + "/f", "data"); },
                                      {"data " + dir + "/f is not a folder"}));
    EXPECT_TRUE(testing::throws_error([&] { check_folder(dir + "/none", "data"); },
                                      {"data " + dir + "/none does not exist"}));
    // A path that cannot be looked at is said so, not called missing (a symlink loop here; an
    // unreadable parent folder is the same error, but root, who runs CI, may read anything).
    std::filesystem::create_symlink(dir + "/loop", dir + "/loop");
    EXPECT_TRUE(testing::throws_error([&] { check_folder(dir + "/loop", "data"); },
                                      {"data " + dir + "/loop cannot be read"}));
}

}  // namespace
}  // namespace cbnn
