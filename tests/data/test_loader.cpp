// The batch loader: per-epoch permutations, batching and drop_last, determinism and independence
// from the worker/prefetch counts, resuming from a saved state, the transform path, errors.
#include <algorithm>
#include <cstdint>
#include <numeric>
#include <vector>

#include "data/loader.h"
#include "gtest/gtest.h"
#include "tests/support/expect_error.h"

namespace cbnn {
namespace {

using testing::throws_error;

// N CIFAR-shaped images whose first two bytes encode the index (i % 256, i / 256) and whose other
// pixels are pseudo-random; labels i % classes.
Dataset synthetic(int64_t n, int64_t classes = 10) {
    Dataset d;
    for (int64_t c = 0; c < classes; ++c) d.class_names.push_back("class" + std::to_string(c));
    d.channels = 3;
    d.height = d.width = 32;
    d.images.resize(static_cast<size_t>(n * kCifarImageBytes));
    for (int64_t i = 0; i < n; ++i) {
        uint8_t* img = d.images.data() + i * kCifarImageBytes;
        for (int64_t p = 0; p < kCifarImageBytes; ++p)
            img[p] = static_cast<uint8_t>(
                philox_at(1234, static_cast<uint64_t>(i * kCifarImageBytes + p)).x[0]);
        img[0] = static_cast<uint8_t>(i % 256);
        img[1] = static_cast<uint8_t>(i / 256);
        d.labels.push_back(i % classes);
    }
    return d;
}

// The dataset index of each sample of an eval-mode (identity crop, paper scaling) batch.
std::vector<int64_t> decode_indices(const Batch& b) {
    const std::vector<float> v = b.images.to_vector<float>();
    std::vector<int64_t> out;
    for (int64_t s = 0; s < b.images.size(0); ++s) {
        const float* img = v.data() + s * kCifarImageBytes;
        const auto byte = [](float f) { return static_cast<int64_t>((f + 1.0f) * 128.0f); };
        out.push_back(byte(img[0]) + 256 * byte(img[1]));
    }
    return out;
}

LoaderOptions eval_options(int64_t batch) {
    LoaderOptions o;
    o.batch_size = batch;
    o.train = false;
    o.seed = 21;
    return o;
}

bool same_batch(const Batch& a, const Batch& b) {
    return a.images.shape() == b.images.shape() &&
           a.images.to_vector<float>() == b.images.to_vector<float>() &&
           a.labels.to_vector<int64_t>() == b.labels.to_vector<int64_t>();
}

TEST(Loader, EpochPermutationIsSeededAndCoversEveryIndex) {
    const std::vector<int64_t> e0 = epoch_permutation(1000, 5, 0);
    const std::vector<int64_t> e1 = epoch_permutation(1000, 5, 1);
    EXPECT_EQ(e0, epoch_permutation(1000, 5, 0));
    EXPECT_NE(e0, e1);
    EXPECT_NE(e0, epoch_permutation(1000, 6, 0));
    std::vector<int64_t> s0 = e0, s1 = e1, iota(1000);
    std::iota(iota.begin(), iota.end(), int64_t{0});
    std::sort(s0.begin(), s0.end());
    std::sort(s1.begin(), s1.end());
    EXPECT_EQ(s0, iota);
    EXPECT_EQ(s1, iota);
}

TEST(Loader, EachEpochVisitsEveryImageOnceWithItsLabel) {
    const Dataset d = synthetic(300);
    Loader loader(d, eval_options(64));
    ASSERT_EQ(loader.batches_per_epoch(), 5);
    std::vector<int64_t> previous;
    for (int64_t epoch = 0; epoch < 2; ++epoch) {
        EXPECT_EQ(loader.epoch(), epoch);
        std::vector<int64_t> order;
        for (int64_t k = 0; k < loader.batches_per_epoch(); ++k) {
            const Batch b = loader.next();
            const std::vector<int64_t> idx = decode_indices(b);
            const std::vector<int64_t> labels = b.labels.to_vector<int64_t>();
            for (size_t s = 0; s < idx.size(); ++s) ASSERT_EQ(labels[s], idx[s] % 10);
            order.insert(order.end(), idx.begin(), idx.end());
        }
        EXPECT_EQ(order, epoch_permutation(300, 21, epoch));
        EXPECT_NE(order, previous);
        previous = order;
    }
}

TEST(Loader, PartialLastBatchAndDropLast) {
    const Dataset d = synthetic(10);
    LoaderOptions o = eval_options(4);
    o.shuffle = false;
    Loader keep(d, o);
    ASSERT_EQ(keep.batches_per_epoch(), 3);
    EXPECT_EQ(keep.next().images.size(0), 4);
    EXPECT_EQ(keep.next().images.size(0), 4);
    const Batch last = keep.next();
    EXPECT_EQ(last.images.shape(), Shape({2, 3, 32, 32}));
    EXPECT_EQ(decode_indices(last), (std::vector<int64_t>{8, 9}));
    EXPECT_EQ(keep.state(), (LoaderState{1, 0}));

    o.drop_last = true;
    Loader drop(d, o);
    ASSERT_EQ(drop.batches_per_epoch(), 2);
    drop.next();
    EXPECT_EQ(decode_indices(drop.next()), (std::vector<int64_t>{4, 5, 6, 7}));
    EXPECT_EQ(drop.epoch(), 1);
    EXPECT_EQ(decode_indices(drop.next()), (std::vector<int64_t>{0, 1, 2, 3}));
}

TEST(Loader, BatchEqualsAugmentationOfThePermutation) {
    // The contract the GPU loader reproduces: batch k of epoch e = cifar_augment(permutation(e)
    // [k B, ...), offset e N + k B).
    const Dataset d = synthetic(50);
    LoaderOptions o;
    o.batch_size = 16;
    o.seed = 77;
    Loader loader(d, o);
    loader.set_state({2, 1});
    const Batch b = loader.next();
    const std::vector<int64_t> perm = epoch_permutation(50, 77, 2);
    std::vector<float> expected(16 * kCifarImageBytes);
    cpu::cifar_augment(d.images.data(), perm.data() + 16, 16, 77, epoch_sample_offset(50, 2, 16),
                       true, CifarScaling::paper(), expected.data());
    EXPECT_EQ(b.images.to_vector<float>(), expected);
}

TEST(Loader, OutputIndependentOfThreadsAndPrefetch) {
    const Dataset d = synthetic(200);
    std::vector<Batch> reference;
    {
        LoaderOptions o;
        o.batch_size = 32;
        o.seed = 3;
        o.num_threads = 0;
        Loader loader(d, o);
        for (int k = 0; k < 3 * loader.batches_per_epoch(); ++k) reference.push_back(loader.next());
    }
    for (const auto& [threads, prefetch] : {std::pair{1, 1}, {2, 3}, {4, 8}}) {
        LoaderOptions o;
        o.batch_size = 32;
        o.seed = 3;
        o.num_threads = threads;
        o.prefetch = prefetch;
        Loader loader(d, o);
        for (size_t k = 0; k < reference.size(); ++k) {
            ASSERT_TRUE(same_batch(loader.next(), reference[k]))
                << threads << " threads, prefetch " << prefetch << ", batch " << k;
        }
    }
}

TEST(Loader, SameSeedSameBatchesAndResume) {
    const Dataset d = synthetic(100);
    LoaderOptions o;
    o.batch_size = 24;
    o.seed = 9;
    Loader a(d, o), b(d, o);
    for (int k = 0; k < 7; ++k) ASSERT_TRUE(same_batch(a.next(), b.next())) << k;
    const LoaderState saved = a.state();
    EXPECT_EQ(saved, (LoaderState{1, 2}));
    std::vector<Batch> continued;
    for (int k = 0; k < 5; ++k) continued.push_back(a.next());

    Loader resumed(d, o);
    resumed.next();  // prefetching is under way when the state is restored
    resumed.set_state(saved);
    for (int k = 0; k < 5; ++k) ASSERT_TRUE(same_batch(resumed.next(), continued[k])) << k;

    o.seed = 10;
    Loader other(d, o);
    Loader first(d, LoaderOptions{.batch_size = 24, .seed = 9});
    EXPECT_FALSE(same_batch(other.next(), first.next()));
}

// Stream batching (data/batch_plan.h): the batches run through the epochs' permutations one
// after another, every one full; a batch across an epoch end takes the last samples of one
// permutation and the first of the next.
TEST(Loader, StreamBatchesRunThroughTheEpochsPermutations) {
    const Dataset d = synthetic(10);
    LoaderOptions o = eval_options(4);
    o.batching = Batching::stream;
    Loader loader(d, o);
    std::vector<int64_t> stream;
    for (int64_t e = 0; e < 3; ++e) {
        const std::vector<int64_t> p = epoch_permutation(10, 21, e);
        stream.insert(stream.end(), p.begin(), p.end());
    }
    for (int64_t g = 0; g < 7; ++g) {  // 28 of the 30 positions
        EXPECT_EQ(loader.state(), loader.plan().state_of(g));
        const Batch b = loader.next();
        ASSERT_EQ(b.images.size(0), 4);
        const std::vector<int64_t> expected(stream.begin() + 4 * g, stream.begin() + 4 * g + 4);
        EXPECT_EQ(decode_indices(b), expected) << "batch " << g;
        for (size_t s = 0; s < 4; ++s)
            EXPECT_EQ(b.labels.to_vector<int64_t>()[s], expected[s] % 10);
    }
    // Next: batch 7 = [28, 32), the first batch of epoch 3 (its last sample, 31, is epoch 3's).
    EXPECT_EQ(loader.state(), (LoaderState{3, 0}));
    EXPECT_TRUE(throws_error([&] { loader.batches_per_epoch(); }, {"stream batching"}));
}

// Each sample of a stream batch is augmented with its stream position as counter, exactly as
// the same sample in a batch of one (epochs batching at batch 1 visits every position alone).
TEST(Loader, StreamBatchesAugmentEachSampleAtItsStreamPosition) {
    const Dataset d = synthetic(12);
    LoaderOptions o;
    o.batch_size = 5;
    o.seed = 8;
    o.batching = Batching::stream;
    Loader stream(d, o);
    o.batch_size = 1;
    o.batching = Batching::epochs;
    Loader single(d, o);
    for (int64_t g = 0; g < 6; ++g) {  // batch 2 = [10, 15) crosses into epoch 1
        const std::vector<float> got = stream.next().images.to_vector<float>();
        for (int64_t s = 0; s < 5; ++s) {
            const std::vector<float> one = single.next().images.to_vector<float>();
            EXPECT_TRUE(std::equal(one.begin(), one.end(), got.begin() + s * kCifarImageBytes))
                << "batch " << g << ", sample " << s;
        }
    }
}

TEST(Loader, StreamBatchingIndependentOfThreadsAndResumes) {
    const Dataset d = synthetic(70);
    LoaderOptions o;
    o.batch_size = 16;
    o.seed = 5;
    o.batching = Batching::stream;
    o.num_threads = 0;
    std::vector<Batch> reference;
    Loader plain(d, o);
    for (int k = 0; k < 12; ++k) reference.push_back(plain.next());
    o.num_threads = 3;
    o.prefetch = 5;
    Loader threaded(d, o);
    for (int k = 0; k < 12; ++k) ASSERT_TRUE(same_batch(threaded.next(), reference[k])) << k;

    Loader resumed(d, o);
    resumed.next();  // prefetching is under way when the state is restored
    resumed.set_state(plain.plan().state_of(7));  // batch 7 = [112, 128): epoch 1's end
    for (int k = 7; k < 12; ++k) ASSERT_TRUE(same_batch(resumed.next(), reference[k])) << k;
}

TEST(Loader, TransformPathForOtherImageSizes) {
    Dataset d;
    d.class_names = {"a", "b"};
    d.channels = 3;
    d.height = 20;
    d.width = 30;
    for (int64_t i = 0; i < 5; ++i) {
        for (int64_t p = 0; p < 3 * 20 * 30; ++p)
            d.images.push_back(static_cast<uint8_t>(i * 40 + p % 7));
        d.labels.push_back(i % 2);
    }
    ImageNetAugmentOptions aug;
    aug.size = 8;
    LoaderOptions o;
    o.batch_size = 5;
    o.shuffle = false;
    o.seed = 4;
    o.transform = SampleTransform{{3, 8, 8},
                                  [aug](const uint8_t* img, uint64_t seed, uint64_t n, float* out) {
                                      imagenet_augment_train(img, 3, 20, 30, seed, n, aug, out);
                                  }};
    Loader loader(d, o);
    loader.next();
    const Batch b = loader.next();  // epoch 1: counters 5..9
    ASSERT_EQ(b.images.shape(), Shape({5, 3, 8, 8}));
    const std::vector<float> got = b.images.to_vector<float>();
    std::vector<float> expected(3 * 8 * 8);
    for (int64_t i = 0; i < 5; ++i) {
        imagenet_augment_train(d.image(i), 3, 20, 30, 4, 5 + static_cast<uint64_t>(i), aug,
                               expected.data());
        EXPECT_TRUE(std::equal(expected.begin(), expected.end(), got.begin() + i * 192)) << i;
    }
}

TEST(Loader, Errors) {
    const Dataset d = synthetic(8);
    LoaderOptions o = eval_options(0);
    EXPECT_TRUE(throws_error([&] { Loader(d, o); }, {"batch_size >= 1", "0"}));
    EXPECT_TRUE(throws_error([&] { Loader(Dataset{}, eval_options(4)); }, {"empty"}));
    Dataset bad = d;
    bad.labels[5] = 10;
    EXPECT_TRUE(
        throws_error([&] { Loader(bad, eval_options(4)); }, {"label 10", "image 5", "[0, 10)"}));
    bad = d;
    bad.images.pop_back();
    EXPECT_TRUE(throws_error([&] { Loader(bad, eval_options(4)); }, {"image bytes"}));
    bad = d;
    bad.height = 16;
    bad.images.resize(8 * 3 * 16 * 32);
    EXPECT_TRUE(throws_error([&] { Loader(bad, eval_options(4)); }, {"3x16x32", "transform"}));
    o = eval_options(16);
    o.drop_last = true;
    EXPECT_TRUE(throws_error([&] { Loader(d, o); }, {"drop_last", "16"}));
    Loader ok(d, eval_options(4));
    EXPECT_TRUE(throws_error([&] { ok.set_state({0, 2}); }, {"batch 2"}));
    EXPECT_TRUE(throws_error([&] { ok.set_state({-1, 0}); }, {"epoch -1"}));
}

}  // namespace
}  // namespace cbnn
