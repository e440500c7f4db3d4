#include "tensor/file_io.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "tensor/error.h"

namespace cbnn {

namespace {

std::string errno_text() { return std::strerror(errno); }

void write_all(int fd, const uint8_t* data, size_t size, const std::string& tmp,
               const std::string& what) {
    size_t done = 0;
    while (done < size) {
        const ssize_t n = ::write(fd, data + done, size - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) CBNN_FAIL(what, ": cannot write '", tmp, "': ", errno_text());
        done += static_cast<size_t>(n);
    }
}

// Best effort: makes the rename itself durable. Failure here loses nothing already written.
void sync_directory_of(const std::string& path) {
    std::filesystem::path dir = std::filesystem::path(path).parent_path();
    if (dir.empty()) dir = std::filesystem::path(".");
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return;
    ::fsync(fd);
    ::close(fd);
}

}  // namespace

void write_file_atomic(const std::string& path, const void* data, size_t size,
                       const std::string& what) {
    const std::string tmp = path + ".tmp";
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) CBNN_FAIL(what, ": cannot create '", tmp, "': ", errno_text());
    try {
        write_all(fd, static_cast<const uint8_t*>(data), size, tmp, what);
        if (::fsync(fd) != 0) CBNN_FAIL(what, ": cannot sync '", tmp, "': ", errno_text());
    } catch (...) {
        ::close(fd);
        ::unlink(tmp.c_str());
        throw;
    }
    if (::close(fd) != 0) {
        const std::string why = errno_text();
        ::unlink(tmp.c_str());
        CBNN_FAIL(what, ": cannot close '", tmp, "': ", why);
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
        const std::string why = errno_text();
        ::unlink(tmp.c_str());
        CBNN_FAIL(what, ": cannot rename '", tmp, "' to '", path, "': ", why);
    }
    sync_directory_of(path);
}

std::vector<uint8_t> read_file_bytes(const std::string& path, const std::string& what) {
    CBNN_CHECK(!std::filesystem::is_directory(path), what, ": '", path, "' is a directory");
    std::ifstream in(path, std::ios::binary | std::ios::ate);
    if (!in) CBNN_FAIL(what, ": cannot open '", path, "': ", errno_text());
    const std::streamoff size = in.tellg();
    in.seekg(0);
    std::vector<uint8_t> bytes(static_cast<size_t>(std::max<std::streamoff>(size, 0)));
    in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    CBNN_CHECK(size >= 0 && in.gcount() == size, what, ": cannot read '", path, "'");
    return bytes;
}

namespace {
// The path's status; a path that cannot be looked at (a permission, a symlink loop) is said so,
// not reported as missing.
std::filesystem::file_status checked_status(const std::string& path, const std::string& what) {
    std::error_code ec;
    const std::filesystem::file_status st = std::filesystem::status(path, ec);
    CBNN_CHECK(!ec || st.type() == std::filesystem::file_type::not_found, what, " ", path,
               " cannot be read: ", ec.message());
    CBNN_CHECK(std::filesystem::exists(st), what, " ", path, " does not exist");
    return st;
}
}  // namespace

void check_regular_file(const std::string& path, const std::string& what) {
    const std::filesystem::file_status st = checked_status(path, what);
    CBNN_CHECK(!std::filesystem::is_directory(st), what, " ", path, " is a directory");
    CBNN_CHECK(std::filesystem::is_regular_file(st), what, " ", path, " is not a regular file");
}

void check_folder(const std::string& path, const std::string& what) {
    const std::filesystem::file_status st = checked_status(path, what);
    CBNN_CHECK(std::filesystem::is_directory(st), what, " ", path, " is not a folder");
}

std::string recorded_path(const std::string& path) {
    return std::filesystem::weakly_canonical(std::filesystem::absolute(path)).string();
}

}  // namespace cbnn
