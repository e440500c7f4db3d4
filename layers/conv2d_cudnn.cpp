// cuda::conv2d_* through cuDNN's convolution API (cudnnConvolutionForward / BackwardData /
// BackwardFilter / BackwardBias: the legacy API, deprecated in cuDNN 9 but still shipped).
// Math and layout in layers/conv2d.h.
//
// Layout: NCHW data with KCRS filters, or NHWC data with KRSC filters (Conv2dShape::channels_last,
// part of the plan's key).
//
// Algorithm choice, once per (shape, math mode, search mode, algorithm set, device, direction),
// cached for the life of the process with the descriptors. Two search modes
// (conv_algorithm_search(), layers/conv2d.h):
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
// nondeterministic ones unless conv_algorithms() is fastest, and under FP32 those listed with
// CUDNN_FMA_MATH come before those it is imposed on (pick_conv_algorithm in
// layers/conv2d_algorithms.h, tested on the CPU). bench/bench_conv.cpp measures both search
// modes. conv2d_algorithm_records lists each plan's choices, off the convolutions' path.
//
// Math: FP32 is pinned with CUDNN_FMA_MATH, because cuDNN's default math lets FP32 convolutions
// run on TF32 tensor cores. With allow_tf32() (tensor/backend.h) the descriptor asks for
// CUDNN_TENSOR_OP_MATH and each candidate runs with the math type the heuristics report for it
// (cuDNN needs algorithm and math type together), except the FP16 down-conversion mode.
//
// Workspace: a u8 tensor from the CUDA caching allocator, freed when the call returns; reuse is
// safe because all cbnn work is queued on one stream.
#include <algorithm>
#include <array>
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <tuple>
#include <utility>
#include <vector>

#include "layers/conv2d.h"
#include "layers/conv2d_algorithms.h"
#include "tensor/backend.h"
#include "tensor/cuda_check.h"
#include "tensor/cuda_context.h"
#include "tensor/cudnn_context.h"
#include "tensor/cudnn_descriptors.h"

namespace cbnn::cuda {

namespace {

constexpr size_t kMaxWorkspaceBytes = size_t{1} << 30;  // 1 GiB: FFT algorithms can ask for more

std::atomic<int64_t> g_selections{0};

constexpr const char* kWhat = "conv2d (cuDNN)";  // names the op in descriptor errors

cudnnTensorFormat_t format(bool channels_last) {
    return channels_last ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW;
}

static_assert(static_cast<int>(ConvMath::default_math) == CUDNN_DEFAULT_MATH &&
                  static_cast<int>(ConvMath::tensor_op) == CUDNN_TENSOR_OP_MATH &&
                  static_cast<int>(ConvMath::tensor_op_allow_conversion) ==
                      CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION &&
                  static_cast<int>(ConvMath::fma) == CUDNN_FMA_MATH,
              "ConvMath must mirror cudnnMathType_t");
static_assert(CUDNN_CONVOLUTION_FWD_ALGO_COUNT == 8 && CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT == 6 &&
                  CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT == 7,
              "conv_algorithm_name's tables (layers/conv2d_algorithms.cpp) need new names");

// Descriptors of one (shape, element type, math mode, search mode, algorithm set, device), one
// convolution descriptor per direction since each direction's algorithm may need its own math
// type (set on it once, at selection), and the record of those settings and of what each
// direction chose (what conv2d_algorithm_records returns).
struct Plan {
    Plan(const Conv2dShape& s, cudnnDataType_t type, bool allow_tf32, bool timed_search,
         ConvAlgorithms algorithm_set, int device_index)
        : record(make_record(s, type, allow_tf32, timed_search, algorithm_set, device_index)),
          x(kWhat, format(s.channels_last), type, s.N, s.C, s.H, s.W),
          y(kWhat, format(s.channels_last), type, s.N, s.K, s.P, s.Q),
          // KRSC for NHWC data: the filter layout cuDNN's NHWC tensor-core kernels read.
          w(kWhat, format(s.channels_last), type, s.K, s.C, s.R, s.S),
          fwd(kWhat, s.pad, s.stride, math()),
          bwd_data(kWhat, s.pad, s.stride, math()),
          bwd_filter(kWhat, s.pad, s.stride, math()) {}
    // Tensor-core math: TF32 for f32 data when allowed; always for bf16 data (bf16 products are
    // exact in FP32, and the accumulation is FP32 either way).
    bool tensor_core() const { return record.tensor_core; }
    // Rank candidates by cudnnFind* timings instead of the heuristics.
    bool timed() const { return record.search == ConvAlgorithmSearch::timed; }
    cudnnMathType_t math() const { return tensor_core() ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH; }

