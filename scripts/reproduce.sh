#!/usr/bin/env bash
# Reproduces the paper's Table 2 (issue 8): runs a grid of cbnn-train-cifar configurations, one
# run folder each (named from its settings), skips complete runs, resumes interrupted ones, runs
# a part of the grid on request (--only, --shard), and collects every finished run into
# <runs>/results.md (Table 2 layout: rows loss [+ CB beta], columns IF) and results.csv.
# The work is done by scripts/reproduce.py (Python 3 standard library); `--help` lists the options.
#   scripts/reproduce.sh --device cuda                  # the default grid, 85 paper-protocol runs
#   scripts/reproduce.sh --device cuda --shard 2/4      # a quarter of it
#   scripts/reproduce.sh --device cuda --jobs 4 --mps   # four trainers sharing one GPU (CUDA MPS)
#   scripts/reproduce.sh --collect-only                 # just the tables
# Builds cbnn first (scripts/build.sh) when the trainer is not built yet.
#
# Environment:
#   CBNN_BUILD_DIR   build folder (default: build) holding cbnn-train-cifar
#   CBNN_TRAINER     the trainer binary (default: $CBNN_BUILD_DIR/cbnn-train-cifar)
#   CBNN_DATA_DIR    a shared/data folder to look in for cifar10-jpg first
set -euo pipefail

# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

build_dir=${CBNN_BUILD_DIR:-build}
[[ $build_dir == /* ]] || build_dir=$CBNN_ROOT/$build_dir
export CBNN_TRAINER=${CBNN_TRAINER:-$build_dir/cbnn-train-cifar}

needs_trainer=1
for arg in "$@"; do
    case $arg in
        -h | --help | --dry-run | --list | --collect-only | --trainer | --trainer=*)
            needs_trainer=0
            ;;
    esac
done
if ((needs_trainer == 1)) && [[ ! -x $CBNN_TRAINER ]]; then
    cbnn_log "$CBNN_TRAINER is not built: building"
    CBNN_BUILD_DIR=$build_dir "$CBNN_ROOT/scripts/build.sh"
fi
cbnn_export_cuda_libs
exec python3 "$CBNN_ROOT/scripts/reproduce.py" "$@"
