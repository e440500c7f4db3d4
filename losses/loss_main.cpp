// cbnn-loss: evaluates a class-balanced loss on logits and labels stored as NumPy .npy files, so a
// user can check cbnn's numbers against their own implementation.
//   cbnn-loss --loss focal --beta 0.9999 --gamma 1 --counts 5000,2997,... \
//             --logits logits.npy --labels labels.npy [--dlogits-out dlogits.npy] \
//             [--device cpu|cuda] [--json]
// logits: float32 or float64 (N, C), C order, finite; labels: int32 or int64 (N) in [0, C); counts:
// C training-set class counts. Prints the loss (JSON: {"loss": x, ...}); --dlogits-out writes d
// loss / d logits as float32 (N, C). The loss is the official one (PAPER.md 1.2): divided by N.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>

#include "losses/cb_loss.h"
#include "losses/class_weights.h"
#include "tensor/backend.h"
#include "tensor/npy.h"
#include "train/cli_parse.h"

namespace {

struct Options {
    std::string loss, logits_path, labels_path, dlogits_path, device = "cpu";
    double beta = 0.0, gamma = 0.0;
    std::vector<int64_t> counts;
    bool json = false;
};

int run(const Options& opt) {
    using namespace cbnn;
    const LossConfig config{parse_loss_type(opt.loss), opt.beta, opt.gamma};
    config.validate();
    CBNN_CHECK(config.type == LossType::focal || opt.gamma == 0, "--gamma ", opt.gamma,
               ": only the focal loss has a gamma, not ", opt.loss);
    const Device device = Device::parse(opt.device);
    if (device.is_cuda()) require_cuda("cbnn-loss --device " + opt.device);

    Tensor logits = read_npy(opt.logits_path);
    CBNN_CHECK(logits.dtype() == DType::f32 || logits.dtype() == DType::f64, opt.logits_path,
               ": logits must be float32 or float64, got ", logits.dtype());
    CBNN_CHECK(logits.dim() == 2 && logits.size(0) >= 1 && logits.size(1) >= 1, opt.logits_path,
               ": logits must have shape (N, C) with N, C >= 1, got ", logits.shape());
    const Tensor labels = read_npy(opt.labels_path);
    CBNN_CHECK(labels.dtype() == DType::i64, opt.labels_path,
               ": labels must be int32 or int64, got ", labels.dtype());
    const int64_t n = logits.size(0), c = logits.size(1);
    // A NaN or infinite logit makes the loss NaN: refused rather than printed as a number.
    const std::vector<double> z = logits.to(DType::f64).to_vector<double>();
    const auto bad = std::find_if(z.begin(), z.end(), [](double v) { return !std::isfinite(v); });
    if (bad != z.end()) {
        const int64_t at = bad - z.begin();
        CBNN_FAIL(opt.logits_path, ": logit (", at / c, ", ", at % c, ") is ",
                  std::isnan(*bad) ? "NaN" : (*bad > 0 ? "+inf" : "-inf"),
                  "; the logits must be finite");
    }
    CBNN_CHECK(labels.dim() == 1 && labels.size(0) == n, opt.labels_path,
               ": labels must have shape (", n, ") to match the logits, got ", labels.shape());
    CBNN_CHECK(static_cast<int64_t>(opt.counts.size()) == c, "--counts: ", opt.counts.size(),
               " counts given for ", c, " classes (the logits have C = ", c, ")");
    const std::vector<int64_t> y = labels.to_vector<int64_t>();
    for (int64_t i = 0; i < n; ++i) {
        CBNN_CHECK(y[static_cast<size_t>(i)] >= 0 && y[static_cast<size_t>(i)] < c, opt.labels_path,
                   ": label ", y[static_cast<size_t>(i)], " at row ", i, " is outside [0, ", c,
                   ")");
    }
    // CUDA kernels compute in float32.
    if (device.is_cuda()) logits = logits.to(DType::f32);
    const Tensor weights =
        class_balanced_weights_tensor(opt.counts, opt.beta, logits.dtype(), device);
    const ops::LossResult result =
        ops::class_balanced_loss(logits.to(device), labels.to(device), weights, config.type,
                                 config.gamma, /*compute_dlogits=*/!opt.dlogits_path.empty());
    const double loss = result.loss.to(DType::f64).item<double>();
    if (!opt.dlogits_path.empty()) write_npy(opt.dlogits_path, result.dlogits.to(DType::f32));

    if (opt.json) {
        const nlohmann::json out = {{"loss", loss},
                                    {"loss_type", opt.loss},
                                    {"beta", opt.beta},
                                    {"gamma", opt.gamma},
                                    {"N", n},
                                    {"C", c},
                                    {"dtype", dtype_name(logits.dtype())},
                                    {"device", device.str()}};
        std::printf("%s\n", out.dump().c_str());
    } else {
        std::printf("%s loss (beta %g, gamma %g) over N=%lld, C=%lld in %s on %s: %.9g\n",
                    opt.loss.c_str(), opt.beta, opt.gamma, static_cast<long long>(n),
                    static_cast<long long>(c), dtype_name(logits.dtype()), device.str().c_str(),
                    loss);
        if (!opt.dlogits_path.empty())
            std::printf("dlogits written to %s\n", opt.dlogits_path.c_str());
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    Options opt;
    CLI::App app{
        "cbnn-loss: a class-balanced loss (and its gradient) on logits/labels from .npy files"};
    app.add_option("--loss", opt.loss, "softmax, sigmoid or focal")
        ->required()
        ->check(CLI::IsMember({"softmax", "sigmoid", "focal"}));
    cbnn::cli::add_number(app, "--beta", opt.beta,
                          "effective-number beta in [0, 1); 0 = no re-weighting")
        ->capture_default_str();
    cbnn::cli::add_number(app, "--gamma", opt.gamma,
                          "focal loss gamma >= 0 (focal only: softmax and sigmoid take 0)")
        ->capture_default_str();
    cbnn::cli::add_number(app, "--counts", opt.counts, "training images per class, comma-separated")
        ->required();
    app.add_option("--logits", opt.logits_path, ".npy file: float32/float64 (N, C), C order")
        ->required();
    app.add_option("--labels", opt.labels_path, ".npy file: int32/int64 (N)")->required();
    app.add_option("--dlogits-out", opt.dlogits_path, "write d loss/d logits here (float32 .npy)");
    app.add_option("--device", opt.device, "cpu, cuda or cuda:N")->capture_default_str();
    app.add_flag("--json", opt.json, "print JSON");
    if (const std::optional<int> status = cbnn::cli::parse(app, argc, argv)) return *status;
    try {
        return run(opt);
    } catch (const std::exception& e) {  // cbnn::Error, and anything else: one line, not an abort
        std::fprintf(stderr, "cbnn-loss: %s\n", e.what());
        return 1;
    }
}
