#!/usr/bin/env python3
"""Summarises an Nsight Compute (ncu) kernel-duration CSV of a few training steps: where a step's
GPU time goes, kernel by kernel and by kind (convolution, batch norm, elementwise, ...).

scripts/gpu-check.sh (CBNN_PROFILE_CASES) writes such a CSV by running one bench_train_step case
under
    ncu --profile-from-start off --metrics gpu__time_duration.sum --csv --print-units base
        --log-file FILE ...
with CBNN_PROFILE_STEPS=N (bench/profile_range.h): the profiler sees exactly N steps. ncu runs
kernels one at a time, so the sum of their durations is the step's busy GPU time without overlap;
a measured step time (--step-ms, or the case's time in bench_train_step's JSON output with
--bench-json and --case) longer than that sum is time between kernels (launch gaps, waiting on the
host).

    scripts/kernel_profile.py FILE.csv --steps N [--step-ms MS | --bench-json F --case RE] [--top K]

Python 3 standard library only.
"""
import argparse
import csv
import json
import re
import sys

# ncu's time units (base units print as nsecond) in microseconds.
UNITS_US = {"nsecond": 1e-3, "ns": 1e-3, "usecond": 1.0, "us": 1.0, "msecond": 1e3, "ms": 1e3,
            "second": 1e6, "s": 1e6}
METRIC = "gpu__time_duration.sum"

# Kinds by kernel name, first match wins. cbnn's own kernels by their names in the .cu files;
# cuDNN's batch norm and layout kernels by theirs, its convolutions by the direction (fprop,
# dgrad, wgrad) or algorithm in the name; cuBLAS's matmuls say gemm or gemv without those, or are
# Hopper's nvjet kernels. binary_rows_kernel is the sigmoid / focal loss (losses/cb_rows_cuda.cuh),
# binary_kernel the elementwise binary ops.
KINDS = [
    ("conv (cbnn)", r"gather_gemm_kernel|partial_sums_kernel|sum_chunks_kernel"),
    ("batch norm", r"(?<![A-Za-z])bn_|batch_?norm|BatchNorm"),
    ("layout (cuDNN)", r"nchwToNhwc|nhwcToNchw|transpose"),
    ("conv (cuDNN)", r"fprop|dgrad|wgrad|conv|implicit|winograd|fft"),
    ("matmul (cuBLAS)", r"gemm|gemv|nvjet"),
    ("pooling", r"pool"),
    ("loss", r"cb_softmax|cb_sigmoid|cb_focal|cb_rows|binary_rows_kernel|one_hot"),
    ("SGD", r"sgd_"),
    ("augmentation", r"augment|philox"),
    ("copy", r"strided_copy|copy"),
    ("reduction", r"sum_rows|sum_cols|max_rows|max_cols|reduce"),
    ("elementwise", r"unary_|binary_|where_kernel|compare_kernel|fill_kernel|set_kernel|"
                    r"gather_kernel|index_|scatter_"),
    ("other (cuDNN)", r"cudnn"),
]


def fail(message):
    sys.exit(f"kernel_profile: {message}")


def kind_of(name):
    for kind, pattern in KINDS:
        if re.search(pattern, name):
            return kind
    return "other"


def short_name(name, width=72):
    """The kernel's name without 'void ', its parameter list and namespaces, cut to `width`."""
    name = re.sub(r"^void ", "", name.strip())
    if name.endswith(")"):  # drop the trailing "(params)", matching parentheses
        depth = 0
        for i in range(len(name) - 1, -1, -1):
            depth += {")": 1, "(": -1}.get(name[i], 0)
            if depth == 0:
                name = name[:i]
                break
    name = re.sub(r"\b[\w]+::|\(anonymous namespace\)::", "", name)
    return name if len(name) <= width else name[:width - 3] + "..."


def read_durations(path):
    """(kernel name, microseconds) for every profiled kernel in ncu's CSV log, from either of
    its layouts: the details page (the default: a row per kernel and metric, with Metric Name,
    Metric Unit and Metric Value columns) or the raw page (--page raw: a column per metric, the
    units in the first row). Lines before the header, e.g. ==PROF== messages, are skipped."""
    try:
        with open(path, newline="", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError as e:
        fail(f"cannot read {path}: {e.strerror}")
    start = next((i for i, line in enumerate(lines) if line.startswith('"ID"')), None)
    if start is None:
        fail(f"{path}: no ncu CSV header (a line starting with \"ID\"); was ncu run with --csv "
             "and did the profiled range hold any kernel?")
    reader = csv.DictReader(lines[start:])
    columns = set(reader.fieldnames or [])
    # Rows of the table: those with an ID and a value (a trailing ==PROF== line has neither).
    rows = [row for row in reader if row.get("ID") is not None and None not in row.values()]
    if "Kernel Name" not in columns:
        fail(f"{path}: the CSV has no column Kernel Name")
    if METRIC in columns:  # the raw page: kernels are the rows with an ID, units the first row
        units = next((row[METRIC] for row in rows if not row["ID"].strip()), "")
        found = [(row["Kernel Name"], units, row[METRIC]) for row in rows if row["ID"].strip()]
    elif {"Metric Name", "Metric Unit", "Metric Value"} <= columns:
        found = [(row["Kernel Name"], row["Metric Unit"], row["Metric Value"]) for row in rows
                 if row["Metric Name"] == METRIC]
    else:
        found = []
    out = []
    for name, unit, value in found:
        unit = unit.strip()
        if unit not in UNITS_US:
            fail(f"{path}: unknown time unit '{unit}' for {METRIC}")
        out.append((name, float(value.replace(",", "")) * UNITS_US[unit]))
    if not out:
        fail(f"{path}: no {METRIC} values (run ncu with --metrics {METRIC})")
    return out


def measured_step_ms(path, pattern):
    """The time per step in ms of the first benchmark in Google Benchmark's JSON output whose name
    matches `pattern` (its median when repeated), or None when none does."""
    try:
        with open(path) as f:
            benchmarks = json.load(f).get("benchmarks", [])
    except (OSError, ValueError) as e:
        fail(f"cannot read the benchmark results {path}: {e}")
    scale = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}
    matching = [b for b in benchmarks if re.search(pattern, b.get("run_name", b.get("name", "")))]
    chosen = ([b for b in matching if b.get("aggregate_name") == "median"] or
              [b for b in matching if b.get("run_type", "iteration") == "iteration"])
    if not chosen or chosen[0].get("error_occurred"):  # a skipped case has no time
        return None
    return chosen[0]["real_time"] * scale[chosen[0].get("time_unit", "ns")]


