#!/usr/bin/env bash
# Packs what scripts/gpu-check.sh needs from a finished build into a small folder to carry to the
# GPU test machine: the CUDA test binary, the bench_* binaries and the cbnn-* tools, plus, in lib/, the
# shared libraries they load that the GPU machine lacks (Debian's libbenchmark.so.1debian above
# all: the GPU machine has upstream Google Benchmark 1.8.3, whose soname differs). System
# libraries (glibc, libstdc++, libgcc) and the CUDA libraries (cudart, cuBLAS, cuDNN, NCCL; the GPU
# machine has its own) are not copied. Builds nothing: run scripts/build.sh first. Then, there:
#   CBNN_BUILD_DIR=.gpu/build scripts/gpu-check.sh
#
# Environment:
#   CBNN_BUILD_DIR   the build folder to pack, relative to the repository root (default: build)
#   CBNN_GPU_DIR     the folder to write, relative to the repository root (default: .gpu/build);
#                    it is emptied first
set -euo pipefail

# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$CBNN_ROOT"

build_dir=${CBNN_BUILD_DIR:-build}
out_dir=${CBNN_GPU_DIR:-.gpu/build}

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

case $out_dir in
    "" | / | . | "$CBNN_ROOT") echo "gpu-prep: refusing to empty '$out_dir'" >&2 && exit 1 ;;
esac
rm -rf "$out_dir"
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

cbnn_log "gpu-prep: $out_dir holds ${#binaries[@]} binaries ($(du -sh "$out_dir" | cut -f1))"
