#pragma once
// The command-line pieces the training tools share (cbnn-train-cifar, cbnn-train-imagenet,
// cbnn-train-inat): the flags of the training loop, with the same names and checks in every tool,
// and the run-and-report body with the same exit statuses (0 done, 1 bad input or error,
// 3 diverged). Progress goes to stderr; the seed and configuration at the start and the final
// test error at the end go to stdout. Header-only: CLI11 is linked into the executables, not
// into the library.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>

#include "tensor/error.h"
#include "tensor/file_io.h"
#include "train/cli_parse.h"
#include "train/report.h"
#include "train/train_loop.h"

namespace cbnn::train {

constexpr int kExitDiverged = 3;

// Help texts of the flags whose defaults or meaning differ between the tools.
struct TrainingFlagHelp {
    std::string epochs = "training epochs";
    std::string batch_size = "batch size";
    std::string lr;
    std::string weight_decay;
    std::string warmup_epochs = "linear warm-up epochs (per step)";
    std::string lr_steps = "epochs of the LR decays, comma-separated";
    std::string lr_factors =
        "LR factors relative to the base LR from each decay on, comma-separated";
    std::string seed = "seed of initialisation, order, augmentation";
    std::string threads = "data-loader worker threads (0: none)";
};

// --out, the loss, the schedule, --seed, --device, the every-N settings, --resume, --threads and
// the CUDA kernel choices, bound to the same-named fields of a TrainConfig or ImageTrainConfig;
// numbers are read exactly (train/cli_parse.h), their ranges checked by the config's validate().
template <class Config>
void add_training_flags(CLI::App& app, Config& c, const TrainingFlagHelp& help) {
    app.add_option("--out", c.out_dir, "output folder of the run")->required();
    app.add_option("--loss", c.loss, "softmax, sigmoid or focal")
        ->check(CLI::IsMember({"softmax", "sigmoid", "focal"}))
        ->capture_default_str();
    cli::add_number(app, "--beta", c.beta, "class-balanced beta in [0, 1); 0: no re-weighting")
        ->capture_default_str();
    cli::add_number(app, "--gamma", c.gamma,
                    "focal-loss gamma >= 0 (focal only: softmax and sigmoid take 0)")
        ->capture_default_str();
    cli::add_number(app, "--epochs", c.epochs, help.epochs)->capture_default_str();
    cli::add_number(app, "--batch-size", c.batch_size, help.batch_size)->capture_default_str();
    cli::add_number(app, "--lr", c.lr, help.lr)->capture_default_str();
    cli::add_number(app, "--weight-decay", c.weight_decay, help.weight_decay)
        ->capture_default_str();
    cli::add_number(app, "--warmup-epochs", c.warmup_epochs, help.warmup_epochs)
        ->capture_default_str();
    cli::add_number(app, "--lr-steps", c.lr_steps, help.lr_steps)->capture_default_str();
    cli::add_number(app, "--lr-factors", c.lr_factors, help.lr_factors)->capture_default_str();
    cli::add_number(app, "--seed", c.seed, help.seed)->capture_default_str();
    app.add_option("--device", c.device, "cpu, cuda or cuda:N")->capture_default_str();
    cli::add_number(app, "--eval-every", c.eval_every,
                    "epochs between test evaluations (and at the end)")
        ->capture_default_str();
    cli::add_number(app, "--checkpoint-every", c.checkpoint_every,
                    "epochs between checkpoints (and at the end)")
        ->capture_default_str();
    cli::add_number(app, "--grad-check-every", c.grad_check_every,
                    "steps between gradient-norm divergence checks")
        ->capture_default_str();
    cli::add_number(app, "--progress-every", c.progress_every, "steps between progress lines")
        ->capture_default_str();
    app.add_flag("--resume", c.resume, "continue from <out>/checkpoint.bin");
    cli::add_number(app, "--threads", c.threads, help.threads)->capture_default_str();
    app.add_option("--conv-search", c.conv_search,
                   "CUDA: how cuDNN convolution algorithms are chosen per shape: heuristic (a "
                   "host query, the same on every run) or timed (cuDNN times the candidates "
                   "once, like cudnn.benchmark)")
        ->check(CLI::IsMember({"heuristic", "timed"}))
        ->capture_default_str();
    app.add_option("--conv-algos", c.conv_algos,
                   "CUDA: which cuDNN convolution algorithms may run: deterministic (the same "
                   "bits on every run) or fastest (the search's order alone decides, "
                   "nondeterministic algorithms included)")
        ->check(CLI::IsMember({"deterministic", "fastest"}))
        ->capture_default_str();
    app.add_option("--conv-kernels", c.conv_kernels,
                   "CUDA: convolution kernels: cudnn (cuDNN for every convolution) or cbnn "
                   "(cbnn's implicit-GEMM tensor-core kernels for channels-last bf16/TF32 "
                   "convolutions of 16-64 channels, cuDNN for the rest; not yet measured)")
        ->check(CLI::IsMember({"cudnn", "cbnn"}))
        ->capture_default_str();
    app.add_option("--bn-kernels", c.bn_kernels,
                   "CUDA: batch-norm kernels, cbnn (cbnn's own deterministic kernels) or cudnn")
        ->check(CLI::IsMember({"cbnn", "cudnn"}))
        ->capture_default_str();
    app.add_flag("--cuda-graph", c.cuda_graph,
                 "CUDA: record the training step once as a CUDA graph and replay it (one launch "
                 "per step instead of hundreds; the first steps and partial batches run as usual)");
    app.add_option(
           "--precision", c.precision,
           "arithmetic of training: fp32 (the paper's), tf32 (TF32 tensor cores in "
           "convolutions and matmuls) or bf16 (bf16 activations, FP32 master weights, batch-"
           "norm statistics, head and loss; evaluated in FP32 unless --eval-precision train)")
        ->check(CLI::IsMember({"fp32", "tf32", "bf16"}))
        ->capture_default_str();
    app.add_option("--eval-precision", c.eval_precision,
                   "arithmetic of evaluation: fp32 (f32 NCHW batches whatever --precision and "
                   "--layout; TF32 convolutions with --precision tf32) or train (the training "
                   "step's dtype and layout: faster for bf16 / nhwc runs, logits within bf16 "
                   "rounding)")
        ->check(CLI::IsMember({"fp32", "train"}))
        ->capture_default_str();
    app.add_option("--layout", c.layout,
                   "memory layout of the training step's activations: nchw, or nhwc (channels-"
                   "last: cuDNN's tensor-core convolutions run without transposes; meant for CUDA "
                   "with --precision bf16 or tf32; evaluation runs in NCHW unless --eval-precision "
                   "train)")
        ->check(CLI::IsMember({"nchw", "nhwc"}))
        ->capture_default_str();
    app.add_option("--batching", c.batching,
                   "how batches cut the shuffled training set: epochs (each epoch ceil(N/B) "
                   "batches, the last one partial) or stream (the paper's pipeline: epochs run "
                   "on into each other, every batch full, floor(epochs*N/B) steps in all)")
        ->check(CLI::IsMember({"epochs", "stream"}))
        ->capture_default_str();
}

// Every text setting (paths above all: a folder name may be any bytes) must be UTF-8: a run
// records its settings as JSON (config.json, each checkpoint), which holds UTF-8 only, and would
// otherwise stop at its first write. Names the flag.
inline void check_settings_are_utf8(const nlohmann::json& settings) {
    for (const auto& [field, value] : settings.items()) {
        if (!value.is_string()) continue;
        try {
            (void)value.dump();
        } catch (const nlohmann::json::type_error&) {
            // The flag of the field: --data for data_dir, --out for out_dir, --subset-list for
            // subset_list.
            std::string flag = "--" + field;
            if (field == "data_dir" || field == "out_dir") flag.resize(flag.size() - 4);
            for (char& ch : flag)
                if (ch == '_') ch = '-';
            CBNN_FAIL(flag, " ", quote_for_message(value.get<std::string>()),
                      ": not valid UTF-8 (runs record their settings as JSON); rename it");
        }
    }
}

// Runs `prepare()` (presets, defaults that depend on other flags), validates the config, prints
// the seed and the config, runs `train(config, std::cerr)` and prints the final test error; any
// exception becomes one "<tool>: message" line and exit status 1, a divergence exit status
// kExitDiverged.
template <class Config, class Prepare, class Train>
int run_training_tool(const std::string& tool, Config& c, Prepare prepare, Train train) {
    try {
        prepare();
        c.validate();
        // Recorded absolute, so that cbnn-eval finds the data from any folder (a resume may
        // still name it elsewhere).
        c.data_dir = recorded_path(c.data_dir);
        const nlohmann::json config = c.to_json();
        check_settings_are_utf8(config);
        prepare_run_folder(c.out_dir, c.resume);  // before any data is read
        std::printf("seed %llu\nconfig %s\n", static_cast<unsigned long long>(c.seed),
                    config.dump(2).c_str());
        std::fflush(stdout);
        const TrainResult r = train(c, std::cerr);
        if (r.diverged) {
            std::fprintf(stderr, "%s: training diverged: %s\n", tool.c_str(), r.message.c_str());
            return kExitDiverged;
        }
        char top5[64];
        if (has_top5(r.final_eval.num_classes))
            std::snprintf(top5, sizeof top5, "%.4f", r.final_eval.top5_error);
        else
            std::snprintf(top5, sizeof top5, "%s", kTop5NotApplicable);
        std::printf("final test error %.4f (%.2f%%), top-5 %s, after %lld epochs\n",
                    r.final_test_error, 100.0 * r.final_test_error, top5,
                    static_cast<long long>(r.epochs_done));
    } catch (const std::exception& e) {  // cbnn::Error, and anything else: one line, not an abort
        std::fprintf(stderr, "%s: %s\n", tool.c_str(), e.what());
        return 1;
    }
    return 0;
}

}  // namespace cbnn::train
