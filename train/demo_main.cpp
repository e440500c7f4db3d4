// cbnn-demo: the tensor + autograd stack end to end, on a problem small enough to read.
//
// A linear softmax classifier on synthetic long-tailed data: C Gaussian blobs in 2-D on a circle,
// with n_i = int(n_max * (1/IF)^(i/(C-1))) training points for class i (the paper's long-tail
// rule) and a balanced test set. It is trained twice by full-batch gradient descent, with the
// loss composed from autograd ops:
//     logits = X W + b
//     loss   = (1/N) sum_i w[y_i] (logsumexp(logits_i) - logits_i[y_i])
// once with w = 1 (plain softmax cross-entropy) and once with the class-balanced weights of the
// effective number (beta), and the per-class test accuracy of both is printed. The tail classes
// gain from the re-weighting; that is the paper's point in miniature.
#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <optional>
#include <vector>

#include "autograd/functions.h"
#include "autograd/grad_mode.h"
#include "losses/class_weights.h"
#include "tensor/backend.h"
#include "tensor/rng.h"
#include "train/cli_parse.h"

namespace {

using namespace cbnn;

struct Options {
    std::string device = "cpu";
    int classes = 6;
    double imbalance = 50.0;
    int64_t max_per_class = 400;
    int steps = 300;
    double lr = 0.5;
    double beta = 0.999;
    uint64_t seed = 0;
};

struct Split {
    Tensor x;  // (N, 2) f32
    Tensor y;  // (N) i64
};

// Points of class c around (r cos a_c, r sin a_c), unit noise.
Split make_split(const std::vector<int64_t>& counts, Generator& gen, Device device) {
    const int64_t total = [&] {
        int64_t n = 0;
        for (int64_t c : counts) n += c;
        return n;
    }();
    std::vector<float> centres;
    std::vector<int64_t> labels;
    const double radius = 2.5;
    for (size_t c = 0; c < counts.size(); ++c) {
        const double a = 2.0 * M_PI * static_cast<double>(c) / static_cast<double>(counts.size());
        for (int64_t k = 0; k < counts[c]; ++k) {
            centres.push_back(static_cast<float>(radius * std::cos(a)));
            centres.push_back(static_cast<float>(radius * std::sin(a)));
            labels.push_back(static_cast<int64_t>(c));
        }
    }
    const Tensor noise = randn({total, 2}, gen);
    const Tensor x = Tensor::from_vector<float>(centres, {total, 2}) + noise;
    return {x.to(device), Tensor::from_vector<int64_t>(labels, {total}).to(device)};
}

Tensor weighted_cross_entropy(const Tensor& logits, const Tensor& y, const Tensor& w) {
    const Tensor picked = gather(logits, 1, y.unsqueeze(1)).squeeze(1);
    const Tensor per_sample = logsumexp(logits, 1) - picked;
    return sum(index_select(w, 0, y) * per_sample) / static_cast<double>(logits.size(0));
}

std::vector<double> per_class_accuracy(const Tensor& logits, const Tensor& y, int classes) {
    const std::vector<int64_t> pred = argmax(logits, 1).to_vector<int64_t>();
    const std::vector<int64_t> truth = y.to_vector<int64_t>();
    std::vector<double> correct(static_cast<size_t>(classes)), seen(static_cast<size_t>(classes));
    for (size_t i = 0; i < truth.size(); ++i) {
        seen[static_cast<size_t>(truth[i])] += 1;
        correct[static_cast<size_t>(truth[i])] += pred[i] == truth[i] ? 1 : 0;
    }
    for (size_t c = 0; c < correct.size(); ++c) correct[c] /= std::max(1.0, seen[c]);
    return correct;
}

std::vector<double> train(const Options& opt, const Split& train_set, const Split& test_set,
                          const Tensor& class_weights, const char* label) {
    const Device device = train_set.x.device();
    Generator init(opt.seed + 1);
    Tensor w = (randn({2, opt.classes}, init) * 0.01).to(device);
    Tensor b = Tensor::zeros({opt.classes}, DType::f32, device);
    w.set_requires_grad();
    b.set_requires_grad();
    for (int step = 0; step <= opt.steps; ++step) {
        const Tensor loss =
            weighted_cross_entropy(matmul(train_set.x, w) + b, train_set.y, class_weights);
        loss.backward();
        {
            NoGradGuard no_grad;
            w.copy_(w - w.grad() * opt.lr);
            b.copy_(b - b.grad() * opt.lr);
            w.set_grad(Tensor());
            b.set_grad(Tensor());
        }
        if (step % (opt.steps / 5) == 0)
            std::printf("  [%s] step %4d  loss %.5f\n", label, step, loss.item<float>());
    }
    NoGradGuard no_grad;
    return per_class_accuracy(matmul(test_set.x, w) + b, test_set.y, opt.classes);
}

}  // namespace

