// scripts/reproduce.sh --mps (scripts/cuda_mps.py): the sweep starts a CUDA MPS control daemon
// of its own, probes it, hands the trainers its pipe folder, tells it to quit after them, keeps
// its logs and records the sharing in the tables; where MPS cannot be had it says why and runs
// without; bad uses stop with one message. No GPU here: the control program and the probe are
// stand-ins (CBNN_MPS_CONTROL, CBNN_MPS_PROBE) that log what they are asked, and the trainer a
// wrapper that logs the pipe folder it sees and runs the CPU trainer in place of --device cuda.
#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tensor/backend.h"
#include "tests/data/data_test_support.h"
#include "tests/support/run_tool.h"
#include "tests/support/scratch.h"

namespace cbnn {
namespace {

namespace fs = std::filesystem;
using testing::read_text;
using testing::run_command;
using testing::ToolRun;

// FAKE_MPS_FAIL=1 makes `-d` fail as a daemon already running would.
constexpr const char* kFakeControl = R"bash(set -u
log=$FAKE_MPS_LOG
if [[ ${1-} == -d ]]; then
  echo "start pipe=$CUDA_MPS_PIPE_DIRECTORY log=$CUDA_MPS_LOG_DIRECTORY" >> "$log"
  if [[ ${FAKE_MPS_FAIL-0} == 1 ]]; then echo "An instance of this daemon is already running" >&2; exit 1; fi
  [[ -d $CUDA_MPS_PIPE_DIRECTORY && -d $CUDA_MPS_LOG_DIRECTORY ]] || exit 9
  echo "control daemon up" > "$CUDA_MPS_LOG_DIRECTORY/control.log"
  : > "$CUDA_MPS_PIPE_DIRECTORY/control"
  exit 0
fi
read -r command
echo "$command" >> "$log"
rm -f "$CUDA_MPS_PIPE_DIRECTORY/control"
)bash";

// FAKE_PROBE_STATUS=1 makes the probe fail as a CUDA client refused by the server would;
// FAKE_PROBE_SLEEP makes it take that many seconds first.
constexpr const char* kFakeProbe = R"bash(set -u
echo "probe pipe=${CUDA_MPS_PIPE_DIRECTORY-none}" >> "$FAKE_MPS_LOG"
sleep "${FAKE_PROBE_SLEEP-0}"
status=${FAKE_PROBE_STATUS-0}
((status == 0)) || echo "cuDevicePrimaryCtxRetain: CUDA_ERROR_MPS_CONNECTION_FAILED"
exit "$status"
)bash";

struct MpsSweep {
    fs::path dir, runs, log;
};

// A scratch folder with the stand-in control program, the trainer wrapper and a runs folder.
MpsSweep mps_sweep(const std::string& name) {
    MpsSweep s;
    s.dir = testing::scratch_dir(name);
    s.runs = s.dir / "runs";
    s.log = s.dir / "mps.log";
    testing::write_script(s.dir / "mps-control", kFakeControl);
    testing::write_script(s.dir / "mps-probe", kFakeProbe);
    // The sweep reads the trainer's --help once to check the options it passes on: not logged.
    testing::write_script(s.dir / "trainer",
                          std::string("[[ ${1-} == --help ]] && exec ") + CBNN_BINARY_DIR +
                              "/cbnn-train-cifar --help\n"
                              "echo \"trainer pipe=${CUDA_MPS_PIPE_DIRECTORY-none}\" >> " +
                              s.log.string() +
                              "\nargs=()\nfor a in \"$@\"; do [[ $a == cuda ]] && a=cpu; "
                              "args+=(\"$a\"); done\nexec " +
                              CBNN_BINARY_DIR + "/cbnn-train-cifar \"${args[@]}\"\n");
    return s;
}

