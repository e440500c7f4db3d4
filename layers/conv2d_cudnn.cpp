// cuda::conv2d_* through cuDNN's convolution API (cudnnConvolutionForward / BackwardData /
// BackwardFilter / BackwardBias: the legacy API, deprecated in cuDNN 9 but still shipped).
// Math and layout in layers/conv2d.h.
//
// Layout: NCHW data with KCRS filters, or NHWC data with KRSC filters (Conv2dShape::channels_last,
// part of the plan's key).
//
// Algorithm choice, once per (shape, math mode, search mode, device, direction), cached for the
// life of the process with the descriptors. Two search modes (conv_algorithm_search(),
// layers/conv2d.h):
//   heuristic (default): the cudnnGet*Algorithm_v7 heuristics, a host-side query. Chosen as the
//     default over cudnnFind*Algorithm because Find times every algorithm on the GPU: it
//     synchronises, allocates scratch memory as large as the hungriest algorithm, cannot run
//     while a training step is captured as a CUDA graph, and ranks by measured time, so two runs
//     of one program can pick different algorithms (and round differently).
//   timed: cudnnFind*Algorithm (cuDNN allocates the scratch buffers itself), candidates ranked by
//     measured time; the heuristics are used instead while the stream is being captured.
// The candidates of either list are then filtered the same way, in their order: the first one is
// taken that reports success, needs at most kMaxWorkspaceBytes, and is accepted by cuDNN under
// the pinned math type; deterministic candidates (same bits on every run) come before
// nondeterministic ones, and under FP32 those listed with CUDNN_FMA_MATH before those it is
// imposed on. bench/bench_conv.cpp measures both modes.
//
// Math: FP32 is pinned with CUDNN_FMA_MATH, because cuDNN's default math lets FP32 convolutions
// run on TF32 tensor cores. With allow_tf32() (tensor/backend.h) the descriptor asks for
// CUDNN_TENSOR_OP_MATH and each candidate runs with the math type the heuristics report for it
// (cuDNN needs algorithm and math type together), except the FP16 down-conversion mode.
//
// Workspace: a u8 tensor from the CUDA caching allocator, freed when the call returns; reuse is
// safe because all cbnn work is queued on one stream.
#include <array>
#include <atomic>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "layers/conv2d.h"
#include "tensor/backend.h"
#include "tensor/cuda_check.h"
#include "tensor/cuda_context.h"
#include "tensor/cudnn_context.h"

namespace cbnn::cuda {

namespace {

constexpr size_t kMaxWorkspaceBytes = size_t{1} << 30;  // 1 GiB: FFT algorithms can ask for more

std::atomic<int64_t> g_selections{0};

int to_int(int64_t value, const char* what) {
    CBNN_CHECK(value >= 0 && value <= std::numeric_limits<int>::max(), "conv2d (cuDNN): ", what,
               " = ", value, " is outside the 32-bit range cuDNN accepts");
    return static_cast<int>(value);
}

cudnnTensorFormat_t format(bool channels_last) {
    return channels_last ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW;
}

class TensorDesc {
  public:
    TensorDesc(int64_t n, int64_t c, int64_t h, int64_t w, cudnnDataType_t type,
               bool channels_last) {
        CBNN_CUDNN_CHECK(cudnnCreateTensorDescriptor(&desc_));
        CBNN_CUDNN_CHECK(cudnnSetTensor4dDescriptor(desc_, format(channels_last), type,
                                                    to_int(n, "N"), to_int(c, "C"), to_int(h, "H"),
                                                    to_int(w, "W")));
    }
    ~TensorDesc() { CBNN_CUDNN_CHECK_NOTHROW(cudnnDestroyTensorDescriptor(desc_)); }
    TensorDesc(const TensorDesc&) = delete;
    TensorDesc& operator=(const TensorDesc&) = delete;
    cudnnTensorDescriptor_t get() const { return desc_; }

