#pragma once
// Scratch folders for tests that write files. The folder name carries the process id: CTest runs
// each test in its own process, two at a time (-j2), and tests must never share a file.

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace cbnn::testing {

// A fresh, empty folder <tmp>/cbnn_test_<pid>/<name>.
inline std::string scratch_dir(const std::string& name) {
    const auto dir =
        std::filesystem::temp_directory_path() / ("cbnn_test_" + std::to_string(::getpid())) / name;
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    return dir.string();
}

// <tmp>/cbnn_test_<pid>/<group>/<file>, creating the folder (without emptying it).
inline std::string scratch_path(const std::string& group, const std::string& file) {
    const auto dir = std::filesystem::temp_directory_path() /
                     ("cbnn_test_" + std::to_string(::getpid())) / group;
    std::filesystem::create_directories(dir);
    return (dir / file).string();
}

// The whole of a text file a test (or a tool it ran) wrote; empty when it cannot be read.
inline std::string read_text(const std::filesystem::path& path) {
    std::ifstream in(path);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Writes an executable bash script (a stand-in for a tool a script under test calls): `body`
// after the #! line.
inline void write_script(const std::filesystem::path& path, const std::string& body) {
    std::filesystem::create_directories(path.parent_path());
    std::ofstream(path) << "#!/bin/bash\n" << body;
    std::filesystem::permissions(path, std::filesystem::perms::owner_all);
}

}  // namespace cbnn::testing
