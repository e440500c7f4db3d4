#include "layers/module.h"

#include <sstream>

#include "tensor/copy.h"

namespace cbnn {

namespace {

// 464154 -> "464,154": parameter counts of real models are long.
std::string with_commas(int64_t n) {
    const std::string digits = std::to_string(n);
    std::string out;
    for (size_t i = 0; i < digits.size(); ++i) {
        if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
        out += digits[i];
    }
    return out;
}

}  // namespace

void Module::check_new_name(const std::string& name) const {
    CBNN_CHECK(!name.empty() && name.find('.') == std::string::npos, type_name(),
               ": invalid name '", name, "' (non-empty, no dots)");
    auto taken = [&](const auto& list) {
        for (const auto& [n, _] : list)
            if (n == name) return true;
        return false;
    };
    CBNN_CHECK(!taken(parameters_) && !taken(buffers_) && !taken(children_), type_name(),
               ": the name '", name, "' is registered twice");
}

Tensor Module::register_parameter(const std::string& name, Tensor tensor) {
    check_new_name(name);
    check_defined(tensor, "register_parameter");
    CBNN_CHECK(tensor.is_leaf(), type_name(), ": parameter '", name, "' must be a leaf tensor");
    tensor.set_requires_grad(true);
    parameters_.emplace_back(name, tensor);
    return tensor;
}

Tensor Module::register_buffer(const std::string& name, Tensor tensor) {
    check_new_name(name);
    check_defined(tensor, "register_buffer");
    buffers_.emplace_back(name, tensor);
    return tensor;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> module) {
    check_new_name(name);
    CBNN_CHECK(module != nullptr, type_name(), ": child module '", name, "' is null");
    children_.emplace_back(name, std::move(module));
}

void Module::collect(const std::string& prefix, bool parameters, NamedTensors& out) const {
    for (const auto& [name, t] : parameters ? parameters_ : buffers_)
        out.emplace_back(prefix + name, t);
    for (const auto& [name, child] : children_)
        child->collect(prefix + name + ".", parameters, out);
}

NamedTensors Module::named_parameters() const {
    NamedTensors out;
    collect("", true, out);
    return out;
}

NamedTensors Module::named_buffers() const {
    NamedTensors out;
    collect("", false, out);
    return out;
}

std::vector<Tensor> Module::parameters() const {
    std::vector<Tensor> out;
    for (const auto& [name, t] : named_parameters()) out.push_back(t);
    return out;
}

Tensor Module::parameter(const std::string& name) const {
    for (const auto& [n, t] : named_parameters())
        if (n == name) return t;
    CBNN_FAIL(type_name(), ": no parameter named '", name, "'");
}

int64_t Module::parameter_count() const {
    int64_t n = 0;
    for (const auto& [name, t] : named_parameters()) n += t.numel();
    return n;
}

void Module::train(bool on) {
    training_ = on;
    for (auto& [name, child] : children_) child->train(on);
}

void Module::to(Device device) {
    auto move = [&](const Tensor& t) {
        if (t.device() == device) return;
        const Tensor moved = ops::to_device(t.detach(), device);
        TensorImpl& impl = t.impl();
        impl.storage = moved.impl().storage;
        impl.offset = moved.offset();
        impl.strides = moved.strides();
        impl.grad = nullptr;
    };
    for (const auto& [name, t] : named_parameters()) move(t);
    for (const auto& [name, t] : named_buffers()) move(t);
}

void Module::zero_grad() {
    for (const auto& [name, t] : named_parameters()) t.set_grad(Tensor());
}

void Module::summarize(const std::string& name, int depth, std::string& out) const {
    std::ostringstream line;
    int64_t own = 0;
    for (const auto& [n, t] : parameters_) own += t.numel();
    line << std::string(static_cast<size_t>(2 * depth), ' ') << (name.empty() ? "" : name + ": ")
         << type_name();
    if (own > 0) line << " (" << with_commas(own) << " parameters)";
    out += line.str() + "\n";
    for (const auto& [n, child] : children_) child->summarize(n, depth + 1, out);
}

std::string Module::summary() const {
    std::string out;
    summarize("", 0, out);
    return out + "total: " + with_commas(parameter_count()) + " parameters\n";
}

Sequential::Sequential(std::vector<std::shared_ptr<Layer>> layers) {
    for (auto& layer : layers) add(std::move(layer));
}

Sequential& Sequential::add(std::shared_ptr<Layer> layer) {
    register_module(std::to_string(layers_.size()), layer);
    layers_.push_back(std::move(layer));
    return *this;
}

Tensor Sequential::forward(const Tensor& x) {
    Tensor y = x;
    for (const auto& layer : layers_) y = layer->forward(y);
    return y;
}

}  // namespace cbnn