  private:
    cudnnTensorDescriptor_t desc_ = nullptr;
};

class FilterDesc {
  public:
    FilterDesc(const Conv2dShape& s, cudnnDataType_t type) {
        CBNN_CUDNN_CHECK(cudnnCreateFilterDescriptor(&desc_));
        // KRSC for NHWC data: the filter layout cuDNN's NHWC tensor-core kernels read.
        CBNN_CUDNN_CHECK(cudnnSetFilter4dDescriptor(desc_, type, format(s.channels_last),
                                                    to_int(s.K, "K"), to_int(s.C, "C"),
                                                    to_int(s.R, "R"), to_int(s.S, "S")));
    }
    ~FilterDesc() { CBNN_CUDNN_CHECK_NOTHROW(cudnnDestroyFilterDescriptor(desc_)); }
    FilterDesc(const FilterDesc&) = delete;
    FilterDesc& operator=(const FilterDesc&) = delete;
    cudnnFilterDescriptor_t get() const { return desc_; }

  private:
    cudnnFilterDescriptor_t desc_ = nullptr;
};

class ConvDesc {
  public:
    ConvDesc(const Conv2dShape& s, cudnnMathType_t math) {
        CBNN_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&desc_));
        const int pad = to_int(s.pad, "padding"), stride = to_int(s.stride, "stride");
        CBNN_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(
            desc_, pad, pad, stride, stride, 1, 1, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
        CBNN_CUDNN_CHECK(cudnnSetConvolutionMathType(desc_, math));
    }
    ~ConvDesc() { CBNN_CUDNN_CHECK_NOTHROW(cudnnDestroyConvolutionDescriptor(desc_)); }
    ConvDesc(const ConvDesc&) = delete;
    ConvDesc& operator=(const ConvDesc&) = delete;
    cudnnConvolutionDescriptor_t get() const { return desc_; }

