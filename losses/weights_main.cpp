// cbnn-weights: the class-balanced weights of Cui et al. (CVPR 2019) for given class counts.
//   cbnn-weights --counts 5000,2997,1796,1077,645,387,232,139,83,50 --beta 0.9999 [--json]
// Prints, per class, the count, the effective number E_n = (1 - beta^n)/(1 - beta) and the weight
// w_c = (1/E_{n_c}) normalised to sum to C (losses/class_weights.h). --json prints
// {"weights": [...], "effective_numbers": [...], "counts": [...], "beta": b} with 17 significant
// digits.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>

#include "losses/class_weights.h"
#include "train/cli_parse.h"

int main(int argc, char** argv) {
    std::vector<int64_t> counts;
    double beta = 0.0;
    bool json = false;
    CLI::App app{"cbnn-weights: class-balanced weights from the effective number of samples"};
    cbnn::cli::add_number(app, "--counts", counts,
                          "training images per class, comma-separated (class 0 first)")
        ->required();
    cbnn::cli::add_number(app, "--beta", beta,
                          "beta in [0, 1); 0 gives all ones, 0.9999 is the paper's CIFAR-10 choice")
        ->required();
    app.add_flag("--json", json, "print JSON instead of a table");
    if (const std::optional<int> status = cbnn::cli::parse(app, argc, argv)) return *status;

    try {
        const std::vector<double> weights = cbnn::class_balanced_weights(counts, beta);
        const std::vector<double> effective = cbnn::effective_numbers(counts, beta);
        if (json) {
            const nlohmann::json out = {{"weights", weights},
                                        {"effective_numbers", effective},
                                        {"counts", counts},
                                        {"beta", beta}};
            std::printf("%s\n", out.dump().c_str());
        } else {
            std::printf("beta %.10g, %zu classes (weights sum to %zu)\n", beta, counts.size(),
                        counts.size());
            std::printf("%6s %10s %18s %14s\n", "class", "count", "effective number", "weight");
            for (size_t c = 0; c < counts.size(); ++c) {
                std::printf("%6zu %10lld %18.6f %14.9f\n", c, static_cast<long long>(counts[c]),
                            effective[c], weights[c]);
            }
        }
    } catch (const std::exception& e) {  // cbnn::Error, and anything else: one line, not an abort
        std::fprintf(stderr, "cbnn-weights: %s\n", e.what());
        return 1;
    }
    return 0;
}
