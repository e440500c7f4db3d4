#pragma once
// Runs cuDNN's implementation of an op, or cbnn's own when cuDNN refuses the configuration.
// Some combinations cuDNN's documentation leaves open (batch norm on bf16 data, channels-last
// descriptors) can only be settled on a GPU; where cbnn has kernels of its own for the same op,
// tested against the same CPU reference, a refusal (UnsupportedByLibraryError: cuDNN's
// NOT_SUPPORTED or BAD_PARAM, raised before any work) should not end a training run. The first
// refusal of a configuration is said once on stderr and remembered, so later calls go straight to
// cbnn's kernels (also inside a CUDA graph: the eager warm-up steps meet the refusal first).
// Any other error propagates. Header-only: CPU-only builds leave out every cudnn*.cpp file.
//
//   static CudnnFallback fallback("batch_norm2d");
//   fallback.run("bf16 nhwc", [&] { cudnn_version(...); }, [&] { own_version(...); });

#include <cstdio>
#include <mutex>
#include <set>
#include <string>
#include <utility>

#include "tensor/error.h"

namespace cbnn {

class CudnnFallback {
  public:
    explicit CudnnFallback(std::string op) : op_(std::move(op)) {}

    // Whether cuDNN refused `config` before.
    bool refused(const std::string& config) const {
        const std::lock_guard<std::mutex> lock(mutex_);
        return refused_.count(config) != 0;
    }

    // cudnn(), unless `config` was refused before or cudnn() throws UnsupportedByLibraryError;
    // then own().
    template <class Cudnn, class Own>
    void run(const std::string& config, Cudnn&& cudnn, Own&& own) {
        if (!refused(config)) {
            try {
                cudnn();
                return;
            } catch (const UnsupportedByLibraryError& e) {
                refuse(config, e.what());
            }
        }
        own();
    }

  private:
    void refuse(const std::string& config, const char* why) {
        const std::lock_guard<std::mutex> lock(mutex_);
        if (!refused_.insert(config).second) return;
        std::fprintf(stderr,
                     "cbnn: %s: cuDNN refused %s (%s); cbnn's own kernels take it from now on\n",
                     op_.c_str(), config.c_str(), why);
    }

    std::string op_;
    mutable std::mutex mutex_;
    std::set<std::string> refused_;
};

}  // namespace cbnn
