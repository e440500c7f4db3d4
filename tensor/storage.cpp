#include "tensor/storage.h"

#include "tensor/allocator.h"
#include "tensor/backend.h"

namespace cbnn {

Storage::Storage(size_t nbytes, Device device) : nbytes_(nbytes), device_(device) {
    data_ = device.is_cuda() ? cuda_allocator().allocate(nbytes) : cpu_allocator().allocate(nbytes);
}

Storage::~Storage() {
    // The CUDA allocator exists whenever a CUDA storage was created, so this cannot throw.
    if (device_.is_cuda()) {
        if (cuda_available()) cuda_allocator().deallocate(data_);
    } else {
        cpu_allocator().deallocate(data_);
    }
}

}  // namespace cbnn
