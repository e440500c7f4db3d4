#include "layers/state_io.h"

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "autograd/grad_mode.h"
#include "tensor/copy.h"
#include "tensor/file_io.h"

namespace cbnn {

// The format is little-endian and values are copied with memcpy; a big-endian port would need
// byte swaps here.
static_assert(std::endian::native == std::endian::little, "state_io assumes a little-endian host");

namespace {

constexpr uint32_t kMaxNameLength = 65536;
constexpr size_t kHeaderBytes = 8 + 4 + 8;  // magic, version, entry_count
constexpr size_t kChecksumBytes = 8;
constexpr uint8_t kParameter = 0;
constexpr uint8_t kBuffer = 1;

const char* kind_name(uint8_t kind) { return kind == kParameter ? "a parameter" : "a buffer"; }

// File codes are fixed by the format, independent of the DType enum's order.
uint8_t dtype_code(DType dtype) {
    switch (dtype) {
        case DType::f32:
            return 0;
        case DType::f64:
            return 1;
        case DType::i64:
            return 2;
        case DType::u8:
            return 3;
        case DType::bf16:
            return 4;
    }
    CBNN_FAIL("save_state: unknown dtype");
}

bool dtype_from_code(uint8_t code, DType& dtype) {
    constexpr DType kByCode[] = {DType::f32, DType::f64, DType::i64, DType::u8, DType::bf16};
    if (code >= std::size(kByCode)) return false;
    dtype = kByCode[code];
    return true;
}

struct Entry {
    std::string name;
    uint8_t kind = kParameter;
    DType dtype = DType::f32;
    Shape shape;
    size_t data_offset = 0;  // into the file's bytes
    Tensor target;           // the model's tensor (model entries only)
};

std::vector<Entry> model_entries(const Module& module) {
    std::vector<Entry> entries;
    for (uint8_t kind : {kParameter, kBuffer}) {
        for (const auto& [name, t] :
             kind == kParameter ? module.named_parameters() : module.named_buffers()) {
            Entry e;
            e.name = name;
            e.kind = kind;
            e.dtype = t.dtype();
            e.shape = t.shape();
            e.target = t;
            entries.push_back(std::move(e));
        }
    }
    return entries;
}

template <class T>
void put(std::vector<uint8_t>& out, T value) {
    const size_t at = out.size();
    out.resize(at + sizeof(T));
    std::memcpy(out.data() + at, &value, sizeof(T));
}

// Bounds-checked reads over the entry region; `fail` prefixes the source.
class Reader {
  public:
    Reader(const std::vector<uint8_t>& bytes, size_t end, const std::string& prefix)
        : bytes_(bytes), end_(end), prefix_(prefix) {}

    template <class T>
    T get(const std::string& what) {
        T value;
        std::memcpy(&value, take(sizeof(T), what), sizeof(T));
        return value;
    }
    const uint8_t* take(size_t n, const std::string& what) {
        if (n > end_ - pos_) {
            fail("malformed: ", what, " (", n, " bytes at offset ", pos_, ") runs past the end (",
                 end_, " bytes before the checksum)");
        }
        const uint8_t* p = bytes_.data() + pos_;
        pos_ += n;
        return p;
    }
    size_t pos() const { return pos_; }
    size_t end() const { return end_; }

    template <class... Args>
    [[noreturn]] void fail(const Args&... args) const {
        CBNN_FAIL(prefix_, args...);
    }

