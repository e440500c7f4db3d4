#pragma once
// Host-side random test inputs (std::mt19937_64, fixed seeds), independent of cbnn's own RNG so
// that tests of that RNG do not depend on it.

#include <cstdint>
#include <random>
#include <vector>

#include "tensor/tensor.h"

namespace cbnn::testing {

inline std::vector<double> random_values(int64_t n, double lo, double hi, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> dist(lo, hi);
    std::vector<double> v(static_cast<size_t>(n));
    for (double& x : v) x = dist(rng);
    return v;
}

// Uniform in [lo, hi), as f64 (default) or f32, on the CPU.
inline Tensor random_tensor(const Shape& shape, double lo, double hi, uint64_t seed,
                            DType dtype = DType::f64) {
    Tensor t = Tensor::from_vector<double>(random_values(shape_numel(shape), lo, hi, seed), shape);
    return dtype == DType::f64 ? t : t.to(dtype);
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
