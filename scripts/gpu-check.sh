#!/usr/bin/env bash
# Runs the GPU checks on the GPU test machine (../shared/GPU.md) from an existing build folder that
# was built elsewhere and carried over: it builds and installs nothing. In one go, cheapest first:
#   1. nvidia-smi: GPU name, driver, memory
#   2. build/cbnn_cuda_tests, run by scripts/cuda-tests.sh as a few processes at once (not one
#      per test through CTest, which costs far more GPU-machine time), full log in
#      $LOGDIR/cuda_tests.log, each process's log and gtest XML beside it
#   3. every build/bench_* (Google Benchmark), each under a timeout, console output in
#      $LOGDIR/<name>.log and results in $LOGDIR/<name>.json
#   4. build/cbnn-demo --device cuda, when it exists
#   3b. compute-sanitizer memcheck over the CUDA tests named by CBNN_SANITIZE_FILTER, when set
#   3c. kernel-by-kernel profiles (ncu) of the bench_train_step cases CBNN_PROFILE_CASES names,
#       when set: $LOGDIR/profile-<k>.csv, and scripts/kernel_profile.py's table of it in
#       profile-<k>.txt
#   5. a short CIFAR training run on the GPU (build/cbnn-train-cifar --device cuda), when
#      CBNN_TRAIN_DATA names a tar of a CIFAR image folder (../shared/GPU.md: a training list plus
#      test/); one run per ';'-separated group of flags in CBNN_TRAIN_ARGS, its run folder
#      (metrics.jsonl, report.html, ...) in $LOGDIR/train-<k>
# It keeps going after a failure, prints a short summary last (also in $LOGDIR/summary.txt) and
# exits non-zero if anything failed or was skipped for the time budget (CBNN_TOTAL_BUDGET). cuDNN and NCCL come from Python's site-packages
# (nvidia/{cudnn,nccl}/lib) when there; $CBNN_BUILD_DIR/lib (shared libraries that
# scripts/gpu-prep.sh copied along, e.g. Debian's libbenchmark.so.1debian) goes first on
# LD_LIBRARY_PATH.
#
# Usage: [VAR=value ...] scripts/gpu-check.sh    (no arguments: the settings are the environment
#        below; -h or --help prints this text and runs nothing)
#   e.g. CBNN_BUILD_DIR=.gpu/build.tar.gz CBNN_TOTAL_BUDGET=500 scripts/gpu-check.sh
#
# Environment:
#   CBNN_BUILD_DIR        build folder, relative to the repository root or absolute (default: build),
#                         or the .tar.gz that scripts/gpu-prep.sh packs (unpacked to a temporary
#                         folder first); its data/ (cifar10-mini, packed by gpu-prep) becomes
#                         CBNN_DATA_DIR for the CUDA tests unless that is set
#   LOGDIR                where logs go (default: ./gpu-logs)
#   OUT                   when set (the device tool's output folder, which returns at most 8
#                         files), the whole log folder is also packed into $OUT/gpu-logs.tar.gz
#                         and the summary so far copied to $OUT/summary.txt: two files, however
#                         many benchmarks there are. Both are refreshed after every step, so a
#                         call killed at its time limit still returns the steps that finished.
#                         Keep LOGDIR outside $OUT (default ./gpu-logs): a log folder inside it
#                         is more than 8 files, and which of them come back is not ours to say.
#   CBNN_TOTAL_BUDGET     seconds the whole script may take (default: none). Each step's timeout
#                         is cut to what is left of it, less 15 s for the summary and packing, and
#                         a step with under 20 s left is skipped (the summary says so). Set it a
#                         little under the device call's own limit.
#   CBNN_TEST_TIMEOUT     seconds for the CUDA tests (default: 300); when tests fail, each failing
#                         suite runs again alone (CBNN_SUITE_TIMEOUT s each, 120)
#   CBNN_TEST_SHARDS      CUDA test processes at once (default: 8, at most the number of cores)
#   CBNN_TEST_STALL       seconds without output after which a CUDA test process counts as hung
#                         and is killed (default: 90); the hung test is left out and the rest of
#                         that process's tests run again
#   CBNN_BENCH_TIMEOUT    seconds per benchmark binary (default: 120)
#   CBNN_BENCH_MIN_TIME   --benchmark_min_time in seconds of GPU (manual) time (default: 0.01).
#                         A microsecond kernel costs ~100 us of host time per benchmark iteration
#                         (20 launches + an event sync), so 0.01 s of GPU time is already ~1,700
#                         iterations; 0.2 made bench_losses run past 200 s on an H100.
#   CBNN_BENCH_FILTER     --benchmark_filter regex (default: all benchmarks)
#   CBNN_BENCH_REPETITIONS  --benchmark_repetitions (default: 1): each case run N times, with
#                         its mean, median, standard deviation and cv printed after the runs
#                         (medians of repeats are what the README's figures are to be)
#   CBNN_GTEST_FILTER     --gtest_filter for the CUDA tests (default: all tests)
#   CBNN_DEMO_TIMEOUT     seconds for cbnn-demo (default: 120)
#   CBNN_SANITIZE_FILTER  --gtest_filter for a compute-sanitizer memcheck run of the CUDA tests
#                         (default: none, step 3b skipped); CBNN_SANITIZE_TIMEOUT seconds (120)
#   CBNN_PROFILE_CASES    ';'-separated --benchmark_filter regexes, each matching one
#                         bench_train_step case to profile in step 3c (default: none, step
#                         skipped); ncu records only the CBNN_PROFILE_STEPS (default 1) steps
#                         the case runs after its warm-up (bench/profile_range.h);
#                         CBNN_PROFILE_TIMEOUT seconds per case (default 120)
#   CBNN_TRAIN_DATA       tar (plain or gzip) of a CIFAR image folder for step 5 (default: none,
#                         step 5 skipped)
#   CBNN_TRAIN_ARGS       cbnn-train-cifar flags for step 5, runs separated by ';' (default:
#                         one run, --preset paper --epochs 3
#                         --loss focal --beta 0.9999 --gamma 1)
#   CBNN_TRAIN_TIMEOUT    seconds for step 5 (default: 180), per run
set -uo pipefail  # no -e: every step runs, and failures are counted instead

# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cbnn_no_args "${BASH_SOURCE[0]}" "$@"

logdir=${LOGDIR:-./gpu-logs}
if ! mkdir -p "$logdir" || ! logdir=$(cd "$logdir" && pwd); then
    echo "gpu-check: cannot create the log folder $logdir" >&2
    exit 1
fi
cd "$CBNN_ROOT" || exit 1

if [[ -n ${OUT:-} && -d $OUT ]]; then
    case $logdir/ in
        "$(cd "$OUT" && pwd)"/?*)
            echo "gpu-check: warning: LOGDIR $logdir is inside \$OUT; the device tool returns at" \
                "most 8 files from there, so keep LOGDIR outside and read \$OUT/gpu-logs.tar.gz" >&2
            ;;
    esac
fi

build_dir=${CBNN_BUILD_DIR:-build}
test_timeout=${CBNN_TEST_TIMEOUT:-300}
bench_timeout=${CBNN_BENCH_TIMEOUT:-120}
bench_min_time=${CBNN_BENCH_MIN_TIME:-0.01}
bench_repetitions=${CBNN_BENCH_REPETITIONS:-1}
if [[ ! $bench_repetitions =~ ^[1-9][0-9]*$ ]]; then
    echo "gpu-check: CBNN_BENCH_REPETITIONS: expected a whole number of at least 1, got" \
        "'$bench_repetitions'" >&2
    exit 1
fi
demo_timeout=${CBNN_DEMO_TIMEOUT:-120}

# An archive from scripts/gpu-prep.sh is unpacked into a temporary folder first.
if [[ -f $build_dir && ($build_dir == *.tar.gz || $build_dir == *.tgz) ]]; then
    unpacked_build=$(mktemp -d)
    trap 'rm -rf "$unpacked_build"' EXIT
    if ! tar -xzf "$build_dir" -C "$unpacked_build"; then
        echo "gpu-check: cannot unpack the build archive '$build_dir'" >&2
        exit 1
    fi
    echo "gpu-check: unpacked $build_dir"
    build_dir=$unpacked_build
fi
if [[ ! -d $build_dir ]]; then
    echo "gpu-check: build folder '$build_dir' does not exist (set CBNN_BUILD_DIR)" >&2
    exit 1
