#include "data/jpeg_guard.h"

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

}  // namespace cbnn
