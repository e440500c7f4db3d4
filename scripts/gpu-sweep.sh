#!/usr/bin/env bash
# Runs part of issue 8's sweep (scripts/reproduce.sh) on the GPU test machine in the time a device
# call has left, then packs the run folders to bring back: a run the call's limit cuts off
# resumes in a later session from its last checkpoint (a checkpoint every epoch: one epoch lost
# at most). docs/REPRODUCTION.md ("On the GPU test machine") has the whole round trip. Builds
# nothing and downloads nothing; it may follow scripts/gpu-check.sh in the same call, taking what
# that left of the call's time.
#
# Usage: scripts/gpu-sweep.sh --end UNIX_TIME [reproduce.sh options ...]
#   --end T    when the script must be done, in seconds since 1970 (`date +%s`): the sweep gets
#              T - now - 60 s (stopping its trainers and MPS daemon takes up to ~50 s after the
#              SIGTERM, collecting and packing a few more; CBNN_SWEEP_MARGIN); under 60 s for the
#              sweep (CBNN_SWEEP_MINIMUM) it is skipped and the run folders are packed as they
#              are. For a device call of 590 s,
#              begin the command with end=$(( $(date +%s) + 575 )).
#   -h, --help this text.
#   Every other argument goes to scripts/reproduce.sh: --device cuda unless a --device is given,
#   e.g. --jobs 4 --mps --cuda-graph --precision tf32 --only 'cifar10-if100-*-s1'.
#
# Environment (relative paths from the repository root):
#   CBNN_BUILD_DIR     scripts/gpu-prep.sh's archive or a build folder (default: .gpu/build.tar.gz)
#   CBNN_SWEEP_DATA    tar (gzip) of a CIFAR image folder, train/ (the lists' images) and test/
#                      (default: .gpu/data/lt.tar.gz)
#   CBNN_SWEEP_LISTS   folder of the train_if<IF>.txt lists (default: .gpu/data/lists)
#   CBNN_SWEEP_RUNS    run folders carried from earlier sessions (default: .gpu/runs; may be
#                      missing or empty)
#   CBNN_SWEEP_WORK    where build, data, lists and runs are unpacked (default: /tmp/cbnn-sweep).
#                      Its runs/ is kept between calls on one machine: a second call in the same
#                      session goes on from the first call's runs, not from the older carried ones.
#   CBNN_SWEEP_MARGIN  seconds kept after the sweep's time limit for stopping, collecting and
#                      packing (default: 60)
#   CBNN_SWEEP_MINIMUM the shortest sweep worth starting, in seconds (default: 60)
#   OUT                where runs.tgz (every run folder, finished runs without their checkpoints)
#                      and sweep.log go (default: ./gpu-sweep-out). sweep.log says what happened,
#                      a failed setup included; runs.tgz is written once the runs are set up,
#                      whether the sweep then runs, is skipped or fails.
# Exit status: 0 when the sweep ran to its end or to the time limit and the runs were packed;
# 1 on bad input or a failed setup or packing; reproduce.sh's status when runs failed.
set -uo pipefail

# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

log=""  # sweep.log, once $OUT exists
fail() {
    echo "gpu-sweep: $*" >&2
    [[ -n $log ]] && echo "gpu-sweep: $*" >>"$log"
    exit 1
}

