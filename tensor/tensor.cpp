#include "tensor/tensor.h"

#include <cstring>
#include <sstream>

#include "autograd/grad_mode.h"
#include "tensor/backend.h"
#include "tensor/copy.h"
#include "tensor/dispatch.h"

namespace cbnn {

namespace {

std::shared_ptr<TensorImpl> new_impl(const Shape& shape, DType dtype, Device device,
                                     MemoryFormat format = MemoryFormat::contiguous) {
    for (int64_t s : shape) CBNN_CHECK(s >= 0, "tensor: negative size in shape ", shape);
    CBNN_CHECK(shape.size() <= static_cast<size_t>(kMaxDims), "tensor: shape ", shape,
               " has more than ", kMaxDims, " dimensions");
    if (device.is_cuda()) require_cuda("tensor on " + device.str());
    auto impl = std::make_shared<TensorImpl>();
    impl->storage = std::make_shared<Storage>(
        static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype), device);
    impl->shape = shape;
    impl->strides = format_strides(shape, format);
    impl->dtype = dtype;
    return impl;
}

}  // namespace

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
    return Tensor(new_impl(shape, dtype, device));
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device, MemoryFormat format) {
    return Tensor(new_impl(shape, dtype, device, format));
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
    return full(shape, 0.0, dtype, device);
}

Tensor Tensor::ones(const Shape& shape, DType dtype, Device device) {
    return full(shape, 1.0, dtype, device);
}

Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device device) {
    Tensor t = empty(shape, dtype, device);
    t.fill_(value);
    return t;
}

Tensor Tensor::arange(int64_t n, DType dtype, Device device) {
    CBNN_CHECK(n >= 0, "arange: negative length ", n);
    std::vector<int64_t> values(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) values[static_cast<size_t>(i)] = i;
    Tensor t = from_vector<int64_t>(values, {n}, device);
    return dtype == DType::i64 ? t : ops::cast(t, dtype);
}

template <class T>
Tensor Tensor::from_vector(const std::vector<T>& values, const Shape& shape, Device device) {
    CBNN_CHECK(static_cast<int64_t>(values.size()) == shape_numel(shape),
               "from_vector: ", values.size(), " values do not fill shape ", shape, " (",
               shape_numel(shape), " elements)");
    Tensor host = empty(shape, dtype_of<T>(), Device::cpu());
    if (!values.empty()) std::memcpy(host.raw_data(), values.data(), values.size() * sizeof(T));
    return device.is_cpu() ? host : ops::to_device(host, device);
}

template Tensor Tensor::from_vector<float>(const std::vector<float>&, const Shape&, Device);
template Tensor Tensor::from_vector<double>(const std::vector<double>&, const Shape&, Device);
template Tensor Tensor::from_vector<int64_t>(const std::vector<int64_t>&, const Shape&, Device);
template Tensor Tensor::from_vector<uint8_t>(const std::vector<uint8_t>&, const Shape&, Device);
template Tensor Tensor::from_vector<bfloat16>(const std::vector<bfloat16>&, const Shape&, Device);

Tensor Tensor::make_view(const Tensor& base, const Shape& shape, const Shape& strides,
                         int64_t offset) {
    auto impl = std::make_shared<TensorImpl>();
    impl->storage = base.impl().storage;
    impl->offset = offset;
    impl->shape = shape;
    impl->strides = strides;
    impl->dtype = base.dtype();
    return Tensor(std::move(impl));
}

int64_t Tensor::size(int64_t d) const { return shape()[normalize_dim(d, dim(), "size")]; }

bool Tensor::is_contiguous() const {
    // An empty tensor addresses no element, so any strides will do (Tensor::zeros({2, 0}) must be
    // fillable); has_memory_format says so.
    return has_memory_format(shape(), strides(), MemoryFormat::contiguous);
}

bool Tensor::is_contiguous(MemoryFormat format) const {
    return has_memory_format(shape(), strides(), format);
}

