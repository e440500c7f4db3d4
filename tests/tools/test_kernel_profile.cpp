// scripts/kernel_profile.py (the table of an ncu kernel-duration CSV) on a CSV written here in
// ncu's layout, and scripts/gpu-check.sh's profile step (CBNN_PROFILE_CASES) with a stand-in ncu
// that writes such a CSV where --log-file says and records how it was called.
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/support/run_tool.h"
#include "tests/support/scratch.h"

namespace cbnn {
namespace {

namespace fs = std::filesystem;
using testing::read_text;
using testing::run_command;
using testing::ToolRun;

struct Kernel {
    std::string name, unit, value;  // as ncu's details page prints the duration
    double us;                      // the same duration in microseconds
};

// Two profiled steps of five kernel kinds, 65 us of kernels per step: cbnn's convolution 2 x 10,
// a cuDNN filter gradient 30, cbnn's batch norm 2 x 5, cuDNN's batch norm 4, the SGD update 1
// (printed in us, the rest in ns, one with a thousands separator).
const std::vector<Kernel> kStep = {
    {"void cbnn::cuda::(anonymous namespace)::gather_gemm_kernel<cbnn::bfloat16, false, 4>(const "
     "cbnn::bfloat16 *, const cbnn::bfloat16 *, cbnn::Conv2dShape, long)",
     "nsecond", "10,000", 10},
    {"sm90_xmma_wgrad_implicit_gemm_bf16bf16_bf16f32_f32_nhwckrsc_nhwc_tilesize64x64x64", "nsecond",
     "30000", 30},
    {"void cbnn::cuda::(anonymous namespace)::bn_nhwc_apply_kernel<cbnn::bfloat16>(const "
     "cbnn::bfloat16 *, bool)",
     "nsecond", "5000", 5},
    {"void cbnn::cuda::(anonymous namespace)::gather_gemm_kernel<cbnn::bfloat16, false, 4>(const "
     "cbnn::bfloat16 *, const cbnn::bfloat16 *, cbnn::Conv2dShape, long)",
     "nsecond", "10000", 10},
    {"void cudnn::bn_fw_tr_1C11_kernel_NCHW<float, float, int, 512, true, 1>(float)", "nsecond",
     "4000", 4},
    {"void cbnn::cuda::(anonymous namespace)::bn_nhwc_apply_kernel<cbnn::bfloat16>(const "
     "cbnn::bfloat16 *, bool)",
     "nsecond", "5000", 5},
    {"void cbnn::cuda::sgd_update_multi_kernel(cbnn::cuda::SgdBatch)", "usecond", "1", 1},
};

std::string quoted(const std::string& s) { return "\"" + s + "\""; }

// ncu's --csv --log-file output for `steps` repeats of kStep, after its ==PROF== lines; each
// kernel also has a second metric, which the table ignores.
std::string ncu_csv(int steps) {
    std::string out = "==PROF== Connected to process 4242 (bench_train_step)\n";
    out +=
        "\"ID\",\"Process ID\",\"Process Name\",\"Host Name\",\"Kernel Name\",\"Context\","
        "\"Stream\",\"Block Size\",\"Grid Size\",\"Device\",\"CC\",\"Section Name\","
        "\"Metric Name\",\"Metric Unit\",\"Metric Value\"\n";
    int id = 0;
    for (int s = 0; s < steps; ++s) {
        for (const Kernel& k : kStep) {
            const std::string head = quoted(std::to_string(id++)) +
                                     ",\"4242\",\"bench\",\"host\"," + quoted(k.name) +
                                     ",\"1\",\"7\",\"(128, 1, 1)\",\"(64, 1, 1)\",\"0\",\"9.0\","
                                     "\"Command line profiler metrics\",";
            out += head + "\"gpu__time_duration.sum\"," + quoted(k.unit) + "," + quoted(k.value) +
                   "\n";
            out += head + "\"dram__bytes.sum\",\"byte\",\"1024\"\n";
        }
    }
    return out + "==PROF== Disconnected from process 4242\n";
}

ToolRun kernel_profile(const std::string& args) {
    return run_command(std::string("python3 ") + CBNN_SOURCE_DIR + "/scripts/kernel_profile.py " +
                       args);
}

TEST(KernelProfile, TablesKernelsAndKindsPerStep) {
    const fs::path dir = testing::scratch_dir("kernel_profile");
    std::ofstream(dir / "profile.csv") << ncu_csv(2);
    const ToolRun r = kernel_profile((dir / "profile.csv").string() + " --steps 2 --step-ms 0.1");
    ASSERT_EQ(r.status, 0) << r.output;
    const std::string expected_head =
        "kernel profile: 7 kernels, 0.065 ms of kernel time per step (2 steps profiled, kernels "
        "run one at a time)\n"
        "measured step 0.100 ms: 0.035 ms (35 %) outside kernels (launch gaps, host waits)\n"
        "largest kinds: conv (cuDNN) 46 %, conv (cbnn) 31 %, batch norm 22 %\n"
        "\n"
        "by kind, per step:\n"
        "  kind                     ms   share  kernels\n"
        "  conv (cuDNN)          0.030   46.2%      1.0\n"
        "  conv (cbnn)           0.020   30.8%      2.0\n"
        "  batch norm            0.014   21.5%      3.0\n"
        "  SGD                   0.001    1.5%      1.0\n"
        "\n"
        "top 5 kernels of 5, per step:\n"
        "        us   share  calls  mean us  kind / kernel\n"
        "      30.0   46.2%    1.0     30.0  conv (cuDNN): "
        "sm90_xmma_wgrad_implicit_gemm_bf16bf16_bf16f32_f32_nhwckrsc_nhwc_tile...\n"
        "      20.0   30.8%    2.0     10.0  conv (cbnn): gather_gemm_kernel<bfloat16, false, 4>\n"
        "      10.0   15.4%    2.0      5.0  batch norm: bn_nhwc_apply_kernel<bfloat16>\n"
        "       4.0    6.2%    1.0      4.0  batch norm: bn_fw_tr_1C11_kernel_NCHW<float, float, "
        "int, 512, true, 1>\n"
        "       1.0    1.5%    1.0      1.0  SGD: sgd_update_multi_kernel\n";
    EXPECT_EQ(r.output, expected_head);
}

// ncu --page raw: a column per metric, the units in the row under the header (here in us).
TEST(KernelProfile, ReadsTheRawPageToo) {
    const fs::path dir = testing::scratch_dir("kernel_profile_raw");
    std::string csv =
        "\"ID\",\"Process ID\",\"Kernel Name\",\"dram__bytes.sum\",\"gpu__time_duration.sum\"\n"
        "\"\",\"\",\"\",\"byte\",\"usecond\"\n";
    int id = 0;
    for (const Kernel& k : kStep) {
        csv += quoted(std::to_string(id++)) + ",\"1\"," + quoted(k.name) + ",\"64\"," +
               quoted(std::to_string(k.us)) + "\n";
    }
    std::ofstream(dir / "raw.csv") << csv << "==PROF== Disconnected from process 4242\n";
    const ToolRun r = kernel_profile((dir / "raw.csv").string() + " --steps 1");
    ASSERT_EQ(r.status, 0) << r.output;
    EXPECT_EQ(r.output.rfind("kernel profile: 7 kernels, 0.065 ms of kernel time per step", 0), 0u)
        << r.output;
    EXPECT_NE(r.output.find("largest kinds: conv (cuDNN) 46 %, conv (cbnn) 31 %, batch norm 22 %"),
              std::string::npos)
        << r.output;
}

// Hopper's cuBLAS kernels (nvjet_*) are matmuls; the sigmoid / focal loss kernel
// (binary_rows_kernel) is the loss, not the elementwise binary op it shares a prefix with.
TEST(KernelProfile, KindsOfHopperMatmulsAndTheLossKernels) {
    const fs::path dir = testing::scratch_dir("kernel_profile_kinds");
    std::ofstream(dir / "kinds.csv")
        << "\"ID\",\"Kernel Name\",\"Metric Name\",\"Metric Unit\",\"Metric Value\"\n"
           "\"0\",\"nvjet_hsh_64x8_64x16_2x1_v_bz_TNN\",\"gpu__time_duration.sum\",\"nsecond\","
           "\"3000\"\n"
           "\"1\",\"void cbnn::cuda::binary_rows_kernel<32, cbnn::cuda::FocalOp>(const float *)\","
           "\"gpu__time_duration.sum\",\"nsecond\",\"2000\"\n"
           "\"2\",\"void cbnn::cuda::binary_kernel<cbnn::AddOp>(float *)\","
           "\"gpu__time_duration.sum\",\"nsecond\",\"1000\"\n";
    const ToolRun r = kernel_profile((dir / "kinds.csv").string() + " --steps 1");
    ASSERT_EQ(r.status, 0) << r.output;
    EXPECT_NE(r.output.find("largest kinds: matmul (cuBLAS) 50 %, loss 33 %, elementwise 17 %"),
              std::string::npos)
        << r.output;
}

TEST(KernelProfile, TakesTheStepTimeFromTheBenchmarkJson) {
    const fs::path dir = testing::scratch_dir("kernel_profile_json");
    std::ofstream(dir / "profile.csv") << ncu_csv(1);
    // Google Benchmark's JSON: the first matching case's median when repeated; times in its unit.
    std::ofstream(dir / "bench.json") << R"({"benchmarks": [
        {"name": "BM_TrainStep/depth:32/graph:0/manual_time", "run_type": "iteration",
         "real_time": 9.0, "time_unit": "ms"},
        {"name": "BM_TrainStep/depth:32/graph:1/manual_time", "run_name":
         "BM_TrainStep/depth:32/graph:1/manual_time", "run_type": "iteration",
         "real_time": 0.2, "time_unit": "ms"},
        {"name": "BM_TrainStep/depth:32/graph:1/manual_time_median", "run_name":
         "BM_TrainStep/depth:32/graph:1/manual_time", "run_type": "aggregate",
         "aggregate_name": "median", "real_time": 130.0, "time_unit": "us"}]})";
    const std::string args =
        (dir / "profile.csv").string() + " --steps 1 --bench-json " + (dir / "bench.json").string();
    const ToolRun r = kernel_profile(args + " --case 'depth:32/graph:1'");
    ASSERT_EQ(r.status, 0) << r.output;
    EXPECT_NE(r.output.find("measured step 0.130 ms: 0.065 ms (50 %) outside kernels"),
              std::string::npos)
        << r.output;
    const ToolRun none = kernel_profile(args + " --case 'depth:50'");
    ASSERT_EQ(none.status, 0) << none.output;
    EXPECT_NE(none.output.find("no measured case matching 'depth:50'"), std::string::npos)
        << none.output;
    EXPECT_EQ(none.output.find("measured step"), std::string::npos) << none.output;
}

