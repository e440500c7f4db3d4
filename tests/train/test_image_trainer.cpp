// The ImageNet / iNaturalist trainer on the CPU, on a tiny image set written by the test
// (3 classes, 40x40 images, ResNet-50 at image size 32, batch 4): two epochs give finite losses
// and a complete run folder; 1 epoch + resume + 1 epoch equals 2 epochs bit for bit; iNaturalist
// JSON reaches the same images; bad configurations are rejected.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "gtest/gtest.h"
#include "models/resnet.h"
#include "tests/support/expect_error.h"
#include "tests/train/run_test_support.h"
#include "tests/train/tiny_image_set.h"
#include "train/image_trainer.h"

namespace cbnn::train {
namespace {

ImageTrainConfig small_config(const testing::TinyImageSet& set, const std::string& out) {
    ImageTrainConfig c;
    c.data_dir = set.root;
    c.out_dir = testing::scratch_dir(out);
    c.loss = "focal";
    c.beta = 0.9;
    c.gamma = 1.0;
    c.epochs = 2;
    c.batch_size = 4;
    c.lr = 0.4;  // 0.00625 at batch 4
    c.warmup_epochs = 1;
    c.lr_steps = {1.5};
    c.lr_factors = {0.1};
    c.image_size = 32;
    c.threads = 2;
    return c;
}

testing::LoadedRun load(const ImageTrainConfig& c) {
    ResNetOptions o;
    o.num_classes = 3;
    Generator gen(99);
    return testing::load_run(std::make_shared<ResNet>(o, gen), run_checkpoint_path(c.out_dir));
}

TEST(ImageTrainer, TwoEpochsOnAnImageFolderAndResumeEqualsTheUninterruptedRun) {
    // Long-tailed on purpose: the class counts feed the class-balanced weights and shot groups.
    const auto set = testing::write_tiny_image_set("image_trainer_set", {6, 4, 2});
    std::ostringstream log;
    const ImageTrainConfig straight = small_config(set, "image_trainer_straight");
    const TrainResult r = train_images(straight, log);
    ASSERT_FALSE(r.diverged) << r.message;
    EXPECT_EQ(r.epochs_done, 2);
    EXPECT_EQ(r.steps_done, 6);  // 12 / 4 per epoch
    ASSERT_EQ(r.epoch_losses.size(), 2u);
    for (double loss : r.epoch_losses) EXPECT_TRUE(std::isfinite(loss)) << log.str();
    EXPECT_EQ(r.train_counts, (std::vector<int64_t>{6, 4, 2}));
    EXPECT_EQ(r.final_eval.samples, 6);
    EXPECT_EQ(r.final_eval.train_counts, (std::vector<int64_t>{6, 4, 2}));
    EXPECT_GE(r.final_test_error, 0.0);
    EXPECT_LE(r.final_test_error, 1.0);
    const std::filesystem::path dir(straight.out_dir);
    for (const char* f : {"config.json", "report.html", "checkpoint.bin"})
        EXPECT_TRUE(std::filesystem::exists(dir / f)) << f;
    EXPECT_EQ(testing::lines_of(dir / "metrics.jsonl"), 2);
    EXPECT_NE(log.str().find("epoch 2/2"), std::string::npos) << log.str();
    EXPECT_NE(log.str().find("training on 12 images of 3 classes"), std::string::npos) << log.str();

    ImageTrainConfig first = small_config(set, "image_trainer_resumed");
    first.epochs = 1;
    first.threads = 0;  // the thread count may change on resume and must not matter
    ASSERT_FALSE(train_images(first, log).diverged);
    ImageTrainConfig second = first;
    second.epochs = 2;
    second.resume = true;
    second.threads = 3;
    const TrainResult resumed = train_images(second, log);
    ASSERT_FALSE(resumed.diverged) << resumed.message;
    EXPECT_EQ(resumed.epochs_done, 2);
    EXPECT_EQ(testing::lines_of(std::filesystem::path(second.out_dir) / "metrics.jsonl"), 2);

    testing::expect_same_run(load(straight), load(second));
    EXPECT_EQ(r.final_test_error, resumed.final_test_error);

    ImageTrainConfig changed = second;
    changed.epochs = 3;
    changed.image_size = 40;
    EXPECT_TRUE(testing::throws_error([&] { train_images(changed, log); }, {"--resume"}));
}

TEST(ImageTrainer, INaturalistJsonNamesTheImages) {
    const auto set = testing::write_tiny_image_set("image_trainer_inat", {3, 2, 1});
    ImageTrainConfig c = small_config(set, "image_trainer_inat_run");
    c.dataset = ImageDataset::inat;
    c.train_json = set.root + "/train2018.json";
    c.val_json = set.root + "/val2018.json";
    c.epochs = 1;
    c.lr_steps = {};
    c.lr_factors = {};
    std::ostringstream log;
    const TrainResult r = train_images(c, log);
    ASSERT_FALSE(r.diverged) << r.message;
    EXPECT_TRUE(std::isfinite(r.epoch_losses.at(0)));
    EXPECT_EQ(r.train_counts, (std::vector<int64_t>{3, 2, 1}));
    EXPECT_EQ(r.final_eval.samples, 6);
    EXPECT_NE(log.str().find("iNaturalist"), std::string::npos) << log.str();
}

TEST(ImageTrainer, PaperPresetAndBadConfigurations) {
    const ImageTrainConfig inat = ImageTrainConfig::paper(ImageDataset::inat);
    EXPECT_EQ(inat.epochs, 90);
    EXPECT_EQ(inat.batch_size, 1024);
    EXPECT_EQ(inat.lr, 0.4);  // x 1024/256 = 1.6 (PAPER.md 3.5)
    EXPECT_EQ(ImageTrainConfig::paper(ImageDataset::imagenet).lr, 0.2);
    EXPECT_EQ(inat.lr_steps, (std::vector<double>{30, 60, 80}));
    EXPECT_EQ(inat.lr_factors, (std::vector<double>{0.1, 0.01, 0.001}));
    EXPECT_EQ(inat.weight_decay, 1e-4);
    EXPECT_TRUE(inat.nesterov);
    EXPECT_TRUE(inat.zero_init_residual);

    ImageTrainConfig c;
    c.data_dir = "x";
    c.out_dir = "y";
    c.depth = 34;
    EXPECT_TRUE(testing::throws_error([&] { c.validate(); }, {"depth 34", "50, 101 or 152"}));
    c.depth = 101;
    c.image_size = 16;
    EXPECT_TRUE(testing::throws_error([&] { c.validate(); }, {"image size 16"}));
    c.image_size = 224;
    c.dataset = ImageDataset::inat;
    EXPECT_TRUE(testing::throws_error([&] { c.validate(); }, {"annotation file"}));
    c.dataset = ImageDataset::imagenet;
    c.lr_factors = {0.1};
    EXPECT_TRUE(testing::throws_error([&] { c.validate(); }, {"lr-steps"}));
    c.lr_factors = {0.1, 0.01, 0.001};
    c.data_dir = testing::scratch_dir("image_trainer_missing") + "/nothing";
    std::ostringstream log;
    EXPECT_TRUE(testing::throws_error([&] { train_images(c, log); }, {"nothing"}));
}

}  // namespace
}  // namespace cbnn::train
