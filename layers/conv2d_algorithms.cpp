// The algorithm set, the candidate order and the table of choices (layers/conv2d_algorithms.h);
// the cuDNN side is layers/conv2d_cudnn.cpp.
#include "layers/conv2d_algorithms.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <sstream>

#include "tensor/error.h"

namespace cbnn {

namespace {
std::atomic<ConvAlgorithms> g_algorithms{ConvAlgorithms::deterministic};
}  // namespace

void set_conv_algorithms(ConvAlgorithms algorithms) { g_algorithms = algorithms; }
ConvAlgorithms conv_algorithms() { return g_algorithms; }

ConvAlgorithms parse_conv_algorithms(const std::string& name) {
    if (name == "deterministic") return ConvAlgorithms::deterministic;
    if (name == "fastest") return ConvAlgorithms::fastest;
    CBNN_FAIL("conv algorithms '", name, "' is not one of deterministic, fastest");
}

const char* conv_algorithms_name(ConvAlgorithms algorithms) {
    return algorithms == ConvAlgorithms::fastest ? "fastest" : "deterministic";
}

const char* conv_math_name(ConvMath math) {
    switch (math) {
        case ConvMath::default_math:
            return "default";
        case ConvMath::tensor_op:
            return "tensor_op";
        case ConvMath::tensor_op_allow_conversion:
            return "tensor_op_conv";
        case ConvMath::fma:
            return "fma";
    }
    return "?";
}

const char* conv_direction_name(ConvDirection direction) {
    switch (direction) {
        case ConvDirection::forward:
            return "forward";
        case ConvDirection::backward_data:
            return "backward data";
        case ConvDirection::backward_filter:
            return "backward filter";
    }
    return "?";
}

std::string conv_algorithm_name(ConvDirection direction, int algo) {
    // cudnnConvolution{Fwd,BwdData,BwdFilter}Algo_t in value order (conv2d_cudnn.cpp checks the
    // counts).
    static const std::vector<std::string> names[3] = {
        {"IMPLICIT_GEMM", "IMPLICIT_PRECOMP_GEMM", "GEMM", "DIRECT", "FFT", "FFT_TILING",
         "WINOGRAD", "WINOGRAD_NONFUSED"},
        {"ALGO_0", "ALGO_1", "FFT", "FFT_TILING", "WINOGRAD", "WINOGRAD_NONFUSED"},
        {"ALGO_0", "ALGO_1", "FFT", "ALGO_3", "WINOGRAD", "WINOGRAD_NONFUSED", "FFT_TILING"}};
    const std::vector<std::string>& list = names[static_cast<int>(direction)];
    if (algo >= 0 && static_cast<size_t>(algo) < list.size())
        return list[static_cast<size_t>(algo)];
    return "ALGO?" + std::to_string(algo);
}

std::vector<ConvAttempt> conv_candidate_order(const std::vector<ConvCandidate>& candidates,
                                              bool tensor_core, ConvAlgorithms algorithms) {
    std::vector<ConvAttempt> order;
    const auto add = [&](size_t i, ConvMath math) {
        for (const ConvAttempt& a : order)
            if (candidates[a.candidate].algo == candidates[i].algo && a.math == math) return;
        order.push_back({i, math});
    };
    // Determinism classes: deterministic, then nondeterministic; or one class of all.
    const bool split = algorithms == ConvAlgorithms::deterministic;
    for (int cls = 0; cls < (split ? 2 : 1); ++cls) {
        // FP32: as listed with FMA, then FMA imposed. Tensor-core math: one pass, as listed.
        for (int pass = 0; pass < (tensor_core ? 1 : 2); ++pass) {
            for (size_t i = 0; i < candidates.size(); ++i) {
                const ConvCandidate& c = candidates[i];
                if (!c.ok) continue;
                if (split && c.deterministic != (cls == 0)) continue;
                if (tensor_core) {
                    if (c.math != ConvMath::tensor_op_allow_conversion) add(i, c.math);
                } else if (pass == 1 || c.math == ConvMath::fma) {
                    add(i, ConvMath::fma);
                }
            }
        }
    }
    return order;
}

std::optional<ConvPick> pick_conv_algorithm(const std::vector<ConvCandidate>& candidates,
                                            bool tensor_core, ConvAlgorithms algorithms,
                                            size_t max_workspace_bytes,
                                            const ConvWorkspaceQuery& workspace) {
    for (const ConvAttempt& a : conv_candidate_order(candidates, tensor_core, algorithms)) {
        const ConvCandidate& c = candidates[a.candidate];
        const std::optional<size_t> bytes = workspace(c.algo, a.math);
        if (!bytes || *bytes > max_workspace_bytes) continue;
        return ConvPick{c.algo, a.math, *bytes, c.deterministic, c.time_ms};
    }
    return std::nullopt;
}

namespace {

std::string bytes_text(size_t bytes) {
    char text[32];
    if (bytes < 1024)
        std::snprintf(text, sizeof text, "%zuB", bytes);
    else if (bytes < size_t{1} << 20)
        std::snprintf(text, sizeof text, "%.1fKiB", static_cast<double>(bytes) / 1024.0);
    else
        std::snprintf(text, sizeof text, "%.1fMiB", static_cast<double>(bytes) / 1048576.0);
    return text;
}

std::string ms_text(double ms) {
    char text[32];
    std::snprintf(text, sizeof text, "%.3fms", ms);
    return text;
}

std::string settings_text(const ConvAlgorithmRecord& r) {
    std::ostringstream os;
    os << dtype_name(r.dtype) << " " << (r.shape.channels_last ? "NHWC" : "NCHW") << ", "
       << (!r.tensor_core           ? "FP32 (FMA)"
           : r.dtype == DType::bf16 ? "bf16 tensor-core"
                                    : "TF32")
       << " math, "
       << (r.search == ConvAlgorithmSearch::timed ? "timed search" : "heuristic search") << ", "
       << conv_algorithms_name(r.algorithms) << " algorithms, device " << r.device;
    return os.str();
}

std::string shape_text(const Conv2dShape& s) {
    std::ostringstream os;
    os << "x[" << s.N << "," << s.C << "," << s.H << "," << s.W << "] w[" << s.K << "," << s.C
       << "," << s.R << "," << s.S << "] s" << s.stride << " p" << s.pad;
    return os.str();
}

// "ALGO_1 det fma": an algorithm, its determinism and math type.
std::string algorithm_text(ConvDirection direction, int algo, bool deterministic, ConvMath math) {
    return conv_algorithm_name(direction, algo) + (deterministic ? " det " : " nondet ") +
           conv_math_name(math);
}

std::string cell_text(const ConvAlgorithmRecord& r, int d, double call_ms) {
    const ConvDirection direction = static_cast<ConvDirection>(d);
    if (!r.pick[d]) return "-";
    const ConvPick& p = *r.pick[d];
    std::string cell = algorithm_text(direction, p.algo, p.deterministic, p.math) + " " +
                       bytes_text(p.workspace_bytes);
    if (p.time_ms >= 0) cell += " t" + ms_text(p.time_ms);
    if (call_ms >= 0) cell += " call" + ms_text(call_ms);
    const std::optional<ConvCandidate>& f = r.fastest_listed[d];
    if (f && (f->algo != p.algo || f->math != p.math))
        cell += " [fastest " + algorithm_text(direction, f->algo, f->deterministic, f->math) + " " +
                ms_text(f->time_ms) + "]";
    return cell;
}

}  // namespace

std::string format_conv_algorithm_table(const std::vector<ConvAlgorithmRecord>& records,
                                        const std::vector<std::array<double, 3>>& call_ms) {
    CBNN_CHECK(call_ms.empty() || call_ms.size() == records.size(),
               "conv algorithm table: ", call_ms.size(), " call times for ", records.size(),
               " records");
    std::ostringstream os;
    std::string group;
    for (size_t i = 0; i < records.size(); ++i) {
        const ConvAlgorithmRecord& r = records[i];
        const std::string settings = settings_text(r);
        if (settings != group) {
            group = settings;
            os << "conv algorithms, " << settings
               << " (per direction: algorithm, det|nondet, math type, workspace"
               << (r.search == ConvAlgorithmSearch::timed ? ", t: the search's measurement" : "")
               << (call_ms.empty() ? "" : ", call: time of one call") << "):\n";
            char head[160];
            std::snprintf(head, sizeof head, "  %-34s | %-44s | %-44s | %s\n", "shape", "forward",
                          "backward data", "backward filter");
            os << head;
        }
        char line[1024];
        const auto cell = [&](int d) {
            return cell_text(r, d, call_ms.empty() ? -1.0 : call_ms[i][static_cast<size_t>(d)]);
        };
        std::snprintf(line, sizeof line, "  %-34s | %-44s | %-44s | %s\n",
                      shape_text(r.shape).c_str(), cell(0).c_str(), cell(1).c_str(),
                      cell(2).c_str());
        os << line;
    }
    return os.str();
}

}  // namespace cbnn
