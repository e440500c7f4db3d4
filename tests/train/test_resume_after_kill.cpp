// cbnn-train-cifar killed (SIGKILL) in the middle of a run, then resumed with --resume: the
// resumed run ends with the same weights, BN statistics and momentum as an uninterrupted run with
// the same seed, bit for bit (CPU), and metrics.jsonl holds each epoch once.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "models/resnet_cifar.h"
#include "tests/data/data_test_support.h"
#include "tests/support/run_tool.h"
#include "train/checkpoint.h"
#include "train/sgd.h"

namespace cbnn {
namespace {

namespace fs = std::filesystem;
using testing::run_tool;
using testing::ToolRun;

constexpr int kEpochs = 2;

std::vector<std::string> run_args(const std::string& out) {
    return {"--preset",     "smoke", "--epochs",     std::to_string(kEpochs),
            "--imbalance",  "5",     "--loss",       "focal",
            "--beta",       "0.99",  "--gamma",      "1",
            "--lr-steps",   "1.5",   "--lr-factors", "0.1",
            "--batch-size", "32",    "--threads",    "1",
            "--seed",       "11",    "--data",       testing::data_dir() + "/cifar10-mini",
            "--out",        out};
}

std::string joined(const std::vector<std::string>& args) {
    std::string s;
    for (const auto& a : args) s += a + " ";
    return s;
}

int64_t lines_of(const fs::path& path) {
    std::ifstream in(path);
    int64_t n = 0;
    for (std::string line; std::getline(in, line);) n += line.empty() ? 0 : 1;
    return n;
}

// Starts the tool, waits until its first checkpoint exists (epoch 1 done), then kills it.
// Returns false (with a reason) if the run ended before it could be killed.
bool start_and_kill_after_first_checkpoint(const std::vector<std::string>& args,
                                           const fs::path& out, std::string* why) {
    const std::string tool = std::string(CBNN_BINARY_DIR) + "/cbnn-train-cifar";
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(tool.c_str()));
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    const pid_t pid = fork();
    if (pid == 0) {
        const int devnull = ::open("/dev/null", O_WRONLY);
        if (devnull >= 0) dup2(devnull, STDOUT_FILENO), dup2(devnull, STDERR_FILENO);
        execv(tool.c_str(), argv.data());
        _exit(127);
    }
    if (pid < 0) return *why = "fork failed", false;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (!fs::exists(out / "checkpoint.bin")) {
        int status = 0;
        if (waitpid(pid, &status, WNOHANG) == pid)
            return *why = "the run ended before its first checkpoint", false;
        if (std::chrono::steady_clock::now() > deadline) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFSIGNALED(status)) return *why = "the run finished before the kill", false;
    return true;
}

struct Final {
    NamedTensors params, buffers, momentum;
    nlohmann::json meta;
};

Final load_final(const fs::path& out) {
    ResNetCifarOptions o;
    o.depth = 8;
    Generator gen(0);
    ResNetCifar model(o, gen);
    Sgd sgd(model.named_parameters(), SgdOptions{});
    Final f;
    f.meta = train::load_checkpoint((out / "checkpoint.bin").string(), model, sgd);
    f.params = model.named_parameters();
    f.buffers = model.named_buffers();
    f.momentum = sgd.state();
    return f;
}

std::vector<uint8_t> bytes_of(const Tensor& t) {
    const Tensor h = t.detach().cpu().contiguous();
    const auto* p = static_cast<const uint8_t*>(h.raw_data());
    return {p, p + h.nbytes()};
}

void expect_bitwise_equal(const NamedTensors& a, const NamedTensors& b) {
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i)
        EXPECT_EQ(bytes_of(a[i].second), bytes_of(b[i].second)) << a[i].first;
}

TEST(TrainCifarTool, ResumeAfterAKillEqualsTheUninterruptedRun) {
    CBNN_REQUIRE_DATA("cifar10-mini");
    const fs::path straight = testing::scratch_dir("kill_straight");
    const fs::path killed = testing::scratch_dir("kill_resumed");
    fs::remove_all(straight);
    fs::remove_all(killed);

    const ToolRun whole = run_tool("cbnn-train-cifar", joined(run_args(straight.string())));
    ASSERT_EQ(whole.status, 0) << whole.output;

    std::string why;
    ASSERT_TRUE(start_and_kill_after_first_checkpoint(run_args(killed.string()), killed, &why))
        << why;
    const int64_t epochs_before = load_final(killed).meta.at("epoch").get<int64_t>();
    EXPECT_GE(epochs_before, 1);
    EXPECT_LT(epochs_before, kEpochs);

    const ToolRun resumed =
        run_tool("cbnn-train-cifar", joined(run_args(killed.string())) + "--resume");
    ASSERT_EQ(resumed.status, 0) << resumed.output;
    EXPECT_NE(resumed.output.find("resumed from"), std::string::npos) << resumed.output;

    const Final a = load_final(straight), b = load_final(killed);
    EXPECT_EQ(a.meta.at("epoch"), kEpochs);
    EXPECT_EQ(b.meta.at("epoch"), kEpochs);
    EXPECT_EQ(a.meta.at("step"), b.meta.at("step"));
    expect_bitwise_equal(a.params, b.params);
    expect_bitwise_equal(a.buffers, b.buffers);
    expect_bitwise_equal(a.momentum, b.momentum);
    // The epochs run after the checkpoint and lost to the kill are run again, not appended twice.
    EXPECT_EQ(lines_of(killed / "metrics.jsonl"), kEpochs);
}

}  // namespace
}  // namespace cbnn
