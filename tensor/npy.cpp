#include "tensor/npy.h"

#include <cstring>
#include <limits>
#include <sstream>
#include <vector>

#include "tensor/file_io.h"

namespace cbnn {

namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicLength = 6;

// The value text of 'key' in the header dict, e.g. "'<f4'" or "(3, 4)" or "False".
std::string header_value(const std::string& header, const std::string& key,
                         const std::string& path) {
    const std::string quoted = "'" + key + "'";
    const size_t at = header.find(quoted);
    CBNN_CHECK(at != std::string::npos, path, ": .npy header has no '", key, "' entry: ", header);
    size_t start = header.find(':', at + quoted.size());
    CBNN_CHECK(start != std::string::npos, path, ": malformed .npy header: ", header);
    ++start;
    while (start < header.size() && header[start] == ' ') ++start;
    size_t end = start;
    if (start < header.size() && header[start] == '(') {
        end = header.find(')', start);
        CBNN_CHECK(end != std::string::npos, path, ": malformed shape in .npy header: ", header);
        ++end;
    } else {
        while (end < header.size() && header[end] != ',' && header[end] != '}') ++end;
    }
    std::string value = header.substr(start, end - start);
    while (!value.empty() && value.back() == ' ') value.pop_back();
    return value;
}

Shape parse_shape(const std::string& text, const std::string& path) {
    Shape shape;
    CBNN_CHECK(text.size() >= 2 && text.front() == '(' && text.back() == ')', path,
               ": .npy shape '", text, "' is not a tuple");
    std::string inner = text.substr(1, text.size() - 2);
    std::stringstream ss(inner);
    std::string item;
    while (std::getline(ss, item, ',')) {
        size_t b = item.find_first_not_of(' ');
        if (b == std::string::npos) continue;  // trailing comma of a 1-tuple
        item = item.substr(b);
        char* end = nullptr;
        const long long v = std::strtoll(item.c_str(), &end, 10);
        CBNN_CHECK(end != item.c_str() && (*end == '\0' || *end == ' ' || *end == 'L') && v >= 0,
                   path, ": bad dimension '", item, "' in .npy shape ", text);
        shape.push_back(v);
    }
    return shape;
}

struct Descr {
    DType dtype;
    size_t itemsize;
    bool widen_i32;
};

Descr parse_descr(const std::string& value, const std::string& path) {
    const std::string d = value.size() >= 2 ? value.substr(1, value.size() - 2) : value;
    if (d == "<f4") return {DType::f32, 4, false};
    if (d == "<f8") return {DType::f64, 8, false};
    if (d == "<i8") return {DType::i64, 8, false};
    if (d == "<i4") return {DType::i64, 4, true};
    if (d == "|u1" || d == "<u1") return {DType::u8, 1, false};
    if (!d.empty() && d[0] == '>')
        CBNN_FAIL(path, ": big-endian .npy data (", d, ") is not supported; save with '<' order");
    CBNN_FAIL(path, ": unsupported .npy dtype ", d,
              " (supported: float32 <f4, float64 <f8, int32 <i4, int64 <i8, uint8 |u1)");
}

}  // namespace

