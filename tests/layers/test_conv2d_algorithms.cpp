// The cuDNN algorithm choice as host code (layers/conv2d_algorithms.h): the algorithm set setting,
// the candidate order over made-up candidate lists (determinism first or not, FP32 vs tensor-core
// math, refused and oversized workspaces) and the table of choices.
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "layers/conv2d_algorithms.h"
#include "tests/support/expect_error.h"

namespace cbnn {
namespace {

constexpr ConvMath kFma = ConvMath::fma, kTensorOp = ConvMath::tensor_op,
                   kDefault = ConvMath::default_math,
                   kConversion = ConvMath::tensor_op_allow_conversion;

ConvCandidate det(int algo, ConvMath math = kFma, float ms = -1.f) {
    return {algo, true, true, math, ms};
}
ConvCandidate nondet(int algo, ConvMath math = kFma, float ms = -1.f) {
    return {algo, true, false, math, ms};
}

// The attempts as (algorithm, math) pairs, for comparing whole orders.
std::vector<std::pair<int, ConvMath>> order(const std::vector<ConvCandidate>& candidates,
                                            bool tensor_core, ConvAlgorithms algorithms) {
    std::vector<std::pair<int, ConvMath>> out;
    for (const ConvAttempt& a : conv_candidate_order(candidates, tensor_core, algorithms))
        out.emplace_back(candidates[a.candidate].algo, a.math);
    return out;
}

using Order = std::vector<std::pair<int, ConvMath>>;

TEST(ConvAlgorithms, SettingParsesAndRestores) {
    EXPECT_EQ(conv_algorithms(), ConvAlgorithms::deterministic);  // the default
    EXPECT_EQ(parse_conv_algorithms("fastest"), ConvAlgorithms::fastest);
    EXPECT_EQ(parse_conv_algorithms("deterministic"), ConvAlgorithms::deterministic);
    EXPECT_EQ(std::string(conv_algorithms_name(ConvAlgorithms::fastest)), "fastest");
    EXPECT_TRUE(testing::throws_error([] { parse_conv_algorithms("fast"); },
                                      {"conv algorithms 'fast'", "deterministic, fastest"}));
    {
        const ConvAlgorithmsSetting fastest(ConvAlgorithms::fastest);
        EXPECT_EQ(conv_algorithms(), ConvAlgorithms::fastest);
    }
    EXPECT_EQ(conv_algorithms(), ConvAlgorithms::deterministic);
}

// A heuristics list for FP32 backward filter as cuDNN might give it: the nondeterministic ALGO_0
// predicted fastest, then deterministic ALGO_1, then ALGO_3.
TEST(ConvAlgorithms, DeterministicSetTriesDeterministicCandidatesFirst) {
    const std::vector<ConvCandidate> list = {nondet(0), det(1), nondet(3)};
    EXPECT_EQ(order(list, false, ConvAlgorithms::deterministic),
              (Order{{1, kFma}, {0, kFma}, {3, kFma}}));
    EXPECT_EQ(order(list, true, ConvAlgorithms::deterministic),
              (Order{{1, kFma}, {0, kFma}, {3, kFma}}));
}

TEST(ConvAlgorithms, FastestSetKeepsTheListsOrder) {
    const std::vector<ConvCandidate> list = {nondet(0), det(1), nondet(3)};
    EXPECT_EQ(order(list, false, ConvAlgorithms::fastest),
              (Order{{0, kFma}, {1, kFma}, {3, kFma}}));
}

// FP32: candidates listed with FMA first, then the others with FMA imposed (twice listed: tried
// once); the determinism classes still come first in the deterministic set.
TEST(ConvAlgorithms, Fp32TriesListedFmaBeforeImposedFma) {
    const std::vector<ConvCandidate> list = {det(1, kTensorOp), nondet(0, kFma), det(1, kDefault),
                                             det(2, kFma), nondet(5, kTensorOp)};
    EXPECT_EQ(order(list, false, ConvAlgorithms::deterministic),
              (Order{{2, kFma}, {1, kFma}, {0, kFma}, {5, kFma}}));
    EXPECT_EQ(order(list, false, ConvAlgorithms::fastest),
              (Order{{0, kFma}, {2, kFma}, {1, kFma}, {5, kFma}}));
}

// Tensor-core math: each candidate with its listed math type, one pass, never the FP16
// down-conversion mode.
TEST(ConvAlgorithms, TensorCoreMathRunsTheListedMathTypeWithoutConversion) {
    const std::vector<ConvCandidate> list = {nondet(1, kConversion), det(1, kTensorOp),
                                             nondet(0, kTensorOp), det(2, kFma)};
    EXPECT_EQ(order(list, true, ConvAlgorithms::deterministic),
              (Order{{1, kTensorOp}, {2, kFma}, {0, kTensorOp}}));
    EXPECT_EQ(order(list, true, ConvAlgorithms::fastest),
              (Order{{1, kTensorOp}, {0, kTensorOp}, {2, kFma}}));
}

TEST(ConvAlgorithms, FailedCandidatesAreNeverTried) {
    ConvCandidate failed = nondet(0);
    failed.ok = false;
    EXPECT_EQ(order({failed, det(1)}, false, ConvAlgorithms::fastest), (Order{{1, kFma}}));
    EXPECT_TRUE(order({failed}, false, ConvAlgorithms::deterministic).empty());
}

// The workspace query decides among the attempts: a refused (algorithm, math) pair and one over
// the limit are passed over; the query sees the math type each attempt runs with.
TEST(ConvAlgorithms, PickSkipsRefusedAndOversizedWorkspaces) {
    const std::vector<ConvCandidate> list = {nondet(0, kFma, 0.5f), det(6, kFma, 0.7f),
                                             det(1, kTensorOp, 0.9f), det(2, kFma, 1.5f)};
    std::vector<std::pair<int, ConvMath>> asked;
    const ConvWorkspaceQuery query = [&](int algo, ConvMath math) -> std::optional<size_t> {
        asked.emplace_back(algo, math);
        if (algo == 6) return size_t{2000};  // over the limit below
        if (algo == 1) return std::nullopt;  // refused under FMA
        return size_t{100} * static_cast<size_t>(algo + 1);
    };
    const std::optional<ConvPick> p =
        pick_conv_algorithm(list, false, ConvAlgorithms::deterministic, 1000, query);
    ASSERT_TRUE(p.has_value());
    EXPECT_EQ(p->algo, 2);
    EXPECT_EQ(p->math, kFma);
    EXPECT_EQ(p->workspace_bytes, 300u);
    EXPECT_TRUE(p->deterministic);
    EXPECT_FLOAT_EQ(p->time_ms, 1.5f);
    EXPECT_EQ(asked, (Order{{6, kFma}, {2, kFma}}));  // ALGO_1 (tensor_op) waits for pass two

    asked.clear();
    const std::optional<ConvPick> fastest =
        pick_conv_algorithm(list, false, ConvAlgorithms::fastest, 1000, query);
    ASSERT_TRUE(fastest.has_value());
    EXPECT_EQ(fastest->algo, 0);
    EXPECT_FALSE(fastest->deterministic);
    EXPECT_EQ(fastest->workspace_bytes, 100u);
    EXPECT_EQ(asked, (Order{{0, kFma}}));

    // Nothing fits: no pick, after every attempt was asked once.
    asked.clear();
    EXPECT_FALSE(pick_conv_algorithm(list, false, ConvAlgorithms::fastest, 50, query).has_value());
    EXPECT_EQ(asked, (Order{{0, kFma}, {6, kFma}, {2, kFma}, {1, kFma}}));
}

// The deterministic set falls back to a nondeterministic algorithm only when no deterministic one
// can run.
TEST(ConvAlgorithms, DeterministicSetFallsBackToNondeterministic) {
    const std::vector<ConvCandidate> list = {det(1), nondet(0)};
    const std::optional<ConvPick> p =
        pick_conv_algorithm(list, false, ConvAlgorithms::deterministic, 1 << 20,
                            [](int algo, ConvMath) -> std::optional<size_t> {
                                if (algo == 1) return std::nullopt;
                                return size_t{0};
                            });
    ASSERT_TRUE(p.has_value());
    EXPECT_EQ(p->algo, 0);
    EXPECT_FALSE(p->deterministic);
}

TEST(ConvAlgorithms, AlgorithmNamesFollowCudnnsEnums) {
    EXPECT_EQ(conv_algorithm_name(ConvDirection::forward, 1), "IMPLICIT_PRECOMP_GEMM");
    EXPECT_EQ(conv_algorithm_name(ConvDirection::forward, 7), "WINOGRAD_NONFUSED");
    EXPECT_EQ(conv_algorithm_name(ConvDirection::backward_data, 3), "FFT_TILING");
    EXPECT_EQ(conv_algorithm_name(ConvDirection::backward_filter, 3), "ALGO_3");
    EXPECT_EQ(conv_algorithm_name(ConvDirection::backward_filter, 6), "FFT_TILING");
    EXPECT_EQ(conv_algorithm_name(ConvDirection::backward_filter, 9), "ALGO?9");
}

ConvAlgorithmRecord record(int64_t C, bool timed) {
    ConvAlgorithmRecord r;
    r.shape = conv2d_shape({128, C, 32, 32}, {C, C, 3, 3}, 1, 1);
    r.search = timed ? ConvAlgorithmSearch::timed : ConvAlgorithmSearch::heuristic;
    r.pick[0] = ConvPick{1, kFma, 0, true, timed ? 0.125f : -1.f};
    r.pick[2] = ConvPick{1, kFma, 3 << 20, true, timed ? 0.5f : -1.f};
    if (timed) r.fastest_listed[2] = nondet(0, kFma, 0.25f);
    return r;
}

// One heading per settings group, one line per plan; a direction that did not run is "-"; the
// fastest listed candidate shows where it is not the pick.
TEST(ConvAlgorithms, TableListsEachPlansChoices) {
    const std::string table = format_conv_algorithm_table({record(16, true), record(32, true)},
                                                          {{0.25, -1.0, 1.0}, {0.5, -1.0, 2.0}});
    EXPECT_NE(table.find("conv algorithms, f32 NCHW, FP32 (FMA) math, timed search, "
                         "deterministic algorithms, device 0"),
              std::string::npos)
        << table;
    EXPECT_NE(table.find("x[128,16,32,32] w[16,16,3,3] s1 p1"), std::string::npos) << table;
    EXPECT_NE(table.find("IMPLICIT_PRECOMP_GEMM det fma 0B t0.125ms call0.250ms"),
              std::string::npos)
        << table;
    EXPECT_NE(table.find("| -"), std::string::npos) << table;  // no backward data
    EXPECT_NE(table.find("ALGO_1 det fma 3.0MiB t0.500ms call2.000ms [fastest ALGO_0 nondet fma "
                         "0.250ms]"),
              std::string::npos)
        << table;
    size_t headings = 0;
    for (size_t at = table.find("conv algorithms,"); at != std::string::npos;
         at = table.find("conv algorithms,", at + 1))
        ++headings;
    EXPECT_EQ(headings, 1u) << table;

    ConvAlgorithmRecord fastest = record(16, false);
    fastest.algorithms = ConvAlgorithms::fastest;
    fastest.shape.channels_last = true;
    fastest.tensor_core = true;
    const std::string two = format_conv_algorithm_table({record(16, false), fastest});
    EXPECT_NE(two.find("f32 NHWC, TF32 math, heuristic search, fastest algorithms"),
              std::string::npos)
        << two;
    EXPECT_EQ(two.find("call"), std::string::npos) << two;  // no call times given
    EXPECT_EQ(two.find(" t0"), std::string::npos) << two;   // nothing measured
    EXPECT_TRUE(testing::throws_error(
        [] {
            format_conv_algorithm_table({record(16, false)}, {{1, 1, 1}, {1, 1, 1}});
        },
        {"2 call times for 1 records"}));
}

}  // namespace
}  // namespace cbnn
