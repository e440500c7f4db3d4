// cbnn's own batch-norm kernels, f32 NCHW: the alternative to cuDNN's (batchnorm2d_cudnn.cpp),
// chosen with set_batchnorm_kernels (layers/batchnorm2d.h). Math in layers/batchnorm2d.h.
//
// Why: cuDNN's NCHW spatial batch norm was measured at 55 us forward and 151 us forward+backward
// for ResNet-32's first stage (128 x 16 x 32 x 32, 8 MB) on an H100, 5-10x the time it takes to
// move the bytes; with a grid of C blocks it leaves most SMs idle when C is 16.
//
// Forward (training), a C x S grid of slices (slice (c, s): images [s N/S, (s+1) N/S) of channel
// c, so every SM has work even for C = 16):
//   1. bn_partial_stats_kernel: each slice's (count, mean, M2): per-thread Welford, merged across
//      the block with Chan's formula;
//   2. bn_finalize_stats_kernel, one thread per channel: merges the S partials in double, in
//      slice order; writes save_mean, save_invstd, the running statistics and the affine map
//      scale = gamma invstd, shift = beta - mean scale;
//   3. bn_affine_kernel: y = x scale[c] + shift[c].
// Backward: partial sums of dy and dy (x - mean) per slice, merged in double per channel into
// dbeta, dgamma; then dx = gamma invstd (dy - dbeta/n - xhat dgamma/n).
// Deterministic (fixed slices and merge order, no atomics). Scratch: batchnorm2d_scratch_floats.
#include <cuda_runtime.h>

#include <cstdint>

#include "layers/batchnorm2d.h"
#include "tensor/cuda_check.h"
#include "tensor/cuda_context.h"

