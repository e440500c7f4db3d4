#pragma once
// One training process per run folder: RunLock holds an exclusive advisory lock (flock) on
// <dir>/run.lock while a trainer writes the folder, so that a second trainer (or a second sweep)
// started on the same --out is refused at once instead of interleaving metrics.jsonl lines and
// checkpoints. The kernel drops the lock when the process ends, however it ends (a kill -9
// included), so a stale run.lock file never blocks a later resume. Where the file system has no
// flock (some NFS and Lustre mounts), a warning says so and the run goes on unlocked.

#include <filesystem>

namespace cbnn::train {

class RunLock {
  public:
    // Creates `dir` if missing and takes the lock; throws a cbnn::Error naming the folder when
    // another process holds it or the lock file cannot be made.
    explicit RunLock(const std::filesystem::path& dir);
    ~RunLock();
    RunLock(const RunLock&) = delete;
    RunLock& operator=(const RunLock&) = delete;

    static std::filesystem::path path_in(const std::filesystem::path& dir) {
        return dir / "run.lock";
    }

  private:
    int fd_ = -1;
};

}  // namespace cbnn::train