TEST(KernelProfile, BadInputGetsOneMessage) {
    const fs::path dir = testing::scratch_dir("kernel_profile_bad");
    std::ofstream(dir / "empty.csv") << "==PROF== Disconnected from process 1\n";
    std::ofstream(dir / "other.csv") << "\"ID\",\"Kernel Name\",\"Metric Name\",\"Metric Unit\","
                                        "\"Metric Value\"\n\"0\",\"k\",\"sm__cycles\",\"cycle\","
                                        "\"5\"\n";
    std::ofstream(dir / "unit.csv") << "\"ID\",\"Kernel Name\",\"Metric Name\",\"Metric Unit\","
                                       "\"Metric Value\"\n\"0\",\"k\",\"gpu__time_duration.sum\","
                                       "\"fortnight\",\"5\"\n";
    const std::string d = dir.string();
    const std::pair<std::string, std::string> cases[] = {
        {d + "/missing.csv --steps 1",
         "kernel_profile: cannot read " + d + "/missing.csv: No such file or directory"},
        {d + "/empty.csv --steps 1", "no ncu CSV header"},
        {d + "/other.csv --steps 1",
         "no gpu__time_duration.sum values (run ncu with --metrics gpu__time_duration.sum)"},
        {d + "/unit.csv --steps 1", "unknown time unit 'fortnight'"},
        {d + "/other.csv --steps 0", "--steps: expected a whole number of at least 1, got 0"},
        {d + "/other.csv --steps 1 --step-ms -2", "--step-ms: expected a positive time"},
        {d + "/other.csv --steps 1 --case x", "--bench-json and --case go together"},
    };
    for (const auto& [args, message] : cases) {
        const ToolRun r = kernel_profile(args);
        EXPECT_EQ(r.status, 1) << args << "\n" << r.output;
        EXPECT_NE(r.output.find(message), std::string::npos) << args << "\n" << r.output;
    }
}

