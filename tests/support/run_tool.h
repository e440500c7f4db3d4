#pragma once
// Runs one of the built command-line tools (build/cbnn-*) as a user would, for tool tests:
//   ToolRun r = run_tool("cbnn-weights", "--counts 10,5 --beta 0.9");
//   EXPECT_EQ(r.status, 0) << r.output;
// stderr is merged into `output` unless stdout_only (then it is discarded: warnings go to stderr,
// JSON to stdout). run_command runs any shell command line the same way (for the scripts/ tests).

#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <string>

namespace cbnn::testing {

struct ToolRun {
    int status;  // the exit status, or -1 when the tool did not run or exit normally
    std::string output;
};

inline ToolRun run_command(const std::string& command_line, bool stdout_only = false) {
    const std::string cmd = command_line + (stdout_only ? " 2>/dev/null" : " 2>&1");
    FILE* pipe = popen(cmd.c_str(), "r");
    if (pipe == nullptr) return {-1, "popen failed for " + cmd};
    std::string out;
    char buf[4096];
    while (size_t n = fread(buf, 1, sizeof buf, pipe)) out.append(buf, n);
    const int status = pclose(pipe);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

inline ToolRun run_tool(const std::string& tool, const std::string& args,
                        bool stdout_only = false) {
    const std::string path = std::string(CBNN_BINARY_DIR) + "/" + tool;
    if (!std::filesystem::exists(path)) return {-1, path + " is not built"};
    return run_command(path + " " + args, stdout_only);
}

}  // namespace cbnn::testing
