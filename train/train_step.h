#pragma once
// One training step, run eagerly or replayed from a CUDA graph (train/train_loop.h uses it).
//
//   step    sgd.zero_grad(); logits = model(images); loss = criterion(logits, labels);
//           loss.backward(); [inspect the gradients]; sgd.step(lr)
//
// Eager mode runs exactly that: a few hundred kernel launches and the autograd engine's
// bookkeeping on the host per step. For ResNet-32 at batch 128 the host needs about as long to
// queue a step as the GPU to run it (docs/performance.md), so the GPU waits on the host.
//
// Graph mode (CUDA only) records the step once as a CUDA graph (tensor/cuda_graph.h) and then
// replays it with one launch per step:
//   warm-up  the first `warmup_steps` steps run eagerly: cuDNN picks its algorithms, the caching
//            allocator fills, SGD creates its momentum buffers (a buffer created inside the
//            graph would be zeroed on every replay)
//   capture  the next step whose batch has the previous step's shape (so not a partial batch)
//            copies its batch into static input tensors (in the input dtype and layout), sets the
//            learning rate (Sgd::set_learning_rate: a device scalar) and records zero_grad,
//            forward, loss, backward and sgd.step() reading those inputs and that scalar; then
//            replays it
//   replay   every later step with the same batch shape: copy the batch in, set the rate, replay
//            (no allocation, no host synchronisation, no autograd bookkeeping); the model must be
//            in the training mode it had at the capture (the graph cannot follow model.eval())
//   other    a batch of another shape (an epoch's partial last batch) runs eagerly; the graph stays
//   failure  a step that cannot be captured (something in it is not capturable) is said once on
//            stderr and run eagerly, and graph mode is off from then on (graph_mode() false)
// The loss and logits returned are the graph's static outputs: valid until the next run().
// The gradients the graph writes are handed back to the parameters (Tensor::grad) after each
// replay, so the caller can inspect them; in graph mode that happens after the update (the
// update is part of the graph), in eager mode before it. Eager and graph steps queue the same
// kernels in the same order, so they agree as closely as two eager runs agree with each other
// (tests/train/test_train_step_cuda.cpp).

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "data/loader.h"
#include "layers/module.h"
#include "losses/cb_loss.h"
#include "tensor/cuda_graph.h"
#include "tensor/tensor.h"
#include "train/sgd.h"

namespace cbnn::train {

// The arithmetic of training (--precision):
//   fp32  FP32 storage and math (the paper's protocol; the default)
//   tf32  FP32 storage, TF32 tensor cores in convolutions and matmuls (tensor/backend.h)
//   bf16  mixed precision: the batch is cast to bf16 and the body of the ResNet runs in bf16
//         (convolutions on bf16 casts of the f32 weights, batch norm with f32 parameters and
//         statistics); parameters, gradients, SGD state, the head and the loss stay f32
// Evaluation runs on the f32 parameters: in FP32 for bf16 runs, with TF32 for tf32 runs.
enum class Precision { fp32, tf32, bf16 };
// "fp32" | "tf32" | "bf16"; anything else throws naming the value.
Precision parse_precision(const std::string& name);

struct TrainStepOptions {
    bool cuda_graph = false;         // replay a captured step (requires a CUDA model)
    DType input_dtype = DType::f32;  // the images are cast to this before the forward (bf16)
    // The images are laid out in this before the forward: channels_last (NHWC) runs every layer
    // of the model channels-last (tensor/memory_format.h; --layout nhwc).
    MemoryFormat input_format = MemoryFormat::contiguous;
    int64_t warmup_steps = 2;  // eager steps before the capture (>= 1)
};

struct StepOutputs {
    Tensor loss;    // 0-d, detached
    Tensor logits;  // (B, classes), detached
};

class TrainStep {
  public:
    // The model, loss and optimiser must outlive this object; with options.cuda_graph the model's
    // parameters must stay where they are (load checkpoints before the first step: the graph
    // holds their addresses; a replay after one moved throws).
    TrainStep(Layer& model, const ClassBalancedLoss& criterion, Sgd& sgd,
              TrainStepOptions options = {});
    ~TrainStep();

    // One step on `batch` with learning rate `lr`. `inspect_gradients` (may be empty) sees the
    // step's gradients in the parameters' grad(): before the update in eager mode, after it in
    // graph mode.
    StepOutputs run(const Batch& batch, double lr,
                    const std::function<void()>& inspect_gradients = {});

    // Whether steps are replayed from a graph (false after a failed capture).
    bool graph_mode() const { return options_.cuda_graph; }
    // Steps replayed from the graph so far (the capturing step included).
    int64_t replays() const { return replays_; }

  private:
    // The batch in the input dtype and format (itself when it already is).
    Tensor prepared(const Tensor& images) const;
    StepOutputs run_eager(const Tensor& images, const Tensor& labels,
                          const std::function<void()>& inspect_gradients);
    // Records zero_grad, forward, loss, backward and SGD on images_ and labels_ into graph_.
    void capture();
    // Throws when the graph cannot be replayed: the model's training mode differs from the
    // capture's, or a parameter's data is no longer where the capture found it.
    void check_replayable() const;

    Layer& model_;
    const ClassBalancedLoss& criterion_;
    Sgd& sgd_;
    TrainStepOptions options_;
    int64_t steps_ = 0;
    int64_t replays_ = 0;
    std::unique_ptr<CudaGraph> graph_;
    Shape previous_shape_;           // the previous step's image shape
    Tensor images_, labels_;         // the graph's inputs
    StepOutputs outputs_;            // the graph's outputs
    std::vector<Tensor> gradients_;  // the graph's gradients, one per parameter (or undefined)
    bool captured_training_ = true;  // the model's training mode at the capture
    // Where each parameter's data was at the capture: the graph reads and writes there, so a
    // parameter moved since (Module::to, a replaced tensor) must stop the replays.
    std::vector<const void*> captured_parameters_;
};

}  // namespace cbnn::train
