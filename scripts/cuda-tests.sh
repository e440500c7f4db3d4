#!/usr/bin/env bash
# Runs a GoogleTest binary (build/cbnn_cuda_tests) as N processes at once, each on its own share of
# the tests, and says what happened; scripts/gpu-check.sh uses it for its CUDA-test step.
#
# Why shards: on the H100 machine the 130 CUDA tests took 177 s in one process (run 4), and over
# half of that was the float64 CPU references of the batch-norm tests, on one of its 16 cores.
# Device time is counted in minutes, so the tests run as several processes on the one GPU (they
# already run so under `ctest -j`: every test writes to its own pid-named scratch folder).
#
# How: the binary lists its tests (--gtest_list_tests, under FILTER); test i goes to shard
# i mod N, which runs them as an explicit --gtest_filter list. Each shard runs under a watchdog:
# killed when it runs past TIMEOUT or prints nothing for STALL seconds (gtest prints a line as each
# test starts and ends, so silence means a hung test). A test that hangs or crashes its process is
# named (its "[ RUN ]" line has no result) and the shard runs again on the tests it had not run
# yet, that one left out, up to 3 times. When tests fail, each failing suite (every suite when a
# process died without a failure list) runs once more alone, in order: a CUDA error that poisons
# a context (an illegal address, say) fails every later test of its process; alone, only the
# guilty suite fails.
#
# Usage: scripts/cuda-tests.sh [options] BINARY LOGDIR
#   --shards N         processes at once (default: $CBNN_TEST_SHARDS, else the number of cores,
#                      at most 8)
#   --timeout S        seconds for the shards' runs, retries included (default: 300)
#   --stall S          seconds of silence after which a shard is killed as hung (default: 90)
#   --filter F         --gtest_filter of the tests to run (default: all)
#   --suite-timeout S  seconds for each suite's run alone (default: 120)
#   --budget S         seconds all of it may take, the runs alone included (default: no limit);
#                      a suite with under 20 s left is not run alone (said in the summary)
# Writes to LOGDIR:
#   cuda_tests.log             every shard's output, shard by shard (attempts in order)
#   cuda_tests-shard<k>-attempt<n>.log and .xml   each process's own output and gtest XML
#   alone-<suite>.log          each suite's run alone
#   cuda_tests-summary.tsv     lines KEY<TAB>TEXT for a summary: "counts" (P passed, F failed,
#                              S skipped: distinct test names), "  left out" (a test that hung or
#                              crashed), "  fail alone", "  pass alone", "  not alone" (no time)
# Exit status: 0 every test passed or skipped; 124 a shard ran past --timeout; else the first
# failing process's status (1: failed tests; 127: it could not start, say), 1 when a test was
# left out; 2 bad usage.
set -uo pipefail

usage() { sed -n '2,/^set -uo/{/^set -uo/d;s/^# \{0,1\}//;p}' "$0"; }

shards=${CBNN_TEST_SHARDS:-}
timeout_s=300
stall_s=90
filter=""
suite_timeout=120
budget=0
positional=()
while (($# > 0)); do
    case $1 in
        -h | --help)
            usage
            exit 0
            ;;
        --shards | --timeout | --stall | --filter | --suite-timeout | --budget)
            if (($# < 2)); then
                echo "cuda-tests: $1 needs a value (see --help)" >&2
                exit 2
            fi
            case $1 in
                --shards) shards=$2 ;;
                --timeout) timeout_s=$2 ;;
                --stall) stall_s=$2 ;;
                --filter) filter=$2 ;;
                --suite-timeout) suite_timeout=$2 ;;
                --budget) budget=$2 ;;
            esac
            shift 2
            ;;
        -*)
            echo "cuda-tests: unknown option $1 (see --help)" >&2
            exit 2
            ;;
        *)
            positional+=("$1")
            shift
            ;;
    esac
