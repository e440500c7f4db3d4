// Seeded random-mutation fuzzing of every parser that reads user files: CIFAR records, .npy,
// iNat JSON, JPEG and PNG. Each valid input is mutated (bytes flipped or overwritten, truncated,
// spliced, bytes inserted) a few thousand times; every result must be success or a clean
// cbnn::Error, never another exception or a crash. scripts/sanitize.sh runs this under ASan and
// UBSan, which turns silent memory errors into failures too.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <random>

#include "data/cifar.h"
#include "data/image_folder.h"
#include "data/inat.h"
#include "gtest/gtest.h"
#include "tensor/npy.h"
#include "tests/data/data_test_support.h"
#include "tests/support/expect_error.h"

namespace cbnn {
namespace {

using Bytes = std::vector<uint8_t>;

// One to four random edits of `in`.
Bytes mutate(const Bytes& in, std::mt19937_64& rng) {
    Bytes b = in;
    auto pick = [&](size_t n) { return n == 0 ? size_t{0} : static_cast<size_t>(rng() % n); };
    const char structural[] = "{}[]\":,-0123456789.eE \\";
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
        switch (rng() % 6) {
            case 0:  // flip one bit
                if (!b.empty()) b[pick(b.size())] ^= static_cast<uint8_t>(1u << (rng() % 8));
                break;
            case 1:  // overwrite a few bytes with random or "interesting" values
                for (int k = 0, n = 1 + static_cast<int>(rng() % 4); k < n && !b.empty(); ++k) {
                    static const uint8_t interesting[] = {0x00, 0xff, 0x7f, 0x80, 0x01, 0xfe};
                    b[pick(b.size())] =
                        rng() % 2 ? static_cast<uint8_t>(rng()) : interesting[rng() % 6];
                }
                break;
            case 2:  // truncate
                b.resize(pick(b.size() + 1));
                break;
            case 3: {  // splice: copy a chunk of the original over another place
                if (in.empty() || b.empty()) break;
                const size_t from = pick(in.size()), to = pick(b.size());
                const size_t len = std::min({pick(64) + 1, in.size() - from, b.size() - to});
                std::copy(in.begin() + from, in.begin() + from + len, b.begin() + to);
                break;
            }
            case 4: {  // insert random bytes
                const size_t at = pick(b.size() + 1);
                Bytes extra(1 + pick(16));
                for (uint8_t& x : extra) x = static_cast<uint8_t>(rng());
                b.insert(b.begin() + at, extra.begin(), extra.end());
                break;
            }
            case 5:  // a structural character (reaches deeper into text formats)
                if (!b.empty()) b[pick(b.size())] = structural[rng() % (sizeof structural - 1)];
                break;
        }
    }
    return b;
}

struct Outcome {
    int ok = 0, errors = 0;
};

// $CBNN_FUZZ_SCALE multiplies the iteration counts, for longer runs by hand (default 1).
int scale() {
    const char* env = std::getenv("CBNN_FUZZ_SCALE");
    return env != nullptr && std::atoi(env) > 0 ? std::atoi(env) : 1;
}

// Runs `parse` on `iterations` mutations of each seed input; other exceptions fail the test.
Outcome fuzz(const std::vector<Bytes>& seeds, int iterations, uint64_t seed,
             const std::function<void(const Bytes&)>& parse) {
    std::mt19937_64 rng(seed);
    iterations *= scale();
    Outcome out;
    for (int i = 0; i < iterations; ++i) {
        const Bytes input = mutate(seeds[static_cast<size_t>(i) % seeds.size()], rng);
        try {
            parse(input);
            ++out.ok;
        } catch (const Error&) {
            ++out.errors;
        } catch (const std::exception& e) {
            ADD_FAILURE() << "iteration " << i << " threw a non-cbnn exception: " << e.what();
            return out;
        }
    }
    return out;
}

TEST(Fuzz, CifarRecords) {
    Bytes c10, c100;
    for (int r = 0; r < 3; ++r) {
        c10.push_back(static_cast<uint8_t>(r * 3));
        c100.push_back(static_cast<uint8_t>(r * 5));
        c100.push_back(static_cast<uint8_t>(r * 30));
        for (int k = 0; k < kCifarImageBytes; ++k) {
            c10.push_back(static_cast<uint8_t>(k));
            c100.push_back(static_cast<uint8_t>(k * 7));
        }
    }
    for (int label_bytes : {1, 2}) {
        const Outcome o =
            fuzz({label_bytes == 1 ? c10 : c100}, 3000, 11 + label_bytes, [&](const Bytes& b) {
                const Dataset d = parse_cifar_records(b.data(), b.size(), label_bytes, "fuzz.bin");
                if (d.size() > 0)
                    EXPECT_EQ(d.images.size(), static_cast<size_t>(d.size() * kCifarImageBytes));
            });
        EXPECT_GT(o.ok, 0);
        EXPECT_GT(o.errors, 0);
    }
}

TEST(Fuzz, Npy) {
    const std::string dir = cbnn::testing::scratch_dir("fuzz_npy");
    std::vector<Bytes> seeds;
    const std::vector<Tensor> tensors = {
        Tensor::from_vector<float>({1.5f, -2.f, 3.f, 4.f}, {2, 2}),
        Tensor::from_vector<int64_t>({-1, 7, 9}, {3}),
        Tensor::from_vector<uint8_t>({1, 2, 3, 4, 5, 6}, {1, 2, 3})};
    for (size_t i = 0; i < tensors.size(); ++i) {
        const std::string p = dir + "/seed" + std::to_string(i) + ".npy";
        write_npy(p, tensors[i]);
        seeds.push_back(cbnn::testing::read_bytes(p));
    }
    // read_npy takes a path: each case is written to a file, on /dev/shm where it exists because
    // rewriting a file on a disk mounted with discard waits for the device each time.
    const std::string path =
        (std::filesystem::is_directory("/dev/shm") ? std::string("/dev/shm") : dir) +
        "/cbnn_fuzz_case_" + std::to_string(::getpid()) + ".npy";
    const Outcome o = fuzz(seeds, 2000, 21, [&](const Bytes& b) {
        cbnn::testing::write_bytes(path, b);
        const Tensor t = read_npy(path);
        EXPECT_GE(t.numel(), 0);
    });
    std::filesystem::remove(path);
    EXPECT_GT(o.ok, 0);
    EXPECT_GT(o.errors, 0);
}

TEST(Fuzz, InatJson) {
    const std::string json =
        R"({"images": [{"id": 1, "file_name": "a/1.jpg"}, {"id": 2, "file_name": "b/2.jpg"}],
        "annotations": [{"id": 5, "image_id": 1, "category_id": 3}, {"image_id": 2, "category_id": 4}],
        "categories": [{"id": 4, "name": "four"}, {"id": 3, "name": "three"}]})";
    const Outcome o = fuzz({Bytes(json.begin(), json.end())}, 5000, 31, [](const Bytes& b) {
        const ImageList l = parse_inat(std::string(b.begin(), b.end()), "fuzz.json", "/r");
        for (int64_t y : l.labels)
            EXPECT_TRUE(y >= 0 && y < static_cast<int64_t>(l.class_names.size()));
    });
    EXPECT_GT(o.ok, 0);
    EXPECT_GT(o.errors, 0);
}

