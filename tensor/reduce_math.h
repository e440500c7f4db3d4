#pragma once
// The (value, index) combine rule of max, shared by the CPU reference and the CUDA tree: NaN wins
// (the first one), then the larger value, then the smaller index.

#include <cstdint>

#include "tensor/hd.h"

namespace cbnn {

template <class T>
CBNN_HD bool max_prefers(T v, int64_t i, T best, int64_t best_i) {
    const bool v_nan = v != v, best_nan = best != best;
    if (v_nan || best_nan) return v_nan && (!best_nan || i < best_i);
    return v > best || (v == best && i < best_i);
}

}  // namespace cbnn
