// Effective-number class weights against PAPER.md 1.5, their invariants, accuracy for beta near 1,
// and bad input.
#include <cmath>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "losses/class_weights.h"
#include "tests/support/tolerance.h"

namespace cbnn {
namespace {

const std::vector<int64_t> kCifar10If100 = {5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50};

// n_i = int(n_max * r^(i / (C - 1))), PAPER.md 2.1.
std::vector<int64_t> long_tail_counts(int64_t n_max, int64_t C, double r) {
    std::vector<int64_t> n(static_cast<size_t>(C));
    for (int64_t i = 0; i < C; ++i)
        n[static_cast<size_t>(i)] = static_cast<int64_t>(
            static_cast<double>(n_max) * std::pow(r, static_cast<double>(i) / (C - 1)));
    return n;
}

// Printed values are rounded: |w - printed| <= half a unit of the last digit.
void expect_printed(const std::vector<double>& w, const std::vector<double>& printed,
                    double half_unit) {
    ASSERT_EQ(w.size(), printed.size());
    for (size_t c = 0; c < w.size(); ++c)
        EXPECT_NEAR(w[c], printed[c], half_unit * (1 + 1e-9)) << "class " << c;
}

double sum(const std::vector<double>& v) {
    double s = 0.0;
    for (double x : v) s += x;
    return s;
}

TEST(ClassWeights, Cifar10If100MatchesPaperTable) {
    const double h = 0.5e-4;
    expect_printed(class_balanced_weights(kCifar10If100, 0.0), std::vector<double>(10, 1.0), h);
    expect_printed(class_balanced_weights(kCifar10If100, 0.9),
                   {0.9995, 0.9995, 0.9995, 0.9995, 0.9995, 0.9995, 0.9995, 0.9995, 0.9996, 1.0046},
                   h);
    expect_printed(class_balanced_weights(kCifar10If100, 0.99),
                   {0.7838, 0.7838, 0.7838, 0.7838, 0.7850, 0.8002, 0.8682, 1.0414, 1.3854, 1.9844},
                   h);
    expect_printed(class_balanced_weights(kCifar10If100, 0.999),
                   {0.1812, 0.1894, 0.2157, 0.2729, 0.3785, 0.5606, 0.8688, 1.3862, 2.2584, 3.6883},
                   h);
    expect_printed(class_balanced_weights(kCifar10If100, 0.9999),
                   {0.0506, 0.0769, 0.1211, 0.1950, 0.3188, 0.5246, 0.8683, 1.4426, 2.4092, 3.9927},
                   h);
}

TEST(ClassWeights, Cifar100If100MatchesPaperTable) {
    const std::vector<int64_t> counts = long_tail_counts(500, 100, 0.01);
    int64_t total = 0;
    for (int64_t n : counts) total += n;
    EXPECT_EQ(total, 10847);  // PAPER.md 2.1
    EXPECT_EQ(counts[0], 500);
    EXPECT_EQ(counts[19], 206);
    EXPECT_EQ(counts[99], 5);
    const struct {
        double beta, w0, w49, w99;
    } rows[] = {{0.9, 0.82019, 0.82402, 2.00287},
                {0.99, 0.19652, 0.48681, 3.98352},
                {0.999, 0.05508, 0.43580, 4.34451}};
    for (const auto& r : rows) {
        const std::vector<double> w = class_balanced_weights(counts, r.beta);
        EXPECT_NEAR(w[0], r.w0, 0.5e-5) << "beta " << r.beta;
        EXPECT_NEAR(w[49], r.w49, 0.5e-5) << "beta " << r.beta;
        EXPECT_NEAR(w[99], r.w99, 0.5e-5) << "beta " << r.beta;
    }
}

TEST(ClassWeights, SumToCAndBetaZeroGivesExactOnes) {
    const std::vector<std::vector<int64_t>> sets = {
        kCifar10If100, long_tail_counts(500, 100, 0.005), {1}, {7, 1, 1000000000}};
    for (const auto& counts : sets) {
        for (double beta : {0.0, 0.5, 0.9, 0.999, 0.9999, 0.999999, 1.0 - 1e-12}) {
            const std::vector<double> w = class_balanced_weights(counts, beta);
            EXPECT_NEAR(sum(w), static_cast<double>(counts.size()), 1e-12 * counts.size())
                << "beta " << beta;
            for (double v : w) EXPECT_TRUE(std::isfinite(v) && v > 0.0);
        }
        for (double v : class_balanced_weights(counts, 0.0)) EXPECT_EQ(v, 1.0);
    }
}

TEST(ClassWeights, EffectiveNumberFormulaAndLimits) {
    const std::vector<double> e = effective_numbers({1, 2, 10}, 0.9);
    EXPECT_NEAR(e[0], 1.0, 1e-15);
    EXPECT_NEAR(e[1], 1.9, 1e-14);  // 1 + beta
    EXPECT_NEAR(e[2], (1 - std::pow(0.9, 10)) / 0.1, 1e-13);
    for (double v : effective_numbers({1, 5000}, 0.0)) EXPECT_EQ(v, 1.0);
    // beta -> 1: E_n -> n (inverse-frequency weights).
    const std::vector<double> e1 = effective_numbers({3, 5000}, 1.0 - 1e-12);
    EXPECT_NEAR(e1[0], 3.0, 1e-9);
    EXPECT_NEAR(e1[1], 5000.0, 5000.0 * 1e-8);
}

TEST(ClassWeights, AccurateForBetaCloseToOne) {
    // With beta = 1 - 1e-12, 1 - beta^n = n 1e-12 (1 - (n - 1) 5e-13 + ...), so the weights are
    // the inverse-frequency weights C (1/n_c) / sum_k (1/n_k) up to a relative 2.5e-9 (n = 5000).
    const std::vector<int64_t> counts = {5, 50, 500, 5000};
    const std::vector<double> w = class_balanced_weights(counts, 1.0 - 1e-12);
    double inv_total = 0.0;
    for (int64_t n : counts) inv_total += 1.0 / static_cast<double>(n);
    for (size_t c = 0; c < counts.size(); ++c) {
        const double expected = 4.0 / static_cast<double>(counts[c]) / inv_total;
        EXPECT_NEAR(w[c], expected, 1e-8 * expected) << "class " << c;
    }
}

TEST(ClassWeights, TensorHelperGivesDtypeAndValues) {
    const std::vector<double> w = class_balanced_weights(kCifar10If100, 0.999);
    const Tensor t64 = class_balanced_weights_tensor(kCifar10If100, 0.999, DType::f64);
    EXPECT_EQ(t64.shape(), (Shape{10}));
    EXPECT_EQ(t64.dtype(), DType::f64);
    EXPECT_EQ(t64.to_vector<double>(), w);
    const Tensor t32 = class_balanced_weights_tensor(kCifar10If100, 0.999);
    EXPECT_EQ(t32.dtype(), DType::f32);
    EXPECT_TRUE(t32.device().is_cpu());
    EXPECT_TRUE(testing::all_close(t32, t64, testing::kF32VsF64));
    EXPECT_THROW(class_balanced_weights_tensor(kCifar10If100, 0.9, DType::i64), Error);
}

void expect_error(const std::vector<int64_t>& counts, double beta,
                  const std::vector<std::string>& fragments) {
    try {
        class_balanced_weights(counts, beta);
        ADD_FAILURE() << "expected an error for beta " << beta;
    } catch (const Error& e) {
        for (const std::string& f : fragments)
            EXPECT_NE(std::string(e.what()).find(f), std::string::npos) << e.what();
    }
}

TEST(ClassWeights, BadInputIsAClearError) {
    expect_error({}, 0.9, {"empty"});
    expect_error({10, 5, 0, 3}, 0.9,
                 {"class 2 has no training images; every class needs at least one", "with beta 0.9",
                  "infinite"});
    expect_error({10, -4}, 0.0, {"class 1", "count -4"});
    for (double beta : {1.0, -0.1, 1.5, std::nan(""), double{INFINITY}})
        expect_error({10, 5}, beta, {"beta must be in [0, 1)"});
    // Beta 0 weighs every class 1: the message says what is wrong without a beta^0.
    try {
        class_balanced_weights({10, 0}, 0.0);
        ADD_FAILURE() << "expected an error for an empty class";
    } catch (const Error& e) {
        EXPECT_STREQ(e.what(),
                     "class-balanced weights: class 1 has no training images; every class needs "
                     "at least one");
    }
    EXPECT_THROW(effective_numbers({3, 0}, 0.5), Error);
    EXPECT_THROW(effective_numbers({3}, 1.0), Error);
    EXPECT_NO_THROW(check_beta(0.0));
    EXPECT_THROW(check_beta(std::nan("")), Error);
}

}  // namespace
}  // namespace cbnn
