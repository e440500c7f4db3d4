#pragma once
// Training checkpoints: the model's state, the optimiser's momentum buffers and a JSON "meta"
// object (epoch, global step, seed, loader state, schedule position, run config) in one file.
//
// File format "CBNNCKPT", version 1. Integers little-endian, no padding:
//   magic          8 bytes  "CBNNCKPT"
//   version        u32      1
//   meta_length    u64      then meta_length bytes of UTF-8 JSON
//   model_length   u64      then model_length bytes: the model in layers/state_io.h's CBNNSTAT
//                           format (parameters + buffers, with its own checksum)
//   optimizer_count u64     then that many entries (Sgd::state(), the momentum buffers):
//     name_length u32, name bytes, dtype u8 (0 f32, 1 f64), rank u32, dims i64 x rank,
//     byte_count u64, data (row-major)
//   checksum       u64      FNV-1a 64 (layers/state_io.h fnv1a64) over every preceding byte
//
// save_checkpoint writes the bytes atomically (temporary file in the same folder, fsync, rename:
// tensor/file_io.h write_file_atomic), so a crash leaves the previous checkpoint intact.
// load_checkpoint checks magic, version, checksum and structure, then that the model state and the
// optimiser buffers match the given model and optimiser (names, dtypes, shapes), and only then
// writes into them; every error is a cbnn::Error "load_checkpoint: '<path>': <first problem>" and
// leaves model and optimiser unchanged.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "layers/module.h"
#include "layers/state_io.h"
#include "train/sgd.h"

namespace cbnn::train {

inline constexpr char kCheckpointMagic[8] = {'C', 'B', 'N', 'N', 'C', 'K', 'P', 'T'};
inline constexpr uint32_t kCheckpointVersion = 1;

// What a checkpoint holds, copied to the host at one moment (layers/state_io.h's StateSnapshot
// for the model; the momentum buffers likewise): taken on the training thread, serialized and
// written wherever convenient (train/background_writer.h), with the same bytes as a save taken
// directly at that moment.
struct CheckpointSnapshot {
    nlohmann::json meta;
    StateSnapshot model;
    NamedTensors optimizer;  // Sgd::state() as contiguous host copies, f32 or f64
};
// Throws if a momentum buffer is neither f32 nor f64. serialize_checkpoint(snapshot) takes
// snapshots from here only (it checks that its tensors are contiguous host copies).
CheckpointSnapshot snapshot_checkpoint(const Module& model, const Sgd& optimizer,
                                       nlohmann::json meta);
std::vector<uint8_t> serialize_checkpoint(const CheckpointSnapshot& snapshot);
std::vector<uint8_t> serialize_checkpoint(const Module& model, const Sgd& optimizer,
                                          const nlohmann::json& meta);
// `source` names the bytes in error messages.
nlohmann::json deserialize_checkpoint(const std::vector<uint8_t>& bytes, Module& model,
                                      Sgd& optimizer, const std::string& source);

// The meta JSON alone, after the same container checks (magic, version, checksum) as
// deserialize_checkpoint: for tools that need the run's config to build the model first.
nlohmann::json checkpoint_meta(const std::vector<uint8_t>& bytes, const std::string& source);

void save_checkpoint(const std::string& path, const Module& model, const Sgd& optimizer,
                     const nlohmann::json& meta);
void save_checkpoint(const std::string& path, const CheckpointSnapshot& snapshot);
// Returns the meta JSON.
nlohmann::json load_checkpoint(const std::string& path, Module& model, Sgd& optimizer);

}  // namespace cbnn::train
