// cbnn-train-cifar: trains ResNet-(6n+2) on (long-tailed) CIFAR-10/100 with a class-balanced loss
// (train/trainer.h). Progress goes to stderr; the seed and configuration at the start and the
// final test error at the end go to stdout. Exit status: 0 done, 1 bad input or error, 3 diverged.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tensor/error.h"
#include "train/cli_parse.h"
#include "train/train_cli.h"
#include "train/trainer.h"

namespace {

namespace cli = cbnn::cli;
using cbnn::train::add_training_flags;
using cbnn::train::run_training_tool;
using cbnn::train::TrainConfig;
using cbnn::train::TrainingFlagHelp;

// PAPER.md 3.3 for CIFAR: 200 epochs, batch 128, lr 0.1, wd 2e-4, warm-up 5 epochs, decay
// x0.01 at 160 and x0.0001 at 180, ResNet-32.
TrainConfig paper_preset() {
    TrainConfig c;
    c.epochs = 200;
    c.batch_size = 128;
    c.lr = 0.1;
    c.weight_decay = 2e-4;
    c.warmup_epochs = 5;
    c.lr_steps = {160, 180};
    c.lr_factors = {0.01, 0.0001};
    c.depth = 32;
    c.batching = "stream";  // PAPER.md 3.2: full batches across epoch ends, N * 200 // 128 steps
    c.eval_every = 2;       // PAPER.md 3.4: the official code evaluates every 2 epochs
    return c;
}

// A run of a few minutes on a CPU, for demos: ResNet-8, 3 epochs, short warm-up, one decay.
TrainConfig smoke_preset() {
    TrainConfig c = paper_preset();
    c.epochs = 3;
    c.batch_size = 64;
    c.depth = 8;
    c.warmup_epochs = 1;
    c.lr_steps = {2};
    c.lr_factors = {0.1};
    c.batching = "epochs";
    c.eval_every = 1;
    return c;
}

// shared/data/<name> from $CBNN_DATA_DIR, ../shared/data (run from the repository root's build
// folder's parent) or beside the source tree as seen from the binary (build/../../shared/data).
std::string default_data_dir(const std::string& name) {
    std::vector<std::filesystem::path> roots;
    if (const char* env = std::getenv("CBNN_DATA_DIR")) roots.emplace_back(env);
    roots.emplace_back("../shared/data");
    std::error_code ec;
    const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (!ec) roots.push_back(exe.parent_path() / "../../shared/data");
    for (const auto& root : roots)
        if (std::filesystem::exists(root / name, ec))
            return (root / name).lexically_normal().string();
    return "";
}

}  // namespace

int main(int argc, char** argv) {
    TrainConfig c;
    std::string preset;
    CLI::App app{
        "cbnn-train-cifar: train a CIFAR ResNet with class-balanced softmax / sigmoid / focal loss "
        "(Cui et al., CVPR 2019) on a long-tailed CIFAR-10/100 training set.\n"
        "Writes <out>/config.json, metrics.jsonl, report.html and checkpoint.bin (every "
        "--checkpoint-every epochs); --resume continues from checkpoint.bin exactly as the "
        "uninterrupted run.\n"
        "Presets set a group of values; any flag given explicitly overrides its preset value "
        "(e.g. --preset paper --epochs 10). Without a preset the defaults are the paper's.\n"
        "Exit status: 0 done, 1 bad input or error, 3 training diverged (last good checkpoint "
        "kept)."};
    app.add_option("--preset", preset,
                   "paper: PAPER.md 3.2-3.3 (200 epochs, batch 128, lr 0.1, wd 2e-4, warm-up 5, "
                   "x0.01/x0.0001 at 160/180, depth 32, stream batching, test evaluation every 2 "
                   "epochs and at the end); smoke: a quick CPU demo (3 epochs, batch 64, depth 8, "
                   "warm-up 1, x0.1 at 2, epochs batching, evaluation every epoch; data "
                   "cifar10-mini by default)")
        ->check(CLI::IsMember({"paper", "smoke"}));
    app.add_option(
        "--data", c.data_dir,
        "CIFAR folder: binary files or an image folder train/<class>/, test/<class>/ "
        "(default: shared/data/cifar10-jpg, with --preset smoke shared/data/cifar10-mini, "
        "looked for in $CBNN_DATA_DIR, ../shared/data and beside the source tree)");
    app.add_option("--dataset", c.dataset, "cifar10 or cifar100")
        ->check(CLI::IsMember({"cifar10", "cifar100"}))
        ->capture_default_str();
    cli::add_number(app, "--depth", c.depth,
                    "ResNet depth 6n + 2 from 8 to 1202 (8, 20, 32, 44, 56, 110, ...)")
        ->capture_default_str();
    cli::add_number(app, "--imbalance", c.imbalance,
                    "imbalance factor IF >= 1 of the long-tailed training subset; 1: the training "
                    "set as it is")
        ->capture_default_str();
    app.add_option("--subset-list", c.subset_list,
                   "file listing the training images to use (as shared/data/cifar10-lt), instead "
                   "of --imbalance");
    TrainingFlagHelp help;
    help.lr = "base learning rate at batch 128 (scaled by batch/128)";
    help.weight_decay = "L2 weight decay (not on fc.bias for sigmoid/focal)";
    help.seed = "seed of initialisation, long-tail subset, order, augmentation";
    add_training_flags(app, c, help);
    if (const std::optional<int> status = cli::parse(app, argc, argv)) return *status;

    return run_training_tool(
        "cbnn-train-cifar", c,
        [&] {
            if (!preset.empty()) {
                const TrainConfig p = preset == "paper" ? paper_preset() : smoke_preset();
                const std::map<std::string, std::function<void()>> from_preset = {
                    {"--epochs", [&] { c.epochs = p.epochs; }},
                    {"--batch-size", [&] { c.batch_size = p.batch_size; }},
                    {"--lr", [&] { c.lr = p.lr; }},
                    {"--weight-decay", [&] { c.weight_decay = p.weight_decay; }},
                    {"--warmup-epochs", [&] { c.warmup_epochs = p.warmup_epochs; }},
                    {"--lr-steps", [&] { c.lr_steps = p.lr_steps; }},
                    {"--lr-factors", [&] { c.lr_factors = p.lr_factors; }},
                    {"--depth", [&] { c.depth = p.depth; }},
                    {"--batching", [&] { c.batching = p.batching; }},
                    {"--eval-every", [&] { c.eval_every = p.eval_every; }},
                };
                for (const auto& [flag, apply] : from_preset)
                    if (app.count(flag) == 0) apply();
            }
            const std::string default_data = preset == "smoke" ? "cifar10-mini" : "cifar10-jpg";
            if (c.data_dir.empty()) c.data_dir = default_data_dir(default_data);
            // Recorded absolute like --data, so the run resumes and evaluates from any folder.
            if (!c.subset_list.empty()) c.subset_list = cbnn::recorded_path(c.subset_list);
            CBNN_CHECK(!c.data_dir.empty(), "no --data given and no ", default_data,
                       " found in $CBNN_DATA_DIR, ../shared/data or the source tree's shared/data");
        },
        cbnn::train::train_cifar);
}
