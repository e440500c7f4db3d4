// The host side of cbnn's implicit-GEMM convolution kernels (layers/conv2d_igemm.h): the setting,
// which shapes the kernels take, and how the work is split.
#include "layers/conv2d_igemm.h"

#include <algorithm>
#include <atomic>
#include <cstdint>

#include "tensor/backend.h"
#include "tensor/error.h"

namespace cbnn {

namespace {
std::atomic<ConvKernels> g_kernels{ConvKernels::cudnn};

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
}  // namespace

void set_conv_kernels(ConvKernels kernels) { g_kernels = kernels; }
ConvKernels conv_kernels() { return g_kernels; }

ConvKernels parse_conv_kernels(const std::string& name) {
    if (name == "cudnn") return ConvKernels::cudnn;
    if (name == "cbnn") return ConvKernels::cbnn;
    CBNN_FAIL("conv kernels '", name, "' is not one of cudnn, cbnn");
}

const char* conv_kernels_name(ConvKernels kernels) {
    return kernels == ConvKernels::cbnn ? "cbnn" : "cudnn";
}

bool conv2d_igemm_supports(const Conv2dShape& s, DType dtype, bool tf32_allowed) {
    const bool arithmetic = dtype == DType::bf16 || (dtype == DType::f32 && tf32_allowed);
    const auto narrow = [](int64_t channels) {
        return channels > 0 && channels % 16 == 0 && channels <= kIgemmMaxChannels;
    };
    return s.channels_last && arithmetic && narrow(s.C) && narrow(s.K) &&
           s.R * s.S <= kIgemmMaxTaps && (s.N * s.P * s.Q) % 16 == 0 &&
           (s.N * s.H * s.W) % 16 == 0 && s.N * s.P * s.Q > 0;
}

bool conv2d_igemm_chosen(const Conv2dShape& s, DType dtype) {
    return conv_kernels() == ConvKernels::cbnn && conv2d_igemm_supports(s, dtype, allow_tf32());
}

bool conv2d_igemm_applies(const Conv2dShape& s, DType dtype,
                          std::initializer_list<const void*> operands) {
    if (!conv2d_igemm_chosen(s, dtype)) return false;
    return std::all_of(operands.begin(), operands.end(),
                       [](const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 32 == 0; });
}

IgemmGatherPlan igemm_gather_plan(const Conv2dShape& s, bool backward_data, int64_t sm_count) {
    IgemmGatherPlan p{};
    p.rows = backward_data ? s.N * s.H * s.W : s.N * s.P * s.Q;
    p.in_channels = backward_data ? s.K : s.C;
    p.out_channels = backward_data ? s.C : s.K;
    const int64_t row_tiles = ceil_div(p.rows, 16), col_tiles = p.out_channels / 16;
    p.col_fragments = 1;
    for (int f : {4, 2}) {
        if (col_tiles % f == 0 &&
            row_tiles * (col_tiles / f) >= kIgemmGatherWarpsPerSm * sm_count) {
            p.col_fragments = f;
            break;
        }
    }
    p.blocks_x = ceil_div(row_tiles, kIgemmWarpsPerBlock);
    p.blocks_y = col_tiles / p.col_fragments;
    return p;
}

IgemmFilterPlan igemm_filter_plan(const Conv2dShape& s, int64_t sm_count) {
    IgemmFilterPlan p{};
    p.rows = s.N * s.P * s.Q;
    p.items = s.R * s.S * s.C / 16;
    const int64_t block = s.K * s.R * s.S * s.C;  // one chunk's partial sums
    const int64_t row_tiles = ceil_div(p.rows, 16), k_tiles = s.K / 16;
    const int64_t target = kIgemmFilterWarpsPerSm * sm_count;
    const int64_t for_warps = ceil_div(target, p.items);
    const int64_t for_chains = ceil_div(row_tiles, kIgemmMaxTilesPerChunk);
    const int64_t most_chunks =
        std::max<int64_t>(1, std::min(std::max(kIgemmMaxPartialFloats / block, for_chains),
                                      kIgemmMaxPartialFloatsHard / block));
    const int64_t wanted =
        std::clamp<int64_t>(std::max(for_warps, for_chains), 1, std::min(row_tiles, most_chunks));
    p.rows_per_chunk = 16 * ceil_div(row_tiles, wanted);
    p.chunks = ceil_div(p.rows, p.rows_per_chunk);
    p.k_fragments = 1;
    for (int f : {4, 2}) {
        if (k_tiles % f == 0 && p.chunks * p.items * (k_tiles / f) >= target) {
            p.k_fragments = f;
            break;
        }
    }
    p.k_groups = k_tiles / p.k_fragments;
    p.blocks_y = ceil_div(p.items, kIgemmWarpsPerBlock);
    p.workspace_floats = p.chunks * block;
    return p;
}

}  // namespace cbnn
