#pragma once
// The CUDA execution context (CUDA builds only): one non-blocking stream per device on which every
// cbnn kernel, copy and library call is queued. One stream keeps the caching allocator's reuse safe
// (tensor/allocator.h) and lets a whole training step be captured as a CUDA graph.

#include <cuda_runtime_api.h>

#include <cstdint>

namespace cbnn::cuda {

// The stream of the current device (created on first use; requires a GPU).
cudaStream_t current_stream();
int current_device();
// Blocks per grid for a 1-D launch over n items, capped so grid-stride loops cover the rest.
unsigned int grid_for(int64_t n, int block);

}  // namespace cbnn::cuda
