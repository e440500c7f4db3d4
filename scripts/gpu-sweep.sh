#!/usr/bin/env bash
# Runs part of issue 8's sweep (scripts/reproduce.sh) on the GPU test machine in the time a device
# call has left, then packs the run folders to bring back: a run the call's limit cuts off
# resumes in a later session from its last checkpoint (a checkpoint every epoch: about one epoch
# lost, two when stopped while a checkpoint was being written). docs/REPRODUCTION.md ("On the GPU test machine") has the whole round trip. Builds
# nothing and downloads nothing; it may follow scripts/gpu-check.sh in the same call, taking what
# that left of the call's time.
#
# Usage: scripts/gpu-sweep.sh --end UNIX_TIME [reproduce.sh options ...]
#   --end T    when the script must be done, in seconds since 1970 (`date +%s`, at most a day
#              ahead): the sweep gets T - now - 60 s (CBNN_SWEEP_MARGIN). At its limit the sweep
#              is sent SIGTERM, which stops its trainers and MPS daemon, and SIGKILL 45 s later if
#              it has not ended; the last 15 s collect and pack. Under 60 s for the sweep
#              (CBNN_SWEEP_MINIMUM) it is skipped, nothing is unpacked, and the run folders are
#              packed as they are. For a device call of 590 s, begin the command with
#              end=$(( $(date +%s) + 575 )).
#   -h, --help this text.
#   Every other argument goes to scripts/reproduce.sh: --device cuda unless a --device is given,
#   e.g. --jobs 4 --mps --cuda-graph --precision tf32 --only 'cifar10-if100-*-s1'. The options
#   that set where and what it runs (--runs, --data, --lists, --trainer, --collect-only,
#   --dry-run, --list, --move-finished, --remove-finished-checkpoints) are the script's own and
#   refused.
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
#                      session goes on from the first call's runs, not from the older carried
#                      ones. Give a trial call (a few epochs, a small depth) a folder of its own:
#                      its runs would otherwise stand in the way of the real ones.
#   CBNN_SWEEP_MARGIN  seconds kept after the sweep's time limit for stopping, collecting and
#                      packing (default: 60, at least 20: SIGKILL comes MARGIN - 15 s after
#                      SIGTERM)
#   CBNN_SWEEP_MINIMUM the shortest sweep worth starting, in seconds (default: 60, at least 1)
#   OUT                where runs.tgz (every run folder, finished runs without their checkpoints;
#                      above 15 MiB in parts runs.tgz.0, .1, ..., as the device tool brings back
#                      files of up to 16 MiB: `cat runs.tgz* | tar -xz` joins them) and sweep.log
#                      go (default: ./gpu-sweep-out). sweep.log says what happened, a failed
#                      setup included; the runs are packed whether the sweep runs, is skipped or
#                      fails (not after a failed setup: then keep the carried runs as they are).
# Exit status: 0 when the sweep ran to its end or to the time limit, no run failed on its own, and
# the runs were collected and packed; 1 on bad input, a failed setup, a run that failed (said even
# when the time limit ended the sweep) or a failed collection or packing; reproduce.sh's status
# when the sweep itself failed.
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
        --end | --end=*)
            [[ -z $end ]] || fail "--end given twice"
            if [[ $1 == --end ]]; then
                end=${2-}
                shift $(($# >= 2 ? 2 : 1))
            else
                end=${1#--end=}
                shift
            fi
            [[ -n $end ]] || fail "--end needs a value (a Unix time: date +%s)"
            ;;
        # The script's own paths and mode: given here they would send the sweep elsewhere than
        # what is collected and packed.
        --runs | --runs=* | --data | --data=* | --lists | --lists=* | --trainer | --trainer=* | \
            --collect-only | --dry-run | --list | --move-finished | --move-finished=* | \
            --remove-finished-checkpoints)
            fail "${1%%=*} is set by gpu-sweep itself (see --help): leave it out"
            ;;
        *)
            args+=("$1")
            shift
            ;;
    esac
done
[[ -n $end ]] || fail "--end is required (when the call must be done, date +%s); see --help"
[[ $end =~ ^[0-9]+$ ]] || fail "--end: expected a Unix time in whole seconds, got '$end'"
end=$((10#$end))  # a leading zero is not octal
(( end <= $(date +%s) + 86400 )) ||
    fail "--end $end is more than a day away (milliseconds? expected seconds, date +%s)"
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
if ! [[ $margin =~ ^[0-9]+$ && $minimum =~ ^[0-9]+$ ]] || ((10#$margin < 20 || 10#$minimum < 1)); then
    fail "CBNN_SWEEP_MARGIN (at least 20) and CBNN_SWEEP_MINIMUM (at least 1): expected whole" \
        "seconds, got '$margin', '$minimum'"
fi
margin=$((10#$margin))
minimum=$((10#$minimum))

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

# The runs: a second call on this machine goes on from the first call's (newer than the carried
# copy); else the carried ones, copied whole or not at all.
if [[ -d $work/runs ]]; then
    say "going on from the runs of an earlier call on this machine in $work/runs (newer than the carried ones)"
else
    if ! { rm -rf "$work/runs.new" && mkdir -p "$work/runs.new"; }; then
        fail "cannot create '$work/runs.new'"
    fi
    if [[ -d $carried ]]; then
        cp -a "$carried/." "$work/runs.new/" || fail "cannot copy the carried runs from '$carried'"
    fi
    mv "$work/runs.new" "$work/runs" || fail "cannot create '$work/runs'"
fi

status=0
# Decided before unpacking: a call the checks have nearly used up only packs the runs back.
budget=$((end - $(date +%s) - margin))
if ((budget < minimum)); then
    say "${budget} s left for the sweep (under $minimum): skipped"
else
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
    cbnn_export_cuda_libs
    cbnn_add_lib_dir "$(cd "$build" && pwd)/lib"
    budget=$((end - $(date +%s) - margin))
    say "sweep for up to ${budget} s: ${args[*]}"
    # SIGTERM at the limit: the sweep stops its trainers (each checkpoint is written whole or
    # not at all) and its MPS daemon. SIGKILL (margin - 15) s later if it has not ended by then,
    # which leaves 15 s to collect and pack.
    timeout -k $((margin - 15)) "$((budget > 0 ? budget : 1))" scripts/reproduce.sh \
        --trainer "$build/cbnn-train-cifar" --data "$work/cifar" --lists "$work/lists" \
        --runs "$work/runs" "${args[@]}" 2>&1 | tee -a "$log"
    sweep_status=${PIPESTATUS[0]}
    # Runs that failed on their own (an interrupted trainer reports exit 130): said even when
    # the time limit ended the sweep, which is how a call normally ends.
    failed=$(grep -E ' FAILED \(exit [0-9-]+\)' "$log" | grep -cv ' FAILED (exit 130)')
    case $sweep_status in
        0) say "the sweep finished its runs" ;;
        124 | 137) say "stopped at the time limit: unfinished runs resume from their checkpoints next time" ;;
        *)
            say "the sweep ended with exit status $sweep_status (see above)"
            status=$sweep_status
            ;;
    esac
    if ((failed > 0)); then
        say "$failed run(s) FAILED: see their train.log in the packed run folders"
        status=1
    fi
    # The MPS daemon this sweep started, when the sweep did not get to stop it (a SIGKILL): it
    # would outlive the call (its own session) and stand in the way of the next call's --mps.
    pipe=$(sed -n 's/.*MPS daemon started (pipe folder \(.*\))$/\1/p' "$log" | tail -n 1)
    if [[ -n $pipe && -d $pipe ]] && ! grep -q 'MPS daemon stopped' "$log" &&
        command -v nvidia-cuda-mps-control >/dev/null 2>&1; then
        echo quit | CUDA_MPS_PIPE_DIRECTORY=$pipe timeout 5 nvidia-cuda-mps-control >/dev/null 2>&1
        rm -rf "$(dirname "$pipe")"
        say "stopped the sweep's MPS daemon ($pipe), which the sweep had left running"
    fi
fi

# The tables, and the checkpoints of finished runs dropped; the full output in sweep.log, the
# summary lines here.
scripts/reproduce.sh --collect-only --remove-finished-checkpoints --runs "$work/runs" \
    "${schedule[@]}" >>"$log" 2>&1
collect_status=$?
grep '^reproduce: \(removed\|[0-9]* finished\)' "$log" | tail -n 2
if ((collect_status != 0)); then
    say "collecting the runs failed (exit $collect_status, sweep.log has why); packing them as they are"
    status=1
fi
# Folders of runs the limit kept from starting hold nothing worth carrying.
find "$work/runs" -mindepth 1 -maxdepth 1 -type d -empty -delete
if ! { tar -czf "$out/runs.tgz.part" -C "$work/runs" . && mv "$out/runs.tgz.part" "$out/runs.tgz"; }; then
    say "cannot pack the runs into $out/runs.tgz"
    exit 1
fi
# The device tool brings back files of up to 16 MiB: a bigger archive goes in parts
# (runs.tgz.0, .1, ...; `cat runs.tgz* | tar -xz` joins them).
size=$(stat -c %s "$out/runs.tgz")
if ((size > 15 * 1024 * 1024)); then
    if ! { split -b 15M -d -a 1 "$out/runs.tgz" "$out/runs.tgz." && rm "$out/runs.tgz"; }; then
        fail "cannot split $out/runs.tgz"
    fi
    parts=$(find "$out" -maxdepth 1 -name 'runs.tgz.[0-9]' | wc -l)
    say "runs.tgz is $((size / 1024 / 1024)) MiB: split into $parts parts of at most 15 MiB"
fi
say "packed $(find "$work/runs" -name config.json | wc -l) run folders ($((size / 1024)) KiB) into $out"
exit "$status"
