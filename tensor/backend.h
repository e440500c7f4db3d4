#pragma once
// What the build and the machine offer. These functions exist in every build; in a CPU-only
// build (no nvcc/cuDNN at configure time) built_with_cuda() is false and CUDA is never available.

#include <string>

#include "tensor/scoped_setting.h"

namespace cbnn {

bool built_with_cuda();
// True when the CUDA backend is built and a GPU with a working driver is present. Never throws:
// any error from cudaGetDeviceCount (no driver gives cudaErrorInsufficientDriver) means "no GPU".
bool cuda_available();
// Why cuda_available() is false, for messages ("cbnn was built without CUDA", "no CUDA driver...").
std::string cuda_unavailable_reason();
// Throws cbnn::Error "<what>: CUDA was requested but ..." when CUDA is not available.
void require_cuda(const std::string& what);
// Waits for all work queued on the current device's stream.
void cuda_synchronize();
// TF32 tensor-core math for float32 matmul/convolution. Off by default: FP32 math unless asked.
void set_allow_tf32(bool allow);
bool allow_tf32();

// Sets allow_tf32 for a scope (tensor/scoped_setting.h).
using Tf32Setting = ScopedSetting<bool, allow_tf32, set_allow_tf32>;
// CBNN_CUDA_SYNC=1 in the environment: synchronise and check after every kernel launch, so an
// asynchronous error is reported at the launch that caused it.
bool cuda_sync_after_launch();

}  // namespace cbnn
