// CPU reference of the indexing kernels (plain loops, layout and math in tensor/index.h) and the op
// functions, which check arguments, make operands contiguous and pick the CPU or CUDA kernel.
#include "tensor/index.h"

#include <algorithm>
#include <string>
#include <vector>

#include "tensor/backend.h"
#include "tensor/copy.h"
#include "tensor/dispatch.h"

namespace cbnn {

namespace {

bool in_range(int64_t v, int64_t limit) { return v >= 0 && v < limit; }

// Thrown by the CPU kernels: a cbnn::Error that is complete on its own (for direct callers of the
// kernels); the op functions catch it and rethrow with the tensors' shapes and the dimension.
class BadIndex : public Error {
  public:
    BadIndex(const char* op, int64_t position, int64_t value, int64_t limit)
        : Error(detail::concat(op, ": index ", value, " at flat position ", position,
                               " is out of range; valid indices are in [0, ", limit, ")")),
          position(position),
          value(value) {}
    int64_t position;
    int64_t value;
};

}  // namespace

namespace cpu {

template <class T>
void gather(const T* x, const int64_t* index, T* out, int64_t outer, int64_t r, int64_t k,
            int64_t inner) {
    for (int64_t o = 0; o < outer; ++o) {
        for (int64_t kk = 0; kk < k; ++kk) {
            const int64_t row = (o * k + kk) * inner;
            for (int64_t i = 0; i < inner; ++i) {
                const int64_t v = index[row + i];
                if (!in_range(v, r)) throw BadIndex("gather", row + i, v, r);
                out[row + i] = x[(o * r + v) * inner + i];
            }
        }
    }
}

template <class T>
void scatter_add(const T* src, const int64_t* index, T* out, int64_t outer, int64_t r, int64_t k,
                 int64_t inner) {
    std::fill(out, out + outer * r * inner, T(0));
    // Each out[o, r, i] receives its terms in increasing k order, like the CUDA kernel.
    for (int64_t o = 0; o < outer; ++o) {
        for (int64_t kk = 0; kk < k; ++kk) {
            const int64_t row = (o * k + kk) * inner;
            for (int64_t i = 0; i < inner; ++i) {
                const int64_t v = index[row + i];
                if (!in_range(v, r)) throw BadIndex("scatter_add", row + i, v, r);
                out[(o * r + v) * inner + i] += src[row + i];
            }
        }
    }
}

template <class T>
void index_select(const T* x, const int64_t* index, T* out, int64_t outer, int64_t r, int64_t m,
                  int64_t inner) {
    for (int64_t o = 0; o < outer; ++o) {
        for (int64_t j = 0; j < m; ++j) {
            const int64_t v = index[j];
            if (!in_range(v, r)) throw BadIndex("index_select", j, v, r);
            std::copy(x + (o * r + v) * inner, x + (o * r + v + 1) * inner,
                      out + (o * m + j) * inner);
        }
    }
}

template <class T>
void index_add(const T* src, const int64_t* index, T* out, int64_t outer, int64_t r, int64_t m,
               int64_t inner) {
    std::fill(out, out + outer * r * inner, T(0));
    for (int64_t j = 0; j < m; ++j) {
        if (!in_range(index[j], r)) throw BadIndex("index_add", j, index[j], r);
    }
    // Each out[o, r, i] receives its terms in increasing j order, like the CUDA kernel.
    for (int64_t o = 0; o < outer; ++o) {
        for (int64_t j = 0; j < m; ++j) {
            T* dst = out + (o * r + index[j]) * inner;
            const T* s = src + (o * m + j) * inner;
            for (int64_t i = 0; i < inner; ++i) dst[i] += s[i];
        }
    }
}

template <class T>
void one_hot(const int64_t* labels, T* out, int64_t n, int64_t num_classes) {
    std::fill(out, out + n * num_classes, T(0));
    for (int64_t p = 0; p < n; ++p) {
        const int64_t v = labels[p];
        if (!in_range(v, num_classes)) throw BadIndex("one_hot", p, v, num_classes);
        out[p * num_classes + v] = T(1);
    }
}

#define CBNN_INSTANTIATE_INDEX(T)                                                                 \
    template void gather<T>(const T*, const int64_t*, T*, int64_t, int64_t, int64_t, int64_t);    \
    template void scatter_add<T>(const T*, const int64_t*, T*, int64_t, int64_t, int64_t,         \
                                 int64_t);                                                        \
    template void index_select<T>(const T*, const int64_t*, T*, int64_t, int64_t, int64_t,        \
                                  int64_t);                                                       \
    template void index_add<T>(const T*, const int64_t*, T*, int64_t, int64_t, int64_t, int64_t); \
    template void one_hot<T>(const int64_t*, T*, int64_t, int64_t);
CBNN_INSTANTIATE_INDEX(float)
CBNN_INSTANTIATE_INDEX(double)
#undef CBNN_INSTANTIATE_INDEX

}  // namespace cpu

namespace ops {

int64_t first_out_of_range(const Tensor& index, int64_t limit) {
#ifdef CBNN_WITH_CUDA
    if (index.numel() == 0 || cuda::index_check_capturing()) return index.numel();
    const Tensor first = Tensor::empty({1}, DType::i64, index.device());
    cuda::find_out_of_range(index.data<int64_t>(), index.numel(), limit, first.data<int64_t>());
    return first.item<int64_t>();
#else
    (void)limit;
    require_cuda("first_out_of_range");
    return index.numel();
#endif
}

namespace {

// What an index selects from, for error messages: "dimension 1 (size 3) of x f32[2, 3] cpu".
struct IndexTarget {
    const char* op;
    const char* what;  // "index" or "label"
    int64_t limit;     // valid values are [0, limit)
    std::string of;    // "dimension 1 (size 3) of x f32[2, 3] cpu"
};

[[noreturn]] void throw_bad_index(const IndexTarget& t, const Tensor& index, int64_t position,
                                  int64_t value) {
    const bool label = std::string(t.what) == "label";
    CBNN_FAIL(t.op, ": ", t.what, " ", value, " (at flat position ", position, " of the ",
              label ? "labels " : "index ", index.description(), ") is out of range for ", t.of,
              "; valid ", label ? "labels" : "indices", " are in [0, ", t.limit, ")");
}

// Runs a CPU kernel, turning its BadIndex into the op's error.
template <class F>
void run_checked(const IndexTarget& target, const Tensor& index, F&& kernel) {
    try {
        kernel();
    } catch (const BadIndex& bad) {
        throw_bad_index(target, index, bad.position, bad.value);
    }
}

// The CUDA check (see tensor/index.h): one small kernel and one synchronising 8-byte copy.
void check_indices_cuda(const IndexTarget& target, const Tensor& index) {
#ifdef CBNN_WITH_CUDA
    const int64_t position = ops::first_out_of_range(index, target.limit);
    if (position < index.numel()) {
        const int64_t value = index.to_vector<int64_t>()[static_cast<size_t>(position)];
        throw_bad_index(target, index, position, value);
    }
#else
    (void)target;
    (void)index;
#endif
}

void check_index_tensor(const Tensor& x, const Tensor& index, const char* op, const char* x_name) {
    check_defined(x, op);
    check_defined(index, op);
    CBNN_CHECK(index.dtype() == DType::i64, op, ": the index must have dtype i64, got ",
               index.description());
    CBNN_CHECK(is_floating(x.dtype()), op, ": ", x_name, " must be f32 or f64, got ",
               x.description());
    check_cuda_float(x, op);
    CBNN_CHECK(x.device() == index.device(), op, ": ", x_name,
               " and index are on different devices (", x.description(), " and ",
               index.description(), ")");
}

struct Lines {
    int64_t outer = 1, inner = 1;
};

// outer/inner products of `shape` around dimension d.
Lines lines(const Shape& shape, int64_t d) {
    Lines l;
    for (int64_t i = 0; i < static_cast<int64_t>(shape.size()); ++i) {
        if (i < d) l.outer *= shape[static_cast<size_t>(i)];
        if (i > d) l.inner *= shape[static_cast<size_t>(i)];
    }
    return l;
}

std::string target_of(int64_t d, int64_t size, const char* name, const std::string& desc) {
    return detail::concat("dimension ", d, " (size ", size, ") of ", name, " ", desc);
}

// gather/scatter_add: index has `shape`'s rank and index.size(i) <= shape[i] for i != d. Returns
// `shape` with every dimension but d replaced by the index's (the block the kernels work on).
Shape gather_block(const Shape& shape, const Tensor& index, int64_t d, const char* op,
                   const char* name) {
    CBNN_CHECK(index.dim() == static_cast<int64_t>(shape.size()), op,
               ": the index must have as many "
               "dimensions as ",
               name, " ", shape, ", got ", index.description());
    Shape block = index.shape();
    for (int64_t i = 0; i < index.dim(); ++i) {
        if (i == d) {
            block[static_cast<size_t>(i)] = shape[static_cast<size_t>(i)];
            continue;
        }
        CBNN_CHECK(index.shape()[static_cast<size_t>(i)] <= shape[static_cast<size_t>(i)], op,
                   ": index size ", index.shape()[static_cast<size_t>(i)], " exceeds the size ",
                   shape[static_cast<size_t>(i)], " of ", name, " ", shape, " in dimension ", i,
                   " (only dimension ", d, " may differ freely); index ", index.description());
    }
    return block;
}

}  // namespace

Tensor gather(const Tensor& x_in, int64_t dim, const Tensor& index_in) {
    check_index_tensor(x_in, index_in, "gather", "x");
    CBNN_CHECK(x_in.dim() > 0, "gather: x must have at least one dimension, got ",
               x_in.description());
    const int64_t d = normalize_dim(dim, x_in.dim(), "gather");
    const Shape block = gather_block(x_in.shape(), index_in, d, "gather", "x");
    // Only the leading block of x (index's sizes outside dim) is read: narrow it first.
    const Tensor x = dense(block == x_in.shape()
                               ? x_in
                               : Tensor::make_view(x_in, block, x_in.strides(), x_in.offset()));
    const Tensor index = dense(index_in);
    Tensor out = Tensor::empty(index.shape(), x.dtype(), x.device());
    if (out.numel() == 0) return out;
    const Lines l = lines(block, d);
    const int64_t r = block[static_cast<size_t>(d)], k = index.shape()[static_cast<size_t>(d)];
    const IndexTarget target{"gather", "index", r, target_of(d, r, "x", x_in.description())};
    if (x.is_cuda()) {
        check_indices_cuda(target, index);
        CBNN_ON_CUDA(cuda::gather(x.data<float>(), index.data<int64_t>(), out.data<float>(),
                                  l.outer, r, k, l.inner));
    } else {
        dispatch_floating(x.dtype(), "gather", [&]<class T>() {
            run_checked(target, index, [&] {
                cpu::gather<T>(x.data<T>(), index.data<int64_t>(), out.data<T>(), l.outer, r, k,
                               l.inner);
            });
        });
    }
    return out;
}

Tensor scatter_add(const Tensor& src_in, int64_t dim, const Tensor& index_in, const Shape& shape,
                   bool indices_checked) {
    check_index_tensor(src_in, index_in, "scatter_add", "src");
    CBNN_CHECK(!shape.empty(), "scatter_add: the result must have at least one dimension");
    const int64_t d = normalize_dim(dim, static_cast<int64_t>(shape.size()), "scatter_add");
    CBNN_CHECK(src_in.shape() == index_in.shape(), "scatter_add: src ", src_in.description(),
               " and index ", index_in.description(), " must have the same shape");
    const Shape block = gather_block(shape, index_in, d, "scatter_add", "the result");
    const Tensor src = dense(src_in);
    const Tensor index = dense(index_in);
    const int64_t r = block[static_cast<size_t>(d)], k = index.shape()[static_cast<size_t>(d)];
    const IndexTarget target{"scatter_add", "index", r, target_of(d, r, "the result", shape.str())};
    // The kernels write every element of the block.
    Tensor out = Tensor::empty(block, src.dtype(), src.device());
    if (out.numel() > 0) {
        const Lines l = lines(block, d);
        if (src.is_cuda()) {
            if (!indices_checked) check_indices_cuda(target, index);
            CBNN_ON_CUDA(cuda::scatter_add(src.data<float>(), index.data<int64_t>(),
                                           out.data<float>(), l.outer, r, k, l.inner));
        } else {
            dispatch_floating(src.dtype(), "scatter_add", [&]<class T>() {
                run_checked(target, index, [&] {
                    cpu::scatter_add<T>(src.data<T>(), index.data<int64_t>(), out.data<T>(),
                                        l.outer, r, k, l.inner);
                });
            });
        }
    }
    if (block == shape) return out;
    Tensor full = Tensor::zeros(shape, src.dtype(), src.device());
    ops::copy_into(Tensor::make_view(full, block, full.strides(), 0), out);
    return full;
}

Tensor index_select(const Tensor& x_in, int64_t dim, const Tensor& index_in) {
    check_index_tensor(x_in, index_in, "index_select", "x");
    CBNN_CHECK(x_in.dim() > 0, "index_select: x must have at least one dimension, got ",
               x_in.description());
    CBNN_CHECK(index_in.dim() == 1, "index_select: the index must be 1-D, got ",
               index_in.description());
    const int64_t d = normalize_dim(dim, x_in.dim(), "index_select");
    const Tensor x = dense(x_in);
    const Tensor index = dense(index_in);
    Shape out_shape = x.shape();
    out_shape[static_cast<size_t>(d)] = index.numel();
    Tensor out = Tensor::empty(out_shape, x.dtype(), x.device());
    if (out.numel() == 0) return out;
    const Lines l = lines(x.shape(), d);
    const int64_t r = x.shape()[static_cast<size_t>(d)], m = index.numel();
    const IndexTarget target{"index_select", "index", r, target_of(d, r, "x", x_in.description())};
    if (x.is_cuda()) {
        check_indices_cuda(target, index);
        CBNN_ON_CUDA(cuda::index_select(x.data<float>(), index.data<int64_t>(), out.data<float>(),
                                        l.outer, r, m, l.inner));
    } else {
        dispatch_floating(x.dtype(), "index_select", [&]<class T>() {
            run_checked(target, index, [&] {
                cpu::index_select<T>(x.data<T>(), index.data<int64_t>(), out.data<T>(), l.outer, r,
                                     m, l.inner);
            });
        });
    }
    return out;
}

Tensor index_add(const Tensor& src_in, int64_t dim, const Tensor& index_in, const Shape& shape,
                 bool indices_checked) {
    check_index_tensor(src_in, index_in, "index_add", "src");
    CBNN_CHECK(index_in.dim() == 1, "index_add: the index must be 1-D, got ",
               index_in.description());
    CBNN_CHECK(!shape.empty(), "index_add: the result must have at least one dimension");
    const int64_t d = normalize_dim(dim, static_cast<int64_t>(shape.size()), "index_add");
    Shape src_shape = shape;
    src_shape[static_cast<size_t>(d)] = index_in.numel();
    CBNN_CHECK(src_in.shape() == src_shape, "index_add: src ", src_in.description(),
               " must have shape ", src_shape, " (the result ", shape, " with dimension ", d,
               " the index's length ", index_in.numel(), ")");
    const Tensor src = dense(src_in);
    const Tensor index = dense(index_in);
    Tensor out =
        Tensor::empty(shape, src.dtype(), src.device());  // the kernels write every element
    if (out.numel() == 0) return out;
    const Lines l = lines(shape, d);
    const int64_t r = shape[static_cast<size_t>(d)], m = index.numel();
    const IndexTarget target{"index_add", "index", r, target_of(d, r, "the result", shape.str())};
    if (src.is_cuda()) {
        if (!indices_checked) check_indices_cuda(target, index);
        CBNN_ON_CUDA(cuda::index_add(src.data<float>(), index.data<int64_t>(), out.data<float>(),
                                     l.outer, r, m, l.inner));
    } else {
        dispatch_floating(src.dtype(), "index_add", [&]<class T>() {
            run_checked(target, index, [&] {
                cpu::index_add<T>(src.data<T>(), index.data<int64_t>(), out.data<T>(), l.outer, r,
                                  m, l.inner);
            });
        });
    }
    return out;
}

Tensor one_hot(const Tensor& labels_in, int64_t num_classes, DType dtype) {
    check_defined(labels_in, "one_hot");
    CBNN_CHECK(labels_in.dtype() == DType::i64, "one_hot: labels must have dtype i64, got ",
               labels_in.description());
    CBNN_CHECK(num_classes > 0, "one_hot: num_classes must be positive, got ", num_classes);
    CBNN_CHECK(dtype == DType::f32 || (dtype == DType::f64 && !labels_in.is_cuda()),
               "one_hot: the result dtype must be f32", labels_in.is_cuda() ? "" : " or f64",
               " for labels ", labels_in.description(), ", got ", dtype);
    const Tensor labels = dense(labels_in);
    Shape out_shape = labels.shape();
    out_shape.push_back(num_classes);
    Tensor out = Tensor::empty(out_shape, dtype, labels.device());
    const int64_t n = labels.numel();
    if (n == 0) return out;
    const IndexTarget target{"one_hot", "label", num_classes,
                             detail::concat("num_classes ", num_classes)};
    if (labels.is_cuda()) {
        check_indices_cuda(target, labels);
        CBNN_ON_CUDA(cuda::one_hot(labels.data<int64_t>(), out.data<float>(), n, num_classes));
    } else {
        dispatch_floating(dtype, "one_hot", [&]<class T>() {
            run_checked(target, labels, [&] {
                cpu::one_hot<T>(labels.data<int64_t>(), out.data<T>(), n, num_classes);
            });
        });
    }
    return out;
}

}  // namespace ops
}  // namespace cbnn
