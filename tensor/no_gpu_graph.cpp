// CudaGraph (tensor/cuda_graph.h) in builds without CUDA: nothing can be captured.
#ifndef CBNN_WITH_CUDA

#include "tensor/cuda_graph.h"
#include "tensor/error.h"

namespace cbnn {

struct CudaGraph::State {};

CudaGraph::CudaGraph() { CBNN_FAIL("cuda graph: this build of cbnn has no CUDA backend"); }
CudaGraph::~CudaGraph() = default;
bool CudaGraph::captured() const { return false; }
void CudaGraph::capture(const std::function<void()>&) {
    CBNN_FAIL("cuda graph: this build of cbnn has no CUDA backend");
}
void CudaGraph::replay() { CBNN_FAIL("cuda graph: this build of cbnn has no CUDA backend"); }

}  // namespace cbnn

#endif
