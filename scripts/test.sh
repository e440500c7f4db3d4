#!/usr/bin/env bash
# Installs missing system packages, configures and builds cbnn (scripts/build.sh), then runs the
# CPU test suite (CTest label `cpu`). On a machine with a usable GPU (`nvidia-smi -L` lists one)
# and a build with the CUDA backend, the CUDA tests (label `cuda`) run as well. Prints the elapsed
# time and a final PASSED/FAILED line; exits non-zero on any failure. .ci/run calls this with
# CI=true.
#
# Usage: scripts/test.sh    (no arguments: the settings are the environment below; -h or --help
#                            prints this text and installs, builds and runs nothing)
#
# Environment:
#   CBNN_BUILD_DIR, CBNN_BUILD_TYPE, CBNN_CMAKE_ARGS, CBNN_JOBS, CBNN_SKIP_DEPS   see build.sh
#   CBNN_TEST_TIMEOUT   per-test timeout in seconds for CTest (default: 600)
#   CI                  set to true by .ci/run; the final line then starts with "CI:"
set -euo pipefail

# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cbnn_no_args "${BASH_SOURCE[0]}" "$@"
cd "$CBNN_ROOT"

build_dir=${CBNN_BUILD_DIR:-build}
jobs=${CBNN_JOBS:-$(nproc)}
test_timeout=${CBNN_TEST_TIMEOUT:-600}

stage="build"
cpu_result="not run"
cuda_result="not run"
failed=0

finish() {
    local rc=$1 verdict="PASSED" prefix="test.sh"
    if ((rc != 0 || failed != 0)); then
        verdict="FAILED"
        ((rc != 0)) || rc=1
    fi
    [[ ${CI:-} == true ]] && prefix="CI"
    [[ $stage == build && $verdict == FAILED ]] && cpu_result="not run (build failed)"
    echo
    echo "$prefix: $verdict - cpu tests: $cpu_result; cuda tests: $cuda_result;" \
        "elapsed $(cbnn_elapsed "$SECONDS")"
    exit "$rc"
}
trap 'finish $?' EXIT

SECONDS=0
"$CBNN_ROOT/scripts/build.sh"
cbnn_log "build done in $(cbnn_elapsed "$SECONDS")"

run_ctest() {
    local label=$1
    ctest --test-dir "$build_dir" -L "^$label\$" --output-on-failure --no-tests=error \
        --timeout "$test_timeout" -j "$jobs"
}

stage="cpu"
cbnn_log "running the cpu tests"
if run_ctest cpu; then
    cpu_result="passed"
else
    cpu_result="FAILED"
    failed=1
fi

stage="cuda"
if ! cbnn_gpu_usable; then
    cuda_result="skipped (no usable GPU)"
elif [[ ! -x $build_dir/cbnn_cuda_tests ]]; then
    cuda_result="skipped (GPU present but the build has no CUDA tests)"
else
    cbnn_export_cuda_libs
    cbnn_log "running the cuda tests"
    if run_ctest cuda; then
        cuda_result="passed"
    else
        cuda_result="FAILED"
        failed=1
    fi
fi
stage="done"