fi
build_dir=$(cd "$build_dir" && pwd)
# The real-data CUDA tests read $CBNN_DATA_DIR/cifar10-mini; gpu-prep packs it as data/.
if [[ -z ${CBNN_DATA_DIR:-} && -d $build_dir/data/cifar10-mini ]]; then
    export CBNN_DATA_DIR=$build_dir/data
fi

failures=0
skipped_steps=0
summary=()
add_summary() { summary+=("$(printf '%-24s %s' "$1" "$2")"); }

total_budget=${CBNN_TOTAL_BUDGET:-0}
budget_reserve=15  # seconds kept for the summary and the packing into $OUT
budget_min_step=20 # a step with less than this left is not started

# step_timeout WANTED: prints the timeout for the next step: WANTED seconds, cut to what is left of
# CBNN_TOTAL_BUDGET; 0 when too little is left to start it.
step_timeout() {
    local want=$1 left
    ((total_budget > 0)) || {
        echo "$want"
        return
    }
    left=$((total_budget - SECONDS - budget_reserve))
    ((left < want)) && want=$left
    ((want < budget_min_step)) && want=0
    echo "$want"
}

# skip_for_budget NAME: records a step left out because the time budget ran out.
skip_for_budget() {
    echo "gpu-check: $1 skipped: ${SECONDS} s of the ${total_budget} s budget used"
    add_summary "$1" "SKIPPED (time budget)"
    skipped_steps=$((skipped_steps + 1))
}

# write_summary: the summary so far to $logdir/summary.txt and, with OUT set, the log folder
# packed into $OUT. Called after every step: if the device call is killed at its limit, what
# finished still comes back.
write_summary() {
    printf '%s\n' "${summary[@]}" >"$logdir/summary.txt"
    if [[ -n ${OUT:-} && -d $OUT && $(cd "$OUT" && pwd) != "$logdir" ]]; then
        tar -czf "$OUT/gpu-logs.tar.gz.part" -C "$logdir" . &&
            mv "$OUT/gpu-logs.tar.gz.part" "$OUT/gpu-logs.tar.gz" &&
            cp "$logdir/summary.txt" "$OUT/summary.txt"
    fi
}

# begin_step NAME WANTED TITLE: for a step of the loops below, sets `limit` (step_timeout WANTED),
# `start` and `rc` and prints the section TITLE; returns 1, the skip recorded under NAME, when the
# budget has no room left for it.
begin_step() {
    limit=$(step_timeout "$2")
    if ((limit == 0)); then
        skip_for_budget "$1"
        return 1
    fi
    section "$3"
    start=$SECONDS
    rc=0
}

# describe RC SECONDS: one word or phrase for an exit status.
describe() {
    local rc=$1 secs=$2
    case $rc in
        0) echo "ok (${secs} s)" ;;
        124 | 137) echo "TIMEOUT (killed after ${secs} s)" ;;
        126 | 127) echo "FAILED to start (exit $rc; see its log)" ;;
        *)
            if ((rc > 128)); then
                echo "FAILED (signal $((rc - 128)), ${secs} s)"
            else
                echo "FAILED (exit $rc, ${secs} s)"
            fi
            ;;
    esac
}

# with_timeout SECONDS CMD...: `timeout` when available (it is part of coreutils).
with_timeout() {
    local secs=$1
    shift
    if command -v timeout >/dev/null 2>&1; then
        timeout --kill-after=10 "$secs" "$@"
    else
        "$@"
    fi
}

# missing_libs BINARY: prints the shared libraries the loader cannot find, if any.
missing_libs() {
    command -v ldd >/dev/null 2>&1 || return 0
    ldd "$1" 2>/dev/null | awk '/not found/ {print $1}' | tr '\n' ' '
}

section() { printf '\n===== %s =====\n' "$*"; }

section "gpu-check $(date -u '+%Y-%m-%d %H:%M:%S UTC') on $(hostname)"
cbnn_export_cuda_libs
cbnn_add_lib_dir "$build_dir/lib"
echo "build folder:    $build_dir"
echo "log folder:      $logdir"
echo "LD_LIBRARY_PATH: ${LD_LIBRARY_PATH:-}"
echo "CBNN_DATA_DIR:   ${CBNN_DATA_DIR:-(unset)}"

