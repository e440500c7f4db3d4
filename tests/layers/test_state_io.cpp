// save_state / load_state: bit-exact round trip of a nested model with parameters and f32, f64,
// i64 and u8 buffers; every corruption and mismatch case names the file and the first mismatch;
// atomic writes; unwritable and missing paths.
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "autograd/grad_mode.h"
#include "gtest/gtest.h"
#include "layers/linear.h"
#include "layers/state_io.h"
#include "tests/support/expect_error.h"
#include "tests/support/random.h"

namespace cbnn {
namespace {

namespace fs = std::filesystem;
using testing::throws_error;

void set_values(const Tensor& t, const Tensor& values) {
    NoGradGuard no_grad;
    Tensor(t).copy_(values);
}

// Running statistics of every dtype the format stores, one of them 0-d.
class Stats : public Module {
  public:
    explicit Stats(uint64_t seed) {
        mean_ = register_buffer("mean", testing::random_tensor({4}, -1, 1, seed, DType::f32));
        var_ = register_buffer("var", testing::random_tensor({2, 2}, 0, 1, seed + 1));
        count_ = register_buffer(
            "count", Tensor::from_vector<int64_t>({static_cast<int64_t>(seed) << 40}, {}));
        mask_ = register_buffer("mask", Tensor::from_vector<uint8_t>({1, 0, 255}, {3}));
    }
    std::string type_name() const override { return "Stats"; }
    Tensor mean_, var_, count_, mask_;
};

struct Variant {
    std::string head = "head";
    int64_t classes = 2;
    bool extra = false;  // one more parameter after the others
};

// Own f64 "scale" (and "extra"), block.fc (Linear 4 -> 3), block.stats, <head>.0 (Linear
// 3 -> classes, no bias).
class Model : public Module {
  public:
    explicit Model(uint64_t seed, const Variant& v = {}) {
        Generator gen(seed);
        scale_ = register_parameter("scale", testing::random_tensor({2, 1}, -1, 1, seed));
        fc_ = std::make_shared<Linear>(4, 3, true, gen);
        stats_ = std::make_shared<Stats>(seed);
        block_ = register_module("block", std::make_shared<Holder>(fc_, stats_));
        head_ = register_module(v.head,
                                std::make_shared<Sequential>(std::vector<std::shared_ptr<Layer>>{
                                    std::make_shared<Linear>(3, v.classes, false, gen)}));
        if (v.extra) register_parameter("extra", Tensor::zeros({1}));
        set_values(fc_->bias(), testing::random_tensor({3}, -1, 1, seed + 2));
    }
    std::string type_name() const override { return "Model"; }

    class Holder : public Module {
      public:
        Holder(std::shared_ptr<Linear> fc, std::shared_ptr<Stats> stats) {
            register_module("fc", std::move(fc));
            register_module("stats", std::move(stats));
        }
        std::string type_name() const override { return "Holder"; }
    };

    Tensor scale_;
    std::shared_ptr<Linear> fc_;
    std::shared_ptr<Stats> stats_;
    std::shared_ptr<Holder> block_;
    std::shared_ptr<Sequential> head_;
};

// Every parameter and buffer as raw bytes, for bit-exact comparisons (NaN payloads, -0.0).
std::vector<std::vector<uint8_t>> state_bytes(const Module& m) {
    std::vector<std::vector<uint8_t>> out;
    for (const auto& list : {m.named_parameters(), m.named_buffers()}) {
        for (const auto& [name, t] : list) {
            const Tensor c = t.detach().cpu().contiguous();
            const auto* p = static_cast<const uint8_t*>(c.raw_data());
            out.emplace_back(p, p + c.nbytes());
        }
    }
    return out;
}

std::vector<uint8_t> read_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
}

// Rewrites the trailing checksum, for files that are deliberately malformed inside.
void rechecksum(std::vector<uint8_t>& bytes) {
    const uint64_t h = fnv1a64(bytes.data(), bytes.size() - 8);
    std::memcpy(bytes.data() + bytes.size() - 8, &h, 8);
}

class StateIo : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_ = fs::path(::testing::TempDir()) /
               ("cbnn_state_io_" + std::to_string(::getpid()) + "_" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir_);
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }
    std::string path(const std::string& name) const { return (dir_ / name).string(); }

    // Saves Model(1) and returns the file's path.
    std::string saved_model() {
        const std::string p = path("model.state");
        save_state(Model(1), p);
        return p;
    }

    fs::path dir_;
};

