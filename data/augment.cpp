// CPU references of the augmentations and the CIFAR op function (math and streams in augment.h).
#include "data/augment.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "tensor/dispatch.h"
#include "tensor/error.h"
#include "tensor/index.h"

namespace cbnn {

CifarScaling CifarScaling::paper() {
    CifarScaling s{};
    for (int c = 0; c < 3; ++c) {
        s.scale[c] = 1.0f / 128.0f;
        s.shift[c] = -1.0f;
    }
    return s;
}

CifarScaling CifarScaling::mean_std(const std::array<double, 3>& mean,
                                    const std::array<double, 3>& stddev) {
    CifarScaling s{};
    for (int c = 0; c < 3; ++c) {
        CBNN_CHECK(std::isfinite(mean[c]) && std::isfinite(stddev[c]) && stddev[c] > 0,
                   "cifar scaling: expected finite mean and std > 0, got mean ", mean[c], ", std ",
                   stddev[c], " for channel ", c);
        s.scale[c] = static_cast<float>(1.0 / (255.0 * stddev[c]));
        s.shift[c] = static_cast<float>(-mean[c] / stddev[c]);
    }
    return s;
}

namespace cpu {

void cifar_augment(const uint8_t* images, const int64_t* indices, int64_t batch, uint64_t seed,
                   uint64_t offset, bool train, const CifarScaling& scaling, float* out) {
    for (int64_t b = 0; b < batch; ++b) {
        const uint8_t* image = images + indices[b] * kCifarImageBytes;
        const CifarDraw d =
            train ? cifar_draw(seed, offset + static_cast<uint64_t>(b)) : CifarDraw{0, 0, false};
        float* o = out + b * kCifarImageBytes;
        for (int64_t c = 0; c < kCifarChannels; ++c) {
            for (int64_t y = 0; y < kCifarSize; ++y) {
                for (int64_t x = 0; x < kCifarSize; ++x) {
                    o[(c * kCifarSize + y) * kCifarSize + x] =
                        cifar_pixel(image, c, y, x, d, train, scaling);
                }
            }
        }
    }
}

}  // namespace cpu

namespace ops {

Tensor cifar_augment(const Tensor& images, const Tensor& indices, uint64_t seed, uint64_t offset,
                     bool train, const CifarScaling& scaling) {
    check_defined(images, "cifar_augment");
    check_defined(indices, "cifar_augment");
    CBNN_CHECK(images.dim() == 4 && images.size(1) == kCifarChannels &&
                   images.size(2) == kCifarSize && images.size(3) == kCifarSize,
               "cifar_augment: expected images (N, 3, 32, 32), got ", images.description());
    check_dtype(images, DType::u8, "cifar_augment", "images");
    check_dtype(indices, DType::i64, "cifar_augment", "indices");
    CBNN_CHECK(indices.dim() == 1, "cifar_augment: expected 1-D indices, got ",
               indices.description());
    check_same_device(images, indices, "cifar_augment");
    CBNN_CHECK(images.is_contiguous() && indices.is_contiguous(),
               "cifar_augment: expected contiguous images and indices, got ", images.description(),
               " and ", indices.description());
    const int64_t n = images.size(0), batch = indices.numel();
    if (indices.is_cuda()) {
        CBNN_ON_CUDA({
            const int64_t p = ops::first_out_of_range(indices, n);
            CBNN_CHECK(p == batch, "cifar_augment: index ", indices.narrow(0, p, 1).item<int64_t>(),
                       " at position ", p, " outside [0, ", n, ")");
        });
    } else {
        const int64_t* idx = indices.data<int64_t>();
        for (int64_t b = 0; b < batch; ++b) {
            CBNN_CHECK(idx[b] >= 0 && idx[b] < n, "cifar_augment: index ", idx[b], " at position ",
                       b, " outside [0, ", n, ")");
        }
    }
    Tensor out =
        Tensor::empty({batch, kCifarChannels, kCifarSize, kCifarSize}, DType::f32, images.device());
    if (batch == 0) return out;
    if (out.is_cuda()) {
        CBNN_ON_CUDA(cuda::cifar_augment(images.data<uint8_t>(), indices.data<int64_t>(), batch,
                                         seed, offset, train, scaling, out.data<float>()));
    } else {
        cpu::cifar_augment(images.data<uint8_t>(), indices.data<int64_t>(), batch, seed, offset,
                           train, scaling, out.data<float>());
    }
    return out;
}

}  // namespace ops

// ---- ImageNet / iNaturalist -----------------------------------------------------------------

ImageNetAugmentOptions ImageNetAugmentOptions::inaturalist() {
    ImageNetAugmentOptions o;
    o.mean = {0.466, 0.471, 0.380};
    o.stddev = {0.195, 0.194, 0.192};
    return o;
}

namespace {

constexpr double kU32ToUnit = 1.0 / 4294967296.0;  // 2^-32

PhiloxBlock imagenet_block(uint64_t seed, uint64_t counter, uint32_t word2) {
    const PhiloxBlock c{
        {static_cast<uint32_t>(counter), static_cast<uint32_t>(counter >> 32), word2, 0u}};
    return philox4x32_10(c, static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
}

// Output index o of an axis -> the two source indices and the weight of the second. The output
// axis is the window [start, start + out_len) of a virtual resize of source [src0, src0 + src_len)
// to `resized` samples (half-pixel centres, clamped to the source region).
struct Tap {
    int64_t i0, i1;
    double w1;
};

Tap axis_tap(int64_t o, int64_t start, int64_t resized, int64_t src0, int64_t src_len) {
    const double scale = static_cast<double>(src_len) / static_cast<double>(resized);
    double s = (static_cast<double>(o + start) + 0.5) * scale - 0.5;
    s = std::clamp(s, 0.0, static_cast<double>(src_len - 1));
    const int64_t i0 = static_cast<int64_t>(std::floor(s));
    const int64_t i1 = std::min(i0 + 1, src_len - 1);
    return {src0 + i0, src0 + i1, s - static_cast<double>(i0)};
}

struct AxisMap {
    int64_t start, resized, src0, src_len, out_len;
};

void resample(const uint8_t* image, int64_t channels, int64_t height, int64_t width, AxisMap ym,
              AxisMap xm, bool flip, float* out) {
    std::vector<Tap> xs(static_cast<size_t>(xm.out_len));
    for (int64_t ox = 0; ox < xm.out_len; ++ox) {
        const int64_t from = flip ? xm.out_len - 1 - ox : ox;
        xs[static_cast<size_t>(ox)] = axis_tap(from, xm.start, xm.resized, xm.src0, xm.src_len);
    }
    for (int64_t c = 0; c < channels; ++c) {
        const uint8_t* plane = image + c * height * width;
        for (int64_t oy = 0; oy < ym.out_len; ++oy) {
            const Tap ty = axis_tap(oy, ym.start, ym.resized, ym.src0, ym.src_len);
            const uint8_t* r0 = plane + ty.i0 * width;
            const uint8_t* r1 = plane + ty.i1 * width;
            float* o = out + (c * ym.out_len + oy) * xm.out_len;
            for (int64_t ox = 0; ox < xm.out_len; ++ox) {
                const Tap& tx = xs[static_cast<size_t>(ox)];
                const double top = r0[tx.i0] + tx.w1 * (r0[tx.i1] - r0[tx.i0]);
                const double bottom = r1[tx.i0] + tx.w1 * (r1[tx.i1] - r1[tx.i0]);
                o[ox] = static_cast<float>(top + ty.w1 * (bottom - top));
            }
        }
    }
}

void check_imagenet_input(const uint8_t* image, int64_t channels, int64_t height, int64_t width,
                          const ImageNetAugmentOptions& opt, const char* op) {
    CBNN_CHECK(image != nullptr, op, ": null image");
    CBNN_CHECK(channels == 3, op, ": expected a (3, H, W) image, got ", channels, " channels");
    CBNN_CHECK(height > 0 && width > 0, op, ": expected a non-empty image, got ", height, "x",
               width);
    CBNN_CHECK(opt.size > 0, op, ": expected size >= 1, got ", opt.size);
    CBNN_CHECK(opt.min_area > 0 && opt.min_area <= opt.max_area && opt.max_area <= 1, op,
               ": expected 0 < min_area <= max_area <= 1, got [", opt.min_area, ", ", opt.max_area,
               "]");
    CBNN_CHECK(opt.min_aspect > 0 && opt.min_aspect <= opt.max_aspect, op,
               ": expected 0 < min_aspect <= max_aspect, got [", opt.min_aspect, ", ",
               opt.max_aspect, "]");
    CBNN_CHECK(opt.attempts >= 0, op, ": expected attempts >= 0, got ", opt.attempts);
    CBNN_CHECK(opt.crop_fraction > 0 && opt.crop_fraction <= 1, op,
               ": expected crop_fraction in (0, 1], got ", opt.crop_fraction);
    for (int c = 0; c < 3; ++c) {
        CBNN_CHECK(std::isfinite(opt.mean[c]) && opt.stddev[c] > 0, op,
                   ": expected finite mean and std > 0, got mean ", opt.mean[c], ", std ",
                   opt.stddev[c], " for channel ", c);
    }
}

void normalize(float* out, int64_t plane, const ImageNetAugmentOptions& opt) {
    for (int c = 0; c < 3; ++c) {
        const float scale = static_cast<float>(1.0 / (255.0 * opt.stddev[c]));
        const float shift = static_cast<float>(-opt.mean[c] / opt.stddev[c]);
        float* p = out + c * plane;
        for (int64_t i = 0; i < plane; ++i) p[i] = std::fma(p[i], scale, shift);
    }
}

}  // namespace

namespace cpu {

CropBox random_resized_crop_box(int64_t height, int64_t width, uint64_t seed, uint64_t counter,
                                const ImageNetAugmentOptions& opt) {
    const double area = static_cast<double>(height) * static_cast<double>(width);
    const double log_lo = std::log(opt.min_aspect), log_hi = std::log(opt.max_aspect);
    for (int k = 0; k < opt.attempts; ++k) {
        const PhiloxBlock r = imagenet_block(seed, counter, static_cast<uint32_t>(k + 1));
        const double target =
            area * (opt.min_area + (opt.max_area - opt.min_area) * (r.x[0] * kU32ToUnit));
        const double aspect = std::exp(log_lo + (log_hi - log_lo) * (r.x[1] * kU32ToUnit));
        const auto w = static_cast<int64_t>(std::lround(std::sqrt(target * aspect)));
        const auto h = static_cast<int64_t>(std::lround(std::sqrt(target / aspect)));
        if (w > 0 && w <= width && h > 0 && h <= height) {
            CropBox box;
            box.w = w;
            box.h = h;
            box.x = static_cast<int64_t>(r.x[2] * kU32ToUnit * static_cast<double>(width - w + 1));
            box.y = static_cast<int64_t>(r.x[3] * kU32ToUnit * static_cast<double>(height - h + 1));
            return box;
        }
    }
    CropBox box;
    box.fallback = true;
    const double ratio = static_cast<double>(width) / static_cast<double>(height);
    box.w = width;
    box.h = height;
    if (ratio < opt.min_aspect) {
        box.h = std::max<int64_t>(1, std::lround(static_cast<double>(width) / opt.min_aspect));
    } else if (ratio > opt.max_aspect) {
        box.w = std::max<int64_t>(1, std::lround(static_cast<double>(height) * opt.max_aspect));
    }
    box.x = (width - box.w) / 2;
    box.y = (height - box.h) / 2;
    return box;
}

bool imagenet_flip(uint64_t seed, uint64_t counter) {
    return (imagenet_block(seed, counter, 0u).x[0] >> 31) != 0;
}

void resize_bilinear(const uint8_t* image, int64_t channels, int64_t height, int64_t width,
                     CropBox box, int64_t out_h, int64_t out_w, bool flip, float* out) {
    resample(image, channels, height, width, {0, out_h, box.y, box.h, out_h},
             {0, out_w, box.x, box.w, out_w}, flip, out);
}

}  // namespace cpu

void imagenet_augment_train(const uint8_t* image, int64_t channels, int64_t height, int64_t width,
                            uint64_t seed, uint64_t counter, const ImageNetAugmentOptions& opt,
                            float* out) {
    check_imagenet_input(image, channels, height, width, opt, "imagenet_augment_train");
    const CropBox box = cpu::random_resized_crop_box(height, width, seed, counter, opt);
    cpu::resize_bilinear(image, channels, height, width, box, opt.size, opt.size,
                         cpu::imagenet_flip(seed, counter), out);
    normalize(out, opt.size * opt.size, opt);
}

void imagenet_augment_eval(const uint8_t* image, int64_t channels, int64_t height, int64_t width,
                           const ImageNetAugmentOptions& opt, float* out) {
    check_imagenet_input(image, channels, height, width, opt, "imagenet_augment_eval");
    const int64_t shorter = std::lround(static_cast<double>(opt.size) / opt.crop_fraction);
    int64_t rh = shorter, rw = shorter;
    if (height <= width) {
        rw = std::lround(static_cast<double>(width) * static_cast<double>(shorter) /
                         static_cast<double>(height));
    } else {
        rh = std::lround(static_cast<double>(height) * static_cast<double>(shorter) /
                         static_cast<double>(width));
    }
    rh = std::max(rh, opt.size);
    rw = std::max(rw, opt.size);
    resample(image, channels, height, width, {(rh - opt.size) / 2, rh, 0, height, opt.size},
             {(rw - opt.size) / 2, rw, 0, width, opt.size}, false, out);
    normalize(out, opt.size * opt.size, opt);
}

}  // namespace cbnn
