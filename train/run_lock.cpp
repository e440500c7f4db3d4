// The run folder's lock (train/run_lock.h).
#include "train/run_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "tensor/error.h"
#include "train/report.h"

namespace cbnn::train {

RunLock::RunLock(const std::filesystem::path& dir) {
    create_run_folder(dir);
    const std::filesystem::path path = path_in(dir);
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    CBNN_CHECK(fd_ >= 0, "cannot open the run folder's lock file ", path.string(), ": ",
               std::strerror(errno));
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
        const int error = errno;
        ::close(fd_);
        fd_ = -1;
        CBNN_CHECK(error != EWOULDBLOCK, "output folder ", dir.string(),
                   " is in use by another training process (it holds ", path.string(),
                   "); wait for it to end or choose another --out");
        // A file system without flock (some NFS and Lustre mounts) must not stop training.
        CBNN_CHECK(error == ENOLCK || error == ENOSYS || error == EOPNOTSUPP || error == EINVAL,
                   "cannot lock ", path.string(), ": ", std::strerror(error));
        std::fprintf(stderr,
                     "warning: %s cannot be locked here (%s): nothing stops a second "
                     "trainer on this folder\n",
                     path.c_str(), std::strerror(error));
    }
}

RunLock::~RunLock() {
    if (fd_ >= 0) ::close(fd_);  // closing the descriptor releases the lock
}

}  // namespace cbnn::train
