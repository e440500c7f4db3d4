#include "train/checkpoint.h"

#include <bit>
#include <cstdio>
#include <cstring>
#include <map>

#include "layers/state_io.h"
#include "tensor/error.h"
#include "tensor/file_io.h"
#include "train/report.h"

namespace cbnn::train {

static_assert(std::endian::native == std::endian::little,
              "checkpoints assume a little-endian host");

namespace {

constexpr size_t kChecksumBytes = 8;
constexpr uint32_t kMaxNameLength = 65536;

template <class T>
void put(std::vector<uint8_t>& out, T value) {
    const size_t at = out.size();
    out.resize(at + sizeof(T));
    std::memcpy(out.data() + at, &value, sizeof(T));
}

void put_bytes(std::vector<uint8_t>& out, const void* data, size_t n) {
    const auto* p = static_cast<const uint8_t*>(data);
    out.insert(out.end(), p, p + n);
}

// Bounds-checked reads over [0, end); errors carry the "load_checkpoint: '<source>': " prefix.
class Reader {
  public:
    Reader(const std::vector<uint8_t>& bytes, size_t end, std::string prefix)
        : bytes_(bytes), end_(end), prefix_(std::move(prefix)) {}
    template <class T>
    T get(const std::string& what) {
        T value;
        std::memcpy(&value, take(sizeof(T), what), sizeof(T));
        return value;
    }
    const uint8_t* take(uint64_t n, const std::string& what) {
        if (n > end_ - pos_)
            CBNN_FAIL(prefix_, "malformed: ", what, " (", n, " bytes at offset ", pos_,
                      ") runs past the end (", end_, " bytes before the checksum)");
        const uint8_t* p = bytes_.data() + pos_;
        pos_ += static_cast<size_t>(n);
        return p;
    }
    size_t pos() const { return pos_; }
    size_t end() const { return end_; }
    const std::string& prefix() const { return prefix_; }

