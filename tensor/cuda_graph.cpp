// CudaGraph (tensor/cuda_graph.h) in CUDA builds: stream capture on cbnn's stream with the
// allocations routed into a private pool of the caching allocator.
#include "tensor/cuda_graph.h"

#include <cuda_runtime_api.h>

#include "tensor/allocator.h"
#include "tensor/backend.h"
#include "tensor/cuda_check.h"
#include "tensor/cuda_context.h"
#include "tensor/error.h"

namespace cbnn {

struct CudaGraph::State {
    cudaGraph_t graph = nullptr;
    cudaGraphExec_t exec = nullptr;
    CachingAllocator::PoolId pool = CachingAllocator::kSharedPool;

    // Everything the graph holds. Replays already queued keep running: the pool's blocks go to
    // the shared cache, and whatever reuses them is queued after those replays on the same stream.
    void release() noexcept {
        if (exec != nullptr) CBNN_CUDA_CHECK_NOTHROW(cudaGraphExecDestroy(exec));
        if (graph != nullptr) CBNN_CUDA_CHECK_NOTHROW(cudaGraphDestroy(graph));
        if (pool != CachingAllocator::kSharedPool) cuda_caching_allocator().release_pool(pool);
        exec = nullptr;
        graph = nullptr;
        pool = CachingAllocator::kSharedPool;
    }
};

CudaGraph::CudaGraph() : state_(std::make_unique<State>()) { require_cuda("cuda graph"); }

CudaGraph::~CudaGraph() { state_->release(); }

bool CudaGraph::captured() const { return state_->exec != nullptr; }

void CudaGraph::capture(const std::function<void()>& work) {
    CBNN_CHECK(!captured(), "cuda graph: already captured (a CudaGraph is captured once)");
    CachingAllocator& allocator = cuda_caching_allocator();
    const cudaStream_t stream = cuda::current_stream();
    state_->pool = allocator.create_pool();
    CBNN_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
    // Ends an unfinished capture (discarding what it recorded) and frees the pool.
    const auto abandon = [&] {
        cudaGraph_t partial = nullptr;
        cudaStreamEndCapture(stream, &partial);
        if (partial != nullptr) cudaGraphDestroy(partial);
        cudaGetLastError();  // capture errors are not sticky; clear them for the next launch
        state_->release();
    };
    try {
        const CachingAllocator::PoolRoute route(allocator, state_->pool);
        work();
    } catch (const Error& e) {
        abandon();
        throw Error(detail::concat(
            "cuda graph: capture failed (the captured work must not synchronise with the host, "
            "e.g. read a value with item(), and must run on cbnn's stream): ",
            e.what()));
    } catch (...) {
        abandon();
        throw;
    }
    const cudaError_t end = cudaStreamEndCapture(stream, &state_->graph);
    if (end != cudaSuccess) {
        cudaGetLastError();
        state_->release();
        CBNN_FAIL("cuda graph: capture ended with ", cudaGetErrorName(end), " (",
                  cudaGetErrorString(end),
                  "): something in the captured work was not capturable or used another stream");
    }
    // Libraries may allocate stream-ordered memory inside the capture (memory nodes); a graph
    // that leaves such an allocation unfreed can only be launched again with this flag.
    const cudaError_t instantiated = cudaGraphInstantiate(
        &state_->exec, state_->graph, cudaGraphInstantiateFlagAutoFreeOnLaunch);
    if (instantiated != cudaSuccess) {
        cudaGetLastError();
        state_->exec = nullptr;
        state_->release();
        CBNN_FAIL("cuda graph: instantiating the captured graph failed with ",
                  cudaGetErrorName(instantiated), " (", cudaGetErrorString(instantiated), ")");
    }
}

void CudaGraph::replay() {
    CBNN_CHECK(captured(), "cuda graph: replay() before capture()");
    CBNN_CUDA_CHECK(cudaGraphLaunch(state_->exec, cuda::current_stream()));
}

}  // namespace cbnn