  private:
    cudnnConvolutionDescriptor_t desc_ = nullptr;
};

// What runs for one direction; the math type that goes with the algorithm is set on that
// direction's convolution descriptor once, at selection.
struct Choice {
    int algo;
    size_t workspace_bytes;
};

// Descriptors of one (shape, element type, math mode, device), one convolution descriptor per
// direction since each direction's algorithm may need its own math type.
struct Plan {
    Plan(const Conv2dShape& s, cudnnDataType_t type, bool allow_tf32, bool timed_search)
        : tf32(allow_tf32 || type == CUDNN_DATA_BFLOAT16),
          timed(timed_search),
          x(s.N, s.C, s.H, s.W, type, s.channels_last),
          y(s.N, s.K, s.P, s.Q, type, s.channels_last),
          w(s, type),
          fwd(s, math()),
          bwd_data(s, math()),
          bwd_filter(s, math()) {}
    cudnnMathType_t math() const { return tf32 ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH; }
    // Tensor-core math: TF32 for f32 data when allowed; always for bf16 data (bf16 products are
    // exact in FP32, and the accumulation is FP32 either way).
    bool tf32;
    bool timed;  // rank candidates by cudnnFind* timings instead of the heuristics
    TensorDesc x, y;
    FilterDesc w;
    ConvDesc fwd, bwd_data, bwd_filter;
    std::optional<Choice> fwd_choice, data_choice, filter_choice;
};

std::mutex g_mutex;  // guards the plan cache and each plan's choices

// The plan of this shape and element type under the current math mode on the current device;
// created on first use. Plans are never removed, so the reference stays valid.
Plan& plan_for(const Conv2dShape& s, cudnnDataType_t type) {
    static std::map<std::array<int64_t, 14>, std::unique_ptr<Plan>> plans;
    const bool tf32 = allow_tf32();
    const bool timed = conv_algorithm_search() == ConvAlgorithmSearch::timed;
    const std::array<int64_t, 14> key{s.N,   s.C,
                                      s.H,   s.W,
                                      s.K,   s.R,
                                      s.S,   s.stride,
                                      s.pad, tf32,
                                      timed, current_device(),
                                      type,  s.channels_last};
    std::unique_ptr<Plan>& plan = plans[key];
    if (!plan) plan = std::make_unique<Plan>(s, type, tf32, timed);
    return *plan;
}

// Picks among the heuristics' candidates (see the file comment). `query_workspace(algo, &bytes)`
// asks cuDNN for the workspace of an algorithm under the math type just set on `conv`.
template <class Perf, class WorkspaceQuery>
Choice choose(const std::vector<Perf>& candidates, bool tf32, cudnnConvolutionDescriptor_t conv,
              WorkspaceQuery query_workspace, const char* direction, const Conv2dShape& s) {
    // Passes, most wanted first: deterministic with the pinned math type as reported by the
    // heuristics, deterministic with the math type imposed, then the same without determinism.
    for (int pass = 0; pass < 4; ++pass) {
        const bool need_deterministic = pass < 2, need_reported_math = pass % 2 == 0;
        for (const Perf& perf : candidates) {
            if (perf.status != CUDNN_STATUS_SUCCESS) continue;
            if (need_deterministic && perf.determinism != CUDNN_DETERMINISTIC) continue;
            if (!tf32 && need_reported_math && perf.mathType != CUDNN_FMA_MATH) continue;
            if (tf32 && perf.mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION) continue;
            const cudnnMathType_t math = tf32 ? perf.mathType : CUDNN_FMA_MATH;
            CBNN_CUDNN_CHECK(cudnnSetConvolutionMathType(conv, math));
            size_t bytes = 0;
            // A refusal here is an answer ("not under this math type"), not an error: the status
            // is read instead of going through CBNN_CUDNN_CHECK.
            if (query_workspace(perf.algo, &bytes) != CUDNN_STATUS_SUCCESS) continue;
            if (bytes > kMaxWorkspaceBytes) continue;
            ++g_selections;
            return {static_cast<int>(perf.algo), bytes};
        }
    }
    CBNN_FAIL("conv2d (cuDNN): no ", direction, " algorithm for input [", s.N, ", ", s.C, ", ", s.H,
              ", ", s.W, "], weight [", s.K, ", ", s.C, ", ", s.R, ", ", s.S, "], stride ",
              s.stride, ", padding ", s.pad, " under ", tf32 ? "tensor-core" : "FP32",
              " math within a workspace of ", kMaxWorkspaceBytes, " bytes");
}

// Timing runs kernels and synchronises, which a stream being captured as a CUDA graph forbids.
bool use_timing(const Plan& p) {
    if (!p.timed) return false;
    cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
    CBNN_CUDA_CHECK(cudaStreamIsCapturing(current_stream(), &status));
    return status == cudaStreamCaptureStatusNone;
}

Choice forward_choice(Plan& p, const Conv2dShape& s) {
    if (p.fwd_choice) return *p.fwd_choice;
    // Twice the algorithm count: the heuristics may list an algorithm once per math type.
    std::vector<cudnnConvolutionFwdAlgoPerf_t> perf(2 * CUDNN_CONVOLUTION_FWD_ALGO_COUNT);
    int count = 0;
    if (use_timing(p)) {
        CBNN_CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithm(
            cudnn_handle(), p.x.get(), p.w.get(), p.fwd.get(), p.y.get(),
            static_cast<int>(perf.size()), &count, perf.data()));
    } else {
        CBNN_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(
            cudnn_handle(), p.x.get(), p.w.get(), p.fwd.get(), p.y.get(),
            static_cast<int>(perf.size()), &count, perf.data()));
    }
    perf.resize(static_cast<size_t>(count));
    p.fwd_choice = choose(
        perf, p.tf32, p.fwd.get(),
        [&](cudnnConvolutionFwdAlgo_t algo, size_t* bytes) {
            return cudnnGetConvolutionForwardWorkspaceSize(cudnn_handle(), p.x.get(), p.w.get(),
                                                           p.fwd.get(), p.y.get(), algo, bytes);
        },
        "forward", s);
    return *p.fwd_choice;
}

