#pragma once
// Host-side random test inputs (std::mt19937_64, fixed seeds), independent of cbnn's own RNG so
// that tests of that RNG do not depend on it.

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "tensor/dispatch.h"
#include "tensor/tensor.h"

namespace cbnn::testing {

// Uniform in [lo, hi): the values of std::uniform_real_distribution<double>(lo, hi) over
// std::mt19937_64 as libstdc++ computes them (tests/test_support.cpp checks): a 64-bit draw r,
// u = r / 2^64 (the largest double below 1 where that rounds to 1), u * (hi - lo) + lo. Here r
// converts to double as its two 32-bit halves, each exact, added with one rounding (as the direct
// conversion rounds), which avoids the unsigned conversion's branch on r's top bit: a quarter less
// time on the CUDA tests' millions of inputs.
class UniformReal {
  public:
    UniformReal(double lo, double hi, uint64_t seed) : rng_(seed), lo_(lo), range_(hi - lo) {}
    double operator()() {
        const uint64_t r = rng_();
        const double high = static_cast<double>(static_cast<uint32_t>(r >> 32)) * 0x1p32;
        double u = (high + static_cast<double>(static_cast<uint32_t>(r))) * 0x1p-64;
        if (u >= 1.0) u = std::nextafter(1.0, 0.0);
        return u * range_ + lo_;
    }

  private:
    std::mt19937_64 rng_;
    double lo_, range_;
};

inline std::vector<double> random_values(int64_t n, double lo, double hi, uint64_t seed) {
    UniformReal uniform(lo, hi, seed);
    std::vector<double> v(static_cast<size_t>(n));
    for (double& x : v) x = uniform();
    return v;
}

// Uniform in [lo, hi), as f64 (default) or another dtype (each value converted once, as by .to),
// on the CPU.
inline Tensor random_tensor(const Shape& shape, double lo, double hi, uint64_t seed,
                            DType dtype = DType::f64) {
    Tensor t = Tensor::empty(shape, dtype);
    UniformReal uniform(lo, hi, seed);
    dispatch_all_bf16(dtype, "random_tensor", [&]<class T>() {
        T* out = t.data<T>();
        for (int64_t i = 0, n = t.numel(); i < n; ++i) out[i] = convert<T>(uniform());
    });
    return t;
}

// Uniform in [lo, hi) but at least `gap` away from every value in `kinks` (for relu, abs, ...).
inline Tensor random_tensor_avoiding(const Shape& shape, double lo, double hi, uint64_t seed,
                                     const std::vector<double>& kinks, double gap) {
    std::vector<double> v = random_values(shape_numel(shape), lo, hi, seed);
    for (double& x : v)
        for (double k : kinks)
            if (x > k - gap && x < k + gap) x = x < k ? k - gap : k + gap;
    return Tensor::from_vector<double>(v, shape);
}

// Uniform i64 integers in [0, limit) of the given shape (indices, labels).
inline Tensor random_index(const Shape& shape, int64_t limit, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<int64_t> dist(0, limit - 1);
    std::vector<int64_t> v(static_cast<size_t>(shape_numel(shape)));
    for (int64_t& x : v) x = dist(rng);
    return Tensor::from_vector<int64_t>(v, shape);
}

inline Tensor random_labels(int64_t n, int64_t num_classes, uint64_t seed) {
    return random_index({n}, num_classes, seed);
}

}  // namespace cbnn::testing