ToolRun run_sweep(const MpsSweep& s, const std::string& env, const std::string& args) {
    return run_command(
        "FAKE_MPS_LOG=" + s.log.string() + " CBNN_MPS_CONTROL=" + (s.dir / "mps-control").string() +
        " CBNN_MPS_PROBE=" + (s.dir / "mps-probe").string() + " " + env + " bash " +
        CBNN_SOURCE_DIR + "/scripts/reproduce.sh --trainer " + (s.dir / "trainer").string() +
        " --runs " + s.runs.string() + " --data " + testing::data_dir() +
        "/cifar10-mini --imbalance 10 --epochs 1 --preset smoke --depth 8 "
        "--threads 0 --progress-every 1000 " +
        args);
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
}

TEST(ReproduceMps, TrainersShareTheSweepsOwnDaemonWhichQuitsAfterThem) {
    CBNN_REQUIRE_DATA("cifar10-mini");
    const MpsSweep s = mps_sweep("reproduce_mps");
    const ToolRun r = run_sweep(s, "", "--seed 0,1 --jobs 2 --mps --device cuda");
    ASSERT_EQ(r.status, 0) << r.output;
    EXPECT_NE(r.output.find("reproduce: MPS daemon started"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("reproduce: MPS daemon stopped"), std::string::npos) << r.output;

    // The daemon starts first with a pipe and a log folder of its own; the probe and both
    // trainers see that pipe folder; `quit` comes after them.
    const std::vector<std::string> log = lines_of(read_text(s.log));
    ASSERT_EQ(log.size(), 5u) << read_text(s.log);
    const std::string start = log[0];
    ASSERT_EQ(start.rfind("start pipe=", 0), 0u) << start;
    const std::string pipe = start.substr(11, start.find(" log=") - 11);
    EXPECT_EQ(start.substr(start.find(" log=") + 5), fs::path(pipe).parent_path() / "log");
    EXPECT_EQ(log[1], "probe pipe=" + pipe);
    EXPECT_EQ(log[2], "trainer pipe=" + pipe);
    EXPECT_EQ(log[3], "trainer pipe=" + pipe);
    EXPECT_EQ(log[4], "quit");
    // The temporary folder is gone and the daemon's log was kept beside the runs.
    EXPECT_FALSE(fs::exists(fs::path(pipe).parent_path()));
    EXPECT_EQ(read_text(s.runs / "mps-logs" / "control.log"), "control daemon up\n");

    for (const char* name : {"cifar10-if10-softmax-s0", "cifar10-if10-softmax-s1"}) {
        const auto sweep = nlohmann::json::parse(read_text(s.runs / name / "sweep.json"));
        EXPECT_EQ(sweep.at("mps"), true) << name;
    }
    const std::string results = read_text(s.runs / "results.md");
    EXPECT_NE(results.find(" (2 at once, MPS) |"), std::string::npos) << results;
    const std::vector<std::string> csv = lines_of(read_text(s.runs / "results.csv"));
    ASSERT_GE(csv.size(), 3u);
    EXPECT_NE(csv[0].find(",concurrent_jobs,mps,"), std::string::npos) << csv[0];
    EXPECT_NE(csv[1].find(",2,True,"), std::string::npos) << csv[1];
}

// MPS is a speed-up: where it cannot be had the sweep says why and runs the trainers without it
// (no pipe folder in their environment, mps false in the records), stopping a daemon it started.
TEST(ReproduceMps, WithoutAWorkingDaemonTheTrainersRunAlone) {
    CBNN_REQUIRE_DATA("cifar10-mini");
    struct Case {
        std::string env, message, log_before_trainer;
    };
    const std::vector<Case> cases = {
        {"CBNN_MPS_CONTROL=no-such-mps-control",
         "reproduce: --mps: no-such-mps-control is not on PATH (it comes with the NVIDIA "
         "driver's utilities); running without MPS",
         ""},
        {"FAKE_MPS_FAIL=1",
         "failed with exit status 1: An instance of this daemon is already running; running "
         "without MPS",
         "start quit"},
        {"FAKE_PROBE_STATUS=1",
         "reproduce: --mps: a CUDA program could not start under the daemon "
         "(cuDevicePrimaryCtxRetain: CUDA_ERROR_MPS_CONNECTION_FAILED); running without MPS",
         "start probe quit"},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.env);
        const MpsSweep s = mps_sweep("reproduce_mps_without");
        const ToolRun r = run_sweep(s, c.env, "--seed 0 --jobs 2 --mps --device cuda");
        ASSERT_EQ(r.status, 0) << r.output;
        EXPECT_NE(r.output.find(c.message), std::string::npos) << r.output;
        EXPECT_EQ(r.output.find("MPS daemon started"), std::string::npos) << r.output;
        // What ran, by the first word of each log line, ends with the trainer, alone.
        std::string ran;
        for (const std::string& line : lines_of(read_text(s.log)))
            ran += (ran.empty() ? "" : " ") + line.substr(0, line.find(' '));
        EXPECT_EQ(ran,
                  c.log_before_trainer + (c.log_before_trainer.empty() ? "" : " ") + "trainer");
        EXPECT_NE(read_text(s.log).find("trainer pipe=none"), std::string::npos);
        const auto sweep =
            nlohmann::json::parse(read_text(s.runs / "cifar10-if10-softmax-s0" / "sweep.json"));
        EXPECT_EQ(sweep.at("mps"), false);
        EXPECT_NE(read_text(s.runs / "results.md").find(" (2 at once) |"), std::string::npos);
    }
}

