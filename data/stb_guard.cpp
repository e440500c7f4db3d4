#include "data/stb_guard.h"

#include <cstring>

namespace cbnn {

namespace {

// A cursor that, like stbi__get8, reads 0 past the end.
struct Reader {
    const uint8_t* data;
    size_t size, pos;
    bool eof() const { return pos >= size; }
    int get8() { return pos < size ? data[pos++] : 0; }
    int get16() {
        const int hi = get8();
        return hi << 8 | get8();
    }
    void skip(long n) { pos = n <= 0 ? pos : pos + static_cast<size_t>(n); }
};

// Reads DHT tables the way stbi__process_marker does; false on a table with more than 256
// codes. (Tables that stb then rejects for other reasons do not matter: no overflow happens.)
bool dht_safe(Reader r) {
    long length = r.get16() - 2;
    while (length > 0) {
        const int q = r.get8();
        if ((q >> 4) > 1 || (q & 15) > 3) return true;  // stb: "bad DHT header", stops
        long n = 0;
        for (int i = 0; i < 16; ++i) n += r.get8();
        if (n > 256) return false;
        r.skip(n);
        length -= 17 + n;
        if (r.eof()) return true;
    }
    return true;
}

// stbi__get_marker with the header loop's skipping of stray bytes; -1 at the end.
int next_marker(Reader& r) {
    while (!r.eof() && r.data[r.pos] != 0xff) ++r.pos;
    if (r.eof()) return -1;
    int x = r.get8();
    while (x == 0xff && !r.eof()) x = r.get8();
    return x == 0xff ? -1 : x;
}

}  // namespace

bool jpeg_huffman_tables_safe(const uint8_t* data, size_t size) {
    if (size < 2 || data[0] != 0xff || data[1] != 0xd8) return true;
    Reader r{data, size, 2};
    for (;;) {
        const int m = next_marker(r);
        if (m < 0 || m == 0xd9) return true;  // end of data or EOI: stb stops here
        if (m == 0xda) break;                 // SOS: entropy-coded data follows
        if (m == 0xc4) {
            if (!dht_safe(r)) return false;
            // Continue after the tables as stb does: it consumed exactly the declared length
            // when the segment is consistent (and fails otherwise, which is safe).
            const long length = r.get16();
            if (length < 2) return true;
            r.pos += static_cast<size_t>(length - 2);
            continue;
        }
        if (m == 0xd8 || (m >= 0xd0 && m <= 0xd7) || m == 0x01) continue;  // no payload
        const long length = r.get16();
        if (length < 2) return true;  // stb: "bad length", stops
        r.pos += static_cast<size_t>(length - 2);
    }
    for (size_t i = r.pos; i + 1 < size; ++i) {
        if (data[i] == 0xff && data[i + 1] == 0xc4 && !dht_safe(Reader{data, size, i + 2}))
            return false;
    }
    return true;
}

bool png_drop_empty_idat(const uint8_t* data, size_t size, std::vector<uint8_t>& without) {
    static const uint8_t kSignature[8] = {137, 80, 78, 71, 13, 10, 26, 10};
    if (size < 8 || std::memcmp(data, kSignature, 8) != 0) return false;
    std::vector<size_t> empty;  // offsets of empty IDAT chunks
    for (size_t pos = 8; pos + 12 <= size;) {
        const size_t length = size_t{data[pos]} << 24 | size_t{data[pos + 1]} << 16 |
                              size_t{data[pos + 2]} << 8 | size_t{data[pos + 3]};
        if (length == 0 && std::memcmp(data + pos + 4, "IDAT", 4) == 0) empty.push_back(pos);
        if (std::memcmp(data + pos + 4, "IEND", 4) == 0 || length > size - pos - 12) break;
        pos += 12 + length;
    }
    if (empty.empty()) return false;
    without.clear();
    size_t from = 0;
    for (size_t at : empty) {
        without.insert(without.end(), data + from, data + at);
        from = at + 12;
    }
    without.insert(without.end(), data + from, data + size);
    return true;
}

}  // namespace cbnn