# ---- 1. the GPU ------------------------------------------------------------------------------
section "nvidia-smi"
gpu_name="unknown"
if nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 |
    tee "$logdir/nvidia-smi.csv"; then
    gpu_name=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null |
        head -n 1 | sed 's/, */ (driver /; s/$/)/')
else
    gpu_name="none (nvidia-smi failed)"
    failures=$((failures + 1))
fi
add_summary "GPU" "$gpu_name"
# Whether a sweep's --mps (scripts/cuda_mps.py) can work here: the MPS control program, and the
# probe a sweep runs under its daemon, here without one (a CUDA context through the driver API).
mps_control=$(command -v nvidia-cuda-mps-control || echo "not found")
mps_probe=$(with_timeout 60 python3 "$CBNN_ROOT/scripts/cuda_mps.py" --probe 2>&1) && mps_probe="ok"
add_summary "MPS" "nvidia-cuda-mps-control: $mps_control; CUDA probe: ${mps_probe:-no output}"

# ---- 2. CUDA tests ---------------------------------------------------------------------------
# scripts/cuda-tests.sh runs them as CBNN_TEST_SHARDS processes at once, each under a watchdog: a
# test that hangs (CBNN_TEST_STALL s of silence) or crashes its process is named and left out,
# and the rest of its share runs again; failing suites then run again alone. Its time counts
# against CBNN_TOTAL_BUDGET like every step's.
section "cuda tests"
tests_bin="$build_dir/cbnn_cuda_tests"
limit=$(step_timeout "$test_timeout")
if ((limit == 0)); then
    skip_for_budget "cuda tests"
