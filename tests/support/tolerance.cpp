#include "tests/support/tolerance.h"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace cbnn::testing {

namespace {

// The comparison of all_close on n values each.
::testing::AssertionResult close_values(const double* actual, const double* expected, int64_t n,
                                        Tolerance tol) {
    int64_t bad = 0, worst = -1;
    double worst_excess = 0.0;
    for (int64_t i = 0; i < n; ++i) {
        const double err = std::fabs(actual[i] - expected[i]);
        const double bound = tol.atol + tol.rtol * std::fabs(expected[i]);
        const bool ok = err <= bound || (std::isnan(actual[i]) && std::isnan(expected[i])) ||
                        (std::isinf(actual[i]) && actual[i] == expected[i]);
        if (!ok) {
            ++bad;
            const double excess = std::isnan(err) ? 1e300 : err / bound;
            if (worst < 0 || excess > worst_excess) {
                worst = i;
                worst_excess = excess;
            }
        }
    }
    if (bad == 0) return ::testing::AssertionSuccess();
    std::ostringstream os;
    os.precision(10);
    os << bad << " of " << n << " elements differ; worst at " << worst << ": actual "
       << actual[worst] << ", expected " << expected[worst] << " (atol " << tol.atol << ", rtol "
       << tol.rtol << ")";
    return ::testing::AssertionFailure() << os.str();
}

}  // namespace

double norm_relative_error(const Tensor& got, const Tensor& ref) {
    CBNN_CHECK(got.numel() == ref.numel(), "norm_relative_error: sizes differ: ", got.numel(),
               " vs ", ref.numel());
    const Tensor a_host = host_f64(got), b_host = host_f64(ref);
    const double *a = a_host.data<double>(), *b = b_host.data<double>();
    double diff2 = 0.0, ref2 = 0.0;
    for (int64_t i = 0; i < got.numel(); ++i) {
        diff2 += (a[i] - b[i]) * (a[i] - b[i]);
        ref2 += b[i] * b[i];
    }
    return std::sqrt(diff2) / std::max(std::sqrt(ref2), 1e-30);
}

::testing::AssertionResult all_close(const std::vector<double>& actual,
                                     const std::vector<double>& expected, Tolerance tol) {
    if (actual.size() != expected.size()) {
        return ::testing::AssertionFailure()
               << "sizes differ: " << actual.size() << " vs " << expected.size();
    }
    return close_values(actual.data(), expected.data(), static_cast<int64_t>(actual.size()), tol);
}

::testing::AssertionResult all_close(const Tensor& actual, const Tensor& expected, Tolerance tol) {
    if (actual.shape() != expected.shape()) {
        return ::testing::AssertionFailure()
               << "shapes differ: " << actual.shape() << " vs " << expected.shape();
    }
    return close_values(host_f64(actual).data<double>(), host_f64(expected).data<double>(),
                        actual.numel(), tol);
}

}  // namespace cbnn::testing
