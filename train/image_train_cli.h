#pragma once
// The command line shared by cbnn-train-imagenet and cbnn-train-inat
// (train/train_imagenet_main.cpp, train/train_inat_main.cpp): the dataset flags and presets; the
// training flags, output and exit statuses are those of every training tool (train/train_cli.h).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>

#include "tensor/error.h"
#include "train/cli_parse.h"
#include "train/image_trainer.h"
#include "train/train_cli.h"

namespace cbnn::train {

inline int image_train_main(ImageDataset dataset, int argc, char** argv) {
    const bool inat = dataset == ImageDataset::inat;
    const std::string tool = inat ? "cbnn-train-inat" : "cbnn-train-imagenet";
    const ImageTrainConfig paper = ImageTrainConfig::paper(dataset);
    ImageTrainConfig c = paper;
    std::string preset;
    CLI::App app{
        tool + ": train ResNet-50/101/152 with class-balanced softmax / sigmoid / focal loss " +
        "(Cui et al., CVPR 2019) on " +
        (inat ? std::string("iNaturalist 2017/2018 (annotation JSON + image root)")
              : std::string("an image folder in the ImageNet layout (<data>/train/<class>/*, "
                            "<data>/val/<class>/*)")) +
        ", images decoded lazily by worker threads.\n"
        "Writes <out>/config.json, metrics.jsonl, report.html and checkpoint.bin (every "
        "--checkpoint-every epochs); --resume continues from checkpoint.bin exactly as the "
        "uninterrupted run.\n"
        "Defaults are the paper's protocol (PAPER.md 3.5, the official TPU code): 90 epochs, "
        "batch 1024, Nesterov momentum 0.9, LR = --lr x batch/256 with --lr " +
        std::string(inat ? "0.4 (iNaturalist: 1.6 at batch 1024)"
                         : "0.2 (ImageNet: 0.8 at batch 1024)") +
        ", linear warm-up 5 epochs, x0.1 at epochs 30, 60, 80, weight decay 1e-4 (not on BN "
        "parameters nor the final bias), last BN gamma of each block 0, ResNet-50, 224 px "
        "(evaluation: resize to 256/224 x size, centre crop), mean/std of " +
        (inat ? "iNaturalist (the paper's code)" : "ImageNet") +
        ".\n"
        "--preset paper additionally sets the paper's loss, class-balanced focal with beta "
        "0.999 and gamma 0.5 (the TPU scripts), and any flag given explicitly overrides its "
        "preset value (e.g. --preset paper --epochs 10).\n"
        "Exit status: 0 done, 1 bad input or error, 3 training diverged (last good checkpoint "
        "kept)."};
    app.add_option("--preset", preset,
                   "paper: every value of PAPER.md 3.5 including CB focal loss (beta 0.999, "
                   "gamma 0.5); the other defaults are already the paper's")
        ->check(CLI::IsMember({"paper"}));
    app.add_option("--data", c.data_dir,
                   inat ? "image root: the annotation files' file_name entries are relative to it"
                        : "image folder root holding train/<class>/ and val/<class>/")
        ->required();
    if (inat) {
        app.add_option("--train-json", c.train_json,
                       "training annotation file (default <data>/train2018.json)");
        app.add_option("--val-json", c.val_json,
                       "validation annotation file (default <data>/val2018.json)");
    }
    cli::add_number(app, "--depth", c.depth, "ResNet depth: 50, 101 or 152 (paper: 50)")
        ->capture_default_str();
    cli::add_number(app, "--image-size", c.image_size,
                    "training crop size; evaluation resizes the shorter side to size x 256/224 "
                    "and crops the centre (paper: 224)")
        ->capture_default_str();
    app.add_flag("--zero-init-residual", c.zero_init_residual,
                 "initialise each block's last BN gamma to 0 (paper: on, the default; "
                 "--zero-init-residual=false turns it off)");
    app.add_flag("--skip-bad-images", c.skip_bad_images,
                 "leave out unreadable or missing image files with a warning instead of failing");
    TrainingFlagHelp help;
    help.epochs = "training epochs (paper: 90)";
    help.batch_size = "batch size (paper: 1024)";
    help.lr =
        "base learning rate at batch 256, scaled by batch/256 (paper: 0.2 ImageNet, 0.4 "
        "iNaturalist)";
    help.weight_decay = "L2 weight decay, not on BN parameters nor fc.bias (paper: 1e-4)";
    help.warmup_epochs = "linear warm-up epochs, per step (paper: 5)";
    help.lr_steps = "epochs of the LR decays, comma-separated (paper: 30,60,80)";
    help.lr_factors =
        "LR factors relative to the base LR from each decay on, comma-separated (paper: "
        "0.1,0.01,0.001)";
    help.threads = "image-decoding worker threads (0: none)";
    add_training_flags(app, c, help);
    if (const std::optional<int> status = cli::parse(app, argc, argv)) return *status;

    return run_training_tool(
        tool, c,
        [&] {
            if (preset == "paper") {
                if (app.count("--loss") == 0) c.loss = "focal";
                if (app.count("--beta") == 0) c.beta = 0.999;
                // The preset's gamma is focal's: --preset paper --loss softmax keeps gamma 0.
                if (app.count("--gamma") == 0 && c.loss == "focal") c.gamma = 0.5;
            }
            if (inat) {
                const std::filesystem::path root(c.data_dir);
                if (c.train_json.empty()) c.train_json = (root / "train2018.json").string();
                if (c.val_json.empty()) c.val_json = (root / "val2018.json").string();
            }
        },
        train_images);
}

}  // namespace cbnn::train
