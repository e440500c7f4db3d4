#pragma once
// Storage: one allocation on one device, shared by a tensor and all its views. It carries the
// version counter: every in-place write bumps it, and autograd compares it with the version
// recorded when a tensor was saved for backward (autograd/saved_tensor.h).

#include <cstddef>
#include <cstdint>

#include "tensor/device.h"

namespace cbnn {

class Storage {
  public:
    Storage(size_t nbytes, Device device);
    ~Storage();
    Storage(const Storage&) = delete;
    Storage& operator=(const Storage&) = delete;

    void* data() const { return data_; }
    size_t nbytes() const { return nbytes_; }
    Device device() const { return device_; }
    uint64_t version() const { return version_; }
    void bump_version() { ++version_; }

  private:
    void* data_ = nullptr;
    size_t nbytes_ = 0;
    Device device_;
    uint64_t version_ = 0;
};

}  // namespace cbnn