    ConvAlgorithmRecord record;  // declared first: the descriptors' math type reads it
    CudnnTensorDescriptor x, y;
    CudnnFilterDescriptor w;
    CudnnConvolutionDescriptor fwd, bwd_data, bwd_filter;

  private:
    static ConvAlgorithmRecord make_record(const Conv2dShape& s, cudnnDataType_t type,
                                           bool allow_tf32, bool timed_search,
                                           ConvAlgorithms algorithm_set, int device_index) {
        ConvAlgorithmRecord r;
        r.shape = s;
        r.dtype = type == CUDNN_DATA_BFLOAT16 ? DType::bf16 : DType::f32;
        r.tensor_core = allow_tf32 || type == CUDNN_DATA_BFLOAT16;
        r.search = timed_search ? ConvAlgorithmSearch::timed : ConvAlgorithmSearch::heuristic;
        r.algorithms = algorithm_set;
        r.device = device_index;
        return r;
    }
};

std::mutex g_mutex;  // guards the plan cache and each plan's choices
using PlanKey = std::array<int64_t, 15>;
std::map<PlanKey, std::unique_ptr<Plan>> g_plans;

// The plan of this shape and element type under the current math mode, search mode and algorithm
// set on the current device; created on first use. Plans are never removed, so the reference
// stays valid.
Plan& plan_for(const Conv2dShape& s, cudnnDataType_t type) {
    const bool tf32 = allow_tf32();
    const bool timed = conv_algorithm_search() == ConvAlgorithmSearch::timed;
    const ConvAlgorithms algorithms = conv_algorithms();
    const int device = current_device();
    const PlanKey key{s.N,    s.C,      s.H,
                      s.W,    s.K,      s.R,
                      s.S,    s.stride, s.pad,
                      tf32,   timed,    static_cast<int64_t>(algorithms),
                      device, type,     s.channels_last};
    std::unique_ptr<Plan>& plan = g_plans[key];
    if (!plan) plan = std::make_unique<Plan>(s, type, tf32, timed, algorithms, device);
    return *plan;
}

// Timing runs kernels and synchronises, which a stream being captured as a CUDA graph forbids.
bool use_timing(const Plan& p) {
    if (!p.timed()) return false;
    cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
    CBNN_CUDA_CHECK(cudaStreamIsCapturing(current_stream(), &status));
    return status == cudaStreamCaptureStatusNone;
}

// Picks among cuDNN's list `perf` (`measured`: from cudnnFind*, with times) for one direction
// (see the file comment) and records the choice in the plan. `query_workspace(algo, &bytes)` asks
// cuDNN for the workspace of an algorithm under the math type just set on `conv`.
template <class Perf, class WorkspaceQuery>
ConvPick choose(Plan& p, ConvDirection direction, const std::vector<Perf>& perf, bool measured,
                cudnnConvolutionDescriptor_t conv, WorkspaceQuery query_workspace) {
    std::vector<ConvCandidate> candidates;
    std::optional<ConvCandidate> fastest;
    for (const Perf& c : perf) {
        candidates.push_back({static_cast<int>(c.algo), c.status == CUDNN_STATUS_SUCCESS,
                              c.determinism == CUDNN_DETERMINISTIC,
                              static_cast<ConvMath>(c.mathType), measured ? c.time : -1.f});
        const ConvCandidate& last = candidates.back();
        if (measured && last.ok && last.time_ms >= 0 &&
            (!fastest || last.time_ms < fastest->time_ms))
            fastest = last;
    }
    const std::optional<ConvPick> pick = pick_conv_algorithm(
        candidates, p.tensor_core(), p.record.algorithms, kMaxWorkspaceBytes,
        [&](int algo, ConvMath math) -> std::optional<size_t> {
            CBNN_CUDNN_CHECK(cudnnSetConvolutionMathType(conv, static_cast<cudnnMathType_t>(math)));
            size_t bytes = 0;
            // A refusal here is an answer ("not under this math type"), not an error: the status
            // is read instead of going through CBNN_CUDNN_CHECK.
            if (query_workspace(algo, &bytes) != CUDNN_STATUS_SUCCESS) return std::nullopt;
            return bytes;
        });
    const Conv2dShape& s = p.record.shape;
    if (!pick)
        CBNN_FAIL("conv2d (cuDNN): no ", conv_direction_name(direction), " algorithm for input [",
                  s.N, ", ", s.C, ", ", s.H, ", ", s.W, "], weight [", s.K, ", ", s.C, ", ", s.R,
                  ", ", s.S, "], stride ", s.stride, ", padding ", s.pad, " under ",
                  p.tensor_core() ? "tensor-core" : "FP32", " math within a workspace of ",
                  kMaxWorkspaceBytes, " bytes");
    // No query follows the pick's own, so `conv` keeps the pick's math type.
    ++g_selections;
    const int d = static_cast<int>(direction);
    p.record.pick[d] = pick;
    p.record.fastest_listed[d] = fastest;
    p.record.listed[d] = static_cast<int>(perf.size());
    return *pick;
}

ConvPick forward_choice(Plan& p) {
    const int d = static_cast<int>(ConvDirection::forward);
    if (p.record.pick[d]) return *p.record.pick[d];
    // Twice the algorithm count: the heuristics may list an algorithm once per math type.
    std::vector<cudnnConvolutionFwdAlgoPerf_t> perf(2 * CUDNN_CONVOLUTION_FWD_ALGO_COUNT);
    int count = 0;
    const bool timing = use_timing(p);
    if (timing) {
        CBNN_CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithm(
            cudnn_handle(), p.x.get(), p.w.get(), p.fwd.get(), p.y.get(),
            static_cast<int>(perf.size()), &count, perf.data()));
    } else {
        CBNN_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(
            cudnn_handle(), p.x.get(), p.w.get(), p.fwd.get(), p.y.get(),
            static_cast<int>(perf.size()), &count, perf.data()));
    }
    perf.resize(static_cast<size_t>(count));
    return choose(p, ConvDirection::forward, perf, timing, p.fwd.get(),
                  [&](int algo, size_t* bytes) {
                      return cudnnGetConvolutionForwardWorkspaceSize(
                          cudnn_handle(), p.x.get(), p.w.get(), p.fwd.get(), p.y.get(),
                          static_cast<cudnnConvolutionFwdAlgo_t>(algo), bytes);
                  });
}