Choice backward_data_choice(Plan& p, const Conv2dShape& s) {
    if (p.data_choice) return *p.data_choice;
    std::vector<cudnnConvolutionBwdDataAlgoPerf_t> perf(2 * CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT);
    int count = 0;
    if (use_timing(p)) {
        CBNN_CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithm(
            cudnn_handle(), p.w.get(), p.y.get(), p.bwd_data.get(), p.x.get(),
            static_cast<int>(perf.size()), &count, perf.data()));
    } else {
        CBNN_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(
            cudnn_handle(), p.w.get(), p.y.get(), p.bwd_data.get(), p.x.get(),
            static_cast<int>(perf.size()), &count, perf.data()));
    }
    perf.resize(static_cast<size_t>(count));
    p.data_choice = choose(
        perf, p.tf32, p.bwd_data.get(),
        [&](cudnnConvolutionBwdDataAlgo_t algo, size_t* bytes) {
            return cudnnGetConvolutionBackwardDataWorkspaceSize(
                cudnn_handle(), p.w.get(), p.y.get(), p.bwd_data.get(), p.x.get(), algo, bytes);
        },
        "backward-data", s);
    return *p.data_choice;
}

Choice backward_filter_choice(Plan& p, const Conv2dShape& s) {
    if (p.filter_choice) return *p.filter_choice;
    std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> perf(2 *
                                                          CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT);
    int count = 0;
    if (use_timing(p)) {
        CBNN_CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithm(
            cudnn_handle(), p.x.get(), p.y.get(), p.bwd_filter.get(), p.w.get(),
            static_cast<int>(perf.size()), &count, perf.data()));
    } else {
        CBNN_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(
            cudnn_handle(), p.x.get(), p.y.get(), p.bwd_filter.get(), p.w.get(),
            static_cast<int>(perf.size()), &count, perf.data()));
    }
    perf.resize(static_cast<size_t>(count));
    p.filter_choice = choose(
        perf, p.tf32, p.bwd_filter.get(),
        [&](cudnnConvolutionBwdFilterAlgo_t algo, size_t* bytes) {
            return cudnnGetConvolutionBackwardFilterWorkspaceSize(
                cudnn_handle(), p.x.get(), p.y.get(), p.bwd_filter.get(), p.w.get(), algo, bytes);
        },
        "backward-filter", s);
    return *p.filter_choice;
}

Tensor workspace(size_t bytes) {
    if (bytes == 0) return Tensor();
    return Tensor::empty({static_cast<int64_t>(bytes)}, DType::u8, Device::cuda(current_device()));
}

void* pointer(const Tensor& t) { return t.defined() ? t.raw_data() : nullptr; }

// The four directions on untyped pointers of one element type (`type`); alpha and beta are
// floats for both f32 and bf16 data (cuDNN's scaling parameters for non-double data).
void forward_typed(const void* x, const void* w, const void* b, void* y, const Conv2dShape& s,
                   cudnnDataType_t type) {
    std::unique_lock<std::mutex> lock(g_mutex);
    Plan& p = plan_for(s, type);
    const Choice c = forward_choice(p, s);
    lock.unlock();
    const Tensor ws = workspace(c.workspace_bytes);
    const float one = 1.f, zero = 0.f;
    CBNN_CUDNN_CHECK(cudnnConvolutionForward(cudnn_handle(), &one, p.x.get(), x, p.w.get(), w,
                                             p.fwd.get(),
                                             static_cast<cudnnConvolutionFwdAlgo_t>(c.algo),
                                             pointer(ws), c.workspace_bytes, &zero, p.y.get(), y));
    if (b) {
        const TensorDesc bias(1, s.K, 1, 1, type, false);
        CBNN_CUDNN_CHECK(cudnnAddTensor(cudnn_handle(), &one, bias.get(), b, &one, p.y.get(), y));
    }
}