def summarise(durations, steps, step_ms=None, top=25):
    """The report's lines."""
    total_us = sum(us for _, us in durations)
    per_step_ms = total_us / steps / 1e3
    lines = [f"kernel profile: {len(durations) / steps:.0f} kernels, {per_step_ms:.3f} ms of "
             f"kernel time per step ({steps} steps profiled, kernels run one at a time)"]
    if step_ms is not None:
        gap = step_ms - per_step_ms
        lines.append(f"measured step {step_ms:.3f} ms: {gap:.3f} ms "
                     f"({100 * gap / step_ms:.0f} %) outside kernels (launch gaps, host waits)"
                     if gap >= 0 else
                     f"measured step {step_ms:.3f} ms: shorter than the kernels' sum (kernels "
                     "overlap in the step, or the profiled kernels ran slower)")
    names = {}  # per kernel name: total us, launches
    for name, us in durations:
        n = names.setdefault(name, [0.0, 0])
        n[0] += us
        n[1] += 1
    kind_of_name = {name: kind_of(name) for name in names}  # once per name, not per launch
    kinds = {}
    for name, (us, count) in names.items():
        k = kinds.setdefault(kind_of_name[name], [0.0, 0])
        k[0] += us
        k[1] += count
    by_time = sorted(kinds.items(), key=lambda kv: -kv[1][0])
    lines.append("largest kinds: " + ", ".join(f"{kind} {100 * us / total_us:.0f} %"
                                               for kind, (us, _) in by_time[:3]))
    lines += ["", "by kind, per step:", f"  {'kind':<18} {'ms':>8} {'share':>7} {'kernels':>8}"]
    for kind, (us, count) in by_time:
        lines.append(f"  {kind:<18} {us / steps / 1e3:8.3f} {100 * us / total_us:6.1f}% "
                     f"{count / steps:8.1f}")
    lines += ["", f"top {min(top, len(names))} kernels of {len(names)}, per step:",
              f"  {'us':>8} {'share':>7} {'calls':>6} {'mean us':>8}  kind / kernel"]
    for name, (us, count) in sorted(names.items(), key=lambda kv: -kv[1][0])[:top]:
        lines.append(f"  {us / steps:8.1f} {100 * us / total_us:6.1f}% {count / steps:6.1f} "
                     f"{us / count:8.1f}  {kind_of_name[name]}: {short_name(name)}")
    return lines


def main(argv):
    p = argparse.ArgumentParser(prog="scripts/kernel_profile.py", description=__doc__.split(
        "\n\n")[0], allow_abbrev=False)
    p.add_argument("csv", help="ncu's CSV log (--csv --log-file)")
    p.add_argument("--steps", type=int, required=True,
                   help="how many steps the profile holds (CBNN_PROFILE_STEPS)")
    p.add_argument("--step-ms", type=float, help="the step's measured time, for the gap line")
    p.add_argument("--bench-json", help="bench_train_step's --benchmark_out JSON: the step's "
                   "measured time is that of the first case matching --case")
    p.add_argument("--case", help="regex of the profiled case's name (with --bench-json)")
    p.add_argument("--top", type=int, default=25, help="kernels listed (default 25)")
    args = p.parse_args(argv)
    if args.steps < 1:
        fail(f"--steps: expected a whole number of at least 1, got {args.steps}")
    if args.step_ms is not None and not args.step_ms > 0:
        fail(f"--step-ms: expected a positive time in ms, got {args.step_ms}")
    if (args.bench_json is None) != (args.case is None):
        fail("--bench-json and --case go together")
    step_ms = args.step_ms
    if args.bench_json is not None:
        step_ms = measured_step_ms(args.bench_json, args.case)
        if step_ms is None:
            print(f"kernel_profile: no measured case matching '{args.case}' in {args.bench_json}; "
                  "no gap line", file=sys.stderr)
    print("\n".join(summarise(read_durations(args.csv), args.steps, step_ms, args.top)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
