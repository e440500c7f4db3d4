// CPU reference of the Philox fills and the fill functions (stream layout in tensor/rng.h).
#include "tensor/rng.h"

#include <cmath>

#include "autograd/grad_mode.h"
#include "tensor/dispatch.h"
#include "tensor/philox.h"

namespace cbnn {

Generator& default_generator() {
    static Generator generator(0);
    return generator;
}

namespace cpu {

template <class T>
void philox_uniform(uint64_t seed, uint64_t offset, T* out, int64_t n, T lo, T hi) {
    for (int64_t i = 0; i < n; ++i) {
        out[i] =
            philox_uniform_value<T>(philox_at(seed, offset + static_cast<uint64_t>(i)), lo, hi);
    }
}

template <class T>
void philox_normal(uint64_t seed, uint64_t offset, T* out, int64_t n, T mean, T stddev) {
    for (int64_t i = 0; i < n; ++i) {
        out[i] = philox_normal_value<T>(philox_at(seed, offset + static_cast<uint64_t>(i)), mean,
                                        stddev);
    }
}

template void philox_uniform<float>(uint64_t, uint64_t, float*, int64_t, float, float);
template void philox_uniform<double>(uint64_t, uint64_t, double*, int64_t, double, double);
template void philox_normal<float>(uint64_t, uint64_t, float*, int64_t, float, float);
template void philox_normal<double>(uint64_t, uint64_t, double*, int64_t, double, double);

}  // namespace cpu

namespace {

void check_fill_target(const Tensor& t, const char* op) {
    autograd::check_inplace_allowed(t, op);
    CBNN_CHECK(is_floating(t.dtype()), op, ": expected a floating tensor (f32 or f64), got ",
               t.description());
    check_cuda_float(t, op);
    CBNN_CHECK(t.is_contiguous(), op, ": expected a contiguous tensor, got ", t.description(),
               " with strides ", t.strides());
}

}  // namespace

void uniform_(Tensor& t, Generator& g, double lo, double hi) {
    check_fill_target(t, "uniform_");
    CBNN_CHECK(std::isfinite(lo) && std::isfinite(hi) && lo <= hi,
               "uniform_: expected finite lo <= hi, got lo = ", lo, ", hi = ", hi);
    const int64_t n = t.numel();
    const uint64_t offset = g.reserve(static_cast<uint64_t>(n));
    if (n > 0) {
        if (t.is_cuda()) {
            CBNN_ON_CUDA(cuda::philox_uniform(g.seed(), offset, t.data<float>(), n,
                                              static_cast<float>(lo), static_cast<float>(hi)));
        } else {
            dispatch_floating(t.dtype(), "uniform_", [&]<class T>() {
                cpu::philox_uniform<T>(g.seed(), offset, t.data<T>(), n, static_cast<T>(lo),
                                       static_cast<T>(hi));
            });
        }
    }
    t.bump_version();
}

void normal_(Tensor& t, Generator& g, double mean, double stddev) {
    check_fill_target(t, "normal_");
    CBNN_CHECK(std::isfinite(mean) && std::isfinite(stddev) && stddev >= 0.0,
               "normal_: expected finite mean and stddev >= 0, got mean = ", mean,
               ", stddev = ", stddev);
    const int64_t n = t.numel();
    const uint64_t offset = g.reserve(static_cast<uint64_t>(n));
    if (n > 0) {
        if (t.is_cuda()) {
            CBNN_ON_CUDA(cuda::philox_normal(g.seed(), offset, t.data<float>(), n,
                                             static_cast<float>(mean), static_cast<float>(stddev)));
        } else {
            dispatch_floating(t.dtype(), "normal_", [&]<class T>() {
                cpu::philox_normal<T>(g.seed(), offset, t.data<T>(), n, static_cast<T>(mean),
                                      static_cast<T>(stddev));
            });
        }
    }
    t.bump_version();
}

Tensor rand(const Shape& shape, Generator& g, DType dtype, Device device) {
    Tensor t = Tensor::empty(shape, dtype, device);
    uniform_(t, g);
    return t;
}

Tensor randn(const Shape& shape, Generator& g, DType dtype, Device device) {
    Tensor t = Tensor::empty(shape, dtype, device);
    normal_(t, g);
    return t;
}

}  // namespace cbnn
