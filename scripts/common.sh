# shellcheck shell=bash
# Helpers shared by the scripts in this folder; sourced, never run. Defines:
#   CBNN_ROOT                 the repository root (absolute)
#   cbnn_log MSG...           prints "==> MSG" to stderr
#   cbnn_gpu_usable           true when `nvidia-smi -L` works and lists at least one GPU
#   cbnn_build_has_cuda DIR   true when the build in DIR compiled the CUDA backend
#   cbnn_add_lib_dir DIR      prepends DIR to LD_LIBRARY_PATH (no empty entry when it was unset)
#   cbnn_export_cuda_libs     adds cuDNN/NCCL from Python's site-packages (nvidia/*/lib) to
#                             LD_LIBRARY_PATH when present, as on the GPU test machine (GPU.md)
#   cbnn_elapsed SECONDS      formats a duration as 1m05s
#   cbnn_usage SCRIPT         prints SCRIPT's header comment (its help text)
#   cbnn_no_args SCRIPT ARGS  for a script that takes no arguments: -h/--help prints its header
#                             comment and exits 0, any other argument is refused (exit 1); called
#                             before the script does anything

CBNN_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CBNN_ROOT

cbnn_log() {
    printf '==> %s\n' "$*" >&2
}

cbnn_gpu_usable() {
    command -v nvidia-smi >/dev/null 2>&1 || return 1
    local gpus
    gpus=$(nvidia-smi -L 2>/dev/null) || return 1
    grep -q '^GPU [0-9]' <<<"$gpus"
}

# CBNN_WITH_CUDA is a plain CMake variable (not cached), so look at what was compiled instead:
# the compile definition in compile_commands.json, or the CUDA test binary.
cbnn_build_has_cuda() {
    local dir=$1
    [[ -x $dir/cbnn_cuda_tests ]] && return 0
    [[ -f $dir/compile_commands.json ]] && grep -q 'CBNN_WITH_CUDA=1' "$dir/compile_commands.json"
}

cbnn_add_lib_dir() {
    [[ -d $1 ]] || return 0
    case ":${LD_LIBRARY_PATH:-}:" in
        *":$1:"*) return 0 ;;
    esac
    export LD_LIBRARY_PATH="$1${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
}

cbnn_export_cuda_libs() {
    command -v python3 >/dev/null 2>&1 || return 0
    local dirs dir
    # `nvidia` is a namespace package (pip wheels nvidia-cudnn-cu*, nvidia-nccl-cu*); absent is fine.
    dirs=$(python3 -c 'import nvidia; print("\n".join(nvidia.__path__))' 2>/dev/null) || return 0
    while IFS= read -r dir; do
        [[ -n $dir ]] || continue
        cbnn_add_lib_dir "$dir/nccl/lib"
        cbnn_add_lib_dir "$dir/cudnn/lib"
    done <<<"$dirs"
}

cbnn_elapsed() {
    printf '%dm%02ds' $(($1 / 60)) $(($1 % 60))
}

# The header comment: the lines after "#!" up to the first line that is not a comment, less "# ".
cbnn_usage() {
    sed -n '2,/^[^#]/{/^#/!d;s/^# \{0,1\}//;p}' "$1"
}

cbnn_no_args() {
    local script=$1 name arg
    shift
    name=$(basename "$script" .sh)
    for arg in "$@"; do
        if [[ $arg == -h || $arg == --help ]]; then
            cbnn_usage "$script"
            exit 0
        fi
    done
    if (($# > 0)); then
        echo "$name: unknown argument '$1': it takes none (see scripts/$name.sh --help)" >&2
        exit 1
    fi
}