  private:
    const std::vector<uint8_t>& bytes_;
    size_t end_;
    size_t pos_ = 0;
    const std::string& prefix_;
};

Entry read_entry(Reader& r, uint64_t index) {
    const std::string at = "entry " + std::to_string(index);
    Entry e;
    const uint32_t name_length = r.get<uint32_t>(at + " name length");
    if (name_length == 0 || name_length > kMaxNameLength)
        r.fail("malformed: ", at, " has a name of ", name_length, " bytes");
    const uint8_t* name = r.take(name_length, at + " name");
    e.name.assign(reinterpret_cast<const char*>(name), name_length);
    const std::string of = "'" + e.name + "'";
    e.kind = r.get<uint8_t>(of + " kind");
    if (e.kind != kParameter && e.kind != kBuffer)
        r.fail("malformed: ", of, " has kind ", int(e.kind), " (0 parameter, 1 buffer)");
    const uint8_t code = r.get<uint8_t>(of + " dtype");
    if (!dtype_from_code(code, e.dtype)) r.fail("malformed: ", of, " has dtype code ", int(code));
    const uint32_t rank = r.get<uint32_t>(of + " rank");
    if (rank > static_cast<uint32_t>(kMaxDims))
        r.fail("malformed: ", of, " has rank ", rank, " (at most ", kMaxDims, ")");
    uint64_t numel = 1;
    for (uint32_t d = 0; d < rank; ++d) {
        const int64_t dim = r.get<int64_t>(of + " dims");
        if (dim < 0) r.fail("malformed: ", of, " has a negative dimension ", dim);
        e.shape.push_back(dim);
        // Saturate instead of overflowing: such a size fails the byte-count check below.
        numel = dim != 0 && numel > UINT64_MAX / static_cast<uint64_t>(dim)
                    ? UINT64_MAX
                    : numel * static_cast<uint64_t>(dim);
    }
    const uint64_t byte_count = r.get<uint64_t>(of + " byte count");
    const uint64_t element = dtype_size(e.dtype);
    if (numel > UINT64_MAX / element || byte_count != numel * element) {
        r.fail("malformed: ", of, " ", e.shape, " ", dtype_name(e.dtype), " declares ", byte_count,
               " data bytes");
    }
    if (byte_count > r.end() - r.pos()) {
        r.fail("malformed: ", of, " has ", byte_count, " data bytes at offset ", r.pos(),
               ", past the end (", r.end(), " bytes before the checksum)");
    }
    e.data_offset = r.pos();
    r.take(static_cast<size_t>(byte_count), of + " data");
    return e;
}

// Every entry of the file, after the header and checksum checks.
std::vector<Entry> read_file_entries(const std::vector<uint8_t>& bytes, const std::string& prefix) {
    const size_t body = check_container(bytes, kStateMagic, kStateFormatVersion,
                                        kHeaderBytes + kChecksumBytes, "cbnn state file", prefix);
    Reader r(bytes, body, prefix);
    r.take(12, "header");
    const uint64_t count = r.get<uint64_t>("entry count");
    std::vector<Entry> entries;
    for (uint64_t i = 0; i < count; ++i) entries.push_back(read_entry(r, i));
    if (r.pos() != body)
        r.fail("malformed: ", body - r.pos(), " bytes after the last of ", count, " entries");
    return entries;
}

void check_matches(const std::vector<Entry>& file, const std::vector<Entry>& model,
                   const std::string& prefix) {
    const auto counts = [&] {
        return detail::concat(" (the file has ", file.size(), " entries, the model ", model.size(),
                              ")");
    };
    for (size_t i = 0; i < std::max(file.size(), model.size()); ++i) {
        if (i >= file.size()) {
            CBNN_FAIL(prefix, "entry ", i, ": expected '", model[i].name,
                      "', the file has no more entries", counts());
        }
        if (i >= model.size()) {
            CBNN_FAIL(prefix, "entry ", i, ": the file has '", file[i].name,
                      "', the model has no more entries", counts());
        }
        const Entry& f = file[i];
        const Entry& m = model[i];
        if (f.name != m.name)
            CBNN_FAIL(prefix, "entry ", i, ": expected '", m.name, "', file has '", f.name, "'");
        if (f.kind != m.kind) {
            CBNN_FAIL(prefix, "'", m.name, "': ", kind_name(f.kind), " in the file, ",
                      kind_name(m.kind), " in the model");
        }
        if (f.dtype != m.dtype) {
            CBNN_FAIL(prefix, "'", m.name, "': dtype ", f.dtype, " in the file, ", m.dtype,
                      " in the model");
        }
        if (f.shape != m.shape) {
            CBNN_FAIL(prefix, "'", m.name, "': shape ", f.shape, " in the file, ", m.shape,
                      " in the model");
        }
    }
}

}  // namespace

uint64_t fnv1a64(const uint8_t* data, size_t n) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; ++i) {
        h ^= data[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

size_t check_container(const std::vector<uint8_t>& bytes, const char (&magic)[8], uint32_t version,
                       size_t minimum_size, const std::string& kind, const std::string& prefix) {
    const size_t size = bytes.size();
    if (size > 0 && std::memcmp(bytes.data(), magic, std::min(size, sizeof(magic))) != 0) {
        CBNN_FAIL(prefix, "not a ", kind, " (it does not start with \"", std::string(magic, 8),
                  "\")");
    }
    if (size < minimum_size)
        CBNN_FAIL(prefix, "truncated: ", size, " bytes, a ", kind, " has at least ", minimum_size);
    uint32_t stored_version;
    std::memcpy(&stored_version, bytes.data() + 8, sizeof(stored_version));
    if (stored_version != version)
        CBNN_FAIL(prefix, "format version ", stored_version, ", this build reads version ",
                  version);
    const size_t body = size - sizeof(uint64_t);
    uint64_t stored;
    std::memcpy(&stored, bytes.data() + body, sizeof(stored));
    const uint64_t computed = fnv1a64(bytes.data(), body);
    if (stored != computed) {
        char hex[80];
        std::snprintf(hex, sizeof(hex), "stored 0x%016llx, computed 0x%016llx",
                      static_cast<unsigned long long>(stored),
                      static_cast<unsigned long long>(computed));
        CBNN_FAIL(prefix, "corrupt or truncated: checksum mismatch (", hex, ")");
    }
    return body;
}

Tensor host_copy(const Tensor& t) {
    const Tensor v = t.detach();
    return v.device().is_cpu() ? ops::contiguous_copy(v) : ops::to_device(v, Device::cpu());
}

StateSnapshot snapshot_state(const Module& module) {
    StateSnapshot snapshot;
    for (const Entry& e : model_entries(module)) {
        CBNN_CHECK(e.name.size() <= kMaxNameLength, "save_state: name longer than ", kMaxNameLength,
                   " bytes: '", e.name.substr(0, 64), "...'");
        snapshot.items.push_back({e.name, e.kind == kBuffer, host_copy(e.target)});
    }
    return snapshot;
}

std::vector<uint8_t> serialize_state(const StateSnapshot& snapshot) {
    std::vector<uint8_t> out(std::begin(kStateMagic), std::end(kStateMagic));
    put<uint32_t>(out, kStateFormatVersion);
    put<uint64_t>(out, snapshot.items.size());
    for (const StateSnapshot::Item& item : snapshot.items) {
        const Tensor& host = item.host;
        CBNN_CHECK(host.device().is_cpu() && host.is_contiguous(), "save_state: '", item.name,
                   "': a snapshot holds contiguous host copies (snapshot_state)");
        put<uint32_t>(out, static_cast<uint32_t>(item.name.size()));
        out.insert(out.end(), item.name.begin(), item.name.end());
        put<uint8_t>(out, item.is_buffer ? kBuffer : kParameter);
        put<uint8_t>(out, dtype_code(host.dtype()));
        put<uint32_t>(out, static_cast<uint32_t>(host.shape().size()));
        for (int64_t d : host.shape()) put<int64_t>(out, d);
        put<uint64_t>(out, host.nbytes());
        const auto* p = static_cast<const uint8_t*>(host.raw_data());
        out.insert(out.end(), p, p + host.nbytes());
    }
    put<uint64_t>(out, fnv1a64(out.data(), out.size()));
    return out;
}

std::vector<uint8_t> serialize_state(const Module& module) {
    return serialize_state(snapshot_state(module));
}

void deserialize_state(Module& module, const std::vector<uint8_t>& bytes,
                       const std::string& source) {
    const std::string prefix = "load_state: '" + source + "': ";
    const std::vector<Entry> file = read_file_entries(bytes, prefix);
    const std::vector<Entry> model = model_entries(module);
    check_matches(file, model, prefix);
    NoGradGuard no_grad;
    for (size_t i = 0; i < file.size(); ++i) {
        Tensor host = Tensor::empty(file[i].shape, file[i].dtype);
        if (host.nbytes() > 0)
            std::memcpy(host.raw_data(), bytes.data() + file[i].data_offset, host.nbytes());
        Tensor target = model[i].target;
        target.copy_(host);
    }
}

void save_state(const Module& module, const std::string& path) {
    const std::vector<uint8_t> bytes = serialize_state(module);
    write_file_atomic(path, bytes.data(), bytes.size(), "save_state");
}

void load_state(Module& module, const std::string& path) {
    deserialize_state(module, read_file_bytes(path, "load_state"), path);
}

}  // namespace cbnn
