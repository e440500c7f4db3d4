#!/usr/bin/env bash
# Runs the GPU checks on the GPU test machine (../shared/GPU.md) from an existing build folder that
# was built elsewhere and carried over: it builds and installs nothing. In one go, cheapest first:
#   1. nvidia-smi: GPU name, driver, memory
#   2. build/cbnn_cuda_tests, run directly (one process, not one per test through CTest, which
#      costs far more GPU-machine time), full log in $LOGDIR/cuda_tests.log (+ .xml)
#   3. every build/bench_* (Google Benchmark), each under a timeout, console output in
#      $LOGDIR/<name>.log and results in $LOGDIR/<name>.json
#   4. build/cbnn-demo --device cuda, when it exists
#   3b. compute-sanitizer memcheck over the CUDA tests named by CBNN_SANITIZE_FILTER, when set
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
#   CBNN_TEST_TIMEOUT     seconds for the whole CUDA test binary (default: 300); when it fails,
#                         each failing suite runs again alone (CBNN_SUITE_TIMEOUT s each, 120)
#   CBNN_TEST_STALL       seconds without output after which the CUDA test binary counts as hung
#                         and is killed (default: 90); the hung test is left out and the rest run
#                         again
#   CBNN_BENCH_TIMEOUT    seconds per benchmark binary (default: 120)
#   CBNN_BENCH_MIN_TIME   --benchmark_min_time in seconds of GPU (manual) time (default: 0.01).
#                         A microsecond kernel costs ~100 us of host time per benchmark iteration
#                         (20 launches + an event sync), so 0.01 s of GPU time is already ~1,700
#                         iterations; 0.2 made bench_losses run past 200 s on an H100.
#   CBNN_BENCH_FILTER     --benchmark_filter regex (default: all benchmarks)
#   CBNN_GTEST_FILTER     --gtest_filter for the CUDA tests (default: all tests)
#   CBNN_DEMO_TIMEOUT     seconds for cbnn-demo (default: 120)
#   CBNN_SANITIZE_FILTER  --gtest_filter for a compute-sanitizer memcheck run of the CUDA tests
#                         (default: none, step 3b skipped); CBNN_SANITIZE_TIMEOUT seconds (120)
#   CBNN_TRAIN_DATA       tar (plain or gzip) of a CIFAR image folder for step 5 (default: none,
#                         step 5 skipped)
#   CBNN_TRAIN_ARGS       cbnn-train-cifar flags for step 5, runs separated by ';' (default:
#                         one run, --preset paper --epochs 3
#                         --loss focal --beta 0.9999 --gamma 1)
#   CBNN_TRAIN_TIMEOUT    seconds for step 5 (default: 180), per run
set -uo pipefail  # no -e: every step runs, and failures are counted instead

# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

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

# run_watched SECS STALL LOG CMD...: runs CMD with its output in LOG, killing it when it runs past
# SECS seconds or prints nothing for STALL seconds (gtest flushes a line as each test starts and
# ends, so silence means a hung test); prints LOG when it ends and returns CMD's status, 124 when
# killed.
run_watched() {
    local secs=$1 stall=$2 log=$3 pid started size last_size=-1 last_change rc=0
    shift 3
    "$@" >"$log" 2>&1 &
    pid=$!
    started=$SECONDS
    last_change=$SECONDS
    while kill -0 "$pid" 2>/dev/null; do
        sleep 1
        size=$(stat -c %s "$log" 2>/dev/null || echo 0)
        if ((size != last_size)); then
            last_size=$size
            last_change=$SECONDS
        fi
        if ((SECONDS - started >= secs || SECONDS - last_change >= stall)); then
            echo "gpu-check: killing $(basename "$1") after $((SECONDS - started)) s" \
                "($((SECONDS - last_change)) s without output)" >>"$log"
            kill -TERM "$pid" 2>/dev/null
            sleep 2
            kill -KILL "$pid" 2>/dev/null
            wait "$pid" 2>/dev/null
            cat "$log"
            return 124
        fi
    done
    wait "$pid" || rc=$?
    cat "$log"
    return "$rc"
}

# unfinished_test LOG: the test a gtest binary was running when it died or was killed (its
# "[ RUN      ]" line has no result line after it); empty when none.
unfinished_test() {
    awk '/^\[ RUN      \] / { t = $4 }
         /^\[       OK \] |^\[  FAILED  \] |^\[  SKIPPED \] / { if ($4 == t) t = "" }
         END { print t }' "$1"
}

# gtest_filter_without FILTER EXCLUDED: FILTER (default: every test) with the ':'-separated test
# names in EXCLUDED added to its negative patterns.
gtest_filter_without() {
    local filter=${1:-*} excluded=$2
    [[ -z $excluded ]] && echo "$filter" && return
    if [[ $filter == *-* ]]; then echo "$filter:$excluded"; else echo "$filter-$excluded"; fi
}

