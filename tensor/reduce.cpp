#include "tensor/reduce.h"

#include <algorithm>
#include <type_traits>
#include <vector>

#include "tensor/copy.h"
#include "tensor/dispatch.h"
#include "tensor/reduce_math.h"
#include "tensor/unary.h"

namespace cbnn {

namespace cpu {

template <class T>
void reduce_sum(const T* x, compute_t<T>* out, int64_t outer, int64_t r, int64_t inner) {
    std::vector<double> acc(static_cast<size_t>(inner));
    for (int64_t o = 0; o < outer; ++o) {
        std::fill(acc.begin(), acc.end(), 0.0);
        for (int64_t k = 0; k < r; ++k) {
            const T* row = x + (o * r + k) * inner;
            for (int64_t i = 0; i < inner; ++i)
                acc[static_cast<size_t>(i)] += convert<double>(row[i]);
        }
        for (int64_t i = 0; i < inner; ++i)
            out[o * inner + i] = static_cast<compute_t<T>>(acc[static_cast<size_t>(i)]);
    }
}

template <class T>
void reduce_max(const T* x, T* out, int64_t* argmax, int64_t outer, int64_t r, int64_t inner) {
    for (int64_t o = 0; o < outer; ++o) {
        for (int64_t i = 0; i < inner; ++i) {
            T best = x[o * r * inner + i];
            int64_t best_k = 0;
            for (int64_t k = 1; k < r; ++k) {
                const T v = x[(o * r + k) * inner + i];
                if (max_prefers(v, k, best, best_k)) {
                    best = v;
                    best_k = k;
                }
            }
            out[o * inner + i] = best;
            argmax[o * inner + i] = best_k;
        }
    }
}

template void reduce_sum<float>(const float*, float*, int64_t, int64_t, int64_t);
template void reduce_sum<double>(const double*, double*, int64_t, int64_t, int64_t);
template void reduce_sum<bfloat16>(const bfloat16*, float*, int64_t, int64_t, int64_t);
template void reduce_max<float>(const float*, float*, int64_t*, int64_t, int64_t, int64_t);
template void reduce_max<double>(const double*, double*, int64_t*, int64_t, int64_t, int64_t);

}  // namespace cpu

namespace ops {

namespace {

struct ReduceGeometry {
    int64_t outer = 1, r = 1, inner = 1;
    Shape out_shape;
};

ReduceGeometry geometry(const Tensor& x, int64_t dim, bool keepdim, const char* op) {
    ReduceGeometry g;
    const int64_t d = normalize_dim(dim, x.dim(), op);
    for (int64_t i = 0; i < x.dim(); ++i) {
        const int64_t s = x.shape()[static_cast<size_t>(i)];
        if (i < d) g.outer *= s;
        if (i > d) g.inner *= s;
        if (i == d) {
            g.r = s;
            if (keepdim) g.out_shape.push_back(1);
        } else {
            g.out_shape.push_back(s);
        }
    }
    return g;
}

}  // namespace

Tensor sum(const Tensor& x_in, int64_t dim, bool keepdim) {
    check_defined(x_in, "sum");
    check_cuda_float_or_bf16(x_in, "sum");
    const Tensor x = dense(x_in);
    const ReduceGeometry g = geometry(x, dim, keepdim, "sum");
    const DType out_dtype = x.dtype() == DType::bf16 ? DType::f32 : x.dtype();
    Tensor out = Tensor::empty(g.out_shape, out_dtype, x.device());
    if (out.numel() == 0) return out;
    dispatch_floating_bf16(x.dtype(), "sum", [&]<class T>() {
        using C = compute_t<T>;
        if (x.is_cuda()) {
            if constexpr (!std::is_same_v<T, double>) {
                CBNN_ON_CUDA(cuda::reduce_sum(x.data<T>(), out.data<C>(), g.outer, g.r, g.inner));
            }
        } else {
            cpu::reduce_sum<T>(x.data<T>(), out.data<C>(), g.outer, g.r, g.inner);
        }
    });
    return out;
}

Tensor channel_sum(const Tensor& x) {
    check_defined(x, "channel_sum");
    CBNN_CHECK(x.dim() == 4, "channel_sum: expected a rank-4 (N, C, H, W) tensor, got ",
               x.description());
    return sum(sum(sum(x, 3), 2), 0);
}

Tensor mean(const Tensor& x, int64_t dim, bool keepdim) {
    check_defined(x, "mean");
    const int64_t r = x.shape()[static_cast<size_t>(normalize_dim(dim, x.dim(), "mean"))];
    CBNN_CHECK(r > 0, "mean: dimension ", dim, " of ", x.description(), " is empty");
    return unary(UnaryOp::div_scalar, sum(x, dim, keepdim), static_cast<double>(r));
}

MaxResult max(const Tensor& x_in, int64_t dim, bool keepdim) {
    check_defined(x_in, "max");
    check_cuda_float(x_in, "max");
    const Tensor x = dense(x_in);
    const ReduceGeometry g = geometry(x, dim, keepdim, "max");
    CBNN_CHECK(g.r > 0, "max: dimension ", dim, " of ", x.description(), " is empty");
    MaxResult result{Tensor::empty(g.out_shape, x.dtype(), x.device()),
                     Tensor::empty(g.out_shape, DType::i64, x.device())};
    if (result.values.numel() == 0) return result;
    if (x.is_cuda()) {
        CBNN_ON_CUDA(cuda::reduce_max(x.data<float>(), result.values.data<float>(),
                                      result.indices.data<int64_t>(), g.outer, g.r, g.inner));
    } else {
        dispatch_floating(x.dtype(), "max", [&]<class T>() {
            cpu::reduce_max<T>(x.data<T>(), result.values.data<T>(), result.indices.data<int64_t>(),
                               g.outer, g.r, g.inner);
        });
    }
    return result;
}

Tensor sum_all(const Tensor& x) {
    check_defined(x, "sum_all");
    const Tensor d = dense(x);
    return sum(Tensor::make_view(d, Shape{d.numel()}, Shape{1}, d.offset()), 0, false);
}

Tensor sum_to(const Tensor& x, const Shape& shape) {
    check_defined(x, "sum_to");
    if (x.shape() == shape) return x;
    CBNN_CHECK(shape.size() <= x.shape().size() &&
                   broadcast_shapes(shape, x.shape(), "sum_to") == x.shape(),
               "sum_to: shape ", x.shape(), " is not a broadcast of ", shape);
    Tensor r = x;
    while (r.dim() > static_cast<int64_t>(shape.size())) r = sum(r, 0, false);
    for (size_t d = 0; d < shape.size(); ++d) {
        if (shape[d] == 1 && r.shape()[d] != 1) r = sum(r, static_cast<int64_t>(d), true);
    }
    // bf16 sums come back f32: the partial sums stay f32 and only the final gradient is bf16.
    return r.dtype() == x.dtype() ? r : cast(r, x.dtype());
}

}  // namespace ops
}  // namespace cbnn
