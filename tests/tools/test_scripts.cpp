// The shell scripts of scripts/ other than the sweep (test_reproduce*.cpp) and the GPU check
// (test_gpu_check.cpp, test_cuda_tests_script.cpp), run as a user runs them: every one answers
// --help without doing anything and refuses an argument it does not know; scripts/demo.sh (with a
// stand-in trainer, so without a build) and scripts/check-report.sh on good and broken reports.
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/data/data_test_support.h"
#include "tests/support/run_tool.h"
#include "tests/support/scratch.h"

namespace cbnn {
namespace {

namespace fs = std::filesystem;
using testing::read_text;
using testing::run_command;
using testing::ToolRun;
using testing::write_script;

const std::string kScripts = std::string(CBNN_SOURCE_DIR) + "/scripts/";

// A folder of stand-ins for every program the scripts below would use to install, build, test or
// probe a GPU: each logs its name and arguments to `log` and succeeds. Put first on PATH, so that
// even a script that ignored --help would change nothing on this machine.
std::string fake_path(const fs::path& dir, const fs::path& log) {
    for (const char* tool : {"apt-get", "sudo", "cmake", "ctest", "ninja", "nvidia-smi", "ldd",
                             "clang++", "g++", "compute-sanitizer", "ncu"})
        write_script(dir / tool, "echo \"" + std::string(tool) + " $*\" >> " + log.string() + "\n");
    return dir.string() + ":" + std::getenv("PATH");
}

// install-deps.sh would install packages as root, build.sh and sanitize.sh build, test.sh builds
// and runs the suite, gpu-prep.sh packs and gpu-check.sh runs on the GPU: with --help or -h each
// prints its usage and environment and does none of it; with an unknown argument it stops with
// one message and exit status 1, equally without doing anything.
TEST(Scripts, NoArgumentScriptsAnswerHelpAndRefuseUnknownArguments) {
    const fs::path dir = testing::scratch_dir("scripts_help");
    const fs::path log = dir / "tools.log";
    const std::string env = "PATH=" + fake_path(dir / "bin", log) +
                            " CBNN_BUILD_DIR=" + (dir / "build").string() +
                            " CBNN_ASAN_DIR=" + (dir / "asan").string() +
                            " CBNN_GPU_ARCHIVE=" + (dir / "gpu.tar.gz").string() +
                            " LOGDIR=" + (dir / "gpu-logs").string() + " ";
    const std::vector<std::pair<std::string, std::vector<std::string>>> scripts = {
        {"install-deps", {"CBNN_SKIP_DEPS", "CBNN_INSTALL_BROWSER", "libgtest-dev"}},
        {"build", {"CBNN_BUILD_DIR", "CBNN_BUILD_TYPE", "CBNN_CMAKE_ARGS", "CBNN_JOBS"}},
        {"test", {"CBNN_TEST_TIMEOUT", "CBNN_CMAKE_ARGS", "CI "}},
        {"sanitize", {"CBNN_ASAN_DIR", "CBNN_TEST_FILTER", "AddressSanitizer"}},
        {"gpu-prep", {"CBNN_BUILD_DIR", "CBNN_GPU_ARCHIVE", "build.tar.gz"}},
        {"gpu-check", {"CBNN_BUILD_DIR", "CBNN_TOTAL_BUDGET", "LOGDIR", "CBNN_TRAIN_ARGS"}},
    };
    for (const auto& [name, mentions] : scripts) {
        SCOPED_TRACE(name);
        const std::string script = kScripts + name + ".sh";
        for (const char* flag : {"--help", "-h"}) {
            const ToolRun help = run_command(env + "bash " + script + " " + flag);
            EXPECT_EQ(help.status, 0) << help.output;
            EXPECT_NE(help.output.find("Usage: "), std::string::npos) << help.output;
            EXPECT_NE(help.output.find("scripts/" + name + ".sh"), std::string::npos)
                << help.output;
            for (const std::string& text : mentions)
                EXPECT_NE(help.output.find(text), std::string::npos) << text << "\n" << help.output;
            EXPECT_EQ(help.output.find("==>"), std::string::npos) << help.output;  // no step ran
        }
        const ToolRun bad = run_command(env + "bash " + script + " --bogus");
        EXPECT_EQ(bad.status, 1) << bad.output;
        EXPECT_EQ(bad.output, name + ": unknown argument '--bogus': it takes none (see scripts/" +
                                  name + ".sh --help)\n");
        EXPECT_FALSE(fs::exists(log)) << read_text(log);
        fs::remove(log);
    }
    for (const char* made : {"build", "asan", "gpu.tar.gz", "gpu-logs"})
        EXPECT_FALSE(fs::exists(dir / made)) << made;
}

// A stand-in for cbnn-train-cifar in `build`: prints its folder and arguments, refuses an option
// given twice as CLI11 does, and ends as the trainer does.
void write_fake_trainer(const fs::path& build) {
    write_script(build / "cbnn-train-cifar", R"bash(echo "cwd: $PWD"
echo "args: $*"
declare -A seen
for a in "$@"; do
  if [[ $a == --* ]]; then
    [[ -n ${seen[$a]-} ]] && { echo "$a: At Most 1 required but received 2"; exit 109; }
    seen[$a]=1
  fi
done
echo "final test error 0.7080"
)bash");
}

// `cd DIR && scripts/demo.sh ARGS` with the stand-in trainer, no build and no GPU (whatever this
// machine has: nvidia-smi is a stand-in that lists nothing).
ToolRun demo(const fs::path& dir, const std::string& args) {
    return run_command("cd " + dir.string() + " && PATH=" + (dir / "bin").string() + ":$PATH " +
                       "CBNN_SKIP_BUILD=1 CBNN_BUILD_DIR=" + (dir / "build").string() + " bash " +
                       kScripts + "demo.sh " + args);
}

// The trainer options of the full protocol give way to the user's as every other demo value does
// (they used to reach the trainer twice); relative --data, --out and --subset-list are the
// caller's, not the repository root's; --full with --short is refused.
// The Python scripts run on their own answer --help too (exit 0, usage), and a bad argument still
// fails with their usage.
TEST(Scripts, PythonScriptsAnswerHelp) {
    for (const char* script : {"png_render_check.py", "cuda_mps.py"}) {
        const ToolRun help = run_command("python3 " + kScripts + script + " --help");
        EXPECT_EQ(help.status, 0) << script << "\n" << help.output;
        EXPECT_NE(help.output.find("sage: "), std::string::npos) << script << "\n" << help.output;
        const ToolRun bad = run_command("python3 " + kScripts + script + " --bogus --more");
        EXPECT_NE(bad.status, 0) << script << "\n" << bad.output;
    }
}

TEST(DemoScript, UserValuesWinAndRelativePathsAreTheCallers) {
    const fs::path dir = testing::scratch_dir("demo_fake_trainer");
    write_fake_trainer(dir / "build");
    write_script(dir / "bin" / "nvidia-smi", "exit 1\n");
    fs::create_directories(dir / "j" / "ok");

    const ToolRun full = demo(dir, "--full --eval-every 5 --data j/ok --out x --subset-list l.txt");
    ASSERT_EQ(full.status, 0) << full.output;
    const std::string d = dir.string();
    EXPECT_NE(full.output.find("args: --data " + d + "/j/ok "), std::string::npos) << full.output;
    EXPECT_NE(full.output.find(" --out " + d + "/x "), std::string::npos) << full.output;
    EXPECT_NE(full.output.find(" --eval-every 5 "), std::string::npos) << full.output;
    EXPECT_EQ(full.output.find("--eval-every 10"), std::string::npos) << full.output;
    EXPECT_NE(full.output.find(" --progress-every 97 "), std::string::npos) << full.output;
    // Checkpoints at the trainer's default, every epoch (written off the training thread).
    EXPECT_EQ(full.output.find("--checkpoint-every"), std::string::npos) << full.output;
    EXPECT_NE(full.output.find(" --subset-list " + d + "/l.txt\n"), std::string::npos)
        << full.output;
    EXPECT_NE(full.output.find("--preset paper"), std::string::npos) << full.output;
    EXPECT_TRUE(fs::exists(dir / "x" / "train.log"));

    const ToolRun progress = demo(dir,
                                  "--full --progress-every=3 --checkpoint-every 7 "
                                  "--data=j/ok --out=y --subset-list=a/l.txt");
    ASSERT_EQ(progress.status, 0) << progress.output;
    EXPECT_NE(progress.output.find(" --eval-every 10 "), std::string::npos) << progress.output;
    EXPECT_NE(progress.output.find("--checkpoint-every 7 "), std::string::npos) << progress.output;
    EXPECT_EQ(progress.output.find("--progress-every 97"), std::string::npos) << progress.output;
    EXPECT_NE(progress.output.find("--subset-list=" + d + "/a/l.txt"), std::string::npos)
        << progress.output;
    EXPECT_TRUE(fs::exists(dir / "y" / "train.log"));

    // The demo's gamma 1 goes with its focal loss only (the trainer refuses a softmax gamma).
    const ToolRun softmax = demo(dir, "--full --loss softmax --data j/ok --out s");
    ASSERT_EQ(softmax.status, 0) << softmax.output;
    EXPECT_EQ(softmax.output.find("--gamma"), std::string::npos) << softmax.output;
    const ToolRun focal = demo(dir, "--full --loss=focal --data j/ok --out f");
    ASSERT_EQ(focal.status, 0) << focal.output;
    EXPECT_NE(focal.output.find("--gamma 1"), std::string::npos) << focal.output;

    const ToolRun both = demo(dir, "--full --short --data j/ok --out z");
    EXPECT_EQ(both.status, 1) << both.output;
    EXPECT_NE(both.output.find("--full and --short contradict each other"), std::string::npos)
        << both.output;
    EXPECT_FALSE(fs::exists(dir / "z"));

    const ToolRun missing = demo(dir, "--data j/absent --out z");
    EXPECT_EQ(missing.status, 1) << missing.output;
    EXPECT_NE(missing.output.find("demo.sh: --data j/absent is not a folder"), std::string::npos)
        << missing.output;
}

// scripts/demo.sh finds its data before building anything, so these run without a build. A copy
// of scripts/ in a scratch folder has no ../shared/data beside it: with an empty cache and a
// download that cannot connect, the demo stops with one message and exit status 1.
TEST(DemoScript, HelpAndNoDataOffline) {
    const ToolRun help = run_command("bash " + kScripts + "demo.sh --help");
    ASSERT_EQ(help.status, 0) << help.output;
    for (const char* text : {"--data DIR", "--full", "SHORT DEMO", "not the paper protocol",
                             "219 s and 29.55 %", "cifar-10-binary.tar.gz", "3 min 49 s"})
        EXPECT_NE(help.output.find(text), std::string::npos) << text << "\n" << help.output;

    const fs::path repo = testing::scratch_dir("demo_offline");
    fs::create_directories(repo / "repo");
    fs::copy(fs::path(CBNN_SOURCE_DIR) / "scripts", repo / "repo" / "scripts",
             fs::copy_options::recursive);
    const ToolRun offline =
        run_command("env -u CBNN_DATA_DIR CBNN_CACHE_DIR=" + (repo / "cache").string() +
                    " CBNN_CIFAR10_URL=http://127.0.0.1:9/cifar-10-binary.tar.gz bash " +
                    (repo / "repo" / "scripts" / "demo.sh").string());
    EXPECT_EQ(offline.status, 1) << offline.output;
    EXPECT_NE(offline.output.find("no CIFAR-10 data found"), std::string::npos) << offline.output;
    EXPECT_NE(offline.output.find("--data DIR"), std::string::npos) << offline.output;
    EXPECT_FALSE(fs::exists(repo / "cache" / "cifar-10-binary.tar.gz.part"));
}

const fs::path kMeasuredReport = fs::path(CBNN_SOURCE_DIR) / "docs/measurements/reproduce" /
                                 "cifar10-if100-focal-g1-cb0.9999-s0/report.html";

ToolRun check_report(const std::string& args) {
    return run_command("bash " + kScripts + "check-report.sh " + args);
}

// scripts/check-report.sh on the report of the H100 run kept in docs/measurements: the static
// checks always, the headless render (DOM + screenshot) where a Chromium-family browser is
// installed. A copy with a <script> fails the static check; a copy whose body is hidden fails the
// render check when there is a browser.
TEST(CheckReportScript, MeasuredReportPassesBrokenCopiesFail) {
    const ToolRun good = check_report(kMeasuredReport.string());
    ASSERT_EQ(good.status, 0) << good.output;
    EXPECT_NE(good.output.find("4 charts"), std::string::npos) << good.output;

    const fs::path dir = testing::scratch_dir("check_report");
    const std::string html = read_text(kMeasuredReport);
    testing::write_text((dir / "script/report.html").string(),
                        std::string(html).insert(html.find("<body"), "<script>x=1</script>"));
    const ToolRun scripted = check_report((dir / "script").string());
    EXPECT_EQ(scripted.status, 1) << scripted.output;
    EXPECT_NE(scripted.output.find("network reference or script"), std::string::npos)
        << scripted.output;

    if (good.output.find("rendered: ") == std::string::npos) {
        EXPECT_NE(good.output.find("no Chromium-family browser installed"), std::string::npos)
            << good.output;
        return;
    }
    EXPECT_NE(good.output.find("pixels of the first chart colour: ok"), std::string::npos)
        << good.output;
    std::string hidden = html;
    hidden.replace(hidden.find("<body>"), 6, "<body style=\"display:none\">");
    testing::write_text((dir / "hidden/report.html").string(), hidden);
    const ToolRun blank = check_report((dir / "hidden").string());
    EXPECT_EQ(blank.status, 1) << blank.output;
    EXPECT_NE(blank.output.find("nothing rendered"), std::string::npos) << blank.output;
}

// A report cut short fails (cut inside a chart, or after a whole chart, where every chart the file
// still holds is well-formed), a file that is not UTF-8 gives one message rather than a Python
// traceback, a relative path is the caller's, and --help answers.
TEST(CheckReportScript, TruncatedAndBinaryFilesFailRelativePathsAreTheCallers) {
    const fs::path dir = testing::scratch_dir("check_report_broken");
    const std::string html = read_text(kMeasuredReport);
    ASSERT_GT(html.size(), 5000u);
    testing::write_text((dir / "cut/report.html").string(), html.substr(0, 5000));
    const ToolRun cut = check_report((dir / "cut").string());
    EXPECT_EQ(cut.status, 1) << cut.output;
    EXPECT_NE(cut.output.find("does not end with </html>"), std::string::npos) << cut.output;
    EXPECT_NE(cut.output.find("not closed"), std::string::npos) << cut.output;

    const size_t chart_end = html.find("</svg>") + 6;
    testing::write_text((dir / "after_chart/report.html").string(), html.substr(0, chart_end));
    const ToolRun after_chart = check_report((dir / "after_chart/report.html").string());
    EXPECT_EQ(after_chart.status, 1) << after_chart.output;
    EXPECT_NE(after_chart.output.find("does not end with </html>"), std::string::npos)
        << after_chart.output;

    std::vector<uint8_t> binary;
    for (int i = 0; i < 3000; ++i) binary.push_back(static_cast<uint8_t>((i * 131 + 7) % 256));
    binary[0] = 0xff;
    testing::write_bytes((dir / "binary/report.html").string(), binary);
    const ToolRun bin = check_report((dir / "binary").string());
    EXPECT_EQ(bin.status, 1) << bin.output;
    EXPECT_NE(bin.output.find("is not UTF-8 text"), std::string::npos) << bin.output;
    EXPECT_EQ(bin.output.find("Traceback"), std::string::npos) << bin.output;

    fs::create_directories(dir / "caller" / "run");
    fs::copy_file(kMeasuredReport, dir / "caller" / "run" / "report.html");
    const ToolRun relative = run_command("cd " + (dir / "caller").string() + " && bash " +
                                         kScripts + "check-report.sh run");
    EXPECT_EQ(relative.status, 0) << relative.output;
    EXPECT_NE(relative.output.find((dir / "caller" / "run" / "report.html").string()),
              std::string::npos)
        << relative.output;

    const ToolRun help = check_report("--help");
    EXPECT_EQ(help.status, 0) << help.output;
    EXPECT_NE(help.output.find("Usage: scripts/check-report.sh"), std::string::npos) << help.output;
    const ToolRun bogus = check_report("--bogus");
    EXPECT_EQ(bogus.status, 1) << bogus.output;
    EXPECT_NE(bogus.output.find("unknown option '--bogus'"), std::string::npos) << bogus.output;
}

}  // namespace
}  // namespace cbnn
