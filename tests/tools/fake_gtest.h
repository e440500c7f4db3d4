#pragma once
// A stand-in for a GoogleTest binary (cbnn_cuda_tests) for the tests of scripts/cuda-tests.sh and
// scripts/gpu-check.sh: a bash script that lists its tests (--gtest_list_tests), honours
// --gtest_filter (':'-separated globs, negative ones after '-') and prints what gtest prints for
// each test it runs, in order. Each test is "Suite.Name behaviour":
//   pass, fail, skip   the result line gtest prints (a failure of a parameterised test, one whose
//                      name has a '/', carries ", where GetParam() = 0" as gtest's does)
//   fragile            fails when a `fail` test is among the tests of the same process (a
//                      poisoned CUDA context), passes otherwise
//   hang               prints its "[ RUN ]" line and sleeps 60 s
//   crash              prints its "[ RUN ]" line and dies of SIGSEGV (exit 139)
// The final lines (ran, PASSED, SKIPPED / FAILED lists) and the exit status are gtest's.

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tests/support/scratch.h"

namespace cbnn::testing {

inline void write_fake_gtest(const std::filesystem::path& path,
                             const std::vector<std::string>& tests) {
    std::string table = "set -f\ntests=(\n";
    for (const std::string& t : tests) table += "  '" + t + "'\n";
    table += ")\n";
    write_script(path, table + R"bash(filter='*'; list=0
for a in "$@"; do
  case $a in
    --gtest_list_tests) list=1 ;;
    --gtest_filter=*) filter=${a#--gtest_filter=} ;;
  esac
done
pos=${filter%%-*}; neg=''
[[ $filter == *-* ]] && neg=${filter#*-}
[[ -n $pos ]] || pos='*'
matches() { local p IFS=:; for p in $2; do [[ $1 == $p ]] && return 0; done; return 1; }
selected=(); poisoned=0
for t in "${tests[@]}"; do
  name=${t% *}
  matches "$name" "$pos" || continue
  [[ -n $neg ]] && matches "$name" "$neg" && continue
  selected+=("$t")
  [[ ${t#* } == fail ]] && poisoned=1
done
if ((list)); then
  last=''
  for t in "${selected[@]}"; do
    name=${t% *}; suite=${name%%.*}
    [[ $suite != "$last" ]] && echo "$suite." && last=$suite
    echo "  ${name#*.}"
  done
  exit 0
fi
passed=0; failed=(); skipped=()
echo "[==========] Running ${#selected[@]} tests."
fail() {
  if [[ $1 == */* ]]; then echo "[  FAILED  ] $1, where GetParam() = 0 (1 ms)"
  else echo "[  FAILED  ] $1 (1 ms)"; fi
  failed+=("$1")
}
for t in "${selected[@]}"; do
  name=${t% *}; what=${t#* }
  echo "[ RUN      ] $name"
  case $what in
    pass) echo "[       OK ] $name (1 ms)"; passed=$((passed + 1)) ;;
    skip) echo "[  SKIPPED ] $name (0 ms)"; skipped+=("$name") ;;
    fail) fail "$name" ;;
    fragile) if ((poisoned)); then fail "$name"
             else echo "[       OK ] $name (1 ms)"; passed=$((passed + 1)); fi ;;
    hang) exec sleep 60 ;;
    crash) kill -SEGV $$ ;;
  esac
done
echo "[==========] ${#selected[@]} tests from some test suites ran. (1 ms total)"
echo "[  PASSED  ] $passed tests."
if ((${#skipped[@]} > 0)); then
  echo "[  SKIPPED ] ${#skipped[@]} tests, listed below:"
  for n in "${skipped[@]}"; do echo "[  SKIPPED ] $n"; done
fi
if ((${#failed[@]} > 0)); then
  echo "[  FAILED  ] ${#failed[@]} tests, listed below:"
  for n in "${failed[@]}"; do echo "[  FAILED  ] $n"; done
  exit 1
fi
exit 0
)bash");
}

}  // namespace cbnn::testing
