#include "tests/support/tolerance.h"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace cbnn::testing {

std::vector<double> host_values(const Tensor& t) {
    return t.cpu().to(DType::f64).to_vector<double>();
}

double norm_relative_error(const Tensor& got, const Tensor& ref) {
    const std::vector<double> a = host_values(got), b = host_values(ref);
    CBNN_CHECK(a.size() == b.size(), "norm_relative_error: sizes differ: ", a.size(), " vs ",
               b.size());
    double diff2 = 0.0, ref2 = 0.0;
    for (size_t i = 0; i < a.size(); ++i) {
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
    int64_t bad = 0, worst = -1;
    double worst_excess = 0.0;
    for (size_t i = 0; i < actual.size(); ++i) {
        const double err = std::fabs(actual[i] - expected[i]);
        const double bound = tol.atol + tol.rtol * std::fabs(expected[i]);
        const bool ok = err <= bound || (std::isnan(actual[i]) && std::isnan(expected[i])) ||
                        (std::isinf(actual[i]) && actual[i] == expected[i]);
        if (!ok) {
            ++bad;
            const double excess = std::isnan(err) ? 1e300 : err / bound;
            if (worst < 0 || excess > worst_excess) {
                worst = static_cast<int64_t>(i);
                worst_excess = excess;
            }
        }
    }
    if (bad == 0) return ::testing::AssertionSuccess();
    std::ostringstream os;
    os.precision(10);
    os << bad << " of " << actual.size() << " elements differ; worst at " << worst << ": actual "
       << actual[static_cast<size_t>(worst)] << ", expected "
       << expected[static_cast<size_t>(worst)] << " (atol " << tol.atol << ", rtol " << tol.rtol
       << ")";
    return ::testing::AssertionFailure() << os.str();
}

::testing::AssertionResult all_close(const Tensor& actual, const Tensor& expected, Tolerance tol) {
    if (actual.shape() != expected.shape()) {
        return ::testing::AssertionFailure()
               << "shapes differ: " << actual.shape() << " vs " << expected.shape();
    }
    return all_close(host_values(actual), host_values(expected), tol);
}

}  // namespace cbnn::testing