TEST(Fuzz, JpegAndPngDecoding) {
    using cbnn::testing::encode_image;
    using cbnn::testing::pattern;
    const std::vector<Bytes> jpegs = {encode_image(pattern(16, 16, 1), 16, 16, 90),
                                      encode_image(pattern(13, 7, 2), 13, 7, 40)};
    const std::vector<Bytes> pngs = {encode_image(pattern(16, 16, 3), 16, 16, 0),
                                     encode_image(pattern(5, 9, 4), 5, 9, 0)};
    for (const auto* seeds : {&jpegs, &pngs}) {
        const Outcome o = fuzz(*seeds, 5000, seeds == &jpegs ? 41 : 42, [](const Bytes& b) {
            const Image img = decode_image_memory(b.data(), b.size(), "fuzz");
            EXPECT_EQ(img.pixels.size(),
                      static_cast<size_t>(img.channels * img.height * img.width));
        });
        EXPECT_GT(o.ok, 0);
        EXPECT_GT(o.errors, 0);
    }
}

// The stb_image 2.27 overflow the fuzzer found (data/jpeg_guard.h): a DHT table declaring
// 16 x 255 codes. Without the guard UBSan reports an out-of-bounds write in stbi__build_huffman.
TEST(Fuzz, JpegHuffmanTableWithTooManyCodesIsRejected) {
    Bytes jpeg = cbnn::testing::encode_image(cbnn::testing::pattern(8, 8, 0), 8, 8, 90);
    size_t at = 0;
    while (at + 1 < jpeg.size() && !(jpeg[at] == 0xff && jpeg[at + 1] == 0xc4)) ++at;
    ASSERT_LT(at + 21, jpeg.size());
    for (size_t i = at + 5; i < at + 21; ++i) jpeg[i] = 0xff;  // after FF C4, length, class/id
    EXPECT_TRUE(cbnn::testing::throws_error(
        [&] { decode_image_memory(jpeg.data(), jpeg.size(), "dht.jpg"); },
        {"dht.jpg", "Huffman table"}));
}

// The other stb_image 2.27 finding: an empty IDAT chunk before the image data made stb call
// memcpy(NULL, ..., 0) (UBSan: null pointer passed as argument 1). Such chunks are dropped first;
// the image decodes exactly as without them.
TEST(Fuzz, PngWithEmptyIdatChunkDecodesUnchanged) {
    const Bytes png = cbnn::testing::encode_image(cbnn::testing::pattern(6, 4, 2), 6, 4, 0);
    size_t at = 8;  // first chunk after the signature; find the first IDAT
    while (at + 8 <= png.size() &&
           std::string(png.begin() + at + 4, png.begin() + at + 8) != "IDAT")
        at += 12 + (size_t{png[at]} << 24 | size_t{png[at + 1]} << 16 | size_t{png[at + 2]} << 8 |
                    png[at + 3]);
    ASSERT_LT(at + 8, png.size());
    Bytes with = png;
    const Bytes empty_idat = {0, 0, 0, 0, 'I', 'D', 'A', 'T', 0x35, 0xaf, 0x06, 0x1e};
    with.insert(with.begin() + static_cast<std::ptrdiff_t>(at), empty_idat.begin(),
                empty_idat.end());
    const Image a = decode_image_memory(png.data(), png.size(), "a.png");
    const Image b = decode_image_memory(with.data(), with.size(), "b.png");
    EXPECT_EQ(a.pixels, b.pixels);
    EXPECT_EQ(b.width, 6);
}

}  // namespace
}  // namespace cbnn
