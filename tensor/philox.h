#pragma once
// Philox4x32-10, the counter-based generator of Salmon, Moraes, Dror and Shaw, "Parallel random
// numbers: as easy as 1, 2, 3" (SC 2011), and the transforms of cbnn's random streams.
//
// Philox maps a 128-bit counter and a 64-bit key to 128 random bits with no state: element i of
// a fill is computed from counter i alone, so any thread (CPU loop or CUDA thread) produces its
// element independently and CPU and CUDA produce the same bits. A round multiplies two of the
// four 32-bit words by constants, and mixes the high halves of the products with the other two
// words and the key:
//   (hi0, lo0) = M0 * x0,  (hi1, lo1) = M1 * x2           (32x32 -> 64-bit products)
//   x <- (hi1 ^ x1 ^ k0,  lo1,  hi0 ^ x3 ^ k1,  lo0)
// Between rounds the key is bumped by the Weyl constants (k0 += W0, k1 += W1). Ten rounds.
//
// The stream layout (tensor/rng.h) built on it: element i of a fill that starts at offset o uses
// the block philox_at(seed, o + i), i.e. counter (lo32(o + i), hi32(o + i), 0, 0) and key
// (lo32(seed), hi32(seed)); words x0 and x1 of the block are used, x2 and x3 are not.
// Every formula below is CBNN_HD so the CPU reference and the CUDA kernel evaluate the same
// expression; multiply-adds are written as fma so no compiler contracts them differently.

#include <cmath>
#include <cstdint>

#include "tensor/hd.h"

namespace cbnn {

inline constexpr uint32_t kPhiloxM0 = 0xD2511F53u;  // round multipliers
inline constexpr uint32_t kPhiloxM1 = 0xCD9E8D57u;
inline constexpr uint32_t kPhiloxW0 = 0x9E3779B9u;  // key schedule: golden ratio
inline constexpr uint32_t kPhiloxW1 = 0xBB67AE85u;  // key schedule: sqrt(3) - 1
inline constexpr int kPhiloxRounds = 10;

struct PhiloxBlock {
    uint32_t x[4];
};

CBNN_HD uint32_t philox_mulhilo(uint32_t a, uint32_t b, uint32_t* hi) {
    const uint64_t product = static_cast<uint64_t>(a) * b;
    *hi = static_cast<uint32_t>(product >> 32);
    return static_cast<uint32_t>(product);
}

CBNN_HD PhiloxBlock philox4x32_10(PhiloxBlock counter, uint32_t key0, uint32_t key1) {
    PhiloxBlock x = counter;
    for (int round = 0; round < kPhiloxRounds; ++round) {
        if (round > 0) {
            key0 += kPhiloxW0;
            key1 += kPhiloxW1;
        }
        uint32_t hi0, hi1;
        const uint32_t lo0 = philox_mulhilo(kPhiloxM0, x.x[0], &hi0);
        const uint32_t lo1 = philox_mulhilo(kPhiloxM1, x.x[2], &hi1);
        x = PhiloxBlock{{hi1 ^ x.x[1] ^ key0, lo1, hi0 ^ x.x[3] ^ key1, lo0}};
    }
    return x;
}

// The block of stream position `index` (a 64-bit counter) under `seed` (the 64-bit key).
CBNN_HD PhiloxBlock philox_at(uint64_t seed, uint64_t index) {
    const PhiloxBlock counter{
        {static_cast<uint32_t>(index), static_cast<uint32_t>(index >> 32), 0u, 0u}};
    return philox4x32_10(counter, static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
}

inline constexpr double kTwoPow32Inv = 1.0 / 4294967296.0;        // 2^-32
inline constexpr double kTwoPow24Inv = 1.0 / 16777216.0;          // 2^-24
inline constexpr double kTwoPow53Inv = 1.0 / 9007199254740992.0;  // 2^-53
inline constexpr double kTwoPi = 6.283185307179586476925286766559;

// Uniform in [lo, hi). float: the top 24 bits of x0, u = (x0 >> 8) 2^-24, every float in [0, 1)
// on that grid; double: 53 bits, u = ((x0 << 32 | x1) >> 11) 2^-53. The affine map is done in
// double; a result that rounds up to hi is moved to the largest value below it.
template <class T>
CBNN_HD T philox_uniform_value(const PhiloxBlock& r, T lo, T hi) {
    double u;
    if constexpr (sizeof(T) == sizeof(float)) {
        u = static_cast<double>(r.x[0] >> 8) * kTwoPow24Inv;
    } else {
        const uint64_t bits = (static_cast<uint64_t>(r.x[0]) << 32 | r.x[1]) >> 11;
        u = static_cast<double>(bits) * kTwoPow53Inv;
    }
    const double dlo = static_cast<double>(lo);
    const T v = static_cast<T>(fma(static_cast<double>(hi) - dlo, u, dlo));
    if (v < hi) return v;
    if constexpr (sizeof(T) == sizeof(float)) {
        return nextafterf(hi, lo);
    } else {
        return nextafter(hi, lo);
    }
}

// Standard normal by Box-Muller in double, whatever T is:
//   u1 = (x0 + 1) 2^-32 in (0, 1]  (never 0, so the log is finite),  u2 = x1 2^-32 in [0, 1)
//   z = sqrt(-2 ln u1) cos(2 pi u2),  value = mean + std z rounded once to T.
// Only the cosine branch is used (one element per block keeps the layout one counter per element).
template <class T>
CBNN_HD T philox_normal_value(const PhiloxBlock& r, T mean, T stddev) {
    const double u1 = (static_cast<double>(r.x[0]) + 1.0) * kTwoPow32Inv;
    const double u2 = static_cast<double>(r.x[1]) * kTwoPow32Inv;
    // Qualified: cbnn::log etc. (autograd/functions.h) would otherwise hide the C functions for a
    // file that includes that header first.
    const double z = ::sqrt(-2.0 * ::log(u1)) * ::cos(kTwoPi * u2);
    return static_cast<T>(::fma(static_cast<double>(stddev), z, static_cast<double>(mean)));
}

}  // namespace cbnn