done
if ((${#positional[@]} != 2)); then
    echo "cuda-tests: expected BINARY and LOGDIR (see --help)" >&2
    exit 2
fi
for value in ${shards:+"$shards"} "$timeout_s" "$stall_s" "$suite_timeout" "$budget"; do
    if [[ ! $value =~ ^[0-9]+$ ]]; then
        echo "cuda-tests: '$value' is not a whole number of shards or seconds" >&2
        exit 2
    fi
done
tests_bin=${positional[0]}
logdir=${positional[1]}
if [[ ! -x $tests_bin ]]; then
    echo "cuda-tests: $tests_bin is not an executable file" >&2
    exit 2
fi
mkdir -p "$logdir" || exit 2
if [[ -z $shards ]]; then
    shards=$(nproc 2>/dev/null || echo 1)
    ((shards > 8)) && shards=8
fi
((shards < 1)) && shards=1
summary_file="$logdir/cuda_tests-summary.tsv"
: >"$summary_file"
say() { printf '%s\t%s\n' "$1" "$2" >>"$summary_file"; }

# seconds_left WANTED: WANTED cut to what is left of --budget (unlimited without one).
seconds_left() {
    local want=$1
    if ((budget > 0 && budget - SECONDS < want)); then want=$((budget - SECONDS)); fi
    ((want < 0)) && want=0
    echo "$want"
}

# run_watched SECS STALL LOG CMD...: runs CMD with its output in LOG; kills it when it runs past
# SECS seconds or prints nothing for STALL seconds. Returns CMD's status, 124 when killed for
# time, 125 when killed for silence.
run_watched() {
    local secs=$1 stall=$2 log=$3 pid started size last_size=-1 last_change rc=0 why
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
        why=""
        ((SECONDS - last_change >= stall)) && why=125
        ((SECONDS - started >= secs)) && why=124
        if [[ -n $why ]]; then
            echo "cuda-tests: killing $(basename "$1") after $((SECONDS - started)) s" \
                "($((SECONDS - last_change)) s without output)" >>"$log"
            kill -TERM "$pid" 2>/dev/null
            sleep 2
            kill -KILL "$pid" 2>/dev/null
            wait "$pid" 2>/dev/null
            return "$why"
        fi
    done
    wait "$pid" || rc=$?
    return "$rc"
}

# The names a gtest binary prints for its tests, one per line, Suite.Test. Suite lines end in '.'
# (a parameterised one may be followed by "  # TypeParam = ..."); test lines are indented.
list_tests() {
    "$tests_bin" --gtest_list_tests ${filter:+"--gtest_filter=$filter"} 2>/dev/null |
        awk '/^[^ ]/ { suite = $1; next } /^  [^ ]/ { print suite $1 }'
}

# gtest's result lines: "[       OK ] Suite.Test (3 ms)", "[  FAILED  ] Suite.Test/0, where
# GetParam() = ... (3 ms)"; a failure is printed twice (as it happens, and in the final list).
# result_names RESULT LOG...: the distinct tests with a RESULT (OK, FAILED, SKIPPED) line in LOG.
result_names() {
    local result=$1
    shift
    awk -v r="$result" '$1 == "[" && $2 == r && $3 == "]" && $4 ~ /^[A-Za-z_]/ {
        sub(/,$/, "", $4); print $4 }' "$@" | sort -u
}
# unfinished_test LOG: the test a process was running when it died or was killed (a "[ RUN ]"
# line and no result line after it); empty when none.
unfinished_test() {
    awk '$1 == "[" && $3 == "]" { name = $4; sub(/,$/, "", name)
             if ($2 == "RUN") t = name
             else if (($2 == "OK" || $2 == "FAILED" || $2 == "SKIPPED") && name == t) t = "" }
         END { print t }' "$1"
}

# run_shard K NAMES_FILE: runs the tests of NAMES_FILE (one per line) in one process, again
# without a test that hung or crashed and without those already run. Writes
# cuda_tests-shard<K>.status: the last attempt's exit status, and a "left out" line per test.
run_shard() {
    local k=$1 names_file=$2 attempt rc log culprit left limit
    local remaining="$logdir/.shard$k.remaining"
    cp "$names_file" "$remaining"
    : >"$logdir/cuda_tests-shard$k.leftout"
    for attempt in 1 2 3; do
        log="$logdir/cuda_tests-shard$k-attempt$attempt.log"
        limit=$((timeout_s - SECONDS))
        limit=$(seconds_left "$limit")
        ((limit > 0)) || {
            rc=124
            break
        }
        rc=0
        run_watched "$limit" "$stall_s" "$log" "$tests_bin" \
            "--gtest_output=xml:$logdir/cuda_tests-shard$k-attempt$attempt.xml" \
            "--gtest_filter=$(paste -sd: "$remaining")" || rc=$?
        grep -q '^\[==========\] .* ran\.' "$log" && break # the process finished its list
        culprit=$(unfinished_test "$log")
        [[ -n $culprit ]] || break
        if ((rc == 124)); then
            break # out of time: not the test's fault alone
        elif ((rc == 125)); then
            echo "$culprit hung" >>"$logdir/cuda_tests-shard$k.leftout"
        else
            echo "$culprit crashed the binary (exit $rc)" >>"$logdir/cuda_tests-shard$k.leftout"
        fi
        left=$( (result_names OK "$log" && result_names FAILED "$log" &&
            result_names SKIPPED "$log" && echo "$culprit") | sort -u)
        grep -vxF -f <(printf '%s\n' "$left") "$remaining" >"$remaining.next" || true
        mv "$remaining.next" "$remaining"
        [[ -s $remaining ]] || {
            rc=0
            break
        }
    done
    echo "$rc" >"$logdir/cuda_tests-shard$k.status"
    rm -f "$remaining"
}

echo "cuda-tests: $tests_bin"
list_tests >"$logdir/.tests" || true
total=$(wc -l <"$logdir/.tests")
merged="$logdir/cuda_tests.log"
status=0
left_out=0
if ((total == 0)); then
    # Nothing listed: a binary that cannot start (a library missing, say) or an empty filter.
    # Run it once as it is, so that its own words land in the log.
    echo "cuda-tests: the binary lists no tests; running it once as it is"
    run_watched "$(seconds_left "$timeout_s")" "$stall_s" "$merged" "$tests_bin" \
        ${filter:+"--gtest_filter=$filter"} || status=$?
    ((status == 125)) && status=124 # killed, for silence rather than time
    cat "$merged"
    shards=0
else
    ((shards > total)) && shards=$total
    echo "cuda-tests: $total tests in $shards processes at once"
    for ((k = 0; k < shards; k++)); do
        awk -v n="$shards" -v k="$k" '(NR - 1) % n == k' "$logdir/.tests" >"$logdir/.shard$k.names"
        run_shard "$k" "$logdir/.shard$k.names" &
    done
    wait
    : >"$merged"
    for ((k = 0; k < shards; k++)); do
        for log in "$logdir"/cuda_tests-shard"$k"-attempt*.log; do
            [[ -f $log ]] || continue
            printf '===== shard %d: %s =====\n' "$k" "$(basename "$log" .log)" >>"$merged"
            cat "$log" >>"$merged"
            [[ -z $(tail -c 1 "$log") ]] || echo >>"$merged" # a process killed mid-line
        done
        rc=$(cat "$logdir/cuda_tests-shard$k.status" 2>/dev/null || echo 1)
        if ((rc == 124)); then
            status=124
        elif ((rc != 0 && status == 0)); then
            status=$rc
        fi
        while IFS= read -r line; do
            say "  left out" "$line"
            left_out=$((left_out + 1))
            ((status == 0)) && status=1
        done <"$logdir/cuda_tests-shard$k.leftout"
        rm -f "$logdir/.shard$k.names" "$logdir/cuda_tests-shard$k.status" \
            "$logdir/cuda_tests-shard$k.leftout"
    done
fi

passed=$(result_names OK "$merged" | grep -c '')
failed=$(result_names FAILED "$merged" | grep -c '')
skipped=$(result_names SKIPPED "$merged" | grep -c '')
if ((passed + failed + skipped == 0)); then
    say "counts" "no gtest summary"
else
    say "counts" "$passed passed, $failed failed, $skipped skipped"
fi
((failed > 0 && status == 0)) && status=1

# Each failing suite alone; every listed suite when a process failed without naming a failure
# or a test to blame (not when it only ran out of time).
suites=""
if ((failed > 0 || (status != 0 && status != 124 && left_out == 0))); then
    suites=$(sed -n 's/^\[  FAILED  \] \([A-Za-z_0-9/]*\)\..*/\1/p' "$merged" | sort -u)
    [[ -n $suites ]] || suites=$(sed 's/\.[^.]*$//' "$logdir/.tests" | awk '!seen[$0]++')
fi
if [[ -n ${suites:-} ]]; then
    fail_alone="" pass_alone="" not_alone=""
    for suite in $suites; do
        limit=$(seconds_left "$suite_timeout")
        if ((budget > 0 && limit < 20)); then
            not_alone+=" $suite"
            continue
        fi
        rc=0
        run_watched "$limit" "$stall_s" "$logdir/alone-${suite//\//_}.log" "$tests_bin" \
            --gtest_brief=1 "--gtest_filter=$suite.*" || rc=$?
        if ((rc == 0)); then pass_alone+=" $suite"; else fail_alone+=" $suite"; fi
        echo "$suite alone: $( ((rc == 0)) && echo ok || echo "FAILED (exit $rc)")"
    done
    say "  fail alone" "${fail_alone:- none}"
    say "  pass alone" "${pass_alone:- none}"
    [[ -n $not_alone ]] && say "  not alone" "$not_alone SKIPPED (time budget)"
fi
rm -f "$logdir/.tests"
awk -F '\t' '{ sub(/^ +/, "", $1); sub(/^ +/, "", $2); printf "cuda-tests: %s: %s\n", $1, $2 }' \
    "$summary_file"
exit "$status"
