#!/usr/bin/env bash
# Installs missing system packages (scripts/install-deps.sh), configures cbnn with CMake + Ninja
# and builds everything. The CUDA backend is built when nvcc, cuBLAS and cuDNN are found
# (/usr/local/cuda/bin is added to PATH when nvcc is not already on it); otherwise CPU only.
# Configure runs only for a new build folder or when the settings below changed since the last
# configure; otherwise `cmake --build` re-runs CMake by itself when CMakeLists.txt changed.
#
# Usage: scripts/build.sh    (no arguments: the settings are the environment below; -h or --help
#                             prints this text and builds nothing)
#
# Environment:
#   CBNN_BUILD_DIR    build folder, relative to the repository root or absolute (default: build)
#   CBNN_BUILD_TYPE   CMAKE_BUILD_TYPE (default: Release)
#   CBNN_CMAKE_ARGS   extra configure arguments, split on whitespace
#                     (e.g. "-DCBNN_ENABLE_CUDA=OFF -DCBNN_BUILD_BENCHMARKS=OFF")
#   CBNN_JOBS         parallel build jobs (default: nproc)
#   CBNN_SKIP_DEPS=1  do not check or install system packages
set -euo pipefail

# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cbnn_no_args "${BASH_SOURCE[0]}" "$@"
cd "$CBNN_ROOT"

build_dir=${CBNN_BUILD_DIR:-build}
build_type=${CBNN_BUILD_TYPE:-Release}
jobs=${CBNN_JOBS:-$(nproc)}
read -r -a extra_args <<<"${CBNN_CMAKE_ARGS:-}"

"$CBNN_ROOT/scripts/install-deps.sh"

if ! command -v nvcc >/dev/null 2>&1 && [[ -x /usr/local/cuda/bin/nvcc ]]; then
    export PATH="/usr/local/cuda/bin:$PATH"
fi

configure_args=(-S "$CBNN_ROOT" -B "$build_dir" "-DCMAKE_BUILD_TYPE=$build_type" "${extra_args[@]}")
stamp="$build_dir/.cbnn-configure-args"
wanted=$(printf '%s\n' "${configure_args[@]}")

if [[ ! -f $build_dir/CMakeCache.txt || ! -f $stamp || $(<"$stamp") != "$wanted" ]]; then
    generator=()
    # A folder configured with another generator cannot switch; keep whatever it has.
    if [[ ! -f $build_dir/CMakeCache.txt ]]; then
        generator=(-G Ninja)
    fi
    cbnn_log "configuring $build_dir ($build_type${CBNN_CMAKE_ARGS:+, $CBNN_CMAKE_ARGS})"
    cmake "${generator[@]}" "${configure_args[@]}"
    printf '%s\n' "$wanted" >"$stamp"
fi

cbnn_log "building $build_dir with $jobs jobs"
cmake --build "$build_dir" -j "$jobs"
