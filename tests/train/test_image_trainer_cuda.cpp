// The ImageNet / iNaturalist trainer on the GPU (lazy loader with pinned staging, ResNet-50 on
// CUDA): one epoch on the tiny written image set gives a finite loss and a complete run folder.
#include <cmath>
#include <filesystem>
#include <sstream>

#include "gtest/gtest.h"
#include "tests/support/gpu.h"
#include "tests/train/tiny_image_set.h"
#include "train/image_trainer.h"

namespace cbnn::train {
namespace {

TEST(ImageTrainerCuda, OneEpochOnTheGpu) {
    CBNN_REQUIRE_GPU();
    const auto set = testing::write_tiny_image_set("image_trainer_cuda", {6, 4, 2});
    ImageTrainConfig c;
    c.data_dir = set.root;
    c.out_dir = testing::scratch_dir("image_trainer_cuda_run");
    c.device = "cuda";
    c.loss = "focal";
    c.beta = 0.9;
    c.gamma = 0.5;
    c.epochs = 1;
    c.batch_size = 4;
    c.lr = 0.4;
    c.warmup_epochs = 0;
    c.lr_steps = {};
    c.lr_factors = {};
    c.image_size = 32;
    c.threads = 2;
    std::ostringstream log;
    const TrainResult r = train_images(c, log);
    ASSERT_FALSE(r.diverged) << r.message;
    ASSERT_EQ(r.epoch_losses.size(), 1u);
    EXPECT_TRUE(std::isfinite(r.epoch_losses[0])) << log.str();
    EXPECT_EQ(r.final_eval.samples, 6);
    for (const char* f : {"config.json", "metrics.jsonl", "report.html", "checkpoint.bin"})
        EXPECT_TRUE(std::filesystem::exists(std::filesystem::path(c.out_dir) / f)) << f;
}

}  // namespace
}  // namespace cbnn::train
