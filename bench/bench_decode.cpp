// Image decode throughput (CPU only), items/s = images/s:
//   DecodeCifarJpeg        stb_image on the 10,000 JPEGs of cifar10-jpg/test, bytes already in
//                          memory, one thread (skipped when shared/data is absent)
//   ReadCifarFolder/T      decode_image_list on cifar10-jpg/test with T threads: file reads,
//                          decode, planar packing, as training reads the data
//   Decode224Jpeg          stb_image on 64 224x224 JPEGs (quality 90) written by this benchmark
//   Read224Folder/T        decode_image_list on 256 such files in a temporary folder, T threads
// shared/data is found from $CBNN_DATA_DIR, else ../shared/data beside the source tree (the
// executable's folder's grandparent) or the working directory.
#include <benchmark/benchmark.h>
#include <stb/stb_image_write.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "data/image_folder.h"

namespace cbnn::bench {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;

std::string cifar_test_dir() {
    std::vector<fs::path> candidates;
    if (const char* env = std::getenv("CBNN_DATA_DIR")) candidates.emplace_back(env);
    std::error_code ec;
    const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    if (!ec) candidates.push_back(exe.parent_path().parent_path().parent_path() / "shared/data");
    candidates.push_back(fs::current_path() / "../shared/data");
    for (const fs::path& c : candidates)
        if (fs::is_directory(c / "cifar10-jpg/test", ec)) return (c / "cifar10-jpg/test").string();
    return "";
}

Bytes read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void append(void* context, void* data, int size) {
    auto* out = static_cast<Bytes*>(context);
    out->insert(out->end(), static_cast<uint8_t*>(data), static_cast<uint8_t*>(data) + size);
}

// A smooth 224x224 image with some texture, so the JPEG is of typical size (not a flat block).
Bytes jpeg224(int seed) {
    constexpr int kSize = 224;
    Bytes hwc(kSize * kSize * 3);
    for (int y = 0; y < kSize; ++y)
        for (int x = 0; x < kSize; ++x)
            for (int c = 0; c < 3; ++c)
                hwc[(y * kSize + x) * 3 + c] = static_cast<uint8_t>(
                    (x * (c + 1) + y * 3 + seed * 37 + ((x * y) % 17) * 5) % 256);
    Bytes out;
    stbi_write_jpg_to_func(append, &out, kSize, kSize, 3, hwc.data(), 90);
    return out;
}

void decode_all(benchmark::State& state, const std::vector<Bytes>& files) {
    for (auto _ : state) {
        for (const Bytes& f : files) {
            Image img = decode_image_memory(f.data(), f.size(), "bench");
            benchmark::DoNotOptimize(img.pixels.data());
        }
    }
    state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(files.size()));
}

void DecodeCifarJpeg(benchmark::State& state) {
    const std::string dir = cifar_test_dir();
    if (dir.empty()) {
        state.SkipWithError("shared/data/cifar10-jpg not found (set CBNN_DATA_DIR)");
        return;
    }
    static std::vector<Bytes> files;
    if (files.empty()) {
        const ImageList list = list_image_folder(dir);
        for (int64_t i = 0; i < list.size(); ++i) files.push_back(read_file(list.path(i)));
    }
    decode_all(state, files);
}

void ReadCifarFolder(benchmark::State& state) {
    const std::string dir = cifar_test_dir();
    if (dir.empty()) {
        state.SkipWithError("shared/data/cifar10-jpg not found (set CBNN_DATA_DIR)");
        return;
    }
    const ImageList list = list_image_folder(dir);
    for (auto _ : state) {
        Dataset d = decode_image_list(list, {.threads = static_cast<int>(state.range(0))});
        benchmark::DoNotOptimize(d.images.data());
    }
    state.SetItemsProcessed(state.iterations() * list.size());
}

void Decode224Jpeg(benchmark::State& state) {
    static std::vector<Bytes> files;
    if (files.empty())
        for (int i = 0; i < 64; ++i) files.push_back(jpeg224(i));
    decode_all(state, files);
}

void Read224Folder(benchmark::State& state) {
    static std::string root;
    if (root.empty()) {
        root = (fs::temp_directory_path() / ("cbnn_bench_decode_" + std::to_string(getpid())))
                   .string();
        for (int i = 0; i < 256; ++i) {
            const fs::path p =
                fs::path(root) / ("class" + std::to_string(i % 4)) / (std::to_string(i) + ".jpg");
            fs::create_directories(p.parent_path());
            const Bytes b = jpeg224(i);
            std::ofstream(p, std::ios::binary)
                .write(reinterpret_cast<const char*>(b.data()),
                       static_cast<std::streamsize>(b.size()));
        }
    }
    const ImageList list = list_image_folder(root);
    for (auto _ : state) {
        Dataset d = decode_image_list(list, {.threads = static_cast<int>(state.range(0))});
        benchmark::DoNotOptimize(d.images.data());
    }
    state.SetItemsProcessed(state.iterations() * list.size());
}

BENCHMARK(DecodeCifarJpeg)->Unit(benchmark::kMillisecond);
BENCHMARK(ReadCifarFolder)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(Decode224Jpeg)->Unit(benchmark::kMillisecond);
BENCHMARK(Read224Folder)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace cbnn::bench

BENCHMARK_MAIN();
