#include "autograd/gradcheck.h"

#include <cmath>
#include <random>
#include <sstream>

#include "autograd/functions.h"
#include "autograd/grad_mode.h"

namespace cbnn::autograd {

namespace {

double objective(const GradcheckFunction& f, const std::vector<Tensor>& xs,
                 const std::vector<double>& w) {
    NoGradGuard no_grad;
    const Tensor y = f(xs);
    const std::vector<double> v = y.to_vector<double>();
    double acc = 0.0;
    for (size_t i = 0; i < v.size(); ++i) acc += w[i] * v[i];
    return acc;
}

struct Checker {
    const GradcheckOptions& options;
    GradcheckResult result;

    void compare(double analytic, double numeric, const std::string& where) {
        const double err = std::fabs(analytic - numeric);
        ++result.checked;
        result.max_abs_error = std::max(result.max_abs_error, err);
        const bool bad = !(err <= options.atol + options.rtol * std::fabs(numeric));
        if (bad && result.ok) {
            result.ok = false;
            std::ostringstream os;
            os.precision(10);
            os << "gradcheck: " << where << ": analytic " << analytic << ", numeric " << numeric
               << ", |error| " << err << " > " << options.atol << " + " << options.rtol
               << " * |numeric|";
            result.message = os.str();
        }
    }
};

}  // namespace

GradcheckResult gradcheck(const GradcheckFunction& f, const std::vector<Tensor>& inputs,
                          const GradcheckOptions& options) {
    std::vector<Tensor> xs;
    for (const Tensor& in : inputs) {
        check_defined(in, "gradcheck");
        CBNN_CHECK(!in.is_cuda(), "gradcheck: inputs must be CPU tensors, got ", in.description());
        Tensor x = in.detach().clone();
        if (x.dtype() == DType::f64) x.set_requires_grad(true);
        xs.push_back(x);
    }

    std::mt19937_64 rng(options.seed);
    std::uniform_real_distribution<double> uniform(-1.0, 1.0);

    Tensor y = f(xs);
    CBNN_CHECK(y.dtype() == DType::f64, "gradcheck: f must return f64, got ", y.description());
    CBNN_CHECK(y.requires_grad(), "gradcheck: f's output does not depend on any f64 input");
    std::vector<double> w(static_cast<size_t>(y.numel()));
    for (double& v : w) v = uniform(rng);
    y.backward(Tensor::from_vector<double>(w, y.shape()));

    std::vector<std::vector<double>> analytic;
    for (const Tensor& x : xs) {
        const Tensor g = x.grad();
        analytic.push_back(g.defined() ? g.to_vector<double>()
                                       : std::vector<double>(static_cast<size_t>(x.numel()), 0.0));
    }

    Checker checker{options, {}};
    if (options.directions <= 0) {
        for (size_t i = 0; i < xs.size(); ++i) {
            if (xs[i].dtype() != DType::f64) continue;
            double* p = xs[i].data<double>();
            for (int64_t j = 0; j < xs[i].numel(); ++j) {
                const double v = p[j];
                const double h = options.step_scale * std::max(1.0, std::fabs(v));
                p[j] = v + h;
                const double plus = objective(f, xs, w);
                p[j] = v - h;
                const double minus = objective(f, xs, w);
                p[j] = v;
                std::ostringstream where;
                where << "input " << i << " " << xs[i].description() << " element " << j;
                checker.compare(analytic[i][static_cast<size_t>(j)], (plus - minus) / (2 * h),
                                where.str());
            }
        }
    } else {
        for (int d = 0; d < options.directions; ++d) {
            std::vector<std::vector<double>> dir(xs.size());
            double norm2 = 0.0, scale = 1.0;
            for (size_t i = 0; i < xs.size(); ++i) {
                if (xs[i].dtype() != DType::f64) continue;
                dir[i].resize(static_cast<size_t>(xs[i].numel()));
                for (double& v : dir[i]) {
                    v = uniform(rng);
                    norm2 += v * v;
                }
                for (double x : xs[i].to_vector<double>()) scale = std::max(scale, std::fabs(x));
            }
            const double h = options.step_scale * scale;
            double analytic_dot = 0.0;
            auto shift = [&](double amount) {
                for (size_t i = 0; i < xs.size(); ++i) {
                    double* p = dir[i].empty() ? nullptr : xs[i].data<double>();
                    for (size_t j = 0; j < dir[i].size(); ++j) p[j] += amount * dir[i][j];
                }
            };
            for (size_t i = 0; i < xs.size(); ++i) {
                for (size_t j = 0; j < dir[i].size(); ++j) {
                    dir[i][j] /= std::sqrt(norm2);
                    analytic_dot += analytic[i][j] * dir[i][j];
                }
            }
            const std::vector<Tensor> saved = [&] {
                std::vector<Tensor> copies;
                for (const Tensor& x : xs) copies.push_back(x.detach().clone());
                return copies;
            }();
            shift(h);
            const double plus = objective(f, xs, w);
            shift(-2 * h);
            const double minus = objective(f, xs, w);
            {
                NoGradGuard no_grad;
                for (size_t i = 0; i < xs.size(); ++i) xs[i].detach().copy_(saved[i]);
            }
            checker.compare(analytic_dot, (plus - minus) / (2 * h),
                            "direction " + std::to_string(d));
        }
    }
    return checker.result;
}

}  // namespace cbnn::autograd