Tensor read_npy(const std::string& path) {
    const std::vector<uint8_t> file = read_file_bytes(path, "read_npy");
    const std::vector<char> bytes(file.begin(), file.end());
    CBNN_CHECK(
        bytes.size() >= kMagicLength + 4 && std::memcmp(bytes.data(), kMagic, kMagicLength) == 0,
        path, ": not a .npy file (missing the \\x93NUMPY magic)");
    const int major = static_cast<unsigned char>(bytes[6]);
    CBNN_CHECK(major >= 1 && major <= 3, path, ": unsupported .npy format version ", major);
    size_t header_len = 0, header_start = 0;
    const auto byte = [&](size_t i) {
        return static_cast<size_t>(static_cast<unsigned char>(bytes[i]));
    };
    if (major == 1) {
        header_len = byte(8) | byte(9) << 8;
        header_start = 10;
    } else {
        CBNN_CHECK(bytes.size() >= 12, path, ": truncated .npy header");
        header_len = byte(8) | byte(9) << 8 | byte(10) << 16 | byte(11) << 24;
        header_start = 12;
    }
    CBNN_CHECK(header_start + header_len <= bytes.size(), path, ": truncated .npy header (",
               header_len, " bytes announced, ", bytes.size() - header_start, " present)");
    const std::string header(bytes.data() + header_start, header_len);

    const Descr descr = parse_descr(header_value(header, "descr", path), path);
    const std::string fortran = header_value(header, "fortran_order", path);
    CBNN_CHECK(fortran == "False", path,
               ": Fortran-order .npy arrays are not supported; save a C-order array "
               "(numpy.ascontiguousarray)");
    const Shape shape = parse_shape(header_value(header, "shape", path), path);

    const size_t data_start = header_start + header_len;
    // Checked before shape_numel: a corrupt shape must not overflow int64 (undefined behaviour)
    // or wrap around to a size that happens to match the data.
    int64_t numel = 1;
    for (int64_t d : shape) {
        CBNN_CHECK(d == 0 || numel <= std::numeric_limits<int64_t>::max() /
                                          static_cast<int64_t>(descr.itemsize) / d,
                   path, ": .npy shape ", shape, " is too large");
        numel *= d;
    }
    const size_t expected = static_cast<size_t>(numel) * descr.itemsize;
    const size_t present = bytes.size() - data_start;
    CBNN_CHECK(present == expected, path, ": .npy data has ", present, " bytes, but shape ", shape,
               " of ", descr.itemsize, "-byte elements needs ", expected,
               present < expected ? " (file truncated)" : " (trailing bytes)");

    Tensor t = Tensor::empty(shape, descr.dtype);
    const char* data = bytes.data() + data_start;
    if (descr.widen_i32) {
        int64_t* out = t.data<int64_t>();
        for (int64_t i = 0; i < t.numel(); ++i) {
            int32_t v;
            std::memcpy(&v, data + i * 4, 4);
            out[i] = v;
        }
    } else if (expected > 0) {
        std::memcpy(t.raw_data(), data, expected);
    }
    return t;
}

void write_npy(const std::string& path, const Tensor& tensor) {
    check_defined(tensor, "write_npy");
    const Tensor host = tensor.cpu().contiguous();
    const char* descr = nullptr;
    switch (host.dtype()) {
        case DType::f32:
            descr = "<f4";
            break;
        case DType::f64:
            descr = "<f8";
            break;
        case DType::i64:
            descr = "<i8";
            break;
        case DType::u8:
            descr = "|u1";
            break;
        case DType::bf16:
            // NumPy has no bf16; '<u2' or '<V2' would load as a different type or as bytes,
            // so the round trip would silently change the dtype.
            CBNN_FAIL("write_npy: ", path, ": NumPy has no bf16 dtype; cast first (",
                      tensor.description(), " -> .to(DType::f32), exact)");
    }
    std::ostringstream dict;
    dict << "{'descr': '" << descr << "', 'fortran_order': False, 'shape': (";
    for (size_t i = 0; i < host.shape().size(); ++i) dict << host.shape()[i] << ", ";
    std::string header = dict.str();
    if (host.shape().size() > 1)
        header.erase(header.size() - 2);  // (3, 4) but (3,) and ()
    else if (host.shape().size() == 1)
        header.pop_back();
    header += "), }";
    // Pad with spaces so that magic + version + length + header + '\n' is a multiple of 64.
    const size_t unpadded = kMagicLength + 2 + 2 + header.size() + 1;
    header.append((64 - unpadded % 64) % 64, ' ');
    header += '\n';
    CBNN_CHECK(header.size() < 65536, path, ": .npy header too long");

    // Written whole and renamed into place (tensor/file_io.h), so a crash never leaves half a file.
    std::string file(kMagic, kMagicLength);
    file += std::string{1, 0};  // format version 1.0
    file += static_cast<char>(header.size() & 0xff);
    file += static_cast<char>((header.size() >> 8) & 0xff);
    file += header;
    file.append(static_cast<const char*>(host.raw_data()), host.nbytes());
    write_file_atomic(path, file, "write_npy");
}

}  // namespace cbnn