end=""
args=()
while (($# > 0)); do
    case $1 in
        -h | --help)
            cbnn_usage "${BASH_SOURCE[0]}"
            exit 0
            ;;
        --end)
            (($# >= 2)) || fail "--end needs a value (a Unix time: date +%s)"
            end=$2
            shift 2
            ;;
        --end=*)
            end=${1#--end=}
            shift
            ;;
        *)
            args+=("$1")
            shift
            ;;
    esac
done
[[ -n $end ]] || fail "--end is required (when the call must be done, date +%s); see --help"
[[ $end =~ ^[0-9]+$ ]] || fail "--end: expected a Unix time in whole seconds, got '$end'"
device_given=0
schedule=()  # --preset and --epochs, which say when a run is complete, for the collection too
for ((i = 0; i < ${#args[@]}; i++)); do
    case ${args[i]} in
        --device | --device=*) device_given=1 ;;
        --preset | --epochs) schedule+=("${args[i]}" "${args[i + 1]-}") ;;
        --preset=* | --epochs=*) schedule+=("${args[i]}") ;;
    esac
done
((device_given == 1)) || args=(--device cuda "${args[@]}")
margin=${CBNN_SWEEP_MARGIN:-60}
minimum=${CBNN_SWEEP_MINIMUM:-60}
[[ $margin =~ ^[0-9]+$ && $minimum =~ ^[0-9]+$ ]] ||
    fail "CBNN_SWEEP_MARGIN and CBNN_SWEEP_MINIMUM: expected whole seconds, got '$margin', '$minimum'"

cd "$CBNN_ROOT" || exit 1
build=${CBNN_BUILD_DIR:-.gpu/build.tar.gz}
data=${CBNN_SWEEP_DATA:-.gpu/data/lt.tar.gz}
lists=${CBNN_SWEEP_LISTS:-.gpu/data/lists}
carried=${CBNN_SWEEP_RUNS:-.gpu/runs}
work=${CBNN_SWEEP_WORK:-/tmp/cbnn-sweep}
out=${OUT:-gpu-sweep-out}
[[ -e $build ]] || fail "no build at '$build' (CBNN_BUILD_DIR; scripts/gpu-prep.sh packs one)"
[[ -f $data ]] || fail "no data archive at '$data' (CBNN_SWEEP_DATA; docs/REPRODUCTION.md packs it)"
[[ -d $lists ]] || fail "no list folder at '$lists' (CBNN_SWEEP_LISTS)"
mkdir -p "$out" "$work" || fail "cannot create '$out' and '$work'"
: >"$out/sweep.log" || fail "cannot write '$out/sweep.log'"
log=$out/sweep.log

# Everything after this goes to the terminal and to sweep.log.
say() {
    echo "gpu-sweep: $*" | tee -a "$log"
}

if [[ -f $build ]]; then
    if ! { rm -rf "$work/build" && mkdir -p "$work/build" && tar -xzf "$build" -C "$work/build"; }; then
        fail "cannot unpack the build archive '$build'"
    fi
    build=$work/build
fi
[[ -x $build/cbnn-train-cifar ]] || fail "'$build' has no cbnn-train-cifar"
if ! { rm -rf "$work/cifar" "$work/lists" && mkdir -p "$work/cifar" && tar -xzf "$data" -C "$work/cifar"; }; then
    fail "cannot unpack the data archive '$data'"
fi
cp -r "$lists" "$work/lists" || fail "cannot copy the lists from '$lists'"
if [[ -d $work/runs ]]; then
    say "going on from the runs of an earlier call on this machine in $work/runs (newer than the carried ones)"
else
    mkdir -p "$work/runs" || fail "cannot create '$work/runs'"
    if [[ -d $carried ]]; then
        cp -a "$carried/." "$work/runs/" || fail "cannot copy the carried runs from '$carried'"
    fi
fi
cbnn_export_cuda_libs
cbnn_add_lib_dir "$(cd "$build" && pwd)/lib"

status=0
budget=$((end - $(date +%s) - margin))
if ((budget < minimum)); then
    say "${budget} s left for the sweep (under $minimum): skipped"
else
    say "sweep for up to ${budget} s: ${args[*]}"
    # SIGTERM at the limit (the sweep stops its trainers, each checkpoint written whole, and its
    # MPS daemon), SIGKILL 45 s later if it has not ended by then.
    timeout -k 45 "$budget" scripts/reproduce.sh --trainer "$build/cbnn-train-cifar" \
        --data "$work/cifar" --lists "$work/lists" --runs "$work/runs" "${args[@]}" 2>&1 |
        tee -a "$log"
    status=${PIPESTATUS[0]}
    case $status in
        0) say "the sweep finished its runs" ;;
        124 | 137)
            say "stopped at the time limit: unfinished runs resume from their checkpoints next time"
            status=0
            ;;
        *) say "the sweep ended with exit status $status (see above)" ;;
    esac
fi
# The tables' summary lines only (the tables themselves are in runs.tgz).
scripts/reproduce.sh --collect-only --remove-finished-checkpoints --runs "$work/runs" \
    "${schedule[@]}" 2>&1 |
    grep '^reproduce' | tee -a "$log"
if tar -czf "$out/runs.tgz.part" -C "$work/runs" . && mv "$out/runs.tgz.part" "$out/runs.tgz"; then
    say "packed $(find "$work/runs" -name config.json | wc -l) run folders into $out/runs.tgz ($(du -h "$out/runs.tgz" | cut -f1))"
else
    say "cannot pack the runs into $out/runs.tgz"
    status=1
fi
exit "$status"
