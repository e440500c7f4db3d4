#!/usr/bin/env bash
# Builds a CPU-only cbnn with AddressSanitizer + UndefinedBehaviorSanitizer in build-asan (clang
# when installed, else gcc) and runs the CPU test suite under it, the fuzz tests
# (tests/data/test_fuzz.cpp) included. Exits non-zero when a test fails or a sanitizer reports
# anything (UBSan is made fatal with -fno-sanitize-recover, and the log is searched as well).
#
# Usage: scripts/sanitize.sh    (no arguments: the settings are the environment below; -h or
#                                --help prints this text and builds nothing)
#
# Environment:
#   CBNN_ASAN_DIR      build folder (default: build-asan)
#   CBNN_JOBS          parallel build jobs (default: nproc)
#   CBNN_TEST_FILTER   gtest filter for the run (default: all CPU tests)
#   CXX                compiler to use instead of clang++ / g++
set -euo pipefail

# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cbnn_no_args "${BASH_SOURCE[0]}" "$@"
cd "$CBNN_ROOT"

build_dir=${CBNN_ASAN_DIR:-build-asan}
jobs=${CBNN_JOBS:-$(nproc)}
if [[ -z ${CXX:-} ]]; then
    if command -v clang++ >/dev/null 2>&1; then CXX=clang++; else CXX=g++; fi
fi
flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g -O1"

cbnn_log "configuring $build_dir with $CXX ($flags)"
cmake -S . -B "$build_dir" -G Ninja \
    -DCMAKE_CXX_COMPILER="$CXX" \
    -DCMAKE_BUILD_TYPE=Debug \
    -DCMAKE_CXX_FLAGS_DEBUG="$flags" \
    -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" \
    -DCBNN_ENABLE_CUDA=OFF -DCBNN_BUILD_BENCHMARKS=OFF >/dev/null
cbnn_log "building ($jobs jobs)"
cmake --build "$build_dir" -j"$jobs"

log="$build_dir/sanitize.log"
export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
cbnn_log "running $build_dir/cbnn_tests under ASan+UBSan (log: $log)"
rc=0
"$build_dir/cbnn_tests" --gtest_brief=1 --gtest_filter="${CBNN_TEST_FILTER:-*}" >"$log" 2>&1 || rc=$?
tail -n 5 "$log"
if grep -Eq "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|SUMMARY: (Address|UndefinedBehavior)Sanitizer" "$log"; then
    cbnn_log "sanitizer report in $log:"
    grep -E -A20 "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$log" | head -60 >&2
    exit 1
fi
if ((rc != 0)); then
    cbnn_log "tests failed (exit $rc), see $log"
    exit "$rc"
fi
cbnn_log "sanitize: PASSED, no sanitizer report"