ConvPick backward_data_choice(Plan& p) {
    const int d = static_cast<int>(ConvDirection::backward_data);
    if (p.record.pick[d]) return *p.record.pick[d];
    std::vector<cudnnConvolutionBwdDataAlgoPerf_t> perf(2 * CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT);
    int count = 0;
    const bool timing = use_timing(p);
    if (timing) {
        CBNN_CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithm(
            cudnn_handle(), p.w.get(), p.y.get(), p.bwd_data.get(), p.x.get(),
            static_cast<int>(perf.size()), &count, perf.data()));
    } else {
        CBNN_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(
            cudnn_handle(), p.w.get(), p.y.get(), p.bwd_data.get(), p.x.get(),
            static_cast<int>(perf.size()), &count, perf.data()));
    }
    perf.resize(static_cast<size_t>(count));
    return choose(p, ConvDirection::backward_data, perf, timing, p.bwd_data.get(),
                  [&](int algo, size_t* bytes) {
                      return cudnnGetConvolutionBackwardDataWorkspaceSize(
                          cudnn_handle(), p.w.get(), p.y.get(), p.bwd_data.get(), p.x.get(),
                          static_cast<cudnnConvolutionBwdDataAlgo_t>(algo), bytes);
                  });
}

ConvPick backward_filter_choice(Plan& p) {
    const int d = static_cast<int>(ConvDirection::backward_filter);
    if (p.record.pick[d]) return *p.record.pick[d];
    std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> perf(2 *
                                                          CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT);
    int count = 0;
    const bool timing = use_timing(p);
    if (timing) {
        CBNN_CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithm(
            cudnn_handle(), p.x.get(), p.y.get(), p.bwd_filter.get(), p.w.get(),
            static_cast<int>(perf.size()), &count, perf.data()));
    } else {
        CBNN_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(
            cudnn_handle(), p.x.get(), p.y.get(), p.bwd_filter.get(), p.w.get(),
            static_cast<int>(perf.size()), &count, perf.data()));
    }
    perf.resize(static_cast<size_t>(count));
    return choose(p, ConvDirection::backward_filter, perf, timing, p.bwd_filter.get(),
                  [&](int algo, size_t* bytes) {
                      return cudnnGetConvolutionBackwardFilterWorkspaceSize(
                          cudnn_handle(), p.x.get(), p.y.get(), p.bwd_filter.get(), p.w.get(),
                          static_cast<cudnnConvolutionBwdFilterAlgo_t>(algo), bytes);
                  });
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
    const ConvPick c = forward_choice(p);
    lock.unlock();
    const Tensor ws = workspace(c.workspace_bytes);
    const float one = 1.f, zero = 0.f;
    CBNN_CUDNN_CHECK(cudnnConvolutionForward(cudnn_handle(), &one, p.x.get(), x, p.w.get(), w,
                                             p.fwd.get(),
                                             static_cast<cudnnConvolutionFwdAlgo_t>(c.algo),
                                             pointer(ws), c.workspace_bytes, &zero, p.y.get(), y));
    if (b) {
        const CudnnTensorDescriptor bias(kWhat, CUDNN_TENSOR_NCHW, type, 1, s.K, 1, 1);
        CBNN_CUDNN_CHECK(cudnnAddTensor(cudnn_handle(), &one, bias.get(), b, &one, p.y.get(), y));
    }
}