TEST_F(StateIo, RoundTripIsBitExactAndKeepsHandles) {
    Model a(1);
    // Values that a lossy path would change: NaN with a payload, -0.0, a denormal, extremes.
    set_values(a.stats_->var_,
               Tensor::from_vector<double>(
                   {std::numeric_limits<double>::quiet_NaN(), -0.0,
                    std::numeric_limits<double>::denorm_min(), std::numeric_limits<double>::max()},
                   {2, 2}));
    set_values(a.stats_->mean_, Tensor::from_vector<float>({-0.f, 1e-45f, 3.4e38f, 0.1f}, {4}));
    const std::string p = path("model.state");
    save_state(a, p);

    Model b(2);
    ASSERT_NE(state_bytes(a), state_bytes(b));
    const Tensor weight = b.fc_->weight();
    const auto storage = weight.storage();
    load_state(b, p);
    EXPECT_EQ(state_bytes(a), state_bytes(b));
    EXPECT_TRUE(weight.is_same(b.fc_->weight()));
    EXPECT_EQ(weight.storage(), storage);  // copied in place
    EXPECT_TRUE(weight.requires_grad());
    EXPECT_EQ(b.stats_->count_.item<int64_t>(), int64_t{1} << 40);

    // The in-memory form is the file's content, and saving again gives the same bytes.
    EXPECT_EQ(serialize_state(a), read_bytes(p));
    EXPECT_EQ(serialize_state(b), read_bytes(p));
}

TEST_F(StateIo, FileLayoutFollowsTheDocumentedFormat) {
    Generator gen(3);
    Linear fc(3, 2, true, gen);
    const std::vector<uint8_t> bytes = serialize_state(fc);
    // header 20 + weight (4 + 6 + 1 + 1 + 4 + 16 + 8 + 24) + bias (4 + 4 + 1 + 1 + 4 + 8 + 8 + 8)
    // + checksum 8
    ASSERT_EQ(bytes.size(), 20u + 64u + 38u + 8u);
    EXPECT_EQ(std::string(bytes.begin(), bytes.begin() + 8), "CBNNSTAT");
    uint32_t version, name_length, rank;
    uint64_t count, byte_count, checksum;
    int64_t dims[2];
    std::memcpy(&version, &bytes[8], 4);
    std::memcpy(&count, &bytes[12], 8);
    std::memcpy(&name_length, &bytes[20], 4);
    EXPECT_EQ(version, 1u);
    EXPECT_EQ(count, 2u);
    EXPECT_EQ(name_length, 6u);
    EXPECT_EQ(std::string(bytes.begin() + 24, bytes.begin() + 30), "weight");
    EXPECT_EQ(bytes[30], 0);  // parameter
    EXPECT_EQ(bytes[31], 0);  // f32
    std::memcpy(&rank, &bytes[32], 4);
    std::memcpy(dims, &bytes[36], 16);
    std::memcpy(&byte_count, &bytes[52], 8);
    EXPECT_EQ(rank, 2u);
    EXPECT_EQ(dims[0], 2);
    EXPECT_EQ(dims[1], 3);
    EXPECT_EQ(byte_count, 24u);
    EXPECT_EQ(std::memcmp(&bytes[60], fc.weight().raw_data(), 24), 0);
    std::memcpy(&checksum, &bytes[bytes.size() - 8], 8);
    EXPECT_EQ(checksum, fnv1a64(bytes.data(), bytes.size() - 8));
    // FNV-1a 64 reference values: empty input is the offset basis; "a" is 0xaf63dc4c8601ec8c.
    EXPECT_EQ(fnv1a64(nullptr, 0), 0xcbf29ce484222325ULL);
    const uint8_t a = 'a';
    EXPECT_EQ(fnv1a64(&a, 1), 0xaf63dc4c8601ec8cULL);
}

