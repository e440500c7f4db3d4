// TrainStep (train/train_step.h): the eager step, and its capture and replay as a CUDA graph.
#include "train/train_step.h"

#include <cstdio>

#include "autograd/grad_mode.h"
#include "tensor/error.h"

namespace cbnn::train {

Precision parse_precision(const std::string& name) {
    if (name == "fp32") return Precision::fp32;
    if (name == "tf32") return Precision::tf32;
    if (name == "bf16") return Precision::bf16;
    CBNN_FAIL("precision '", name, "': expected fp32, tf32 or bf16");
}

TrainStep::TrainStep(Layer& model, const ClassBalancedLoss& criterion, Sgd& sgd,
                     TrainStepOptions options)
    : model_(model), criterion_(criterion), sgd_(sgd), options_(options) {
    CBNN_CHECK(options.warmup_steps >= 1, "train step: warmup_steps must be >= 1, got ",
               options.warmup_steps, " (SGD's momentum buffers must exist before the capture)");
    CBNN_CHECK(is_floating(options.input_dtype), "train step: input dtype must be floating, got ",
               options.input_dtype);
    if (!options.cuda_graph) return;
    CBNN_CHECK(criterion.weights().is_cuda(), "--cuda-graph needs the model on a CUDA device (got ",
               criterion.weights().device().str(), ")");
    // Only the multi-tensor update reads the rate from device memory; a parameter it cannot take
    // would get the rate of the capturing step forever.
    for (const auto& [name, p] : sgd.parameters()) {
        CBNN_CHECK(p.is_cuda() && p.dtype() == DType::f32 && p.is_contiguous(),
                   "--cuda-graph: parameter '", name, "' is ", p.description(),
                   "; a captured step needs contiguous f32 CUDA parameters");
    }
}

TrainStep::~TrainStep() = default;

Tensor TrainStep::prepared(const Tensor& images) const {
    return images.to(options_.input_dtype, options_.input_format);  // one copy kernel at most
}

StepOutputs TrainStep::run_eager(const Tensor& images, const Tensor& labels,
                                 const std::function<void()>& inspect_gradients) {
    sgd_.zero_grad();
    const Tensor logits = model_.forward(images);
    const Tensor loss = criterion_(logits, labels);
    loss.backward();
    if (inspect_gradients) inspect_gradients();
    sgd_.step();
    return {loss.detach(), logits.detach()};
}

void TrainStep::capture() {
    sgd_.create_momentum_buffers();
    graph_ = std::make_unique<CudaGraph>();
    graph_->capture([&] { outputs_ = run_eager(images_, labels_, {}); });
    captured_training_ = model_.is_training();
    gradients_.clear();
    captured_parameters_.clear();
    for (const auto& [name, p] : sgd_.parameters()) {
        gradients_.push_back(p.grad());
        captured_parameters_.push_back(p.raw_data());
    }
}

void TrainStep::check_replayable() const {
    // The graph runs the layers in the mode they had at the capture (batch norm with batch
    // statistics and running-stat updates in training mode), whatever the module says now.
    CBNN_CHECK(model_.is_training() == captured_training_,
               "--cuda-graph: the step was captured with the model in ",
               captured_training_ ? "training" : "eval", " mode and cannot be replayed in ",
               captured_training_ ? "eval" : "training",
               " mode (restore the mode after evaluating)");
    const NamedTensors& params = sgd_.parameters();
    for (size_t i = 0; i < params.size(); ++i) {
        CBNN_CHECK(params[i].second.raw_data() == captured_parameters_[i],
                   "--cuda-graph: parameter '", params[i].first,
                   "' has moved since the step was captured (the graph still uses its old "
                   "memory); load checkpoints and move the model before the first step");
    }
}

StepOutputs TrainStep::run(const Batch& batch, double lr,
                           const std::function<void()>& inspect_gradients) {
    ++steps_;
    sgd_.set_learning_rate(lr);
    // Capture a batch shape seen twice in a row (so a partial batch right after the warm-up is not
    // what the graph is made for), and replay only that shape.
    const bool repeated_shape = batch.images.shape() == previous_shape_;
    previous_shape_ = batch.images.shape();
    const bool graph_fits =
        graph_ ? batch.images.shape() == images_.shape() && batch.labels.shape() == labels_.shape()
               : repeated_shape;
    if (!options_.cuda_graph || steps_ <= options_.warmup_steps || !graph_fits) {
        return run_eager(prepared(batch.images), batch.labels, inspect_gradients);
    }
    if (graph_) {
        check_replayable();
    } else {  // the graph's inputs, allocated before the capture so that they outlive it
        images_ = Tensor::empty(batch.images.shape(), options_.input_dtype, batch.images.device(),
                                options_.input_format);
        labels_ = Tensor::empty(batch.labels.shape(), batch.labels.dtype(), batch.labels.device());
    }
    {
        NoGradGuard no_grad;
        images_.copy_(batch.images);
        labels_.copy_(batch.labels);
    }
    if (!graph_) {
        try {
            capture();  // records the step on images_ and labels_; nothing runs yet
        } catch (const Error& e) {
            // Nothing of the step ran on the device (CudaGraph ended the capture and freed its
            // pool), so it still trains: said once, then eager from here on (slower, same
            // results), rather than ending the run.
            std::fprintf(stderr,
                         "cbnn: --cuda-graph: the training step could not be captured (%s); "
                         "training goes on without the graph\n",
                         e.what());
            graph_.reset();
            options_.cuda_graph = false;
            images_ = labels_ = Tensor();
            return run_eager(prepared(batch.images), batch.labels, inspect_gradients);
        }
    }
    graph_->replay();
    ++replays_;
    const NamedTensors& params = sgd_.parameters();
    for (size_t i = 0; i < params.size(); ++i) params[i].second.set_grad(gradients_[i]);
    if (inspect_gradients) inspect_gradients();
    return outputs_;
}

}  // namespace cbnn::train