// gpu-check's step 3c: ncu runs with profiling off until the range, the case's filter and
// CBNN_PROFILE_STEPS (1 unless set); the table and the summary lines come from the CSV it wrote.
// Step 1 also says whether a sweep's --mps could work (the control program, the CUDA probe).
TEST(KernelProfile, GpuCheckProfilesEachCaseItIsGiven) {
    const fs::path dir = testing::scratch_dir("kernel_profile_gpu_check");
    std::ofstream(dir / "step.csv") << ncu_csv(1);
    testing::write_script(dir / "bin" / "ncu",
                          "echo \"ncu $* steps=$CBNN_PROFILE_STEPS\" >> " +
                              (dir / "ncu.log").string() +
                              "\nwhile (($#)); do [[ $1 == --log-file ]] && cp " +
                              (dir / "step.csv").string() + " \"$2\"; shift; done\n");
    fs::create_directories(dir / "build");
    const ToolRun r = run_command(
        "PATH=" + (dir / "bin").string() + ":$PATH CBNN_BUILD_DIR=" + (dir / "build").string() +
        " LOGDIR=" + (dir / "logs").string() +
        " CBNN_PROFILE_CASES='BM_TrainStep/depth:32/;BM_TrainStep/depth:50/' bash " +
        CBNN_SOURCE_DIR + "/scripts/gpu-check.sh");
    const std::string calls = read_text(dir / "ncu.log");
    EXPECT_NE(calls.find("--profile-from-start off"), std::string::npos) << calls;
    EXPECT_NE(calls.find("--launch-count 5000 --metrics gpu__time_duration.sum --csv "
                         "--print-units base --log-file " +
                         (dir / "logs" / "profile-1.csv").string() + " " +
                         (dir / "build" / "bench_train_step").string() +
                         " --benchmark_filter=BM_TrainStep/depth:32/"),
              std::string::npos)
        << calls;
    EXPECT_NE(calls.find("--benchmark_filter=BM_TrainStep/depth:50/"), std::string::npos) << calls;
    EXPECT_NE(calls.find("steps=1\n"), std::string::npos) << calls;
    EXPECT_NE(r.output.find("\nMPS                      nvidia-cuda-mps-control: "),
              std::string::npos)
        << r.output;
    EXPECT_NE(read_text(dir / "logs" / "profile-2.txt").find("by kind, per step:"),
              std::string::npos);
    EXPECT_NE(r.output.find("profile 1                BM_TrainStep/depth:32/: ok"),
              std::string::npos)
        << r.output;
    EXPECT_NE(r.output.find("  kernels                7 kernels, 0.065 ms of kernel time per "
                            "step"),
              std::string::npos)
        << r.output;
    EXPECT_NE(r.output.find("  largest                conv (cuDNN) 46 %, conv (cbnn) 31 %, "
                            "batch norm 22 %"),
              std::string::npos)
        << r.output;
}

}  // namespace
}  // namespace cbnn
