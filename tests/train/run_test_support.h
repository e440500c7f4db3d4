#pragma once
// Helpers of the trainer tests: counting and reading metrics.jsonl lines and comparing two runs'
// checkpoints (parameters, BN buffers, momentum) bit for bit.

#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "train/checkpoint.h"

namespace cbnn::testing {

inline int64_t lines_of(const std::filesystem::path& path) {
    std::ifstream in(path);
    int64_t n = 0;
    for (std::string line; std::getline(in, line);) n += line.empty() ? 0 : 1;
    return n;
}

// Every line of a JSON-lines file (metrics.jsonl), parsed; a line that is not JSON throws.
inline std::vector<nlohmann::json> json_lines(const std::filesystem::path& path) {
    std::vector<nlohmann::json> lines;
    std::ifstream in(path);
    for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
    return lines;
}

inline std::vector<uint8_t> bytes_of(const Tensor& t) {
    const Tensor h = t.detach().cpu().contiguous();
    const auto* p = static_cast<const uint8_t*>(h.raw_data());
    return {p, p + h.nbytes()};
}

struct LoadedRun {
    NamedTensors params, buffers, momentum;
    nlohmann::json meta;
};

// Loads the checkpoint at `path` into `model` (built with any seed: every tensor is overwritten).
inline LoadedRun load_run(const std::shared_ptr<Module>& model, const std::string& path) {
    Sgd sgd(model->named_parameters(), SgdOptions{});
    LoadedRun l;
    l.meta = train::load_checkpoint(path, *model, sgd);
    l.params = model->named_parameters();
    l.buffers = model->named_buffers();
    l.momentum = sgd.state();
    return l;
}

inline void expect_bitwise_equal(const NamedTensors& a, const NamedTensors& b) {
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i)
        EXPECT_EQ(bytes_of(a[i].second), bytes_of(b[i].second)) << a[i].first;
}

inline void expect_same_run(const LoadedRun& a, const LoadedRun& b) {
    EXPECT_EQ(a.meta.at("step"), b.meta.at("step"));
    EXPECT_EQ(a.meta.at("loader"), b.meta.at("loader"));
    expect_bitwise_equal(a.params, b.params);
    expect_bitwise_equal(a.buffers, b.buffers);
    expect_bitwise_equal(a.momentum, b.momentum);
}

}  // namespace cbnn::testing
