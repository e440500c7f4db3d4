#pragma once
// Tensor: a cheap, shared handle to a TensorImpl (like std::shared_ptr). Copying a Tensor copies
// the handle; the data is shared. A TensorImpl is a view into a Storage: element offset, shape and
// strides (in elements, row-major when contiguous) and a dtype. Views (reshape, transpose, narrow,
// ...) share the storage and therefore its version counter.
//
// Autograd metadata lives in the impl: requires_grad, the accumulated grad, and grad_fn, the node
// that produced the tensor (null for leaves). View methods and arithmetic are differentiable; they
// are defined in autograd/ (autograd/functions.h declares the free functions and operators).
//
//   Tensor x = Tensor::from_vector<float>({1, 2, 3, 4}, {2, 2});
//   Tensor y = x.cuda();                 // copy to the GPU (throws a clear error without one)
//   std::vector<float> v = y.to_vector<float>();

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "tensor/device.h"
#include "tensor/dtype.h"
#include "tensor/error.h"
#include "tensor/memory_format.h"
#include "tensor/shape.h"
#include "tensor/storage.h"

namespace cbnn {

namespace autograd {
class Node;
}

class Tensor;

struct TensorImpl {
    std::shared_ptr<Storage> storage;
    int64_t offset = 0;  // in elements
    Shape shape;
    Shape strides;  // in elements
    DType dtype = DType::f32;

    // Autograd metadata (see autograd/engine.h).
    bool requires_grad = false;
    std::shared_ptr<TensorImpl> grad;
    std::shared_ptr<autograd::Node> grad_fn;         // null for leaves
    uint32_t output_nr = 0;                          // which output of grad_fn this tensor is
    std::weak_ptr<autograd::Node> grad_accumulator;  // leaves: the node that accumulates .grad
};

class Tensor {
  public:
    Tensor() = default;
    explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

    // ---- factories -------------------------------------------------------------------------
    static Tensor empty(const Shape& shape, DType dtype = DType::f32,
                        Device device = Device::cpu());
    static Tensor zeros(const Shape& shape, DType dtype = DType::f32,
                        Device device = Device::cpu());
    static Tensor ones(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
    // Uninitialised, laid out in `format` (tensor/memory_format.h; channels_last needs rank 4).
    static Tensor empty(const Shape& shape, DType dtype, Device device, MemoryFormat format);
    static Tensor full(const Shape& shape, double value, DType dtype = DType::f32,
                       Device device = Device::cpu());
    // 0, 1, ..., n-1
    static Tensor arange(int64_t n, DType dtype = DType::i64, Device device = Device::cpu());
    // Copies `values` (row-major) into a new tensor of dtype_of<T>(); numel must match the shape.
    template <class T>
    static Tensor from_vector(const std::vector<T>& values, const Shape& shape,
                              Device device = Device::cpu());
    // A view of existing storage; used by view operations.
    static Tensor make_view(const Tensor& base, const Shape& shape, const Shape& strides,
                            int64_t offset);

    // ---- metadata --------------------------------------------------------------------------
    bool defined() const { return impl_ != nullptr; }
    const Shape& shape() const { return impl().shape; }
    const Shape& strides() const { return impl().strides; }
    int64_t dim() const { return static_cast<int64_t>(impl().shape.size()); }
    int64_t size(int64_t dim) const;  // negative dims count from the end
    int64_t numel() const { return shape_numel(impl().shape); }
    int64_t offset() const { return impl().offset; }
    DType dtype() const { return impl().dtype; }
    Device device() const { return impl().storage->device(); }
    bool is_cuda() const { return device().is_cuda(); }
    bool is_contiguous() const;  // row-major (NCHW for images)
    bool is_contiguous(MemoryFormat format) const;
    // The format of a dense 4-D tensor: channels_last when its strides are NHWC and not also NCHW
    // (tensor/memory_format.h); contiguous for everything else, other layouts included.
    MemoryFormat memory_format() const;
    size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype()); }
    // "f32[128, 10] cuda:0"
    std::string description() const;

    // ---- data access -----------------------------------------------------------------------
    // Pointer to the first element; throws when T does not match the dtype.
    template <class T>
    T* data() const;
    void* raw_data() const;
    // Copies the elements (row-major, any layout, any device) into a host vector.
    template <class T>
    std::vector<T> to_vector() const;
    // The value of a one-element tensor.
    template <class T>
    T item() const;
    std::shared_ptr<Storage> storage() const { return impl().storage; }
    uint64_t version() const { return impl().storage->version(); }
    void bump_version() const { impl().storage->bump_version(); }
    bool is_same(const Tensor& other) const { return impl_ == other.impl_; }
    bool shares_storage(const Tensor& other) const { return storage() == other.storage(); }

