#include "layers/cudnn_fallback.h"

#include <cstdio>

namespace cbnn {

bool CudnnFallback::refused(const std::string& config) const {
    const std::lock_guard<std::mutex> lock(mutex_);
    return refused_.count(config) != 0;
}

void CudnnFallback::refuse(const std::string& config, const char* why) {
    const std::lock_guard<std::mutex> lock(mutex_);
    if (!refused_.insert(config).second) return;
    std::fprintf(stderr,
                 "cbnn: %s: cuDNN refused %s (%s); cbnn's own kernels take it from now on\n",
                 op_.c_str(), config.c_str(), why);
}

}  // namespace cbnn
