#include "train/sgd.h"

#include <cmath>
#include <set>
#include <utility>

#include "autograd/grad_mode.h"
#include "tensor/copy.h"
#include "tensor/dispatch.h"

namespace cbnn {

namespace cpu {

template <class T>
void sgd_update(T* p, const T* g, T* v, int64_t n, T lr, T momentum, T wd, bool nesterov) {
    for (int64_t i = 0; i < n; ++i)
        sgd_update_element(p[i], g[i], v[i], lr, momentum, wd, nesterov);
}

template void sgd_update<float>(float*, const float*, float*, int64_t, float, float, float, bool);
template void sgd_update<double>(double*, const double*, double*, int64_t, double, double, double,
                                 bool);

}  // namespace cpu

namespace {

void check_momentum(double momentum) {
    CBNN_CHECK(momentum >= 0.0 && momentum < 1.0, "sgd: momentum must be in [0, 1), got ",
               momentum);
}

void check_weight_decay(double wd) {
    CBNN_CHECK(wd >= 0.0 && std::isfinite(wd), "sgd: weight_decay must be finite and >= 0, got ",
               wd);
}

void check_lr(double lr) {
    CBNN_CHECK(lr >= 0.0 && std::isfinite(lr), "sgd: learning rate must be finite and >= 0, got ",
               lr);
}

bool ends_with(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() &&
           s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

void collect_batchnorm(const Module& module, const std::string& prefix,
                       std::vector<std::string>& out) {
    if (module.type_name() == "BatchNorm2d") {
        // named_parameters() is recursive; a BatchNorm2d has no children, so these are its own.
        for (const auto& [name, t] : module.named_parameters()) out.push_back(prefix + name);
    }
    for (const auto& [name, child] : module.children()) {
        collect_batchnorm(*child, prefix + name + ".", out);
    }
}

}  // namespace

namespace ops {

void sgd_update(const Tensor& p, const Tensor& g, const Tensor& v, double lr, double momentum,
                double weight_decay, bool nesterov) {
    const char* name = "sgd_update";
    check_defined(p, name);
    check_defined(g, name);
    check_defined(v, name);
    check_lr(lr);
    check_momentum(momentum);
    check_weight_decay(weight_decay);
    CBNN_CHECK(g.shape() == p.shape() && v.shape() == p.shape(), name,
               ": shapes differ: parameter ", p.description(), ", gradient ", g.description(),
               ", momentum ", v.description());
    CBNN_CHECK(g.dtype() == p.dtype() && v.dtype() == p.dtype(), name,
               ": dtypes differ: parameter ", p.description(), ", gradient ", g.description(),
               ", momentum ", v.description());
    check_same_device(p, g, name);
    check_same_device(p, v, name);
    CBNN_CHECK(p.is_contiguous() && g.is_contiguous() && v.is_contiguous(), name,
               ": tensors must be contiguous: parameter ", p.description(), ", gradient ",
               g.description(), ", momentum ", v.description());
    CBNN_CHECK(!p.shares_storage(v) && !g.shares_storage(v) && !p.shares_storage(g), name,
               ": parameter, gradient and momentum must not share storage (", p.description(), ")");
    autograd::check_inplace_allowed(p, name);
    if (p.is_cuda()) {
        check_cuda_float(p, name);
        CBNN_ON_CUDA(cuda::sgd_update(p.data<float>(), g.data<float>(), v.data<float>(), p.numel(),
                                      static_cast<float>(lr), static_cast<float>(momentum),
                                      static_cast<float>(weight_decay), nesterov));
    } else {
        dispatch_floating(p.dtype(), name, [&]<class T>() {
            cpu::sgd_update<T>(p.data<T>(), g.data<T>(), v.data<T>(), p.numel(), static_cast<T>(lr),
                               static_cast<T>(momentum), static_cast<T>(weight_decay), nesterov);
        });
    }
    p.bump_version();
    v.bump_version();
}

}  // namespace ops

std::vector<std::string> batchnorm_parameter_names(const Module& module) {
    std::vector<std::string> out;
    collect_batchnorm(module, "", out);
    return out;
}

Sgd::Sgd(NamedTensors parameters, SgdOptions options)
    : parameters_(std::move(parameters)), options_(std::move(options)) {
    check_momentum(options_.momentum);
    check_weight_decay(options_.weight_decay);
    CBNN_CHECK(!options_.nesterov || options_.momentum > 0.0,
               "sgd: Nesterov momentum needs momentum > 0, got ", options_.momentum);
    std::set<std::string> names;
    for (const auto& [name, t] : parameters_) {
        CBNN_CHECK(names.insert(name).second, "sgd: parameter '", name, "' appears twice");
        check_defined(t, "sgd");
        CBNN_CHECK(is_floating(t.dtype()) && t.requires_grad(), "sgd: parameter '", name,
                   "' must be a floating tensor that requires grad, got ", t.description());
    }
    for (const std::string& name : options_.no_decay_names) {
        CBNN_CHECK(names.count(name) == 1, "sgd: no_decay_names has '", name,
                   "', which is not a parameter name");
    }
    const std::set<std::string> excluded(options_.no_decay_names.begin(),
                                         options_.no_decay_names.end());
    for (const auto& [name, t] : parameters_) {
        bool decay = excluded.count(name) == 0;
        for (const std::string& suffix : options_.no_decay_suffixes) {
            if (ends_with(name, suffix)) decay = false;
        }
        if (decay && options_.no_decay && options_.no_decay(name)) decay = false;
        decay_.push_back(decay);
    }
    momentum_.resize(parameters_.size());
}

bool Sgd::decays(const std::string& name) const {
    for (size_t i = 0; i < parameters_.size(); ++i) {
        if (parameters_[i].first == name) return decay_[i];
    }
    CBNN_FAIL("sgd: no parameter named '", name, "'");
}

Tensor& Sgd::buffer_for(size_t i) {
    const Tensor& p = parameters_[i].second;
    Tensor& v = momentum_[i];
    if (!v.defined()) {
        v = Tensor::zeros(p.shape(), p.dtype(), p.device());
    } else if (v.device() != p.device() || v.dtype() != p.dtype()) {
        // The module was moved (Module::to) after the optimiser was built.
        v = v.to(p.device()).to(p.dtype()).detach();
    }
    return v;
}

void Sgd::step(double lr) {
    set_learning_rate(lr);
    step();
}

void Sgd::set_learning_rate(double lr) {
    check_lr(lr);
    lr_ = lr;
    for (const auto& [name, p] : parameters_) {
        if (!p.is_cuda()) continue;
        if (!device_lr_.defined() || device_lr_.device() != p.device())
            device_lr_ = Tensor::empty({}, DType::f32, p.device());
        NoGradGuard no_grad;
        device_lr_.fill_(lr);
        return;
    }
}

void Sgd::step() {
    CBNN_CHECK(lr_ >= 0.0, "sgd: step() before set_learning_rate()");
    NoGradGuard no_grad;
    cuda::SgdTensorList list;
    // Dense copies of strided gradients must live until the launch that reads them is queued.
    std::vector<Tensor> gradients;
    const auto launch = [&] {
        if (list.count == 0) return;
        CBNN_ON_CUDA(cuda::sgd_update_multi(list, device_lr_.data<float>(),
                                            static_cast<float>(options_.momentum),
                                            options_.nesterov));
        list.count = 0;
        gradients.clear();
    };
    for (size_t i = 0; i < parameters_.size(); ++i) {
        const auto& [name, p] = parameters_[i];
        const Tensor g = p.grad();
        if (!g.defined()) continue;
        CBNN_CHECK(g.shape() == p.shape() && g.device() == p.device() && g.dtype() == p.dtype(),
                   "sgd: gradient of '", name, "' is ", g.description(), ", parameter is ",
                   p.description());
        const double wd = decay_[i] ? options_.weight_decay : 0.0;
        const Tensor dense_g = ops::dense(g);
        Tensor& v = buffer_for(i);
        const bool batched = p.is_cuda() && p.dtype() == DType::f32 && p.is_contiguous() &&
                             device_lr_.defined() && p.device() == device_lr_.device();
        if (!batched) {
            ops::sgd_update(p, dense_g, v, lr_, options_.momentum, wd, options_.nesterov);
            continue;
        }
        autograd::check_inplace_allowed(p, "sgd");
        list.p[list.count] = p.data<float>();
        list.g[list.count] = dense_g.data<float>();
        gradients.push_back(dense_g);
        list.v[list.count] = v.data<float>();
        list.n[list.count] = p.numel();
        list.weight_decay[list.count] = static_cast<float>(wd);
        ++list.count;
        p.bump_version();
        v.bump_version();
        if (list.count == cuda::kSgdTensorsPerLaunch) launch();
    }
    launch();
}

void Sgd::create_momentum_buffers() {
    for (size_t i = 0; i < parameters_.size(); ++i) buffer_for(i);
}

void Sgd::zero_grad() {
    for (const auto& [name, p] : parameters_) p.set_grad(Tensor());
}

NamedTensors Sgd::state() const {
    NamedTensors out;
    out.reserve(parameters_.size());
    for (size_t i = 0; i < parameters_.size(); ++i) {
        const Tensor& p = parameters_[i].second;
        const Tensor& v = momentum_[i];
        out.emplace_back(parameters_[i].first,
                         v.defined() ? v : Tensor::zeros(p.shape(), p.dtype(), p.device()));
    }
    return out;
}

void Sgd::load_state(const NamedTensors& state) {
    CBNN_CHECK(state.size() == parameters_.size(), "sgd: load_state got ", state.size(),
               " momentum buffers for ", parameters_.size(), " parameters");
    for (size_t i = 0; i < parameters_.size(); ++i) {
        const auto& [name, p] = parameters_[i];
        const auto& [saved_name, saved] = state[i];
        CBNN_CHECK(saved_name == name, "sgd: load_state: entry ", i, " is '", saved_name,
                   "', expected '", name, "'");
        check_defined(saved, "sgd load_state");
        CBNN_CHECK(saved.shape() == p.shape(), "sgd: load_state: '", name, "' has shape ",
                   saved.shape(), ", parameter has ", p.shape());
        CBNN_CHECK(is_floating(saved.dtype()), "sgd: load_state: '", name,
                   "' must be floating, got ", saved.description());
    }
    NoGradGuard no_grad;
    for (size_t i = 0; i < parameters_.size(); ++i) {
        // Into the existing buffer when there is one: a captured training step (a CUDA graph)
        // holds the buffers' addresses, so loading must not move them.
        if (!momentum_[i].defined()) {
            const Tensor& p = parameters_[i].second;
            momentum_[i] = Tensor::empty(p.shape(), p.dtype(), p.device());
        }
        momentum_[i].copy_(state[i].second);
    }
}

}  // namespace cbnn