void backward_data_typed(const void* dy, const void* w, void* dx, const Conv2dShape& s,
                         cudnnDataType_t type) {
    std::unique_lock<std::mutex> lock(g_mutex);
    Plan& p = plan_for(s, type);
    const ConvPick c = backward_data_choice(p);
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
    const ConvPick c = backward_filter_choice(p);
    lock.unlock();
    const Tensor ws = workspace(c.workspace_bytes);
    const float one = 1.f, zero = 0.f;
    CBNN_CUDNN_CHECK(cudnnConvolutionBackwardFilter(
        cudnn_handle(), &one, p.x.get(), x, p.y.get(), dy, p.bwd_filter.get(),
        static_cast<cudnnConvolutionBwdFilterAlgo_t>(c.algo), pointer(ws), c.workspace_bytes, &zero,
        p.w.get(), dw));
}

void backward_bias_typed(const void* dy, void* db, const Conv2dShape& s, cudnnDataType_t type) {
    const CudnnTensorDescriptor dy_desc(kWhat, format(s.channels_last), type, s.N, s.K, s.P, s.Q),
        db_desc(kWhat, CUDNN_TENSOR_NCHW, type, 1, s.K, 1, 1);
    const float one = 1.f, zero = 0.f;
    CBNN_CUDNN_CHECK(cudnnConvolutionBackwardBias(cudnn_handle(), &one, dy_desc.get(), dy, &zero,
                                                  db_desc.get(), db));
}

}  // namespace

std::vector<ConvAlgorithmRecord> conv2d_algorithm_records() {
    std::vector<ConvAlgorithmRecord> records;
    {
        const std::lock_guard<std::mutex> lock(g_mutex);
        for (const auto& entry : g_plans) records.push_back(entry.second->record);
    }
    const auto order = [](const ConvAlgorithmRecord& r) {
        const Conv2dShape& s = r.shape;
        return std::make_tuple(r.device, r.dtype, r.tensor_core, r.search, r.algorithms,
                               s.channels_last, s.N, s.C, s.H, s.W, s.K, s.R, s.S, s.stride, s.pad);
    };
    std::sort(records.begin(), records.end(),
              [&](const ConvAlgorithmRecord& a, const ConvAlgorithmRecord& b) {
                  return order(a) < order(b);
              });
    return records;
}

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
