// The convolution checks of the CUDA tests (tests/support/conv2d_checks.h).
#include "tests/support/conv2d_checks.h"

#include <algorithm>
#include <cmath>
#include <iostream>
#include <vector>

#include "autograd/functions.h"
#include "tests/support/host.h"
#include "tests/support/random.h"

namespace cbnn::testing {

std::string Case::str() const {
    return "x [" + std::to_string(N) + ", " + std::to_string(C) + ", " + std::to_string(H) + ", " +
           std::to_string(W) + "] w [" + std::to_string(K) + ", " + std::to_string(C) + ", " +
           std::to_string(R) + ", " + std::to_string(S) + "] stride " + std::to_string(stride) +
           " pad " + std::to_string(pad);
}

Results run(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& dy, const Case& c) {
    return {ops::conv2d_forward(x, w, b, c.stride, c.pad),
            ops::conv2d_backward_data(dy, w, x.shape(), c.stride, c.pad),
            ops::conv2d_backward_filter(x, dy, w.shape(), c.stride, c.pad),
            ops::conv2d_backward_bias(dy)};
}

Problem make_problem(const Case& c, uint64_t seed) {
    const Conv2dShape s = conv2d_shape({c.N, c.C, c.H, c.W}, {c.K, c.C, c.R, c.S}, c.stride, c.pad);
    const double scale = 1.0 / std::sqrt(static_cast<double>(c.C * c.R * c.S));
    return {random_tensor({c.N, c.C, c.H, c.W}, -1, 1, seed, DType::f32),
            random_tensor({c.K, c.C, c.R, c.S}, -scale, scale, seed + 1, DType::f32),
            random_tensor({c.K}, -1, 1, seed + 2, DType::f32),
            random_tensor({s.N, s.K, s.P, s.Q}, -1, 1, seed + 3, DType::f32)};
}

Results reference(const Problem& p, const Case& c) {
    const auto f64 = [](const Tensor& t) { return t.to(DType::f64); };
    return run(f64(p.x), f64(p.w), f64(p.b), f64(p.dy), c);
}

Results on_gpu(const Problem& p, const Case& c) {
    const Results r = run(p.x.cuda(), p.w.cuda(), p.b.cuda(), p.dy.cuda(), c);
    EXPECT_TRUE(r.y.is_cuda() && r.dx.is_cuda() && r.dw.is_cuda() && r.db.is_cuda());
    return r;
}

::testing::AssertionResult within_sum_bound(const Tensor& got, const Tensor& ref,
                                            const Tensor& abs_terms, int64_t n,
                                            const std::string& what, double rounding) {
    const std::vector<double> a = testing::host_values(got), e = testing::host_values(ref),
                              m = testing::host_values(abs_terms);
    if (a.size() != e.size()) return ::testing::AssertionFailure() << what << ": sizes differ";
    const double u = std::ldexp(1.0, -24);
    double worst_ratio = 0;
    size_t worst = 0;
    for (size_t i = 0; i < a.size(); ++i) {
        const double err = std::fabs(a[i] - e[i]);
        const double ratio = (err - rounding * std::fabs(e[i])) / (u * m[i] + 1e-300);
        if (!(err <= static_cast<double>(n) * u * m[i] + rounding * std::fabs(e[i]) + 1e-30))
            return ::testing::AssertionFailure()
                   << what << ": element " << i << " is " << a[i] << ", expected " << e[i]
                   << " (error " << err << " > " << n << " u * sum|terms| "
                   << static_cast<double>(n) * u * m[i] << " + " << rounding << " |expected|)";
        if (ratio > worst_ratio) worst_ratio = ratio, worst = i;
    }
    std::cout << what << ": worst error " << worst_ratio << " u * sum|terms| (element " << worst
              << ", bound " << n << ")\n";
    return ::testing::AssertionSuccess();
}

Results absolute_terms(const Problem& p, const Case& c) {
    const auto abs64 = [](const Tensor& t) { return abs(t.to(DType::f64)); };
    return run(abs64(p.x), abs64(p.w), abs64(p.b), abs64(p.dy), c);
}

void expect_close(const Results& got, const Problem& p, const Case& c, const Results* given_ref,
                  const std::string& label, double rounding) {
    const Conv2dShape s = conv2d_shape({c.N, c.C, c.H, c.W}, {c.K, c.C, c.R, c.S}, c.stride, c.pad);
    const Results ref = given_ref ? *given_ref : reference(p, c);
    const Results terms = absolute_terms(p, c);
    EXPECT_TRUE(within_sum_bound(got.y, ref.y, terms.y, c.C * c.R * c.S + 1,
                                 label + "forward " + c.str(), rounding));
    EXPECT_TRUE(within_sum_bound(got.dx, ref.dx, terms.dx, c.K * c.R * c.S,
                                 label + "backward data " + c.str(), rounding));
    EXPECT_TRUE(within_sum_bound(got.dw, ref.dw, terms.dw, s.N * s.P * s.Q,
                                 label + "backward filter " + c.str(), rounding));
    EXPECT_TRUE(within_sum_bound(got.db, ref.db, terms.db, s.N * s.P * s.Q,
                                 label + "bias gradient " + c.str(), rounding));
}

Problem bf16_problem(const Case& c, uint64_t seed) {
    const Problem f32 = make_problem(c, seed);
    const auto bf16 = [](const Tensor& t) { return t.to(DType::bf16); };
    return {bf16(f32.x), bf16(f32.w), bf16(f32.b), bf16(f32.dy)};
}

::testing::AssertionResult tf32_close(const Tensor& got, const Tensor& ref) {
    const std::vector<double> a = got.cpu().to(DType::f64).to_vector<double>();
    const std::vector<double> e = ref.to_vector<double>();
    double err = 0, scale = 0;
    for (size_t i = 0; i < a.size(); ++i) {
        err = std::max(err, std::fabs(a[i] - e[i]));
        scale = std::max(scale, std::fabs(e[i]));
    }
    if (err <= 5e-3 * scale) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "max error " << err << " > 5e-3 * max|ref| " << scale;
}

void expect_tf32_close(const Results& got, const Results& ref, const Case& c,
                       const std::string& label) {
    EXPECT_TRUE(tf32_close(got.y, ref.y)) << label << "forward, " << c.str();
    EXPECT_TRUE(tf32_close(got.dx, ref.dx)) << label << "backward data, " << c.str();
    EXPECT_TRUE(tf32_close(got.dw, ref.dw)) << label << "backward filter, " << c.str();
    EXPECT_TRUE(tf32_close(got.db, ref.db)) << label << "bias gradient, " << c.str();
}

Results on_gpu_channels_last(const Problem& p, const Case& c) {
    const auto nhwc = [](const Tensor& t) {
        return t.cuda().contiguous(MemoryFormat::channels_last);
    };
    const Results r = run(nhwc(p.x), p.w.cuda(), p.b.cuda(), nhwc(p.dy), c);
    if (c.C > 1 && c.H * c.W > 1) EXPECT_EQ(r.dx.memory_format(), MemoryFormat::channels_last);
    if (c.K > 1) EXPECT_EQ(r.y.memory_format(), MemoryFormat::channels_last);
    if (c.C > 1 && c.R * c.S > 1) EXPECT_EQ(r.dw.memory_format(), MemoryFormat::channels_last);
    return r;
}

}  // namespace cbnn::testing