TEST_F(StateIo, FlippedByteIsAChecksumError) {
    const std::string p = saved_model();
    const std::vector<uint8_t> good = read_bytes(p);
    for (size_t at : {good.size() / 2, size_t{100}, good.size() - 9, good.size() - 1}) {
        std::vector<uint8_t> bad = good;
        bad[at] ^= 0x10;
        write_bytes(p, bad);
        Model m(2);
        EXPECT_TRUE(
            throws_error([&] { load_state(m, p); },
                         {"load_state: '" + p + "'", "corrupt or truncated: checksum mismatch"}))
            << "flipped byte " << at;
    }
}

TEST_F(StateIo, TruncatedFilesAreErrors) {
    const std::string p = saved_model();
    const std::vector<uint8_t> good = read_bytes(p);
    Model m(2);
    write_bytes(p, {good.begin(), good.end() - 10});
    EXPECT_TRUE(throws_error([&] { load_state(m, p); }, {p, "checksum mismatch"}));
    write_bytes(p, {good.begin(), good.begin() + 5});
    EXPECT_TRUE(throws_error([&] { load_state(m, p); }, {p, "truncated: 5 bytes"}));
    write_bytes(p, {});
    EXPECT_TRUE(throws_error([&] { load_state(m, p); }, {p, "truncated: 0 bytes"}));
}

TEST_F(StateIo, WrongMagicAndVersionAreErrors) {
    const std::string p = saved_model();
    std::vector<uint8_t> bytes = read_bytes(p);
    Model m(2);
    bytes[0] = 'X';
    write_bytes(p, bytes);
    EXPECT_TRUE(throws_error([&] { load_state(m, p); }, {p, "not a cbnn state file"}));
    bytes[0] = 'C';
    bytes[8] = 2;
    write_bytes(p, bytes);
    EXPECT_TRUE(throws_error([&] { load_state(m, p); }, {p, "format version 2", "version 1"}));
}

TEST_F(StateIo, RenamedParameterNamesTheFirstMismatch) {
    const std::string p = saved_model();
    Variant v;
    v.head = "classifier";
    Model m(2, v);
    EXPECT_TRUE(throws_error([&] { load_state(m, p); },
                             {"load_state: '" + p + "': ", "entry 3",
                              "expected 'classifier.0.weight', file has 'head.0.weight'"}));
}

TEST_F(StateIo, ReshapedParameterNamesItsShapesAndLeavesTheModelUnchanged) {
    const std::string p = saved_model();
    Variant v;
    v.classes = 10;
    Model m(2, v);
    const auto before = state_bytes(m);
    EXPECT_TRUE(
        throws_error([&] { load_state(m, p); },
                     {p, "'head.0.weight': shape [2, 3] in the file, [10, 3] in the model"}));
    EXPECT_EQ(state_bytes(m), before);  // entries before the mismatch were not copied either
}

TEST_F(StateIo, MissingAndExtraEntriesAreErrors) {
    const std::string p = saved_model();
    Variant v;
    v.extra = true;  // a parameter the file lacks; own entries come before the children's
    Model m(2, v);
    EXPECT_TRUE(throws_error([&] { load_state(m, p); },
                             {"entry 1: expected 'extra', file has 'block.fc.weight'"}));

    Generator gen(4);
    Linear with_bias(3, 2, true, gen), without_bias(3, 2, false, gen);
    const std::string q = path("linear.state");
    save_state(with_bias, q);
    EXPECT_TRUE(throws_error([&] { load_state(without_bias, q); },
                             {"entry 1: the file has 'bias', the model has no more entries",
                              "the file has 2 entries, the model 1"}));
    save_state(without_bias, q);
    EXPECT_TRUE(throws_error([&] { load_state(with_bias, q); },
                             {"entry 1: expected 'bias', the file has no more entries"}));
}

