#pragma once
// Whole-file reads and crash-safe writes, shared by every file format of the project (state files,
// checkpoints, run reports, datasets).
//
// write_file_atomic writes "<path>.tmp", fsyncs it, renames it over `path` and then fsyncs the
// folder (best effort: that only makes the rename itself durable). A crash at any point leaves
// either the old file or the new one, never half of one; on failure the temporary is removed.
// Errors are cbnn::Error "<what>: cannot create|write|sync|close|rename '<file>': <reason>".

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace cbnn {

void write_file_atomic(const std::string& path, const void* data, size_t size,
                       const std::string& what);
inline void write_file_atomic(const std::string& path, const std::string& contents,
                              const std::string& what) {
    write_file_atomic(path, contents.data(), contents.size(), what);
}

// The whole file; "<what>: cannot open '<path>': <reason>" (or "... is a directory") otherwise.
std::vector<uint8_t> read_file_bytes(const std::string& path, const std::string& what);

// Input paths named by the user, checked before they are read: a cbnn::Error "<what> <path> does
// not exist", "<what> <path> is a directory" (a file was expected) or "<what> <path> is not a
// regular file"; "<what> <path> is not a folder" (a folder was expected). Links are followed.
void check_regular_file(const std::string& path, const std::string& what);
void check_folder(const std::string& path, const std::string& what);

// `path` absolute and canonical as far as it exists (links resolved, "." and ".." gone): how a run
// records the paths of its input, so that cbnn-eval and --resume find them from any folder.
std::string recorded_path(const std::string& path);

}  // namespace cbnn