  private:
    const std::vector<uint8_t>& bytes_;
    size_t end_;
    size_t pos_ = 0;
    std::string prefix_;
};

struct OptEntry {
    std::string name;
    DType dtype = DType::f32;
    Shape shape;
    const uint8_t* data = nullptr;
};

OptEntry read_opt_entry(Reader& r, uint64_t index) {
    const std::string at = "optimizer entry " + std::to_string(index);
    OptEntry e;
    const uint32_t name_length = r.get<uint32_t>(at + " name length");
    if (name_length == 0 || name_length > kMaxNameLength)
        CBNN_FAIL(r.prefix(), "malformed: ", at, " has a name of ", name_length, " bytes");
    e.name.assign(reinterpret_cast<const char*>(r.take(name_length, at + " name")), name_length);
    const std::string of = "optimizer '" + e.name + "'";
    const uint8_t code = r.get<uint8_t>(of + " dtype");
    if (code > 1) CBNN_FAIL(r.prefix(), "malformed: ", of, " has dtype code ", int(code));
    e.dtype = code == 0 ? DType::f32 : DType::f64;
    const uint32_t rank = r.get<uint32_t>(of + " rank");
    if (rank > static_cast<uint32_t>(kMaxDims))
        CBNN_FAIL(r.prefix(), "malformed: ", of, " has rank ", rank);
    uint64_t numel = 1;
    for (uint32_t d = 0; d < rank; ++d) {
        const int64_t dim = r.get<int64_t>(of + " dims");
        if (dim < 0 || (dim != 0 && numel > UINT64_MAX / 8 / static_cast<uint64_t>(dim)))
            CBNN_FAIL(r.prefix(), "malformed: ", of, " has dimension ", dim);
        e.shape.push_back(dim);
        numel *= static_cast<uint64_t>(dim);
    }
    const uint64_t byte_count = r.get<uint64_t>(of + " byte count");
    if (byte_count != numel * dtype_size(e.dtype))
        CBNN_FAIL(r.prefix(), "malformed: ", of, " ", e.shape, " declares ", byte_count,
                  " data bytes");
    e.data = r.take(byte_count, of + " data");
    return e;
}

}  // namespace

CheckpointSnapshot snapshot_checkpoint(const Module& model, const Sgd& optimizer,
                                       nlohmann::json meta) {
    CheckpointSnapshot snapshot{std::move(meta), snapshot_state(model), {}};
    for (const auto& [name, t] : optimizer.state()) {
        CBNN_CHECK(t.dtype() == DType::f32 || t.dtype() == DType::f64, "save_checkpoint: '", name,
                   "': momentum dtype ", dtype_name(t.dtype()), " is not f32/f64");
        snapshot.optimizer.emplace_back(name, host_copy(t));
    }
    return snapshot;
}

std::vector<uint8_t> serialize_checkpoint(const CheckpointSnapshot& snapshot) {
    std::vector<uint8_t> out;
    put_bytes(out, kCheckpointMagic, sizeof(kCheckpointMagic));
    put<uint32_t>(out, kCheckpointVersion);
    const std::string text = snapshot.meta.dump();
    put<uint64_t>(out, text.size());
    put_bytes(out, text.data(), text.size());
    const std::vector<uint8_t> model_bytes = serialize_state(snapshot.model);
    put<uint64_t>(out, model_bytes.size());
    put_bytes(out, model_bytes.data(), model_bytes.size());
    put<uint64_t>(out, snapshot.optimizer.size());
    for (const auto& [name, host] : snapshot.optimizer) {
        CBNN_CHECK(host.device().is_cpu() && host.is_contiguous() &&
                       (host.dtype() == DType::f32 || host.dtype() == DType::f64),
                   "save_checkpoint: '", name,
                   "': a snapshot holds contiguous f32/f64 host copies (snapshot_checkpoint)");
        put<uint32_t>(out, static_cast<uint32_t>(name.size()));
        put_bytes(out, name.data(), name.size());
        put<uint8_t>(out, host.dtype() == DType::f32 ? 0 : 1);
        put<uint32_t>(out, static_cast<uint32_t>(host.shape().size()));
        for (int64_t d : host.shape()) put<int64_t>(out, d);
        put<uint64_t>(out, host.nbytes());
        put_bytes(out, host.raw_data(), host.nbytes());
    }
    put<uint64_t>(out, fnv1a64(out.data(), out.size()));
    return out;
}

std::vector<uint8_t> serialize_checkpoint(const Module& model, const Sgd& optimizer,
                                          const nlohmann::json& meta) {
    return serialize_checkpoint(snapshot_checkpoint(model, optimizer, meta));
}

namespace {

// The meta block after the 12-byte header; leaves `r` just after it.
nlohmann::json read_meta(Reader& r) {
    r.take(12, "header");
    const uint64_t meta_length = r.get<uint64_t>("meta length");
    const auto* meta_text = reinterpret_cast<const char*>(r.take(meta_length, "meta"));
    nlohmann::json meta = nlohmann::json::parse(meta_text, meta_text + meta_length, nullptr, false);
    if (meta.is_discarded() || !meta.is_object())
        CBNN_FAIL(r.prefix(), "malformed: the meta block is not a JSON object");
    return meta;
}

// A reader over the body, once magic, version and checksum have passed.
Reader checked_reader(const std::vector<uint8_t>& bytes, const std::string& source) {
    const std::string prefix = "load_checkpoint: '" + source + "': ";
    constexpr size_t kMinimum = 8 + 4 + 8 + 8 + 8 + kChecksumBytes;
    const size_t body = check_container(bytes, kCheckpointMagic, kCheckpointVersion, kMinimum,
                                        "cbnn checkpoint", prefix);
    return Reader(bytes, body, prefix);
}

}  // namespace

nlohmann::json checkpoint_meta(const std::vector<uint8_t>& bytes, const std::string& source) {
    Reader r = checked_reader(bytes, source);
    return read_meta(r);
}

nlohmann::json deserialize_checkpoint(const std::vector<uint8_t>& bytes, Module& model,
                                      Sgd& optimizer, const std::string& source) {
    Reader r = checked_reader(bytes, source);
    const std::string& prefix = r.prefix();
    const size_t body = r.end();
    nlohmann::json meta = read_meta(r);
    const uint64_t model_length = r.get<uint64_t>("model length");
    const uint8_t* model_data = r.take(model_length, "model state");
    const std::vector<uint8_t> model_bytes(model_data, model_data + model_length);
    const uint64_t count = r.get<uint64_t>("optimizer entry count");
    std::vector<OptEntry> entries;
    for (uint64_t i = 0; i < count && i <= kMaxNameLength; ++i)
        entries.push_back(read_opt_entry(r, i));
    if (r.pos() != body)
        CBNN_FAIL(prefix, "malformed: ", body - r.pos(), " unread bytes before the checksum");

    // Everything is checked against the optimiser before anything is written.
    const NamedTensors& params = optimizer.parameters();
    if (entries.size() != params.size())
        CBNN_FAIL(prefix, "the file has ", entries.size(), " optimizer buffers, the optimizer has ",
                  params.size(), " parameters");
    NamedTensors state;
    for (size_t i = 0; i < entries.size(); ++i) {
        const OptEntry& e = entries[i];
        const auto& [name, p] = params[i];
        if (e.name != name)
            CBNN_FAIL(prefix, "optimizer entry ", i, ": expected '", name, "', file has '", e.name,
                      "'");
        if (e.shape != p.shape())
            CBNN_FAIL(prefix, "optimizer '", name, "': shape ", e.shape, " in the file, ",
                      p.shape(), " in the model");
        Tensor host = Tensor::empty(e.shape, e.dtype);
        std::memcpy(host.raw_data(), e.data, host.nbytes());
        state.emplace_back(name, host);
    }
    // deserialize_state checks fully before it writes; its messages name the source too.
    try {
        deserialize_state(model, model_bytes, source);
    } catch (const Error& err) {
        CBNN_FAIL(prefix, "model state: ", err.what());
    }
    optimizer.load_state(state);
    return meta;
}

void save_checkpoint(const std::string& path, const CheckpointSnapshot& snapshot) {
    const std::vector<uint8_t> bytes = serialize_checkpoint(snapshot);
    write_file_atomic(path, bytes.data(), bytes.size(), "save_checkpoint");
}

void save_checkpoint(const std::string& path, const Module& model, const Sgd& optimizer,
                     const nlohmann::json& meta) {
    save_checkpoint(path, snapshot_checkpoint(model, optimizer, meta));
}

nlohmann::json load_checkpoint(const std::string& path, Module& model, Sgd& optimizer) {
    return deserialize_checkpoint(read_file_bytes(path, "load_checkpoint"), model, optimizer, path);
}

}  // namespace cbnn::train
