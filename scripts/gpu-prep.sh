#!/usr/bin/env bash
# Packs what scripts/gpu-check.sh needs from a finished build into one compressed archive to carry
# to the GPU test machine: the CUDA test binary, the bench_* binaries and the cbnn-* tools, plus, in
# lib/, the shared libraries they load that the GPU machine lacks (Debian's libbenchmark.so.1debian
# above all: the GPU machine has upstream Google Benchmark 1.8.3, whose soname differs). System
# libraries (glibc, libstdc++, libgcc) and the CUDA libraries (cudart, cuBLAS, cuDNN, NCCL; the GPU
# machine has its own) are not copied. One .tar.gz rather than a folder: the binaries are ~57 MB as
# files (each links the whole library, CUDA kernels included) and ~22 MB compressed, and the device
# tool carries at most 64 MiB. The archive also holds data/cifar10-mini (1.2 MB; the real-data CUDA
# tests need it and skip without it), copied from the shared data folder when that is found
# ($CBNN_DATA_DIR, else ../shared/data). Builds nothing: run scripts/build.sh first. Then, there:
#   CBNN_BUILD_DIR=.gpu/build.tar.gz scripts/gpu-check.sh     (it unpacks the archive itself)
#
# Usage: scripts/gpu-prep.sh    (no arguments: the settings are the environment below; -h or
#                                --help prints this text and packs nothing)
#
# Environment:
#   CBNN_BUILD_DIR      the build folder to pack, relative to the repository root (default: build)
#   CBNN_GPU_ARCHIVE    the archive to write, relative to the repository root
#                       (default: .gpu/build.tar.gz); replaced if it exists
set -euo pipefail

# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cbnn_no_args "${BASH_SOURCE[0]}" "$@"
cd "$CBNN_ROOT"

build_dir=${CBNN_BUILD_DIR:-build}
archive=${CBNN_GPU_ARCHIVE:-.gpu/build.tar.gz}

binaries=()
for bin in "$build_dir/cbnn_cuda_tests" "$build_dir"/bench_* "$build_dir"/cbnn-*; do
    [[ -f $bin && -x $bin ]] && binaries+=("$bin")
done
if ((${#binaries[@]} == 0)); then
    echo "gpu-prep: no binaries in $build_dir; run scripts/build.sh first" >&2
    exit 1
fi
[[ -x $build_dir/cbnn_cuda_tests ]] ||
    echo "gpu-prep: warning: $build_dir/cbnn_cuda_tests is missing (no CUDA backend?)" >&2

case $archive in
    *.tar.gz | *.tgz) ;;
    *) echo "gpu-prep: CBNN_GPU_ARCHIVE must end in .tar.gz or .tgz (got '$archive')" >&2 && exit 1 ;;
esac
out_dir=$(mktemp -d)
trap 'rm -rf "$out_dir"' EXIT
mkdir -p "$out_dir/lib"
cp "${binaries[@]}" "$out_dir/"

# Libraries every Linux machine has, and the CUDA libraries the GPU machine brings itself.
skip='^(linux-vdso|ld-linux|libc|libm|libdl|librt|libpthread|libstdc\+\+|libgcc_s|libcuda|libcudart|libcublas|libcublasLt|libcudnn[a-z_]*|libnccl|libnvrtc|libnvJitLink)\.so'
mapfile -t libs < <(ldd "${binaries[@]}" 2>/dev/null |
    awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}' | sort -u)
for entry in "${libs[@]}"; do
    soname=${entry%% *}
    path=${entry#* }
    [[ $soname =~ $skip ]] && continue
    cp -L "$path" "$out_dir/lib/$soname"
    cbnn_log "gpu-prep: bundling $soname"
done
rmdir "$out_dir/lib" 2>/dev/null || true

# The small real-data set of the trainer and mixed-precision CUDA tests (they look, as
# tests/data/data_test_support.h says, in $CBNN_DATA_DIR, which gpu-check.sh points at data/).
shared_data=${CBNN_DATA_DIR:-$CBNN_ROOT/../shared/data}
if [[ -d $shared_data/cifar10-mini ]]; then
    mkdir -p "$out_dir/data"
    cp -r "$shared_data/cifar10-mini" "$out_dir/data/"
    cbnn_log "gpu-prep: adding data/cifar10-mini"
else
    echo "gpu-prep: warning: no $shared_data/cifar10-mini; its CUDA tests will skip" >&2
fi

mkdir -p "$(dirname "$archive")"
tar -czf "$archive.part" -C "$out_dir" . && mv "$archive.part" "$archive"
cbnn_log "gpu-prep: $archive holds ${#binaries[@]} binaries ($(du -sh --apparent-size "$out_dir" |
    cut -f1) unpacked, $(du -sh --apparent-size "$archive" | cut -f1) packed)"
