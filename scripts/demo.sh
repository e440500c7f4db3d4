#!/usr/bin/env bash
# Installs missing system packages, configures and builds cbnn (scripts/build.sh), then runs the
# main job: for now build/cbnn-demo, a small tensor/autograd demo. It runs on the GPU
# (--device cuda) when one is usable and the build has the CUDA backend, else on the CPU.
# Extra arguments go to the program unchanged; one that names --device wins over the choice above.
#   scripts/demo.sh --help
#
# Environment:
#   CBNN_BUILD_DIR, CBNN_BUILD_TYPE, CBNN_CMAKE_ARGS, CBNN_JOBS, CBNN_SKIP_DEPS   see build.sh
set -euo pipefail

# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$CBNN_ROOT"

build_dir=${CBNN_BUILD_DIR:-build}
"$CBNN_ROOT/scripts/build.sh"

device_args=()
user_picks_device=0
for arg in "$@"; do
    case $arg in
        --device | --device=* | -h | --help) user_picks_device=1 ;;
    esac
done
cbnn_export_cuda_libs
if ((user_picks_device == 0)); then
    if cbnn_gpu_usable && cbnn_build_has_cuda "$build_dir"; then
        device_args=(--device cuda)
    else
        device_args=(--device cpu)
    fi
fi

cmd=("$build_dir/cbnn-demo" "${device_args[@]}" "$@")
cbnn_log "running: ${cmd[*]}"
exec "${cmd[@]}"