    // ---- copies (results are new leaves, not views) ------------------------------------------
    Tensor to(Device device) const;  // differentiable
    // Differentiable between floating dtypes. The result is contiguous (NCHW for a channels-last
    // tensor, and its gradient comes back NCHW): to(dtype, memory_format()) keeps the layout.
    Tensor to(DType dtype) const;
    // `*this` when already of `dtype` and laid out in `format`, else one copy kernel that casts
    // and lays out at once (differentiable between floating dtypes; the gradient comes back in
    // this tensor's dtype and format, again in one copy). Conv2d makes its weight's bf16 KRSC
    // copy for channels-last input this way (layers/conv2d.h).
    Tensor to(DType dtype, MemoryFormat format) const;
    Tensor cpu() const { return to(Device::cpu()); }
    Tensor cuda(int index = 0) const { return to(Device::cuda(index)); }
    Tensor clone() const;  // differentiable
    // In-place: writes src's values (broadcast to this shape, cast to this dtype, from any
    // device). Not allowed on tensors that are part of a graph while grad mode is on.
    Tensor& copy_(const Tensor& src);
    Tensor& fill_(double value);
    Tensor& zero_() { return fill_(0.0); }

    // ---- views (differentiable; defined in autograd/view_functions.cpp) ------------------------
    Tensor view(const Shape& shape) const;     // requires a contiguous tensor; one -1 allowed
    Tensor reshape(const Shape& shape) const;  // view when contiguous, else a copy
    Tensor transpose(int64_t dim0, int64_t dim1) const;
    Tensor t() const { return transpose(0, 1); }
    Tensor unsqueeze(int64_t dim) const;
    Tensor squeeze(int64_t dim) const;
    Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
    Tensor flatten(int64_t start_dim = 0, int64_t end_dim = -1) const;
    // `*this` when already contiguous, else a contiguous copy.
    Tensor contiguous() const;
    // `*this` when already laid out in `format`, else a copy in that format (differentiable; the
    // gradient passes through in whatever format it arrives).
    Tensor contiguous(MemoryFormat format) const;

    // ---- autograd (defined in autograd/) ------------------------------------------------------
    bool requires_grad() const { return impl().requires_grad; }
    // Marks a leaf as a parameter/input whose gradient is wanted. Only floating leaves.
    Tensor& set_requires_grad(bool requires_grad = true);
    bool is_leaf() const { return impl().grad_fn == nullptr; }
    const std::shared_ptr<autograd::Node>& grad_fn() const { return impl().grad_fn; }
    uint32_t output_nr() const { return impl().output_nr; }
    // The accumulated gradient (undefined until a backward reached this leaf).
    Tensor grad() const;
    void set_grad(const Tensor& grad) const;
    // Runs the autograd engine from this tensor. `grad` defaults to ones for a one-element tensor.
    // Without retain_graph the graph's saved tensors are freed as it is walked.
    void backward(const Tensor& grad = Tensor(), bool retain_graph = false) const;
    // Same data, no graph history, requires_grad false.
    Tensor detach() const;

    // ---- printing (tensor/print.cpp) ------------------------------------------------------
    std::string to_string(int64_t edge_items = 3) const;

    TensorImpl& impl() const {
        CBNN_CHECK(impl_ != nullptr, "use of an undefined tensor");
        return *impl_;
    }
    const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }

  private:
    std::shared_ptr<TensorImpl> impl_;
};

std::ostream& operator<<(std::ostream& os, const Tensor& tensor);

// ---- helpers for op functions -------------------------------------------------------------------
void check_defined(const Tensor& t, const char* op);
void check_same_device(const Tensor& a, const Tensor& b, const char* op);
void check_dtype(const Tensor& t, DType dtype, const char* op, const char* name);
// CUDA kernels compute in f32: f64 is a CPU-only dtype.
void check_cuda_float(const Tensor& t, const char* op);
// The same for ops with a CUDA bf16 kernel as well: f32 or bf16 on CUDA.
void check_cuda_float_or_bf16(const Tensor& t, const char* op);
// A channels-last tensor on the CPU: the layer ops run their NCHW reference kernels on contiguous
// copies and convert the results back (tensor/memory_format.h).
bool channels_last_on_cpu(const Tensor& t);

}  // namespace cbnn
