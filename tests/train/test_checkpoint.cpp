// Checkpoints: bit-exact round trip of model, buffers, momentum and meta; corrupt, truncated and
// mismatching files are rejected with the file named and nothing changed.
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "autograd/functions.h"
#include "gtest/gtest.h"
#include "models/resnet_cifar.h"
#include "tensor/rng.h"
#include "tests/support/expect_error.h"
#include "tests/support/scratch.h"
#include "train/checkpoint.h"

namespace cbnn::train {
namespace {

using testing::throws_error;

std::string temp(const std::string& name) { return testing::scratch_path("checkpoint", name); }

ResNetCifar make_model(uint64_t seed, int64_t classes = 10) {
    ResNetCifarOptions o;
    o.depth = 8;
    o.num_classes = classes;
    Generator gen(seed);
    return ResNetCifar(o, gen);
}

// One SGD step so that the weights, BN running statistics and momentum are all non-trivial.
void train_one_step(ResNetCifar& model, Sgd& sgd) {
    Generator gen(7);
    const Tensor x = randn({4, 3, 32, 32}, gen);
    model.train();
    sgd.zero_grad();
    const Tensor logits = model.forward(x);
    sum(logits * logits).backward();
    sgd.step(0.01);
}

std::vector<uint8_t> bytes_of(const Tensor& t) {
    const Tensor h = t.detach().cpu().contiguous();
    const auto* p = static_cast<const uint8_t*>(h.raw_data());
    return {p, p + h.nbytes()};
}

void expect_same(const NamedTensors& a, const NamedTensors& b) {
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
        EXPECT_EQ(a[i].first, b[i].first);
        EXPECT_EQ(bytes_of(a[i].second), bytes_of(b[i].second)) << a[i].first;
    }
}

SgdOptions options() {
    SgdOptions o;
    o.momentum = 0.9;
    o.weight_decay = 2e-4;
    return o;
}

TEST(Checkpoint, RoundTripIsBitExact) {
    ResNetCifar model = make_model(1);
    Sgd sgd(model.named_parameters(), options());
    train_one_step(model, sgd);
    const nlohmann::json meta = {{"epoch", 3}, {"step", 42}, {"seed", 5}};
    const std::string path = temp("round_trip.bin");
    save_checkpoint(path, model, sgd, meta);
    EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));

    ResNetCifar other = make_model(2);
    Sgd other_sgd(other.named_parameters(), options());
    const nlohmann::json loaded = load_checkpoint(path, other, other_sgd);
    EXPECT_EQ(loaded, meta);
    expect_same(model.named_parameters(), other.named_parameters());
    expect_same(model.named_buffers(), other.named_buffers());
    expect_same(sgd.state(), other_sgd.state());

    // The next step from the loaded state equals the next step from the original.
    train_one_step(model, sgd);
    train_one_step(other, other_sgd);
    expect_same(model.named_parameters(), other.named_parameters());
}

// A snapshot is the state at the moment it was taken: training on afterwards (weights, BN
// statistics and momentum all change in place) does not reach it, and its bytes are those a
// direct save at that moment writes.
TEST(Checkpoint, SnapshotKeepsTheStateOfItsMomentAndSerializesAsADirectSave) {
    ResNetCifar model = make_model(1);
    Sgd sgd(model.named_parameters(), options());
    train_one_step(model, sgd);
    const nlohmann::json meta = {{"epoch", 1}};
    const std::vector<uint8_t> direct = serialize_checkpoint(model, sgd, meta);
    const CheckpointSnapshot snapshot = snapshot_checkpoint(model, sgd, meta);
    train_one_step(model, sgd);
    const std::vector<uint8_t> later = serialize_checkpoint(model, sgd, meta);
    ASSERT_NE(later, direct);  // the step changed the state, so the test can see a shared copy
    EXPECT_EQ(serialize_checkpoint(snapshot), direct);
    for (const auto& item : snapshot.model.items) EXPECT_TRUE(item.host.device().is_cpu());
    for (const auto& [name, t] : snapshot.optimizer) EXPECT_TRUE(t.device().is_cpu()) << name;

    const std::string path = temp("snapshot.bin");
    save_checkpoint(path, snapshot);
    ResNetCifar other = make_model(2);
    Sgd other_sgd(other.named_parameters(), options());
    EXPECT_EQ(load_checkpoint(path, other, other_sgd), meta);
    EXPECT_EQ(serialize_checkpoint(other, other_sgd, meta), direct);
}