// A parameter in one model, a buffer of the same name in the other.
class KindSwap : public Module {
  public:
    explicit KindSwap(bool as_buffer) {
        if (as_buffer) {
            register_buffer("w", Tensor::zeros({2}));
        } else {
            register_parameter("w", Tensor::zeros({2}));
        }
    }
    std::string type_name() const override { return "KindSwap"; }
};

TEST_F(StateIo, KindAndDtypeMismatchesAreErrors) {
    const std::string p = path("kind.state");
    save_state(KindSwap(false), p);
    KindSwap buffer_model(true);
    EXPECT_TRUE(throws_error([&] { load_state(buffer_model, p); },
                             {"'w': a parameter in the file, a buffer in the model"}));

    Generator gen(5);
    save_state(Linear(3, 2, true, gen, DType::f64), p);
    Linear f32_model(3, 2, true, gen);
    EXPECT_TRUE(throws_error([&] { load_state(f32_model, p); },
                             {"'weight': dtype f64 in the file, f32 in the model"}));
}

TEST_F(StateIo, MalformedEntriesWithAValidChecksumAreErrors) {
    Generator gen(6);
    Linear fc(3, 2, true, gen);
    const std::vector<uint8_t> good = serialize_state(fc);

    std::vector<uint8_t> bad = good;
    const uint64_t wrong_count = 25;  // the weight's byte_count field (see the layout test)
    std::memcpy(&bad[52], &wrong_count, 8);
    rechecksum(bad);
    EXPECT_TRUE(
        throws_error([&] { deserialize_state(fc, bad, "x.state"); },
                     {"load_state: 'x.state': ", "malformed", "'weight'", "25 data bytes"}));

    bad = good;
    const uint64_t three = 3;  // one entry more than there is
    std::memcpy(&bad[12], &three, 8);
    rechecksum(bad);
    EXPECT_TRUE(throws_error([&] { deserialize_state(fc, bad); },
                             {"malformed", "entry 2 name length", "runs past the end"}));

    bad = good;
    bad.insert(bad.end() - 8, {1, 2, 3});
    rechecksum(bad);
    EXPECT_TRUE(throws_error([&] { deserialize_state(fc, bad); },
                             {"malformed: 3 bytes after the last of 2 entries"}));

    bad = good;
    bad[31] = 9;  // dtype code
    rechecksum(bad);
    EXPECT_TRUE(throws_error([&] { deserialize_state(fc, bad); }, {"'weight' has dtype code 9"}));
}

TEST_F(StateIo, AtomicWriteLeavesNoTemporaryAndReplacesTheOldFile) {
    const std::string p = path("model.state");
    write_bytes(p + ".tmp", {1, 2, 3});  // left over from an earlier crash
    write_bytes(p, {4, 5, 6});
    save_state(Model(1), p);
    EXPECT_FALSE(fs::exists(p + ".tmp"));
    EXPECT_EQ(read_bytes(p), serialize_state(Model(1)));
    size_t files = 0;
    for (const auto& entry : fs::directory_iterator(dir_)) files += entry.is_regular_file();
    EXPECT_EQ(files, 1u);
}

TEST_F(StateIo, UnwritableAndMissingPathsAreErrors) {
    const std::string p = path("no_such_dir/model.state");
    EXPECT_TRUE(throws_error([&] { save_state(Model(1), p); },
                             {"save_state: cannot create '" + p + ".tmp'"}));
    EXPECT_FALSE(fs::exists(p));
    Model m(2);
    EXPECT_TRUE(throws_error([&] { load_state(m, p); }, {"load_state: cannot open '" + p + "'"}));
    EXPECT_TRUE(throws_error([&] { load_state(m, dir_.string()); }, {"is a directory"}));
    // Renaming over a directory fails after the temporary was written: it is removed again.
    const std::string d = path("a_directory");
    fs::create_directories(fs::path(d) / "child");
    EXPECT_TRUE(throws_error([&] { save_state(Model(1), d); }, {"cannot rename", d}));
    EXPECT_FALSE(fs::exists(d + ".tmp"));
}

}  // namespace
}  // namespace cbnn
