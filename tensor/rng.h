#pragma once
// Seeded, counter-based random fills that give the same numbers on CPU and CUDA.
//
// A Generator is (seed, offset): a position in the Philox4x32-10 stream of that seed
// (tensor/philox.h). A fill of n elements reserves n positions: it starts at the current offset
// o and advances the offset to o + n, so consecutive fills continue the stream and a fill does
// not depend on the device, the dtype, or how the work is split across threads.
//
// Stream layout: element i of a fill starting at offset o uses the Philox block with counter
// o + i (64 bits, low word first) and key = seed (low 32 bits, high 32 bits). From its words
// x0, x1:
//   uniform f32   u = (x0 >> 8) 2^-24 in [0, 1)                (24 bits: every f32 step in [0, 1))
//   uniform f64   u = ((x0 << 32 | x1) >> 11) 2^-53 in [0, 1)   (53 bits; CPU only, like all f64)
//                 value = lo + (hi - lo) u in double, rounded to the dtype, kept below hi
//   normal        u1 = (x0 + 1) 2^-32 in (0, 1], u2 = x1 2^-32 in [0, 1)
//                 value = mean + std sqrt(-2 ln u1) cos(2 pi u2), computed in double and
//                 rounded once to the dtype
// Because the normal is computed in double on both sides, CPU and CUDA agree to the last bit of
// f32 in practice: the double log/cos of the two libraries differ by at most an ulp or two of
// double, which the rounding to f32 hides unless a value falls within that distance of an f32
// rounding boundary (tests/tensor/test_rng_cuda.cpp measures it). Uniform fills involve no
// transcendental function and are bitwise identical.
//
// Kernels take the offset by value and never read anything back to the host, so a fill can be
// queued inside a captured CUDA graph (the offset is then fixed at capture time).

#include <atomic>
#include <cstdint>

#include "tensor/tensor.h"

namespace cbnn {

class Generator {
  public:
    explicit Generator(uint64_t seed) : seed_(seed), offset_(0) {}
    Generator(const Generator& other) : seed_(other.seed_), offset_(other.offset()) {}
    Generator& operator=(const Generator& other) {
        seed_ = other.seed_;
        offset_ = other.offset();
        return *this;
    }

    uint64_t seed() const { return seed_; }
    // The next unused stream position.
    uint64_t offset() const { return offset_.load(); }
    // Repositions the stream, e.g. to resume from a checkpoint that stored seed and offset.
    void set_offset(uint64_t offset) { offset_ = offset; }
    // Returns the start offset of n positions and advances past them (atomic: threads sharing a
    // generator get disjoint ranges).
    uint64_t reserve(uint64_t n) { return offset_.fetch_add(n); }

  private:
    uint64_t seed_;
    std::atomic<uint64_t> offset_;
};

// The process-wide generator used where no generator is passed: seed 0, offset 0 at start-up.
// Programs that want a different run print and set their own seed (Generator(seed)).
Generator& default_generator();

namespace cpu {
template <class T>
void philox_uniform(uint64_t seed, uint64_t offset, T* out, int64_t n, T lo, T hi);
template <class T>
void philox_normal(uint64_t seed, uint64_t offset, T* out, int64_t n, T mean, T stddev);
}  // namespace cpu

namespace cuda {
void philox_uniform(uint64_t seed, uint64_t offset, float* out, int64_t n, float lo, float hi);
void philox_normal(uint64_t seed, uint64_t offset, float* out, int64_t n, float mean, float stddev);
}  // namespace cuda

// In-place fills of a contiguous floating tensor (f32/f64 on the CPU, f32 on CUDA). They are
// writes like fill_: refused on a tensor that requires grad while grad mode is on.
// uniform_ needs finite lo <= hi (lo == hi fills lo); normal_ needs finite mean and stddev >= 0.
void uniform_(Tensor& t, Generator& g, double lo = 0.0, double hi = 1.0);
void normal_(Tensor& t, Generator& g, double mean = 0.0, double stddev = 1.0);

// New tensors: uniform in [0, 1) and standard normal.
Tensor rand(const Shape& shape, Generator& g, DType dtype = DType::f32,
            Device device = Device::cpu());
Tensor randn(const Shape& shape, Generator& g, DType dtype = DType::f32,
             Device device = Device::cpu());

}  // namespace cbnn
