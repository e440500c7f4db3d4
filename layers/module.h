#pragma once
// Module: the base of every layer and model. A module owns named parameters (tensors that
// require grad, updated by the optimiser), named buffers (state that is not trained, e.g. batch
// norm's running statistics) and named child modules. Names are dotted paths from the root,
// "layer1.0.conv1.weight", the keys of saved state (layers/state_io.h).
//
// Parameters and buffers are registered once, in the constructor, and held by handle: to(device)
// moves their data in place (the Tensor handles stay the same), so a layer's members, the
// optimiser and the module all keep seeing the same tensors.
//
//   class Linear : public Layer {
//     public:
//       Linear(int64_t in, int64_t out) {
//           weight_ = register_parameter("weight", Tensor::zeros({out, in}));
//       }
//       Tensor forward(const Tensor& x) override { return matmul(x, weight_.t()); }
//     private:
//       Tensor weight_;
//   };

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tensor/tensor.h"

namespace cbnn {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

class Module {
  public:
    virtual ~Module() = default;
    // "Conv2d", "BatchNorm2d", ... (for printing and error messages).
    virtual std::string type_name() const = 0;

    // Recursive, in registration order, own entries before children's.
    NamedTensors named_parameters() const;
    NamedTensors named_buffers() const;
    std::vector<Tensor> parameters() const;
    // The parameter with this dotted name ("fc.bias"); throws naming it when there is none.
    Tensor parameter(const std::string& name) const;
    int64_t parameter_count() const;  // number of elements over all parameters
    const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& children() const {
        return children_;
    }

    // Training mode (batch statistics in batch norm) or evaluation mode (running statistics).
    // Recursive.
    void train(bool on = true);
    void eval() { train(false); }
    bool is_training() const { return training_; }

    // Moves every parameter and buffer to `device` in place (handles stay valid; grads dropped).
    void to(Device device);
    // Drops the accumulated gradient of every parameter.
    void zero_grad();
    // One line per module, indented by depth: "ResNet32 (464,154 parameters)" style summary.
    std::string summary() const;

  protected:
    // Registers a floating leaf as a trainable parameter (sets requires_grad) and returns it.
    Tensor register_parameter(const std::string& name, Tensor tensor);
    Tensor register_buffer(const std::string& name, Tensor tensor);
    template <class M>
    std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
        add_child(name, module);
        return module;
    }

  private:
    void add_child(const std::string& name, std::shared_ptr<Module> module);
    void check_new_name(const std::string& name) const;
    void collect(const std::string& prefix, bool parameters, NamedTensors& out) const;
    void summarize(const std::string& name, int depth, std::string& out) const;

    NamedTensors parameters_;
    NamedTensors buffers_;
    std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
    bool training_ = true;
};

// A module with one input and one output.
class Layer : public Module {
  public:
    virtual Tensor forward(const Tensor& x) = 0;
    Tensor operator()(const Tensor& x) { return forward(x); }
};

// Layers applied in order; children are named "0", "1", ...
class Sequential : public Layer {
  public:
    Sequential() = default;
    explicit Sequential(std::vector<std::shared_ptr<Layer>> layers);
    Sequential& add(std::shared_ptr<Layer> layer);
    size_t size() const { return layers_.size(); }
    const std::shared_ptr<Layer>& operator[](size_t i) const { return layers_.at(i); }
    std::string type_name() const override { return "Sequential"; }
    Tensor forward(const Tensor& x) override;

  private:
    std::vector<std::shared_ptr<Layer>> layers_;
};

}  // namespace cbnn
