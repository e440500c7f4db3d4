#pragma once
// Guards for two bugs of stb_image 2.27 found by tests/data/test_fuzz.cpp under ASan/UBSan.
//
// 1. A memory-safety bug of stb_image 2.27 (the version Debian/Ubuntu ship as libstb-dev):
// a JPEG Huffman table (DHT) whose 16 code-length counts add up to more than 256 makes
// stbi__build_huffman write past its 257-byte size array (fixed upstream in 2.28 with an
// "n > 256" check; found here by tests/data/test_fuzz.cpp under UBSan). This pre-check rejects
// such files before stb_image sees them.
//
// It reads the marker stream as stb_image does: from SOI up to the first SOS it follows the
// segments (consuming DHT/DQT tables as stb does, skipping others by their length, and skipping
// stray bytes between segments as stb's header parser does); from the first SOS on, where stb may
// resynchronise anywhere, it checks every FF C4 byte pair as a DHT segment. Valid files never
// hold FF C4 in entropy-coded data, so only corrupt files are rejected.

#include <cstddef>
#include <cstdint>
#include <vector>

namespace cbnn {

// False when the bytes are a JPEG with a Huffman table stb_image 2.27 would overflow on.
// Non-JPEG data returns true (there is nothing to guard).
bool jpeg_huffman_tables_safe(const uint8_t* data, size_t size);

// 2. A PNG whose first IDAT chunk is empty makes stb call memcpy(NULL, ..., 0) (undefined
// behaviour UBSan reports, harmless in practice). Empty IDAT chunks carry no data, so dropping
// them leaves the image unchanged: when the chunk walk (stb's: 8-byte signature, then length,
// type, data, CRC) finds one, `without` receives the bytes less those chunks and true is returned.
bool png_drop_empty_idat(const uint8_t* data, size_t size, std::vector<uint8_t>& without);

}  // namespace cbnn
