#pragma once
// Data augmentation: CIFAR (CPU reference + CUDA kernel, bit-identical) and ImageNet/iNaturalist
// (CPU only).
//
// ---- CIFAR (PAPER.md 3.2, `src/cifar.py:preprocess`) ----------------------------------------
// images: the whole dataset, (N, 3, 32, 32) uint8 planar; indices: (B) int64 rows of it, in batch
// order; out: (B, 3, 32, 32) float32 planar.
// Training: the raw image is zero-padded by 4 on each side to 40x40, a 32x32 window at offsets
// (ox, oy) in [0, 8] is cut out and mirrored left-right when `flip`:
//   out[b, c, y, x] = s(P[c, oy + y, ox + (flip ? 31 - x : x)]),  P = pad(image[indices[b]]), 0
//   outside
// Evaluation: out[b, c, y, x] = s(image[indices[b], c, y, x]) (no randomness is drawn).
// Scaling s(v) = fma(v, scale[c], shift[c]) in float32: the paper's v/128 - 1 (scale 2^-7, shift
// -1: exact, a padded 0 becomes -1) or per-channel (v/255 - mean[c]) / std[c], with mean/std given
// as fractions of 255 (torchvision's convention) and folded into scale and shift in double.
//
// Random stream (Philox4x32-10, tensor/philox.h): sample b draws the block
//   philox_at(seed, offset + b)   (counter = offset + b, key = seed)
// and uses its words: x0 -> ox = (x0 * 9) >> 32, x1 -> oy = (x1 * 9) >> 32, x2 -> flip = x2 >> 31.
// (The multiply-shift maps 2^32 values onto 9 offsets with a bias below 2^-29.) The loaders set
// offset = epoch * N + position of the batch's first sample in the epoch (data/loader.h), so every
// sample's draw is a pure function of (seed, epoch, position): the CPU and CUDA paths and a resumed
// run produce the same batches bit for bit (integer math plus one correctly rounded fma).
//
// ---- ImageNet / iNaturalist (PAPER.md 3.5; CPU only) -----------------------------------------
// One decoded image, (C, H, W) uint8 planar with C = 3 (the Dataset layout, data/dataset.h), any
// H, W; output (3, size, size) float32 planar, normalised per channel: (v/255 - mean[c]) / std[c].
// Training: random-resized-crop as torchvision's RandomResizedCrop / TF's Inception crop: up to 10
// attempts draw an area fraction a ~ U[0.08, 1] and an aspect r = exp(U[ln 3/4, ln 4/3]),
//   w = round(sqrt(a H W r)),  h = round(sqrt(a H W / r)),
// and accept when 0 < w <= W and 0 < h <= H, with top-left uniform over the valid positions; if no
// attempt fits, the fallback is the largest centred crop whose aspect is clamped to [3/4, 4/3]
// (torchvision's fallback). The crop is resized to size x size and flipped with p = 0.5.
// Random stream: sample counter n; attempt k (0-based) uses philox4x32_10((lo32 n, hi32 n, k + 1,
// 0), key = seed): x0 -> a, x1 -> ln r, x2 -> left, x3 -> top (each u = x 2^-32); the flip is the
// top bit of x0 of the block (lo32 n, hi32 n, 0, 0).
// Evaluation: resize so the shorter side is round(size / 0.875) (224 -> 256, i.e. 224/(224+32)),
// then the centred size x size crop.
// Resampling is bilinear with half-pixel centres (align_corners = false), sampled coordinates
// clamped to the source region, no antialiasing filter. The paper's TPU code resizes bicubically;
// bilinear is chosen as the simpler, overshoot-free reference (a documented difference).

#include <array>
#include <cstdint>

#include "tensor/hd.h"
#include "tensor/philox.h"
#include "tensor/tensor.h"