TEST(Checkpoint, CorruptTruncatedAndForeignFilesAreRejected) {
    ResNetCifar model = make_model(1);
    Sgd sgd(model.named_parameters(), options());
    const std::string path = temp("good.bin");
    save_checkpoint(path, model, sgd, {{"epoch", 1}});
    std::ifstream in(path, std::ios::binary);
    const std::vector<char> good{std::istreambuf_iterator<char>(in),
                                 std::istreambuf_iterator<char>()};

    auto write = [](const std::string& p, const std::vector<char>& b) {
        std::ofstream(p, std::ios::binary).write(b.data(), static_cast<std::streamsize>(b.size()));
    };
    ResNetCifar target = make_model(3);
    Sgd target_sgd(target.named_parameters(), options());
    const std::vector<uint8_t> before = bytes_of(target.named_parameters()[0].second);

    std::vector<char> flipped = good;
    flipped[flipped.size() / 2] ^= 0x10;
    const std::string corrupt = temp("corrupt.bin");
    write(corrupt, flipped);
    EXPECT_TRUE(throws_error([&] { load_checkpoint(corrupt, target, target_sgd); },
                             {corrupt, "checksum mismatch"}));

    const std::string truncated = temp("truncated.bin");
    write(truncated, std::vector<char>(good.begin(), good.begin() + good.size() / 3));
    EXPECT_TRUE(throws_error([&] { load_checkpoint(truncated, target, target_sgd); },
                             {truncated, "corrupt or truncated"}));
    write(truncated, std::vector<char>(good.begin(), good.begin() + 10));
    EXPECT_TRUE(throws_error([&] { load_checkpoint(truncated, target, target_sgd); },
                             {truncated, "truncated"}));

    const std::string foreign = temp("foreign.bin");
    write(foreign, {'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd', '!'});
    EXPECT_TRUE(throws_error([&] { load_checkpoint(foreign, target, target_sgd); },
                             {foreign, "not a cbnn checkpoint"}));
    EXPECT_TRUE(throws_error([&] { load_checkpoint(temp("missing.bin"), target, target_sgd); },
                             {"missing.bin", "cannot open"}));
    EXPECT_EQ(bytes_of(target.named_parameters()[0].second), before);
}

TEST(Checkpoint, MismatchingModelIsRejectedAndLeftUnchanged) {
    ResNetCifar model = make_model(1, 10);
    Sgd sgd(model.named_parameters(), options());
    const std::string path = temp("ten_classes.bin");
    save_checkpoint(path, model, sgd, {{"epoch", 1}});

    ResNetCifar wide = make_model(4, 100);
    Sgd wide_sgd(wide.named_parameters(), options());
    const std::vector<uint8_t> before = bytes_of(wide.named_parameters()[0].second);
    EXPECT_TRUE(throws_error([&] { load_checkpoint(path, wide, wide_sgd); },
                             {path, "fc.weight", "[10, 64]", "[100, 64]"}));
    EXPECT_EQ(bytes_of(wide.named_parameters()[0].second), before);

    ResNetCifarOptions deeper;
    deeper.depth = 14;
    Generator gen(5);
    ResNetCifar deep(deeper, gen);
    Sgd deep_sgd(deep.named_parameters(), options());
    EXPECT_TRUE(throws_error([&] { load_checkpoint(path, deep, deep_sgd); }, {path}));
}

}  // namespace
}  // namespace cbnn::train
