#pragma once
// Save and load of a module's state: every parameter and buffer, by dotted name
// (Module::named_parameters / named_buffers), bit-exact.
//
// File format "CBNNSTAT", version 1. Every integer is little-endian; there is no padding.
//
//   magic         8 bytes   "CBNNSTAT"
//   version       u32       1
//   entry_count   u64
//   entry_count entries, the parameters first (named_parameters order), then the buffers
//   (named_buffers order):
//     name_length u32       in bytes, 1 .. 65536
//     name        bytes     the dotted name, e.g. "layer1.0.conv1.weight" (no terminator)
//     kind        u8        0 = parameter, 1 = buffer
//     dtype       u8        0 = f32, 1 = f64, 2 = i64, 3 = u8, 4 = bf16 (raw bits)
//     rank        u32       0 .. 8
//     dims        i64 x rank
//     byte_count  u64       product(dims) * element size
//     data        bytes     the elements in row-major order (IEEE-754 floats, two's complement
//                           integers), little-endian
//   checksum      u64       FNV-1a 64 over every preceding byte, magic included
//                           (offset basis 0xcbf29ce484222325, prime 0x100000001b3)
//
// save_state writes "<path>.tmp", fsyncs it and renames it over `path`, so a crash leaves either
// the old file or the new one, never half of one. CUDA tensors are copied to the host to be
// written.
//
// load_state reads the whole file and checks, in this order: magic, version, checksum, the entry
// structure, then the entries against the module one by one (name, kind, dtype, shape); the first
// difference is an error naming the file and the entry, e.g.
//   load_state: 'ckpt/model.state': entry 3: expected 'layer1.0.conv1.weight', file has
//   'conv1.weight'
//   load_state: 'm.state': 'fc.weight': shape [10, 64] in the file, [100, 64] in the model
// Only when everything matches are the values copied, in place, into the module's existing
// tensors (under NoGradGuard), so their devices and every handle to them stay valid; a failed
// load leaves the module unchanged.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "layers/module.h"

namespace cbnn {

inline constexpr char kStateMagic[8] = {'C', 'B', 'N', 'N', 'S', 'T', 'A', 'T'};
inline constexpr uint32_t kStateFormatVersion = 1;

// FNV-1a 64 of n bytes: the checksum of the format.
uint64_t fnv1a64(const uint8_t* data, size_t n);

// The checks every cbnn container file (this format, train/checkpoint.h's) starts with: the
// 8-byte magic, at least `minimum_size` bytes, the u32 format version at offset 8, and the
// trailing FNV-1a 64 checksum. Returns the size of the body (everything before the checksum);
// failures throw "<prefix>not a <kind> (it does not start with "<magic>")", "truncated: ...",
// "format version ...", "corrupt or truncated: checksum mismatch (...)".
size_t check_container(const std::vector<uint8_t>& bytes, const char (&magic)[8], uint32_t version,
                       size_t minimum_size, const std::string& kind, const std::string& prefix);

// A module's state copied to the host at one moment: every parameter and buffer (in the file's
// order) as a contiguous CPU tensor of its own, which later updates of the module do not reach.
// Taking it is the only part of a save that touches the module (and the GPU: CUDA tensors are
// copied to the host, which waits for the work queued before); serializing and writing it may then
// happen on another thread while the module trains on (train/background_writer.h).
struct StateSnapshot {
    struct Item {
        std::string name;
        bool is_buffer = false;
        Tensor host;
    };
    std::vector<Item> items;
};
StateSnapshot snapshot_state(const Module& module);
// A contiguous host copy of `t` that shares no memory with it (a CPU tensor is copied too).
Tensor host_copy(const Tensor& t);

// The file's bytes, in memory; a snapshot comes from snapshot_state (its items on the CPU and
// contiguous, which is checked).
std::vector<uint8_t> serialize_state(const StateSnapshot& snapshot);
std::vector<uint8_t> serialize_state(const Module& module);
// Checks and loads bytes in the format above; `source` names them in error messages.
void deserialize_state(Module& module, const std::vector<uint8_t>& bytes,
                       const std::string& source = "<memory>");

void save_state(const Module& module, const std::string& path);
void load_state(Module& module, const std::string& path);

}  // namespace cbnn