namespace cbnn {

inline constexpr int64_t kCifarChannels = 3;
inline constexpr int64_t kCifarSize = 32;
inline constexpr int64_t kCifarPad = 4;
inline constexpr int64_t kCifarOffsets = 2 * kCifarPad + 1;  // 9 crop positions per axis
inline constexpr int64_t kCifarImageBytes = kCifarChannels * kCifarSize * kCifarSize;

// Per-channel affine input scaling s(v) = v * scale[c] + shift[c] (one fma).
struct CifarScaling {
    float scale[3];
    float shift[3];
    // The paper: v/128 - 1.
    static CifarScaling paper();
    // (v/255 - mean[c]) / std[c]; std must be positive.
    static CifarScaling mean_std(const std::array<double, 3>& mean,
                                 const std::array<double, 3>& stddev);
};

// The random choices of one CIFAR training sample.
struct CifarDraw {
    int64_t ox, oy;
    bool flip;
};

CBNN_HD CifarDraw cifar_draw(uint64_t seed, uint64_t counter) {
    const PhiloxBlock r = philox_at(seed, counter);
    CifarDraw d;
    d.ox = static_cast<int64_t>((static_cast<uint64_t>(r.x[0]) * kCifarOffsets) >> 32);
    d.oy = static_cast<int64_t>((static_cast<uint64_t>(r.x[1]) * kCifarOffsets) >> 32);
    d.flip = (r.x[2] >> 31) != 0;
    return d;
}

// The output value at (c, y, x) of one sample: shared by the CPU loop and the CUDA thread.
CBNN_HD float cifar_pixel(const uint8_t* image, int64_t c, int64_t y, int64_t x, CifarDraw d,
                          bool train, const CifarScaling& s) {
    int64_t sy = y, sx = x;
    if (train) {
        sy = d.oy + y - kCifarPad;
        sx = d.ox + (d.flip ? kCifarSize - 1 - x : x) - kCifarPad;
    }
    const bool inside = sy >= 0 && sy < kCifarSize && sx >= 0 && sx < kCifarSize;
    const float v =
        inside ? static_cast<float>(image[(c * kCifarSize + sy) * kCifarSize + sx]) : 0.f;
    return fmaf(v, s.scale[c], s.shift[c]);
}

namespace cpu {
// Layout and stream above. Does not check `indices` (the op callers do).
void cifar_augment(const uint8_t* images, const int64_t* indices, int64_t batch, uint64_t seed,
                   uint64_t offset, bool train, const CifarScaling& scaling, float* out);
}  // namespace cpu

namespace cuda {
// Same parameters; images, indices and out are device pointers. Queued on cbnn's stream, no sync.
void cifar_augment(const uint8_t* images, const int64_t* indices, int64_t batch, uint64_t seed,
                   uint64_t offset, bool train, const CifarScaling& scaling, float* out);
}  // namespace cuda

namespace ops {
// images: (N, 3, 32, 32) u8, indices: (B) i64 in [0, N), both contiguous on one device (indices
// are checked; on CUDA that check reads one value back unless a graph is being captured).
// Returns (B, 3, 32, 32) f32 on that device.
Tensor cifar_augment(const Tensor& images, const Tensor& indices, uint64_t seed, uint64_t offset,
                     bool train, const CifarScaling& scaling);
}  // namespace ops

// ---- ImageNet / iNaturalist
// ----------------------------------------------------------------------

struct ImageNetAugmentOptions {
    int64_t size = 224;
    double min_area = 0.08, max_area = 1.0;
    double min_aspect = 3.0 / 4.0, max_aspect = 4.0 / 3.0;
    int attempts = 10;
    double crop_fraction = 0.875;  // eval: shorter side -> round(size / crop_fraction)
    std::array<double, 3> mean{0.485, 0.456, 0.406};  // ImageNet, fractions of 255
    std::array<double, 3> stddev{0.229, 0.224, 0.225};
    // The iNaturalist statistics of the paper's code (PAPER.md 3.5).
    static ImageNetAugmentOptions inaturalist();
};

// A crop window in source pixels: columns [x, x + w), rows [y, y + h).
struct CropBox {
    int64_t x = 0, y = 0, w = 0, h = 0;
    bool fallback = false;  // no attempt fitted: the centred fallback crop
};

namespace cpu {
// The random-resized-crop window for an H x W image (stream above).
CropBox random_resized_crop_box(int64_t height, int64_t width, uint64_t seed, uint64_t counter,
                                const ImageNetAugmentOptions& opt);
bool imagenet_flip(uint64_t seed, uint64_t counter);
// Bilinear resize of box of a (C, H, W) uint8 image to (C, out_h, out_w) float32 in pixel units
// (0..255), mirrored left-right when flip.
void resize_bilinear(const uint8_t* image, int64_t channels, int64_t height, int64_t width,
                     CropBox box, int64_t out_h, int64_t out_w, bool flip, float* out);
}  // namespace cpu

// Training and evaluation transforms of one (3, H, W) uint8 image into out (3, size, size) f32.
// Bad input (channels != 3, empty image, invalid options) is a cbnn::Error.
void imagenet_augment_train(const uint8_t* image, int64_t channels, int64_t height, int64_t width,
                            uint64_t seed, uint64_t counter, const ImageNetAugmentOptions& opt,
                            float* out);
void imagenet_augment_eval(const uint8_t* image, int64_t channels, int64_t height, int64_t width,
                           const ImageNetAugmentOptions& opt, float* out);

}  // namespace cbnn
