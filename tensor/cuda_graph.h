#pragma once
// A CUDA graph captured from cbnn's stream (tensor/cuda_context.h) and replayed.
//
//   CudaGraph graph;
//   graph.capture([&] { step(); });   // queues nothing: records step()'s kernels and copies
//   for (...) graph.replay();         // one launch runs them all again, on the same addresses
//
// Every kernel, copy and library call of cbnn goes to one stream, so capturing that stream
// records the whole of `work`. Replays run the recorded work on the same device addresses, so:
// - the memory `work` allocates comes from the graph's private pool of the CUDA caching allocator
//   (tensor/allocator.h) and stays reserved for the graph until it is destroyed; tensors that
//   outlive the capture (outputs, gradients) keep pointing at what every replay rewrites;
// - inputs are fed by writing into tensors allocated before the capture (copy_ into them), not by
//   passing new tensors; host values baked into kernel arguments (a learning rate, a batch size)
//   are frozen: anything that changes between replays must live in device memory;
// - host code inside `work` runs once, at capture (host-side counters do not advance on replay);
// - `work` must not synchronise with the host (cudaStreamSynchronize, a device-to-host copy such
//   as item()), which capture forbids. Such a call fails the capture: capture() then throws a
//   cbnn::Error naming the call, and the graph stays empty.
// Capture uses cudaStreamCaptureModeThreadLocal: other threads (data loaders) may keep using CUDA.
// Requires a GPU; in a build without CUDA every member but the destructor throws.

#include <functional>
#include <memory>

namespace cbnn {

class CudaGraph {
  public:
    CudaGraph();
    ~CudaGraph();
    CudaGraph(const CudaGraph&) = delete;
    CudaGraph& operator=(const CudaGraph&) = delete;

    // Records what `work` queues on cbnn's stream (nothing runs). A graph is captured once: a
    // second capture() throws. If `work` throws, or capture fails, the capture is ended, its
    // private memory released and the error rethrown.
    void capture(const std::function<void()>& work);
    // Queues one run of the captured work on cbnn's stream (asynchronous, like a kernel launch).
    void replay();
    bool captured() const;

  private:
    struct State;
    std::unique_ptr<State> state_;
};

}  // namespace cbnn