int main(int argc, char** argv) {
    Options opt;
    CLI::App app{
        "cbnn-demo: a linear classifier on synthetic long-tailed data, trained with "
        "cbnn's tensors and autograd, without and with class-balanced weights"};
    app.add_option("--device", opt.device, "cpu, cuda or cuda:N")->capture_default_str();
    cli::add_number(app, "--classes", opt.classes, "number of classes, 2 to 64")
        ->check(cli::between(2, 64))
        ->capture_default_str();
    cli::add_number(app, "--imbalance", opt.imbalance, "imbalance factor n_max/n_min, 1 to 1000")
        ->check(cli::between(1, 1000))
        ->capture_default_str();
    cli::add_number(app, "--max-per-class", opt.max_per_class,
                    "training points of the largest class, 2 to 100000")
        ->check(cli::between(2, 100000))
        ->capture_default_str();
    cli::add_number(app, "--steps", opt.steps, "gradient-descent steps, 5 to 100000")
        ->check(cli::between(5, 100000))
        ->capture_default_str();
    cli::add_number(app, "--lr", opt.lr, "learning rate > 0")
        ->check(cli::positive())
        ->capture_default_str();
    cli::add_number(app, "--beta", opt.beta,
                    "effective-number beta for the class-balanced run, in [0, 1)")
        ->check(cli::between(0, 1, cli::Upper::open))
        ->capture_default_str();
    cli::add_number(app, "--seed", opt.seed, "random seed")->capture_default_str();
    if (const std::optional<int> status = cli::parse(app, argc, argv)) return *status;

    try {
        const Device device = Device::parse(opt.device);
        if (device.is_cuda()) require_cuda("cbnn-demo --device " + opt.device);

        std::vector<int64_t> train_counts, test_counts;
        for (int i = 0; i < opt.classes; ++i) {
            const double r =
                std::pow(1.0 / opt.imbalance, i / static_cast<double>(opt.classes - 1));
            train_counts.push_back(
                std::max<int64_t>(1, static_cast<int64_t>(opt.max_per_class * r)));
            test_counts.push_back(200);
        }
        Generator gen(opt.seed);
        const Split train_set = make_split(train_counts, gen, device);
        const Split test_set = make_split(test_counts, gen, device);
        std::printf("cbnn-demo on %s, seed %llu: %d classes, imbalance %.0f, train counts",
                    device.str().c_str(), static_cast<unsigned long long>(opt.seed), opt.classes,
                    opt.imbalance);
        for (int64_t c : train_counts) std::printf(" %lld", static_cast<long long>(c));
        std::printf("\n");

        const Tensor ones = Tensor::ones({opt.classes}, DType::f32, device);
        const std::vector<double> cb = class_balanced_weights(train_counts, opt.beta);
        const Tensor cb_weights =
            Tensor::from_vector<double>(cb, {opt.classes}).to(DType::f32).to(device);

        const auto plain = train(opt, train_set, test_set, ones, "softmax");
        const auto balanced = train(opt, train_set, test_set, cb_weights, "CB softmax");

        std::printf("\nper-class test accuracy (class: train count, softmax, CB softmax beta=%g)\n",
                    opt.beta);
        double mean_plain = 0, mean_cb = 0;
        for (int c = 0; c < opt.classes; ++c) {
            std::printf("  class %2d: %5lld  %6.1f%%  %6.1f%%\n", c,
                        static_cast<long long>(train_counts[static_cast<size_t>(c)]),
                        100 * plain[static_cast<size_t>(c)],
                        100 * balanced[static_cast<size_t>(c)]);
            mean_plain += plain[static_cast<size_t>(c)] / opt.classes;
            mean_cb += balanced[static_cast<size_t>(c)] / opt.classes;
        }
        std::printf("  mean (balanced test set): softmax %.1f%%, CB softmax %.1f%%\n",
                    100 * mean_plain, 100 * mean_cb);
    } catch (const std::exception& e) {  // cbnn::Error, and anything else: one line, not an abort
        std::fprintf(stderr, "cbnn-demo: %s\n", e.what());
        return 1;
    }
    return 0;
}