elif [[ -x $tests_bin ]]; then
    missing=$(missing_libs "$tests_bin")
    [[ -n $missing ]] && echo "gpu-check: $tests_bin: libraries not found: $missing"
    start=$SECONDS
    more=()
    tests_budget=0 # none: cuda-tests.sh's --budget 0 is no limit
    ((total_budget > 0)) && tests_budget=$((total_budget - SECONDS - budget_reserve))
    rc=0
    "$CBNN_ROOT/scripts/cuda-tests.sh" --timeout "$limit" --budget "$tests_budget" \
        --stall "${CBNN_TEST_STALL:-90}" --suite-timeout "${CBNN_SUITE_TIMEOUT:-120}" \
        ${CBNN_GTEST_FILTER:+--filter "$CBNN_GTEST_FILTER"} "$tests_bin" "$logdir" || rc=$?
    secs=$((SECONDS - start))
    ((rc != 0)) && failures=$((failures + 1))
    counts="no gtest summary"
    while IFS=$'\t' read -r key text; do
        if [[ $key == counts ]]; then
            counts=$text
        else
            more+=("$key" "$text")
        fi
    done < <(cat "$logdir/cuda_tests-summary.tsv" 2>/dev/null)
    add_summary "cuda tests" "$counts; $(describe "$rc" "$secs")"
    for ((i = 0; i < ${#more[@]}; i += 2)); do
        add_summary "${more[i]}" "${more[i + 1]}"
        [[ ${more[i + 1]} == *"SKIPPED (time budget)" ]] && skipped_steps=$((skipped_steps + 1))
    done
else
    echo "gpu-check: $tests_bin not found (a build without the CUDA backend?)"
    add_summary "cuda tests" "MISSING ($tests_bin)"
    failures=$((failures + 1))
fi
write_summary

# ---- 3b. memcheck -----------------------------------------------------------------------------
limit=$(step_timeout "${CBNN_SANITIZE_TIMEOUT:-120}")
if [[ -n ${CBNN_SANITIZE_FILTER:-} ]] && ((limit == 0)); then
    skip_for_budget "memcheck"
elif [[ -n ${CBNN_SANITIZE_FILTER:-} ]]; then
    section "compute-sanitizer memcheck: $CBNN_SANITIZE_FILTER"
    start=$SECONDS
    rc=0
    sanitizer=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
    if [[ ! -x $sanitizer ]]; then
        echo "gpu-check: compute-sanitizer not found"
        rc=127
    else
        with_timeout "$limit" "$sanitizer" --tool memcheck \
            --error-exitcode 9 "$tests_bin" --gtest_brief=1 "--gtest_filter=$CBNN_SANITIZE_FILTER" \
            2>&1 | tee "$logdir/memcheck.log" || rc=$?
    fi
    summary_line=$(grep -E 'ERROR SUMMARY' "$logdir/memcheck.log" 2>/dev/null | tail -n 1)
    ((rc != 0)) && failures=$((failures + 1))
    add_summary "memcheck" "${summary_line:-no summary}; $(describe "$rc" "$((SECONDS - start))")"
    write_summary
fi

# ---- 3. benchmarks ---------------------------------------------------------------------------
# --benchmark_min_time: Google Benchmark 1.7 (the development machine) takes a plain number of
# seconds; 1.8.3 (the GPU machine) also accepts "0.2s" and "<n>x", and still reads a plain number
# as seconds (printing a "should have a suffix" note), so the plain number works with both.
bench_args=("--benchmark_min_time=$bench_min_time" --benchmark_format=console)
[[ -n ${CBNN_BENCH_FILTER:-} ]] && bench_args+=("--benchmark_filter=$CBNN_BENCH_FILTER")
((bench_repetitions > 1)) && bench_args+=("--benchmark_repetitions=$bench_repetitions")
benches=0
for bench in "$build_dir"/bench_*; do
    [[ -f $bench && -x $bench ]] || continue
    benches=$((benches + 1))
    name=$(basename "$bench")
    begin_step "$name" "$bench_timeout" "$name" || continue
    missing=$(missing_libs "$bench")
    [[ -n $missing ]] && echo "gpu-check: $bench: libraries not found: $missing"
    with_timeout "$limit" "$bench" "${bench_args[@]}" \
        "--benchmark_out=$logdir/$name.json" --benchmark_out_format=json 2>&1 |
        tee "$logdir/$name.log" || rc=$?
    ((rc != 0)) && failures=$((failures + 1))
    add_summary "$name" "$(describe "$rc" "$((SECONDS - start))")"
    write_summary
done
((benches > 0)) || add_summary "benchmarks" "none found in $build_dir"

# ---- 3c. kernel profiles ----------------------------------------------------------------------
# Each case under ncu with profiling off until its profiled steps: one metric, each kernel's
# duration (one pass, no replay), clocks and caches left as they are, every kernel node of a CUDA
# graph on its own, at most 5,000 kernels (a ResNet-50 step is ~750: the cap only bounds the time
# a misplaced range could take). The table compares the kernels' sum with the step time step 3 measured.
if [[ -n ${CBNN_PROFILE_CASES:-} ]]; then
    ncu_bin=$(command -v ncu || echo /usr/local/cuda/bin/ncu)
    profile_steps=${CBNN_PROFILE_STEPS:-1} # graph steps repeat: one holds every kernel
    IFS=';' read -r -a profile_cases <<<"$CBNN_PROFILE_CASES"
    k=0
    for case_regex in "${profile_cases[@]}"; do
        k=$((k + 1))
        begin_step "profile $k" "${CBNN_PROFILE_TIMEOUT:-120}" "kernel profile $k: $case_regex" ||
            continue
        csv=$logdir/profile-$k.csv
        if [[ ! -x $ncu_bin ]]; then
            echo "gpu-check: ncu not found"
            rc=127
        else
            with_timeout "$limit" env CBNN_PROFILE_STEPS="$profile_steps" "$ncu_bin" \
                --profile-from-start off --clock-control none --cache-control none \
                --graph-profiling node --launch-count 5000 --metrics gpu__time_duration.sum \
                --csv --print-units base \
                --log-file "$csv" "$build_dir/bench_train_step" "--benchmark_filter=$case_regex" \
                --benchmark_min_time="$bench_min_time" 2>&1 | tee "$logdir/profile-$k.log" || rc=$?
        fi
        report=$logdir/profile-$k.txt
        measured=() # the case's step time from step 3, when it ran
        [[ -f $logdir/bench_train_step.json ]] &&
            measured=(--bench-json "$logdir/bench_train_step.json" --case "$case_regex")
        if ((rc == 0)); then
            python3 "$CBNN_ROOT/scripts/kernel_profile.py" "$csv" --steps "$profile_steps" \
                "${measured[@]}" >"$report" 2>&1 || rc=$?
            cat "$report"
        fi
        ((rc != 0)) && failures=$((failures + 1))
        add_summary "profile $k" "$case_regex: $(describe "$rc" "$((SECONDS - start))")"
        if ((rc == 0)); then
            add_summary "  kernels" "$(sed -n 's/^kernel profile: //p' "$report")"
            gap=$(sed -n 's/^measured step //p' "$report")
            [[ -n $gap ]] && add_summary "  step" "$gap"
            add_summary "  largest" "$(sed -n 's/^largest kinds: //p' "$report")"
        fi
        write_summary
    done
fi

# ---- 4. demo ---------------------------------------------------------------------------------
demo="$build_dir/cbnn-demo"
limit=$(step_timeout "$demo_timeout")
if [[ -x $demo ]] && ((limit == 0)); then
    skip_for_budget "cbnn-demo --device cuda"
elif [[ -x $demo ]]; then
    section "cbnn-demo --device cuda"
    start=$SECONDS
    rc=0
    with_timeout "$limit" "$demo" --device cuda 2>&1 | tee "$logdir/cbnn-demo.log" || rc=$?
    ((rc != 0)) && failures=$((failures + 1))
    add_summary "cbnn-demo --device cuda" "$(describe "$rc" "$((SECONDS - start))")"
    write_summary
fi

# ---- 5. training ------------------------------------------------------------------------------
# One run per ';'-separated group of flags in CBNN_TRAIN_ARGS, in $LOGDIR/train-<k>.
train_bin="$build_dir/cbnn-train-cifar"
if [[ -n ${CBNN_TRAIN_DATA:-} ]]; then
    data_dir=$(mktemp -d)
    unpacked=1
    tar -xf "$CBNN_TRAIN_DATA" -C "$data_dir" || unpacked=0
    IFS=';' read -r -a train_runs <<<"${CBNN_TRAIN_ARGS:---preset paper --epochs 3 --loss focal --beta 0.9999 --gamma 1}"
    k=0
    for run_flags in "${train_runs[@]}"; do
        k=$((k + 1))
        read -r -a train_args <<<"$run_flags"
        begin_step "training $k" "${CBNN_TRAIN_TIMEOUT:-180}" \
            "cbnn-train-cifar --device cuda ${train_args[*]}" || continue
        if [[ ! -x $train_bin ]]; then
            echo "gpu-check: $train_bin not found"
            rc=127
        elif ((unpacked == 0)); then
            echo "gpu-check: cannot unpack $CBNN_TRAIN_DATA"
            rc=1
        else
            with_timeout "$limit" "$train_bin" --device cuda --data "$data_dir" \
                --out "$logdir/train-$k" "${train_args[@]}" 2>&1 | tee "$logdir/train-$k.log" ||
                rc=$?
        fi
        ((rc != 0)) && failures=$((failures + 1))
        add_summary "training $k" "${train_args[*]}: $(describe "$rc" "$((SECONDS - start))")"
        # The last progress line (loss, img/s) and the last test error.
        last_progress=$(grep 'img/s' "$logdir/train-$k.log" 2>/dev/null | tail -n 1)
        last_eval=$(grep 'test error' "$logdir/train-$k.log" 2>/dev/null | tail -n 1)
        [[ -n $last_progress ]] && add_summary "  progress" "$last_progress"
        [[ -n $last_eval ]] && add_summary "  result" "$last_eval"
        last_graph=$(grep '^cuda graph:' "$logdir/train-$k.log" 2>/dev/null | tail -n 1)
        [[ -n $last_graph ]] && add_summary "  graph" "${last_graph#cuda graph: }"
        # Where the run's wall time went (training, evaluations, files, other).
        last_split=$(grep '^time: ' "$logdir/train-$k.log" 2>/dev/null | tail -n 1)
        [[ -n $last_split ]] && add_summary "  split" "${last_split#time: }"
        write_summary
    done
    rm -rf "$data_dir"
fi

# ---- summary ---------------------------------------------------------------------------------
if ((failures > 0)); then
    add_summary "result" "FAILED ($failures step(s))"
elif ((skipped_steps > 0)); then
    add_summary "result" "INCOMPLETE: passed what ran, $skipped_steps step(s) skipped (time budget)"
else
    add_summary "result" "PASSED"
fi
add_summary "time" "${SECONDS} s$( ((total_budget > 0)) && echo " of the ${total_budget} s budget")"
add_summary "logs" "$logdir"
write_summary
printf '\n===== gpu-check summary =====\n'
printf '%s\n' "${summary[@]}"
((failures == 0 && skipped_steps == 0))