namespace cbnn::cuda {

namespace {

constexpr int kBlock = 256;
constexpr int kWarps = kBlock / 32;
// Slices per channel: enough blocks for a few waves on a 132-SM GPU, never more than N.
constexpr int64_t kTargetBlocks = 512;

int64_t slices_per_channel(int64_t N, int64_t C) {
    const int64_t want = (kTargetBlocks + C - 1) / C;
    return want < N ? want : N;
}

struct Welford {
    float count, mean, m2;
};

__device__ Welford merge(Welford a, Welford b) {
    const float n = a.count + b.count;
    if (n == 0.f) return a;
    const float delta = b.mean - a.mean;
    const float wb = b.count / n;
    return {n, a.mean + delta * wb, a.m2 + b.m2 + delta * delta * a.count * wb};
}

__device__ Welford warp_merge(Welford w) {
    for (int offset = 16; offset > 0; offset /= 2) {
        const Welford other{__shfl_down_sync(0xffffffffu, w.count, offset),
                            __shfl_down_sync(0xffffffffu, w.mean, offset),
                            __shfl_down_sync(0xffffffffu, w.m2, offset)};
        w = merge(w, other);
    }
    return w;
}

__device__ float warp_sum(float v) {
    for (int offset = 16; offset > 0; offset /= 2) v += __shfl_down_sync(0xffffffffu, v, offset);
    return v;
}

// The first and one-past-last image of slice s of S over N images.
__device__ void slice_images(int64_t N, int64_t S, int64_t s, int64_t* n0, int64_t* n1) {
    *n0 = s * N / S;
    *n1 = (s + 1) * N / S;
}

// Index: the type of the per-element index arithmetic. 64-bit division costs dozens of
// instructions on the GPU, enough to make these memory-bound kernels compute-bound, so the
// launchers pick uint32_t whenever the range fits.

// grid (S, C): partials[(c S + s) 3 + {0,1,2}] = count, mean, M2 of slice (c, s).
template <class Index>
__global__ void bn_partial_stats_kernel(const float* __restrict__ x, int64_t N, int64_t C,
                                        int64_t HW, int64_t S, float* __restrict__ partials) {
    const int64_t s = blockIdx.x, c = blockIdx.y;
    int64_t n0, n1;
    slice_images(N, S, s, &n0, &n1);
    const Index total = static_cast<Index>((n1 - n0) * HW), hw_size = static_cast<Index>(HW);
    Welford w{0.f, 0.f, 0.f};
    for (Index i = threadIdx.x; i < total; i += kBlock) {
        const int64_t n = n0 + i / hw_size, hw = i % hw_size;
        const float v = x[(n * C + c) * HW + hw];
        w.count += 1.f;
        const float delta = v - w.mean;
        w.mean += delta / w.count;
        w.m2 += delta * (v - w.mean);
    }
    __shared__ Welford per_warp[kWarps];
    w = warp_merge(w);
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    if (lane == 0) per_warp[warp] = w;
    __syncthreads();
    if (threadIdx.x == 0) {
        Welford all = per_warp[0];
        for (int k = 1; k < kWarps; ++k) all = merge(all, per_warp[k]);
        float* out = partials + (c * S + s) * 3;
        out[0] = all.count;
        out[1] = all.mean;
        out[2] = all.m2;
    }
}

// One thread per channel. affine[c] = scale, affine[C + c] = shift.
__global__ void bn_finalize_stats_kernel(
    const float* __restrict__ partials, int64_t C, int64_t S, const float* __restrict__ gamma,
    const float* __restrict__ beta, float* __restrict__ running_mean,
    float* __restrict__ running_var, float* __restrict__ save_mean, float* __restrict__ save_invstd,
    double momentum, double eps, float* __restrict__ affine) {
    const int64_t c = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (c >= C) return;
    double n = 0, mean = 0, m2 = 0;
    for (int64_t s = 0; s < S; ++s) {
        const float* p = partials + (c * S + s) * 3;
        const double nb = p[0];
        if (nb == 0) continue;
        const double total = n + nb, delta = p[1] - mean;
        mean += delta * nb / total;
        m2 += p[2] + delta * delta * n * nb / total;
        n = total;
    }
    const double var = m2 / n;
    const double invstd = 1.0 / sqrt(var + eps);
    save_mean[c] = static_cast<float>(mean);
    save_invstd[c] = static_cast<float>(invstd);
    running_mean[c] = static_cast<float>((1.0 - momentum) * running_mean[c] + momentum * mean);
    running_var[c] =
        static_cast<float>((1.0 - momentum) * running_var[c] + momentum * var * n / (n - 1.0));
    const double scale = gamma[c] * invstd;
    affine[c] = static_cast<float>(scale);
    affine[C + c] = static_cast<float>(beta[c] - mean * scale);
}

// y = x scale[c] + shift[c] over all N C HW elements (affine as above).
template <class Index>
__global__ void bn_affine_kernel(const float* __restrict__ x, const float* __restrict__ affine,
                                 int64_t total, int64_t C, int64_t HW, float* __restrict__ y) {
    const Index stride = static_cast<Index>(gridDim.x) * kBlock, end = static_cast<Index>(total);
    const Index hw_size = static_cast<Index>(HW), channels = static_cast<Index>(C);
    for (Index i = blockIdx.x * static_cast<Index>(kBlock) + threadIdx.x; i < end; i += stride) {
        const Index c = (i / hw_size) % channels;
        y[i] = x[i] * affine[c] + affine[C + c];
    }
}

// Inference: y = (x - running_mean) gamma / sqrt(running_var + eps) + beta.
template <class Index>
__global__ void bn_inference_kernel(const float* __restrict__ x, const float* __restrict__ gamma,
                                    const float* __restrict__ beta,
                                    const float* __restrict__ running_mean,
                                    const float* __restrict__ running_var, int64_t total, int64_t C,
                                    int64_t HW, float eps, float* __restrict__ y) {
    const Index stride = static_cast<Index>(gridDim.x) * kBlock, end = static_cast<Index>(total);
    const Index hw_size = static_cast<Index>(HW), channels = static_cast<Index>(C);
    for (Index i = blockIdx.x * static_cast<Index>(kBlock) + threadIdx.x; i < end; i += stride) {
        const Index c = (i / hw_size) % channels;
        const float scale = gamma[c] * rsqrtf(running_var[c] + eps);
        y[i] = (x[i] - running_mean[c]) * scale + beta[c];
    }
}

// grid (S, C): partials[(c S + s) 2 + {0, 1}] = sum dy, sum dy (x - mean) of slice (c, s).
template <class Index>
__global__ void bn_partial_grads_kernel(const float* __restrict__ x, const float* __restrict__ dy,
                                        const float* __restrict__ save_mean, int64_t N, int64_t C,
                                        int64_t HW, int64_t S, float* __restrict__ partials) {
    const int64_t s = blockIdx.x, c = blockIdx.y;
    int64_t n0, n1;
    slice_images(N, S, s, &n0, &n1);
    const Index total = static_cast<Index>((n1 - n0) * HW), hw_size = static_cast<Index>(HW);
    const float mean = save_mean[c];
    float sum_dy = 0.f, sum_dy_xc = 0.f;
    for (Index i = threadIdx.x; i < total; i += kBlock) {
        const int64_t n = n0 + i / hw_size, hw = i % hw_size;
        const int64_t at = (n * C + c) * HW + hw;
        const float g = dy[at];
        sum_dy += g;
        sum_dy_xc += g * (x[at] - mean);
    }
    __shared__ float per_warp[2][kWarps];
    sum_dy = warp_sum(sum_dy);
    sum_dy_xc = warp_sum(sum_dy_xc);
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    if (lane == 0) {
        per_warp[0][warp] = sum_dy;
        per_warp[1][warp] = sum_dy_xc;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        float a = 0.f, b = 0.f;
        for (int k = 0; k < kWarps; ++k) a += per_warp[0][k], b += per_warp[1][k];
        partials[(c * S + s) * 2] = a;
        partials[(c * S + s) * 2 + 1] = b;
    }
}

// One thread per channel: dbeta, dgamma, and the dx coefficients
// coeff[c] = gamma invstd, coeff[C + c] = dbeta / n, coeff[2C + c] = dgamma invstd / n.
__global__ void bn_finalize_grads_kernel(const float* __restrict__ partials, int64_t C, int64_t S,
                                         int64_t count, const float* __restrict__ gamma,
                                         const float* __restrict__ save_invstd,
                                         float* __restrict__ dgamma, float* __restrict__ dbeta,
                                         float* __restrict__ coeff) {
    const int64_t c = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (c >= C) return;
    double sum_dy = 0, sum_dy_xc = 0;
    for (int64_t s = 0; s < S; ++s) {
        sum_dy += partials[(c * S + s) * 2];
        sum_dy_xc += partials[(c * S + s) * 2 + 1];
    }
    const double invstd = save_invstd[c], n = static_cast<double>(count);
    const double dg = sum_dy_xc * invstd;
    dbeta[c] = static_cast<float>(sum_dy);
    dgamma[c] = static_cast<float>(dg);
    coeff[c] = static_cast<float>(gamma[c] * invstd);
    coeff[C + c] = static_cast<float>(sum_dy / n);
    coeff[2 * C + c] = static_cast<float>(dg * invstd / n);
}

// dx = gamma invstd (dy - dbeta/n - (x - mean) invstd dgamma / n)
template <class Index>
__global__ void bn_dx_kernel(const float* __restrict__ x, const float* __restrict__ dy,
                             const float* __restrict__ save_mean, const float* __restrict__ coeff,
                             int64_t total, int64_t C, int64_t HW, float* __restrict__ dx) {
    const Index stride = static_cast<Index>(gridDim.x) * kBlock, end = static_cast<Index>(total);
    const Index hw_size = static_cast<Index>(HW), channels = static_cast<Index>(C);
    for (Index i = blockIdx.x * static_cast<Index>(kBlock) + threadIdx.x; i < end; i += stride) {
        const Index c = (i / hw_size) % channels;
        dx[i] = coeff[c] * (dy[i] - coeff[C + c] - (x[i] - save_mean[c]) * coeff[2 * C + c]);
    }
}

int elementwise_blocks(int64_t total) {
    // Grid-stride loops: at most 8 waves' worth of blocks on a large GPU, fewer for small inputs.
    const int64_t wanted = (total + kBlock - 1) / kBlock;
    return static_cast<int>(wanted < 132 * 16 ? wanted : 132 * 16);
}

int channel_blocks(int64_t C) { return static_cast<int>((C + kBlock - 1) / kBlock); }

// 32-bit index arithmetic while every index, plus one grid stride, stays below 2^32.
bool fits_32(int64_t n) { return n < (int64_t{1} << 31); }

// Launches kernel<uint32_t> or kernel<int64_t> (see Index above).
#define CBNN_BN_LAUNCH(kernel, fits, grid, ...)                         \
    do {                                                                \
        if (fits)                                                       \
            kernel<uint32_t><<<grid, kBlock, 0, stream>>>(__VA_ARGS__); \
        else                                                            \
            kernel<int64_t><<<grid, kBlock, 0, stream>>>(__VA_ARGS__);  \
        CBNN_CUDA_LAUNCH_CHECK();                                       \
    } while (0)

dim3 slice_grid(int64_t S, int64_t C) {
    return dim3(static_cast<unsigned>(S), static_cast<unsigned>(C));
}

// The most elements one slice holds.
int64_t slice_elements(int64_t N, int64_t S, int64_t HW) { return (N + S - 1) / S * HW; }

}  // namespace

int64_t batchnorm2d_scratch_floats(int64_t N, int64_t C) {
    return C * slices_per_channel(N, C) * 3 + 3 * C;
}

void batchnorm2d_forward_training(const float* x, const float* gamma, const float* beta, float* y,
                                  float* running_mean, float* running_var, float* save_mean,
                                  float* save_invstd, int64_t N, int64_t C, int64_t H, int64_t W,
                                  double momentum, double eps, float* scratch) {
    const cudaStream_t stream = current_stream();
    const int64_t S = slices_per_channel(N, C), HW = H * W, total = N * C * HW;
    float* partials = scratch;
    float* affine = scratch + C * S * 3;
    CBNN_BN_LAUNCH(bn_partial_stats_kernel, fits_32(slice_elements(N, S, HW)), slice_grid(S, C), x,
                   N, C, HW, S, partials);
    bn_finalize_stats_kernel<<<channel_blocks(C), kBlock, 0, stream>>>(
        partials, C, S, gamma, beta, running_mean, running_var, save_mean, save_invstd, momentum,
        eps, affine);
    CBNN_CUDA_LAUNCH_CHECK();
    CBNN_BN_LAUNCH(bn_affine_kernel, fits_32(total), elementwise_blocks(total), x, affine, total, C,
                   HW, y);
}

void batchnorm2d_forward_inference(const float* x, const float* gamma, const float* beta,
                                   const float* running_mean, const float* running_var, float* y,
                                   int64_t N, int64_t C, int64_t H, int64_t W, double eps) {
    const cudaStream_t stream = current_stream();
    const int64_t HW = H * W, total = N * C * HW;
    CBNN_BN_LAUNCH(bn_inference_kernel, fits_32(total), elementwise_blocks(total), x, gamma, beta,
                   running_mean, running_var, total, C, HW, static_cast<float>(eps), y);
}

void batchnorm2d_backward(const float* x, const float* dy, const float* gamma,
                          const float* save_mean, const float* save_invstd, float* dx,
                          float* dgamma, float* dbeta, int64_t N, int64_t C, int64_t H, int64_t W,
                          float* scratch) {
    const cudaStream_t stream = current_stream();
    const int64_t S = slices_per_channel(N, C), HW = H * W, total = N * C * HW;
    float* partials = scratch;
    float* coeff = scratch + C * S * 3;
    CBNN_BN_LAUNCH(bn_partial_grads_kernel, fits_32(slice_elements(N, S, HW)), slice_grid(S, C), x,
                   dy, save_mean, N, C, HW, S, partials);
    bn_finalize_grads_kernel<<<channel_blocks(C), kBlock, 0, stream>>>(
        partials, C, S, N * HW, gamma, save_invstd, dgamma, dbeta, coeff);
    CBNN_CUDA_LAUNCH_CHECK();
    CBNN_BN_LAUNCH(bn_dx_kernel, fits_32(total), elementwise_blocks(total), x, dy, save_mean, coeff,
                   total, C, HW, dx);
}

#undef CBNN_BN_LAUNCH

}  // namespace cbnn::cuda
