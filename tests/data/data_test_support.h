#pragma once
// Shared helpers of the data tests: where the real data is, scratch folders, and small image
// files written with stb_image_write.

#include <stb/stb_image_write.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/support/scratch.h"

namespace cbnn::testing {

// shared/data: $CBNN_DATA_DIR, else the shared/ folder beside the source tree (as CI lays it out).
inline std::string data_dir() {
    if (const char* env = std::getenv("CBNN_DATA_DIR")) return env;
    return std::string(CBNN_SOURCE_DIR) + "/../shared/data";
}

inline bool have_data(const std::string& sub) {
    return std::filesystem::exists(std::filesystem::path(data_dir()) / sub);
}

#define CBNN_REQUIRE_DATA(sub)                                                          \
    do {                                                                                \
        if (!::cbnn::testing::have_data(sub))                                           \
            GTEST_SKIP() << "real data " << ::cbnn::testing::data_dir() << "/" << (sub) \
                         << " not found (set CBNN_DATA_DIR to the shared/data folder)"; \
    } while (0)

inline void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
}

inline void write_text(const std::string& path, const std::string& text) {
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    std::ofstream(path) << text;
}

inline std::vector<uint8_t> read_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

namespace detail {
inline void append_bytes(void* context, void* data, int size) {
    auto* out = static_cast<std::vector<uint8_t>*>(context);
    const auto* bytes = static_cast<const uint8_t*>(data);
    out->insert(out->end(), bytes, bytes + size);
}
}  // namespace detail

inline std::vector<uint8_t> encode_image(const std::vector<uint8_t>& hwc, int width, int height,
                                         int quality) {
    std::vector<uint8_t> out;
    const int ok = quality == 0 ? stbi_write_png_to_func(detail::append_bytes, &out, width, height,
                                                         3, hwc.data(), width * 3)
                                : stbi_write_jpg_to_func(detail::append_bytes, &out, width, height,
                                                         3, hwc.data(), quality);
    EXPECT_NE(ok, 0) << "stb_image_write failed";
    return out;
}

inline std::vector<uint8_t> pattern(int width, int height, int seed) {
    std::vector<uint8_t> hwc(static_cast<size_t>(width) * height * 3);
    for (int y = 0; y < height; ++y)
        for (int x = 0; x < width; ++x)
            for (int c = 0; c < 3; ++c)
                hwc[(static_cast<size_t>(y) * width + x) * 3 + c] =
                    static_cast<uint8_t>((x * 7 + y * 13 + c * 61 + seed * 29) % 256);
    return hwc;
}

}  // namespace cbnn::testing