MemoryFormat Tensor::memory_format() const {
    return !is_contiguous() && is_contiguous(MemoryFormat::channels_last)
               ? MemoryFormat::channels_last
               : MemoryFormat::contiguous;
}

std::string Tensor::description() const {
    if (!defined()) return "undefined";
    std::ostringstream os;
    os << dtype() << shape() << ' ' << device();
    return os.str();
}

void* Tensor::raw_data() const {
    return static_cast<char*>(impl().storage->data()) +
           static_cast<size_t>(impl().offset) * dtype_size(dtype());
}

template <class T>
T* Tensor::data() const {
    CBNN_CHECK(dtype() == dtype_of<T>(), "tensor: data<", dtype_of<T>(), ">() called on ",
               description());
    return static_cast<T*>(raw_data());
}

template <class T>
std::vector<T> Tensor::to_vector() const {
    CBNN_CHECK(dtype() == dtype_of<T>(), "tensor: to_vector<", dtype_of<T>(), ">() called on ",
               description());
    const Tensor host = ops::to_device(ops::dense(*this), Device::cpu());
    const T* p = host.data<T>();
    return std::vector<T>(p, p + numel());
}

template <class T>
T Tensor::item() const {
    CBNN_CHECK(numel() == 1, "item: expected a one-element tensor, got ", description());
    return to_vector<T>()[0];
}

#define CBNN_INSTANTIATE_ACCESSORS(T)                     \
    template T* Tensor::data<T>() const;                  \
    template std::vector<T> Tensor::to_vector<T>() const; \
    template T Tensor::item<T>() const;
CBNN_INSTANTIATE_ACCESSORS(float)
CBNN_INSTANTIATE_ACCESSORS(double)
CBNN_INSTANTIATE_ACCESSORS(int64_t)
CBNN_INSTANTIATE_ACCESSORS(uint8_t)
CBNN_INSTANTIATE_ACCESSORS(bfloat16)
#undef CBNN_INSTANTIATE_ACCESSORS

Tensor& Tensor::fill_(double value) {
    autograd::check_inplace_allowed(*this, "fill_");
    // Any dense layout: the fill writes every element of the storage span either way.
    CBNN_CHECK(is_contiguous() || is_contiguous(MemoryFormat::channels_last),
               "fill_: non-contiguous tensors are not supported (", description(), ")");
    if (numel() > 0) {
        if (is_cuda()) {
            CBNN_ON_CUDA(cuda::fill(dtype(), raw_data(), numel(), value));
        } else {
            cpu::fill(dtype(), raw_data(), numel(), value);
        }
    }
    bump_version();
    return *this;
}

Tensor& Tensor::copy_(const Tensor& src) {
    autograd::check_inplace_allowed(*this, "copy_");
    ops::copy_into(*this, src);
    return *this;
}

void check_defined(const Tensor& t, const char* op) {
    CBNN_CHECK(t.defined(), op, ": got an undefined tensor");
}

void check_same_device(const Tensor& a, const Tensor& b, const char* op) {
    CBNN_CHECK(a.device() == b.device(), op, ": tensors on different devices (", a.description(),
               " and ", b.description(), ")");
}

void check_dtype(const Tensor& t, DType dtype, const char* op, const char* name) {
    CBNN_CHECK(t.dtype() == dtype, op, ": expected ", name, " of dtype ", dtype, ", got ",
               t.description());
}

void check_cuda_float(const Tensor& t, const char* op) {
    CBNN_CHECK(!t.is_cuda() || t.dtype() == DType::f32, op,
               ": CUDA kernels compute in f32 (f64 is CPU-only), got ", t.description());
}

void check_cuda_float_or_bf16(const Tensor& t, const char* op) {
    CBNN_CHECK(!t.is_cuda() || t.dtype() == DType::f32 || t.dtype() == DType::bf16, op,
               ": CUDA kernels compute in f32 or bf16 (f64 is CPU-only), got ", t.description());
}

bool channels_last_on_cpu(const Tensor& t) {
    return !t.is_cuda() && t.memory_format() == MemoryFormat::channels_last;
}

}  // namespace cbnn