// SIGTERM (`timeout`) while the daemon is being probed: the sweep stops with one message, the
// daemon is told to quit and its temporary folder goes; no trainer starts.
TEST(ReproduceMps, AnInterruptWhileStartingLeavesNoDaemon) {
    CBNN_REQUIRE_DATA("cifar10-mini");
    const MpsSweep s = mps_sweep("reproduce_mps_interrupt");
    const ToolRun r = run_sweep(s, "FAKE_PROBE_SLEEP=30 timeout -s TERM 3",
                                "--seed 0 --jobs 2 --mps --device cuda");
    EXPECT_EQ(r.status, 124) << r.output;  // timeout's own status for a command it stopped
    EXPECT_NE(r.output.find("reproduce: interrupted; run the same command again"),
              std::string::npos)
        << r.output;
    const std::vector<std::string> log = lines_of(read_text(s.log));
    ASSERT_EQ(log.size(), 3u) << read_text(s.log);
    EXPECT_EQ(log[1].rfind("probe pipe=", 0), 0u) << log[1];
    EXPECT_EQ(log[2], "quit");
    const std::string pipe = log[0].substr(11, log[0].find(" log=") - 11);
    EXPECT_FALSE(fs::exists(fs::path(pipe).parent_path())) << pipe;
}

TEST(ReproduceMps, BadUsesStopBeforeAnyTrainerRuns) {
    const MpsSweep s = mps_sweep("reproduce_mps_bad");
    const std::pair<std::string, std::string> cases[] = {
        {"--jobs 1 --mps --device cuda",
         "reproduce: --mps shares the GPU between the --jobs trainers: give --jobs 2 or more"},
        {"--jobs 2 --mps", "reproduce: --mps is for trainers on a GPU: give --device cuda"},
    };
    for (const auto& [args, message] : cases) {
        SCOPED_TRACE(args);
        const ToolRun r = run_sweep(s, "", "--seed 0,1 " + args);
        EXPECT_EQ(r.status, 1) << r.output;
        EXPECT_NE(r.output.find(message), std::string::npos) << r.output;
        EXPECT_FALSE(fs::exists(s.log)) << read_text(s.log);
    }
}

// The real probe: a context on the GPU where there is one, else one line saying why not.
TEST(ReproduceMps, ProbeStartsACudaContextOrSaysWhyNot) {
    const ToolRun r =
        run_command(std::string("python3 ") + CBNN_SOURCE_DIR + "/scripts/cuda_mps.py --probe");
    if (cuda_available()) {
        EXPECT_EQ(r.status, 0) << r.output;
        EXPECT_EQ(r.output, "");
    } else {
        EXPECT_EQ(r.status, 1) << r.output;
        EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
    }
}

}  // namespace
}  // namespace cbnn
