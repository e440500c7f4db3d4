#pragma once
// bfloat16: the top 16 bits of an IEEE-754 binary32 (1 sign, 8 exponent, 7 mantissa bits), so it
// has float's range with 8 significant bits (unit roundoff 2^-8). The bit layout is that of CUDA's
// __nv_bfloat16, which .cu files may reinterpret; host headers never include cuda_bf16.h.
//
//   bf16 -> float:  exact (the 16 bits become the high half, the low half is zero).
//   float -> bf16:  round to nearest, ties to even; +-inf and +-0 kept; a value at or above
//                   the midpoint between the largest finite bf16 (0x7f7f, ~3.39e38) and 2^128
//                   rounds to inf, as IEEE rounding does. NaN stays NaN: sign and the top
//                   payload bits are kept and the quiet bit is set (a signalling NaN comes out
//                   quiet), so every quiet bf16 NaN survives bf16 -> float -> bf16 unchanged.
//   double -> bf16: correctly rounded too (one rounding, not double -> float -> bf16): double is
//                   first rounded to float with round-to-odd, which leaves the bf16 rounding
//                   unaffected because float has 16 more bits than bf16. A NaN keeps its sign
//                   and the top 7 payload bits and comes out quiet, as through float.
//   integers -> bf16 go through double (correctly rounded for |x| <= 2^53); bf16 -> integers go
//   through float and truncate toward zero like static_cast.
//
// The conversions are CBNN_HD integer arithmetic rather than cvt.rn.bf16.f32, so the CPU reference
// and the CUDA kernels produce the same bits, NaNs included (the hardware instruction
// canonicalises NaN to 0x7fff).
//
// Arithmetic is deliberately absent: ops compute in float (compute_t<bfloat16> is float) and round
// each result once, so a bf16 expression can never silently round every intermediate.

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "tensor/hd.h"

namespace cbnn {

namespace detail {
// The bits of x as a same-size To: std::bit_cast without its constexpr, which device code could
// only call with --expt-relaxed-constexpr. memcpy compiles to a register move on both sides.
template <class To, class From>
CBNN_HD To bits_as(From x) {
    static_assert(sizeof(To) == sizeof(From));
    To r;
    memcpy(&r, &x, sizeof r);
    return r;
}
}  // namespace detail

struct bfloat16 {
    uint16_t bits;

    CBNN_HD static bfloat16 from_bits(uint16_t b) {
        bfloat16 r;
        r.bits = b;
        return r;
    }
};
static_assert(sizeof(bfloat16) == 2 && std::is_trivially_copyable_v<bfloat16>);

CBNN_HD float bf16_to_float(bfloat16 x) { return detail::bits_as<float>(uint32_t{x.bits} << 16); }

CBNN_HD bfloat16 float_to_bf16(float f) {
    const uint32_t u = detail::bits_as<uint32_t>(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) {
        return bfloat16::from_bits(static_cast<uint16_t>((u >> 16) | 0x0040u));  // quiet NaN
    }
    // Adding 0x7fff rounds up exactly when the low half is above the midpoint 0x8000; the kept
    // lowest bit adds one more at the midpoint itself, so ties go to the even neighbour. A carry
    // out of the mantissa increments the exponent, which is what rounding up must do (and turns
    // the largest finite values into inf).
    const uint32_t rounded = u + 0x7fffu + ((u >> 16) & 1u);
    return bfloat16::from_bits(static_cast<uint16_t>(rounded >> 16));
}

// Round-to-odd to float, then ties-to-even to bf16: a value that float cannot hold exactly gets
// its lowest float bit set, so it can never look like an exact bf16 midpoint.
CBNN_HD bfloat16 double_to_bf16(double d) {
    if (d != d) {
        // NaN from the double's own bits (sign, top 7 payload bits, quiet bit): what the host's
        // double -> float conversion and float_to_bf16 give, pinned here because the device's
        // conversion is not bound to keep the payload, and CPU and CUDA must agree bitwise.
        const uint64_t u = detail::bits_as<uint64_t>(d);
        return bfloat16::from_bits(
            static_cast<uint16_t>(((u >> 48) & 0x8000u) | 0x7fc0u | ((u >> 45) & 0x7fu)));
    }
    float f = static_cast<float>(d);
    const double back = static_cast<double>(f);
    if (back != d && back - back == 0.0) {  // inexact, f finite
        uint32_t u = detail::bits_as<uint32_t>(f);
        if ((back < 0 ? -back : back) > (d < 0 ? -d : d)) --u;  // truncate the magnitude
        f = detail::bits_as<float>(u | 1u);
    } else if (back != d) {  // rounded to inf: truncating gives the largest float
        f = detail::bits_as<float>((detail::bits_as<uint32_t>(f) & 0x80000000u) | 0x7f7fffffu);
    }
    return float_to_bf16(f);
}

template <class T>
inline constexpr bool is_bf16_v = std::is_same_v<T, bfloat16>;

// The type an op computes in for element type T: float for bf16, T itself otherwise.
template <class T>
using compute_t = std::conditional_t<is_bf16_v<T>, float, T>;

// Element conversion with the rounding above for bf16 and static_cast otherwise.
template <class Dst, class Src>
CBNN_HD Dst convert(Src x) {
    if constexpr (std::is_same_v<Dst, Src>) {
        return x;
    } else if constexpr (is_bf16_v<Src>) {
        return static_cast<Dst>(bf16_to_float(x));
    } else if constexpr (!is_bf16_v<Dst>) {
        return static_cast<Dst>(x);
    } else if constexpr (std::is_same_v<Src, float>) {
        return float_to_bf16(x);
    } else {
        return double_to_bf16(static_cast<double>(x));
    }
}

}  // namespace cbnn