# rerun_failing_suites_alone: after a failed CUDA test run, each failing test suite (every suite
# when the run died without a failure list) runs again in a process of its own. A CUDA error that
# poisons the context (an illegal address, say) makes every later test of one process fail; alone,
# only the guilty suite does. Logs in $logdir/alone-<suite>.log; the summary names the suites that
# fail alone and those that pass alone.
rerun_failing_suites_alone() {
    local suites suite name alone_rc alone_start fail_alone="" pass_alone=""
    suites=$(sed -n 's/^\[  FAILED  \] \([A-Za-z_0-9/]*\)\..*/\1/p' "$tests_log" | sort -u)
    if [[ -z $suites ]]; then
        suites=$("$tests_bin" --gtest_list_tests 2>/dev/null | sed -n 's/^\([A-Za-z_0-9/]*\)\.$/\1/p')
    fi
    section "cuda tests: failing suites, each alone"
    for suite in $suites; do
        name=${suite//\//_}
        limit=$(step_timeout "${CBNN_SUITE_TIMEOUT:-120}")
        if ((limit == 0)); then
            skip_for_budget "$suite alone"
            continue
        fi
        alone_rc=0
        alone_start=$SECONDS
        with_timeout "$limit" "$tests_bin" --gtest_brief=1 \
            "--gtest_filter=$suite.*" >"$logdir/alone-$name.log" 2>&1 || alone_rc=$?
        if ((alone_rc == 0)); then pass_alone+=" $suite"; else fail_alone+=" $suite"; fi
        echo "$suite alone: $(describe "$alone_rc" "$((SECONDS - alone_start))")"
    done
    add_summary "  fail alone" "${fail_alone:- none}"
    add_summary "  pass alone" "${pass_alone:- none}"
}

# ---- 2. CUDA tests ---------------------------------------------------------------------------
# The binary runs under a watchdog (run_watched): a test that hangs is killed after
# CBNN_TEST_STALL seconds of silence rather than eating the whole timeout. A test that hangs or
# crashes the binary is named (the "[ RUN ]" line with no result after it) and the binary runs
# again without it, up to 3 times, so the tests after it still report.
section "cuda tests"
tests_bin="$build_dir/cbnn_cuda_tests"
tests_log="$logdir/cuda_tests.log"
limit=$(step_timeout "$test_timeout")
if ((limit == 0)); then
    skip_for_budget "cuda tests"
elif [[ -x $tests_bin ]]; then
    missing=$(missing_libs "$tests_bin")
    [[ -n $missing ]] && echo "gpu-check: $tests_bin: libraries not found: $missing"
    start=$SECONDS
    excluded=""
    stopped=()
    for attempt in 1 2 3; do
        rc=0
        run_watched "$limit" "${CBNN_TEST_STALL:-90}" "$tests_log" "$tests_bin" \
            "--gtest_output=xml:$logdir/cuda_tests.xml" \
            "--gtest_filter=$(gtest_filter_without "${CBNN_GTEST_FILTER:-}" "$excluded")" || rc=$?
        grep -q '^\[==========\] .* ran\.' "$tests_log" && break # the binary finished
        culprit=$(unfinished_test "$tests_log")
        [[ -n $culprit ]] || break
        if ((rc == 124 || rc == 137)); then
            stopped+=("$culprit hung")
        else
            stopped+=("$culprit crashed the binary (exit $rc)")
        fi
        excluded+="${excluded:+:}$culprit"
        cp "$tests_log" "$logdir/cuda_tests-attempt$attempt.log"
        limit=$(step_timeout "$test_timeout")
        ((attempt < 3 && limit > 0)) || break
        echo "gpu-check: ${stopped[-1]}; running the CUDA tests again without it"
    done
    secs=$((SECONDS - start))
    passed=$(sed -n 's/^\[  PASSED  \] \([0-9][0-9]*\) tests\{0,1\}\..*/\1/p' "$tests_log" | tail -n 1)
    skipped=$(sed -n 's/^\[  SKIPPED \] \([0-9][0-9]*\) test.*/\1/p' "$tests_log" | tail -n 1)
    # Each failure is printed twice (as it happens, and in the final list). Count distinct names.
    failed=$(sed -n 's/^\[  FAILED  \] \([A-Za-z_][^ ]*\).*/\1/p' "$tests_log" | sort -u | wc -l)
    if [[ -z $passed ]]; then
        counts="no gtest summary"
    else
        counts="${passed} passed, ${failed} failed, ${skipped:-0} skipped"
    fi
    ((${#stopped[@]} > 0)) && rc=1
    ((rc != 0)) && failures=$((failures + 1))
    add_summary "cuda tests" "$counts; $(describe "$rc" "$secs")"
    for line in "${stopped[@]}"; do add_summary "  left out" "$line"; done
    write_summary
    ((failed > 0 || (rc != 0 && ${#stopped[@]} == 0))) && rerun_failing_suites_alone
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
benches=0
for bench in "$build_dir"/bench_*; do
    [[ -f $bench && -x $bench ]] || continue
    benches=$((benches + 1))
    name=$(basename "$bench")
    limit=$(step_timeout "$bench_timeout")
    if ((limit == 0)); then
        skip_for_budget "$name"
        continue
    fi
    section "$name"
    missing=$(missing_libs "$bench")
    [[ -n $missing ]] && echo "gpu-check: $bench: libraries not found: $missing"
    start=$SECONDS
    rc=0
    with_timeout "$limit" "$bench" "${bench_args[@]}" \
        "--benchmark_out=$logdir/$name.json" --benchmark_out_format=json 2>&1 |
        tee "$logdir/$name.log" || rc=$?
    ((rc != 0)) && failures=$((failures + 1))
    add_summary "$name" "$(describe "$rc" "$((SECONDS - start))")"
    write_summary
done
((benches > 0)) || add_summary "benchmarks" "none found in $build_dir"

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
        limit=$(step_timeout "${CBNN_TRAIN_TIMEOUT:-180}")
        if ((limit == 0)); then
            skip_for_budget "training $k"
            continue
        fi
        section "cbnn-train-cifar --device cuda ${train_args[*]}"
        start=$SECONDS
        rc=0
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
        # Where the run's wall time went (training, evaluations, checkpoints).
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
