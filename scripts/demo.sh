#!/usr/bin/env bash
# The main job: trains ResNet-32 with the class-balanced focal loss (beta 0.9999, gamma 1.0) on
# CIFAR-10-LT at imbalance factor 100 with build/cbnn-train-cifar, and ends with the final test
# error and the path of the run's report.html. Run `scripts/demo.sh --help` for the details.
# Relative paths (--data, --out, a --subset-list among the trainer's options) are taken from the
# folder it is started in, as every command's are; only the build folder is the repository's.
#
# Environment:
#   CBNN_BUILD_DIR, CBNN_BUILD_TYPE, CBNN_CMAKE_ARGS, CBNN_JOBS, CBNN_SKIP_DEPS   see build.sh
#   CBNN_DATA_DIR     a shared/data folder to look in first (as cbnn-train-cifar does)
#   CBNN_CACHE_DIR    where the downloaded CIFAR-10 goes (default: ${XDG_CACHE_HOME:-~/.cache}/cbnn)
#   CBNN_CIFAR10_URL  the archive to download (default: the official CIFAR-10 binary archive)
#   CBNN_SKIP_BUILD=1 use the binaries already in CBNN_BUILD_DIR, do not run build.sh
set -euo pipefail

# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

cifar10_url=${CBNN_CIFAR10_URL:-https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz}
cifar10_md5=c32a1d4ab5d03f1284b67883e8d87530
cache_dir=${CBNN_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/cbnn}
build_name=${CBNN_BUILD_DIR:-build} # as the help text names it
build_dir=$build_name
[[ $build_dir == /* ]] || build_dir=$CBNN_ROOT/$build_dir  # as build.sh takes it

usage() {
    cat <<EOF
Usage: scripts/demo.sh [--data DIR] [--out DIR] [--full | --short] [cbnn-train-cifar options]

Installs missing packages and builds cbnn (scripts/build.sh), then trains ResNet-32 with the
class-balanced focal loss (beta 0.9999, gamma 1.0) on CIFAR-10-LT, imbalance factor 100:

  GPU (nvidia-smi lists one and the build has the CUDA backend): the paper's full protocol,
    cbnn-train-cifar --device cuda --preset paper (200 epochs, batch 128, lr 0.1, warm-up 5,
    decay x0.01 / x0.0001 at epochs 160 / 180), evaluated every 10 epochs.
    Measured: 219 s and 29.55 % top-1 error on an H100 (docs/measurements/README.md).
  CPU only: a SHORT DEMO, not the paper protocol: ResNet-8, 2 epochs, batch 64 (--preset smoke
    --epochs 2), evaluated once at the end, on the same long-tailed training set. Measured on
    the 2-vCPU development machine: 3 min 49 s, final test error 70.80 %, far above the paper's;
    it shows the whole pipeline (data, training, evaluation, report) working.

Options:
  --data DIR   CIFAR-10 as the binary batches (data_batch_*.bin, test_batch.bin) or as an image
               folder (train/<class>/, test/<class>/). Default: cifar10-jpg in \$CBNN_DATA_DIR or
               ../shared/data, else the CIFAR-10 binary archive
               $cifar10_url
               downloaded once (MD5-checked; curl or wget and a network) into
               $cache_dir.
  --out DIR    the run folder (default: runs/demo-<date>-<time> in the repository).
  --full       the paper protocol even without a GPU (on a CPU this takes days).
  --short      the short demo even on a GPU (not with --full).
  -h, --help   this text; \`$build_name/cbnn-train-cifar --help\` lists the training options.

Any other argument goes to cbnn-train-cifar unchanged and overrides the demo's value of that
option, e.g. --epochs 20, --seed 1, --device cpu, --loss softmax --beta 0 --gamma 0,
--eval-every 5 (the full protocol's are --eval-every 10 --progress-every 97, and a
checkpoint every epoch). Relative paths are taken from the current folder.
The training set is the fixed list cifar10-lt/train_if100.txt when the data is the image folder
of shared/data (which has the lists beside it), else --imbalance 100 (the same per-class counts,
5000 ... 50, drawn with --seed).

The full protocol on any machine:
  scripts/demo.sh --full --device cuda          # or, by hand:
  $build_name/cbnn-train-cifar --device cuda --preset paper --data ../shared/data/cifar10-jpg \\
      --subset-list ../shared/data/cifar10-lt/train_if100.txt --loss focal --beta 0.9999 \\
      --gamma 1 --out runs/cb-focal
EOF
}

data=""
out=""
mode=""
pass=()
while (($# > 0)); do
    case $1 in
        -h | --help)
            usage
            exit 0
            ;;
        --data)
            [[ $# -ge 2 ]] || { echo "demo.sh: --data needs a folder" >&2; exit 1; }
            data=$2
            shift 2
            ;;
        --data=*) data=${1#--data=}; shift ;;
        --out)
            [[ $# -ge 2 ]] || { echo "demo.sh: --out needs a folder" >&2; exit 1; }
            out=$2
            shift 2
            ;;
        --out=*) out=${1#--out=}; shift ;;
        --full | --short)
            if [[ -n $mode && $mode != "${1#--}" ]]; then
                echo "demo.sh: --full and --short contradict each other: give one (see --help)" >&2
                exit 1
            fi
            mode=${1#--}
            shift
            ;;
        *) pass+=("$1"); shift ;;
    esac
done

# absolute PATH: PATH from the current folder (the folder itself need not exist yet).
absolute() {
    if [[ $1 == /* ]]; then echo "$1"; else echo "$PWD/$1"; fi
}

# A --subset-list among the trainer's options is the caller's path, like --data and --out: make
# it absolute, so that the run's config.json names the file wherever the run is resumed from.
for ((k = 0; k < ${#pass[@]}; k++)); do
    case ${pass[k]} in
        --subset-list)
            if ((k + 1 < ${#pass[@]})); then
                pass[k + 1]=$(absolute "${pass[k + 1]}")
                k=$((k + 1))
            fi
            ;;
        --subset-list=*) pass[k]=--subset-list=$(absolute "${pass[k]#--subset-list=}") ;;
    esac
done

# user_gives FLAG: the pass-through arguments name FLAG (as "FLAG VALUE" or "FLAG=VALUE").
user_gives() {
    local arg
    for arg in "${pass[@]}"; do
        [[ $arg == "$1" || $arg == "$1="* ]] && return 0
    done
    return 1
}

# Downloads and unpacks the CIFAR-10 binary archive into $cache_dir; prints the data folder.
download_cifar10() {
    local target=$cache_dir/cifar-10-batches-bin archive=$cache_dir/cifar-10-binary.tar.gz
    if [[ -f $target/test_batch.bin && -f $target/data_batch_5.bin ]]; then
        echo "$target"
        return 0
    fi
    mkdir -p "$cache_dir"
    cbnn_log "no CIFAR-10 found locally; downloading $cifar10_url"
    local ok=0
    if command -v curl >/dev/null 2>&1; then
        curl -fL --progress-bar --retry 2 --connect-timeout 20 -o "$archive.part" \
            "$cifar10_url" && ok=1
    elif command -v wget >/dev/null 2>&1; then
        wget -q --tries=2 --timeout=20 -O "$archive.part" "$cifar10_url" && ok=1
    else
        echo "demo.sh: no CIFAR-10 data found and neither curl nor wget is installed to" \
            "download it; give --data DIR (see --help)" >&2
        return 1
    fi
    if ((ok == 0)); then
        rm -f "$archive.part"
        echo "demo.sh: no CIFAR-10 data found (--data, \$CBNN_DATA_DIR, ../shared/data," \
            "$cache_dir) and the download of $cifar10_url failed (offline?)." \
            "Give --data DIR with the CIFAR-10 binary batches or image folder (see --help)." >&2
        return 1
    fi
    local md5
    md5=$(md5sum "$archive.part" | cut -d' ' -f1)
    if [[ $md5 != "$cifar10_md5" ]]; then
        rm -f "$archive.part"
        echo "demo.sh: $cifar10_url has MD5 $md5, expected $cifar10_md5: not the official" \
            "archive (or a broken download); nothing kept" >&2
        return 1
    fi
    mv "$archive.part" "$archive"
    tar -xzf "$archive" -C "$cache_dir"
    rm -f "$archive"
    [[ -f $target/test_batch.bin ]] || {
        echo "demo.sh: $archive did not unpack into $target" >&2
        return 1
    }
    cbnn_log "CIFAR-10 unpacked into $target"
    echo "$target"
}

if user_gives --preset; then
    echo "demo.sh: the preset is the demo's choice: use --full or --short (see --help)" >&2
    exit 1
fi

if [[ -z $data ]]; then
    for root in ${CBNN_DATA_DIR:+"$CBNN_DATA_DIR"} "$CBNN_ROOT/../shared/data"; do
        if [[ -d $root/cifar10-jpg/train ]]; then
            data=$(cd "$root/cifar10-jpg" && pwd)
            break
        fi
    done
    [[ -n $data ]] || data=$(download_cifar10) || exit 1
fi
if [[ ! -d $data ]]; then
    echo "demo.sh: --data $data is not a folder" >&2
    exit 1
fi
data=$(cd "$data" && pwd)

if [[ ${CBNN_SKIP_BUILD:-0} == 1 ]]; then
    [[ -x $build_dir/cbnn-train-cifar ]] || {
        echo "demo.sh: CBNN_SKIP_BUILD=1 but $build_dir/cbnn-train-cifar is not built" >&2
        exit 1
    }
else
    "$CBNN_ROOT/scripts/build.sh"
fi
cbnn_export_cuda_libs

on_gpu=0
if cbnn_gpu_usable && cbnn_build_has_cuda "$build_dir"; then
    on_gpu=1
fi
if [[ -z $mode ]]; then
    if ((on_gpu == 1)); then mode=full; else mode=short; fi
fi

args=(--data "$data")
user_gives --loss || args+=(--loss focal)
user_gives --beta || args+=(--beta 0.9999)
# gamma 1 for the demo's focal loss only: a softmax or sigmoid run has no gamma (the trainer
# refuses one).
demo_loss=focal
for ((k = 0; k < ${#pass[@]}; k++)); do
    case ${pass[k]} in
        --loss) demo_loss=${pass[k + 1]:-} ;;
        --loss=*) demo_loss=${pass[k]#--loss=} ;;
    esac
done
user_gives --gamma || [[ $demo_loss != focal ]] || args+=(--gamma 1)
if ! user_gives --device; then
    if ((on_gpu == 1)); then args+=(--device cuda); else args+=(--device cpu); fi
fi
if ! user_gives --imbalance && ! user_gives --subset-list; then
    list=$data/../cifar10-lt/train_if100.txt
    if [[ -d $data/train && -f $list ]]; then
        args+=(--subset-list "$(cd "$(dirname "$list")" && pwd)/train_if100.txt")
    else
        args+=(--imbalance 100)
    fi
fi
if [[ $mode == full ]]; then
    args+=(--preset paper)
    user_gives --eval-every || args+=(--eval-every 10)
    user_gives --progress-every || args+=(--progress-every 97)
else
    # Measured here: one epoch of ResNet-8 on the 12,406 images is ~150 s of CPU, evaluating the
    # 10,000 test images ~55 s: 2 epochs and one evaluation stay well under 10 minutes on 2 cores.
    args+=(--preset smoke)
    user_gives --epochs || args+=(--epochs 2)
    user_gives --eval-every || args+=(--eval-every 1000)
fi

[[ -n $out ]] || out=$CBNN_ROOT/runs/demo-$(date +%Y%m%d-%H%M%S)
if ! mkdir -p "$out"; then
    echo "demo.sh: cannot create the run folder --out $out" >&2
    exit 1
fi
out=$(cd "$out" && pwd)
args+=(--out "$out")

if [[ $mode == short ]]; then
    cbnn_log "SHORT DEMO: ResNet-8, 2 epochs (--preset smoke). This is NOT the paper protocol;" \
        "its error is far above the paper's. The full protocol: scripts/demo.sh --full" \
        "(on a GPU machine it is the default; see --help)"
else
    cbnn_log "full paper protocol: ResNet-32, 200 epochs (--preset paper)"
fi
cbnn_log "output folder: $out"
cmd=("$build_dir/cbnn-train-cifar" "${args[@]}" "${pass[@]}")
cbnn_log "running: ${cmd[*]}"
SECONDS=0
status=0
"${cmd[@]}" 2>&1 | tee "$out/train.log" || status=$?
if ((status != 0)); then
    echo "demo.sh: cbnn-train-cifar failed (exit $status); its output is in $out/train.log" >&2
    exit "$status"
fi

echo
echo "demo.sh: done in $(cbnn_elapsed "$SECONDS") ($mode$([[ $mode == short ]] &&
    echo ": a short CPU demo, not the paper protocol"))"
grep '^final test error' "$out/train.log" | tail -n 1
echo "report: $out/report.html"