void backward_data_typed(const void* dy, const void* w, void* dx, const Conv2dShape& s,
                         cudnnDataType_t type) {
    std::unique_lock<std::mutex> lock(g_mutex);
    Plan& p = plan_for(s, type);
    const Choice c = backward_data_choice(p, s);
    lock.unlock();
    const Tensor ws = workspace(c.workspace_bytes);
    const float one = 1.f, zero = 0.f;
    CBNN_CUDNN_CHECK(cudnnConvolutionBackwardData(
        cudnn_handle(), &one, p.w.get(), w, p.y.get(), dy, p.bwd_data.get(),
        static_cast<cudnnConvolutionBwdDataAlgo_t>(c.algo), pointer(ws), c.workspace_bytes, &zero,
        p.x.get(), dx));
}

void backward_filter_typed(const void* x, const void* dy, void* dw, const Conv2dShape& s,
                           cudnnDataType_t type) {
    std::unique_lock<std::mutex> lock(g_mutex);
    Plan& p = plan_for(s, type);
    const Choice c = backward_filter_choice(p, s);
    lock.unlock();
    const Tensor ws = workspace(c.workspace_bytes);
    const float one = 1.f, zero = 0.f;
    CBNN_CUDNN_CHECK(cudnnConvolutionBackwardFilter(
        cudnn_handle(), &one, p.x.get(), x, p.y.get(), dy, p.bwd_filter.get(),
        static_cast<cudnnConvolutionBwdFilterAlgo_t>(c.algo), pointer(ws), c.workspace_bytes, &zero,
        p.w.get(), dw));
}

void backward_bias_typed(const void* dy, void* db, const Conv2dShape& s, cudnnDataType_t type) {
    const TensorDesc dy_desc(s.N, s.K, s.P, s.Q, type, s.channels_last),
        db_desc(1, s.K, 1, 1, type, false);
    const float one = 1.f, zero = 0.f;
    CBNN_CUDNN_CHECK(cudnnConvolutionBackwardBias(cudnn_handle(), &one, dy_desc.get(), dy, &zero,
                                                  db_desc.get(), db));
}

}  // namespace

void conv2d_forward(const float* x, const float* w, const float* b, float* y,
                    const Conv2dShape& s) {
    forward_typed(x, w, b, y, s, CUDNN_DATA_FLOAT);
}
void conv2d_backward_data(const float* dy, const float* w, float* dx, const Conv2dShape& s) {
    backward_data_typed(dy, w, dx, s, CUDNN_DATA_FLOAT);
}
void conv2d_backward_filter(const float* x, const float* dy, float* dw, const Conv2dShape& s) {
    backward_filter_typed(x, dy, dw, s, CUDNN_DATA_FLOAT);
}
void conv2d_backward_bias(const float* dy, float* db, const Conv2dShape& s) {
    backward_bias_typed(dy, db, s, CUDNN_DATA_FLOAT);
}

void conv2d_forward(const bfloat16* x, const bfloat16* w, const bfloat16* b, bfloat16* y,
                    const Conv2dShape& s) {
    forward_typed(x, w, b, y, s, CUDNN_DATA_BFLOAT16);
}
void conv2d_backward_data(const bfloat16* dy, const bfloat16* w, bfloat16* dx,
                          const Conv2dShape& s) {
    backward_data_typed(dy, w, dx, s, CUDNN_DATA_BFLOAT16);
}
void conv2d_backward_filter(const bfloat16* x, const bfloat16* dy, bfloat16* dw,
                            const Conv2dShape& s) {
    backward_filter_typed(x, dy, dw, s, CUDNN_DATA_BFLOAT16);
}

int64_t conv2d_algorithm_selections() { return g_selections.load(); }

}  // namespace cbnn::cuda
