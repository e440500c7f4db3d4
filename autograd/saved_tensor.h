#pragma once
// A tensor saved by a node for its backward. It keeps a detached alias (same storage, no graph
// history, so an output saved by its own producer makes no reference cycle) and the storage
// version at save time. unpack() refuses a tensor that was modified in place since, and a tensor
// whose graph was already freed by a backward without retain_graph.

#include <cstdint>

#include "tensor/tensor.h"

namespace cbnn::autograd {

class SavedTensor {
  public:
    SavedTensor() = default;
    SavedTensor(const Tensor& tensor, const char* name);

    // `node` names the backward in the error message.
    Tensor unpack(const char* node) const;
    void release();

  private:
    Tensor data_;
    uint64_t version_ = 0;
    const char* name_ = "";
    bool released_ = false;
};

}  // namespace cbnn::autograd
