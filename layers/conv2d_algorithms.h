#pragma once
// Which cuDNN convolution algorithms cbnn runs (layers/conv2d_cudnn.cpp), in terms free of cuDNN so
// that the CPU tests check them with made-up candidate lists:
//
//   the algorithm set   conv_algorithms(): deterministic (the default: the same bits on every run,
//                       which the resume and CPU-vs-CUDA tests rely on) or fastest (the candidate
//                       list's order alone decides, nondeterministic algorithms such as
//                       CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0/3, which add with atomics, included);
//                       `--conv-algos` of every trainer
//   the candidate order conv_candidate_order / pick_conv_algorithm: cuDNN lists candidates per
//                       direction (heuristics: by predicted time; timed search: by measured time);
//                       cbnn takes the first that reports success, runs under the wanted math type
//                       and fits the workspace limit, in passes (below)
//   the choices made    cuda::conv2d_algorithm_records(): per plan (shape, element type, layout,
//                       math, search mode, algorithm set, device) the algorithm of each direction,
//                       its workspace, determinism and (timed search) measured time; read on
//                       request, never on the convolution's path. format_conv_algorithm_table
//                       prints them (bench/step_breakdown.h, for BM_StepBreakdown).
//
// Passes over the list, each in the list's order, most wanted first:
//   FP32 (CUDNN_FMA_MATH pinned, no TF32): candidates listed with FMA math, then the others with
//     FMA imposed (cuDNN lists some algorithms only with a tensor-core math type);
//   tensor-core math (TF32 allowed, or bf16 data): every candidate with the math type it is listed
//     with, except CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION (it would convert FP32 to FP16);
//   deterministic set: those passes over the deterministic candidates, then over the rest;
//   fastest set: those passes over all candidates alike.
// A candidate (algorithm, math type) already tried is not tried again.

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "layers/conv2d.h"
#include "tensor/dtype.h"
#include "tensor/scoped_setting.h"

namespace cbnn {

enum class ConvAlgorithms { deterministic, fastest };
void set_conv_algorithms(ConvAlgorithms algorithms);
ConvAlgorithms conv_algorithms();
// "deterministic" | "fastest"; anything else throws naming the value.
ConvAlgorithms parse_conv_algorithms(const std::string& name);
const char* conv_algorithms_name(ConvAlgorithms algorithms);

// Sets the algorithm set for a scope (tensor/scoped_setting.h). Plans are cached per set, so a
// switch never reuses a choice made under the other one.
using ConvAlgorithmsSetting = ScopedSetting<ConvAlgorithms, conv_algorithms, set_conv_algorithms>;

// cudnnMathType_t's values (conv2d_cudnn.cpp checks that they agree).
enum class ConvMath { default_math = 0, tensor_op = 1, tensor_op_allow_conversion = 2, fma = 3 };
const char* conv_math_name(ConvMath math);

enum class ConvDirection { forward = 0, backward_data = 1, backward_filter = 2 };
const char* conv_direction_name(ConvDirection direction);
// cuDNN's name of an algorithm without its prefix: "IMPLICIT_PRECOMP_GEMM" for
// CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM, "ALGO_1" for
// CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1; "ALGO?<n>" for a number this cuDNN did not have.
std::string conv_algorithm_name(ConvDirection direction, int algo);

// One entry of cuDNN's candidate list (cudnnConvolution*AlgoPerf_t).
struct ConvCandidate {
    int algo = 0;
    bool ok = true;  // status CUDNN_STATUS_SUCCESS
    bool deterministic = true;
    ConvMath math = ConvMath::fma;  // the math type it is listed with
    float time_ms = -1.f;           // measured by the timed search; negative: not measured
};

// A candidate to try (its index in the list) and the math type to try it with.
struct ConvAttempt {
    size_t candidate;
    ConvMath math;
};

// The attempts in order (passes in the file comment). `tensor_core`: TF32 or bf16 math.
std::vector<ConvAttempt> conv_candidate_order(const std::vector<ConvCandidate>& candidates,
                                              bool tensor_core, ConvAlgorithms algorithms);

// What runs for one direction.
struct ConvPick {
    int algo = 0;
    ConvMath math = ConvMath::fma;  // set on the direction's descriptor
    size_t workspace_bytes = 0;
    bool deterministic = true;
    float time_ms = -1.f;  // the timed search's measurement; negative: not measured
};

// The workspace an algorithm needs under a math type, or none when cuDNN refuses the pair.
using ConvWorkspaceQuery = std::function<std::optional<size_t>(int algo, ConvMath math)>;

// The first attempt of conv_candidate_order whose workspace query succeeds with at most
// max_workspace_bytes; none when no attempt does. The query is called in the attempts' order and
// not after the pick, so cuDNN's descriptor is left with the pick's math type.
std::optional<ConvPick> pick_conv_algorithm(const std::vector<ConvCandidate>& candidates,
                                            bool tensor_core, ConvAlgorithms algorithms,
                                            size_t max_workspace_bytes,
                                            const ConvWorkspaceQuery& workspace);

// The choices of one plan. pick[d] is empty until direction d first ran.
struct ConvAlgorithmRecord {
    Conv2dShape shape;  // channels_last: NHWC data, KRSC filters
    DType dtype = DType::f32;
    bool tensor_core = false;  // TF32 (f32 data with allow_tf32()) or bf16 math; else FP32 (FMA)
    ConvAlgorithmSearch search = ConvAlgorithmSearch::heuristic;
    ConvAlgorithms algorithms = ConvAlgorithms::deterministic;
    int device = 0;
    std::array<std::optional<ConvPick>, 3> pick;
    // The candidate with the smallest measured time, whatever its determinism or math type (timed
    // search only, else empty): what the pick gave up.
    std::array<std::optional<ConvCandidate>, 3> fastest_listed;
    std::array<int, 3> listed{0, 0, 0};  // candidates cuDNN listed
};

namespace cuda {
// Every plan made in this process, ordered by settings, then shape. CUDA builds only.
std::vector<ConvAlgorithmRecord> conv2d_algorithm_records();
}  // namespace cuda

// A table of records, a heading per group of settings and one line per plan:
//   shape   then per direction: algorithm, det|nondet, math type, workspace, the timed search's
//           time ("t") when measured, `call_ms` when given ("call": time of one call measured by
//           the caller, per record and direction; negative: none), and the fastest listed
//           candidate when it is not the pick ("[fastest ALGO_0 nondet 0.041ms]")
std::string format_conv_algorithm_table(const std::vector<ConvAlgorithmRecord>& records,
                                        const std::vector<std::array<double, 3>>& call_ms = {});

}  // namespace cbnn
