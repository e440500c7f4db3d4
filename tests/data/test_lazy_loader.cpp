// The lazy image loader: batches equal the augmentation applied by hand to the decoded files in
// epoch_permutation order, independent of threads, resumable from state(); bad files are an error
// naming the file, or skipped with skip_bad_images.
#include <algorithm>
#include <filesystem>
#include <vector>

#include "data/lazy_loader.h"
#include "gtest/gtest.h"
#include "tests/support/expect_error.h"
#include "tests/support/tolerance.h"
#include "tests/train/tiny_image_set.h"

namespace cbnn {
namespace {

using testing::host_values;

LazyLoaderOptions options(bool train, int threads, uint64_t seed = 7) {
    LazyLoaderOptions o;
    o.loader.batch_size = 4;
    o.loader.shuffle = train;
    o.loader.train = train;
    o.loader.seed = seed;
    o.loader.num_threads = threads;
    o.augment.size = 32;
    return o;
}

std::vector<Batch> take(LazyImageLoader& loader, int count) {
    std::vector<Batch> out;
    for (int i = 0; i < count; ++i) out.push_back(loader.next());
    return out;
}

void expect_same(const std::vector<Batch>& a, const std::vector<Batch>& b) {
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
        EXPECT_EQ(host_values(a[i].images), host_values(b[i].images)) << "batch " << i;
        EXPECT_EQ(host_values(a[i].labels), host_values(b[i].labels)) << "batch " << i;
    }
}

TEST(LazyLoader, BatchesAreTheAugmentationOfTheFilesInPermutationOrder) {
    const auto set = testing::write_tiny_image_set("lazy_reference");
    const ImageList list = list_image_folder(set.root + "/train");
    ASSERT_EQ(list.size(), 18);
    LazyImageLoader loader(list, options(true, 2));
    EXPECT_EQ(loader.batches_per_epoch(), 5);  // 4 + 4 + 4 + 4 + 2
    loader.set_state({1, 1});                  // epoch 1, second batch: samples 4..7
    const Batch batch = loader.next();
    ASSERT_EQ(batch.images.shape(), (Shape{4, 3, 32, 32}));
    const std::vector<int64_t> perm = epoch_permutation(18, 7, 1);
    const ImageNetAugmentOptions augment = options(true, 0).augment;
    const std::vector<double> got = host_values(batch.images);
    for (int64_t b = 0; b < 4; ++b) {
        const int64_t index = perm[static_cast<size_t>(4 + b)];
        const Image image = decode_image(list.path(index));
        std::vector<float> want(3 * 32 * 32);
        imagenet_augment_train(image.pixels.data(), 3, image.height, image.width, 7,
                               epoch_sample_offset(18, 1, 4 + b), augment, want.data());
        EXPECT_TRUE(std::equal(want.begin(), want.end(), got.begin() + b * 3 * 32 * 32))
            << "sample " << b;
        EXPECT_EQ(batch.labels.data<int64_t>()[b], list.labels[static_cast<size_t>(index)]);
    }

    // Evaluation: files in list order, resize + centre crop, the last batch partial.
    LazyImageLoader eval(list, options(false, 0));
    const std::vector<Batch> all = take(eval, 5);
    ASSERT_EQ(all[4].images.size(0), 2);
    const Image last = decode_image(list.path(17));
    std::vector<float> want(3 * 32 * 32);
    imagenet_augment_eval(last.pixels.data(), 3, last.height, last.width, augment, want.data());
    const std::vector<double> got_last = host_values(all[4].images);
    EXPECT_TRUE(std::equal(want.begin(), want.end(), got_last.begin() + 3 * 32 * 32));
}

TEST(LazyLoader, DeterministicAcrossThreadsAndSeedsMatter) {
    const auto set = testing::write_tiny_image_set("lazy_determinism");
    const ImageList list = list_image_folder(set.root + "/train");
    LazyImageLoader inline_loader(list, options(true, 0)), threaded(list, options(true, 3));
    const std::vector<Batch> a = take(inline_loader, 7), b = take(threaded, 7);  // into epoch 1
    expect_same(a, b);
    LazyImageLoader other_seed(list, options(true, 2, 8));
    EXPECT_NE(host_values(other_seed.next().images), host_values(a[0].images));
}

TEST(LazyLoader, SetStateResumesWhereStateWas) {
    const auto set = testing::write_tiny_image_set("lazy_resume");
    const ImageList list = list_image_folder(set.root + "/train");
    LazyImageLoader first(list, options(true, 2));
    take(first, 6);
    const LoaderState state = first.state();
    EXPECT_EQ(state, (LoaderState{1, 1}));
    const std::vector<Batch> rest = take(first, 5);
    LazyImageLoader resumed(list, options(true, 1));
    resumed.set_state(state);
    expect_same(take(resumed, 5), rest);
}

TEST(LazyLoader, BadFileIsAnErrorNamingItOrSkipped) {
    const auto set = testing::write_tiny_image_set("lazy_bad");
    testing::write_text(set.root + "/train/class1/broken.jpg", "this is not an image");
    const ImageList list = list_image_folder(set.root + "/train");
    ASSERT_EQ(list.size(), 19);

    LazyImageLoader strict(list, options(true, 2));
    EXPECT_TRUE(testing::throws_error([&] { take(strict, strict.batches_per_epoch()); },
                                      {"class1/broken.jpg"}));

    {  // Scoped: its workers prefetch into the next epoch and must stop before files go.
        LazyLoaderOptions skip = options(true, 2);
        skip.skip_bad_images = true;
        LazyImageLoader lenient(list, skip);
        EXPECT_EQ(lenient.size(), 18);
        ASSERT_EQ(lenient.bad_files().size(), 1u);
        EXPECT_NE(lenient.bad_files()[0].find("class1/broken.jpg"), std::string::npos);
        EXPECT_EQ(lenient.list().class_counts(), (std::vector<int64_t>{6, 6, 6}));
        for (const Batch& b : take(lenient, lenient.batches_per_epoch()))
            EXPECT_EQ(b.images.size(1), 3);
    }

    // A file removed after listing is missing when read: an error naming it.
    std::filesystem::remove(set.root + "/train/class1/broken.jpg");
    LazyImageLoader missing(list_image_folder(set.root + "/train"), options(false, 0));
    std::filesystem::remove(set.root + "/train/class2/img4.png");
    EXPECT_TRUE(testing::throws_error([&] { take(missing, missing.batches_per_epoch()); },
                                      {"class2/img4.png"}));
}

}  // namespace
}  // namespace cbnn
