#!/usr/bin/env python3
"""Sweep runner of scripts/reproduce.sh (issue 8): runs a grid of cbnn-train-cifar configurations,
one run folder each, and collects the finished runs into a Table 2-style markdown table and a CSV.
Python 3 standard library only. `scripts/reproduce.sh --help` documents the options. This file
holds the grid, the running and the command line; sweep_tables.py the collecting, and
sweep_plots.py the charts the tables show.

Run folders are named from their settings, e.g. cifar10-if100-focal-g1-cb0.9999-s0. A run is
complete when the last line of its metrics.jsonl is the configured last epoch with a test error;
complete runs are skipped, interrupted ones continue with --resume when checkpoint.bin exists and
start again otherwise. <run>/sweep.json records the command, the exit status, the wall time
(summed over attempts) and how many runs shared the machine (--jobs); <run>/train.log the
trainer's console output.

--jobs N runs N trainers at once, each run's own wall time then growing (the tables say how many
ran at once). On one GPU, processes take turns on it unless --mps starts a CUDA MPS daemon
(cuda_mps.py) through which their kernels run side by side.
"""
import argparse
import concurrent.futures
import fcntl
import fnmatch
import itertools
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from cuda_mps import mps_daemon
from sweep_plots import LOSS_NAMES, num
from sweep_tables import ROOT, collect_runs, read_json, read_metrics, write_results

PRESET_EPOCHS = {"paper": 200, "smoke": 3}
# Passed unless the extra arguments name them: evaluating the 10,000 test images every 2 epochs
# (the preset's, the official code's cadence) would cost a sixth of a GPU run, and only the last
# evaluation goes into the tables. Checkpoints stay at the trainer's default, every epoch, so a
# kill loses about one epoch: they are written on the trainer's background thread
# (train/background_writer.h), and what they cost its training thread is a host copy of the
# weights.
RUNNER_DEFAULTS = [("--eval-every", "10")]
AXES = ("dataset", "imbalance", "subset_list", "loss", "beta", "gamma", "seed")
DEFAULTS = {"dataset": "cifar10", "imbalance": 100.0, "subset_list": "", "loss": "softmax",
            "beta": 0.0, "gamma": 1.0, "seed": 0}


def fail(message):
    sys.exit(f"reproduce: {message}")


# --------------------------------------------------------------------------------------------
# The grid
# --------------------------------------------------------------------------------------------
def as_number(value):
    """A grid value (a JSON number, or the text of a flag's list) as a finite float; else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        x = float(value)
    except ValueError:
        return None
    return x if math.isfinite(x) else None


def as_seed(value):
    """A grid value as a seed, a whole number in [0, 2^64) (the trainer's --seed); else None.
    1.7 is refused rather than cut to 1."""
    if isinstance(value, str) and re.fullmatch(r"\s*\d+\s*", value):
        x = int(value)
    else:
        x = as_number(value)
        if x is None or not x.is_integer():
            return None
        x = int(x)
    return x if 0 <= x < 2**64 else None


# What every trainer would refuse, refused once for the whole grid: axis -> (convert, check,
# what is expected).
CHECKS = {
    "dataset": (lambda v: v if isinstance(v, str) else None,
                lambda v: v in ("cifar10", "cifar100"), "cifar10 or cifar100"),
    "loss": (lambda v: v if isinstance(v, str) else None, lambda v: v in LOSS_NAMES,
             "softmax, sigmoid or focal"),
    "subset_list": (lambda v: v if isinstance(v, str) else None,
                    lambda v: v == "" or Path(v).is_file(),
                    "an existing training-list file, or \"\" for --imbalance"),
    "imbalance": (as_number, lambda v: v >= 1.0, "a number of at least 1"),
    "beta": (as_number, lambda v: 0.0 <= v < 1.0, "a number in [0, 1)"),
    "gamma": (as_number, lambda v: v >= 0.0, "a number of at least 0"),
    "seed": (as_seed, lambda v: True, "a whole number of at least 0"),
}


def normalise(config, where):
    """The run configuration of one combination of a block's values, each checked; `where(axis,
    value)` names a bad value's origin (the flag, or the grid file's block) in the message."""
    c = dict(DEFAULTS)
    for axis, value in config.items():
        convert, check, expected = CHECKS[axis]
        x = convert(value)
        if x is None or not check(x):
            fail(f"{where(axis, value)}: expected {expected}")
        c[axis] = x
    c["imbalance"], c["beta"] = float(c["imbalance"]), float(c["beta"])
    c["gamma"] = float(c["gamma"]) if c["loss"] == "focal" else 0.0  # gamma is focal's only
    return c


def run_name(c):
    if c["subset_list"]:
        where = f"list-{Path(c['subset_list']).stem}"
    else:
        where = f"if{num(c['imbalance'])}"
    name = f"{c['dataset']}-{where}-{c['loss']}"
    if c["loss"] == "focal":
        name += f"-g{num(c['gamma'])}"
    if c["beta"] > 0:
        name += f"-cb{num(c['beta'])}"
    return name + f"-s{c['seed']}"


def expand(blocks, path):
    """Cartesian product of each block's value lists, in order, without repeats. `path`: the
    grid file, None for the grid flags (for the messages)."""
    def where(k):
        def name(axis, value):
            if path is None:
                return f"--{axis.replace('_', '-')} {value!r}"
            return f"{path}, block {k}: {axis} {json.dumps(value)}"
        return name

    configs, empty = {}, []
    for k, block in enumerate(blocks, 1):
        unknown = set(block) - set(AXES)
        if unknown:
            fail(f"unknown grid key(s) {sorted(unknown)}; known: {', '.join(AXES)}")
        keys = list(block)
        values = [v if isinstance(v, list) else [v] for v in block.values()]
        empty += [f"block {k}'s {key}" for key, v in zip(keys, values) if not v]
        for combo in itertools.product(*values):
            c = normalise(dict(zip(keys, combo)), where(k))
            configs.setdefault(run_name(c), c)
    if not configs:
        fail(f"the grid {path or '(flags)'} is empty: " + (
            f"{', '.join(empty)} {'is an empty list' if len(empty) == 1 else 'are empty lists'}"
            if empty else "it has no blocks"))
    return configs


def grid_from_args(args):
    """The grid's blocks and its file (None for the grid flags)."""
    flags = {axis: getattr(args, axis) for axis in AXES if getattr(args, axis, None) is not None}
    if flags:
        if args.grid:
            fail("give either --grid FILE or grid flags (--loss, --beta, ...), not both")
        return [{k: v.split(",") for k, v in flags.items()}], None
    path = Path(args.grid) if args.grid else ROOT / "scripts/grids/table2-cifar10.json"
    try:
        grid = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        fail(f"cannot read the grid {path}: {e}")
    blocks = grid.get("blocks") if isinstance(grid, dict) else grid
    if not isinstance(blocks, list) or not all(isinstance(b, dict) for b in blocks):
        fail(f"{path}: a grid is a list of blocks (objects of value lists), "
             "or {\"blocks\": [...]}")
    return blocks, path


def select(configs, only, shard):
    names = list(configs)
    if only:
        patterns = only.split(",")
        names = [n for n in names if any(fnmatch.fnmatch(n, p) or p in n for p in patterns)]
    if shard:
        m = re.fullmatch(r"(\d+)/(\d+)", shard)
        if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
            fail(f"--shard {shard!r}: I/N with 1 <= I <= N")
        i, n = int(m.group(1)), int(m.group(2))
        names = [name for k, name in enumerate(names) if k % n == i - 1]
    return names


# --------------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------------
def default_data(dataset):
    if dataset != "cifar10":
        return None
    roots = [os.environ.get("CBNN_DATA_DIR"), ROOT.parent / "shared/data", "../shared/data"]
    for root in roots:
        if root and (Path(root) / "cifar10-jpg").is_dir():
            return str((Path(root) / "cifar10-jpg").resolve())
    return None


def flag_value(extra, flag):
    value = None
    for k, arg in enumerate(extra):
        if arg == flag and k + 1 < len(extra):
            value = extra[k + 1]
        elif arg.startswith(flag + "="):
            value = arg.split("=", 1)[1]
    return value


def is_complete(run_dir, epochs):
    lines = read_metrics(run_dir)
    last = lines[-1] if lines else {}
    return isinstance(last.get("epoch"), int) and last["epoch"] >= epochs and \
        isinstance(last.get("test_error"), (int, float))


def finished_its_epochs(run_dir):
    """Whether the run in `run_dir` reached the --epochs of its own config.json, with a test
    error: complete by its own measure, whatever the sweep asks for now."""
    if not (run_dir / "config.json").exists():  # the trainer stopped before writing it
        return False
    config = read_json(run_dir / "config.json", "the run counts as unfinished") or {}
    settings = config.get("settings")
    own = settings.get("epochs") if isinstance(settings, dict) else None
    return isinstance(own, int) and is_complete(run_dir, own)


def trainer_command(args, c, run_dir, extra):
    data = args.data or default_data(c["dataset"])
    if not data:
        fail(f"no --data for {c['dataset']}: " + (
            "CIFAR-100 is not in shared/data; give --data DIR with train.bin and test.bin"
            if c["dataset"] == "cifar100" else
            "no cifar10-jpg in $CBNN_DATA_DIR or ../shared/data; give --data DIR"))
    cmd = [args.trainer, "--preset", args.preset, "--data", data, "--dataset", c["dataset"],
           "--loss", c["loss"], "--beta", num(c["beta"]), "--gamma", num(c["gamma"]),
           "--seed", str(c["seed"]), "--out", str(run_dir)]
    if c["subset_list"]:
        cmd += ["--subset-list", c["subset_list"]]
    else:
        lists = args.lists
        if lists is None and c["dataset"] == "cifar10" and (Path(data) / "train").is_dir():
            lists = Path(data).parent / "cifar10-lt"
        listed = Path(lists) / f"train_if{num(c['imbalance'])}.txt" if lists else None
        if listed and listed.is_file():
            cmd += ["--subset-list", str(listed.resolve())]
        else:
            cmd += ["--imbalance", num(c["imbalance"])]
    for flag, value in RUNNER_DEFAULTS:
        if flag_value(extra, flag) is None:
            cmd += [flag, value]
    return cmd + extra


def stop(proc):
    """Stops a trainer: SIGTERM, then SIGKILL after 30 s. Not SIGINT: a sweep started in the
    background of a script has SIGINT ignored, and its trainers inherit that. Stopping at any
    moment is safe, since checkpoints are written to a temporary file and renamed."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class Trainers:
    """The trainer processes a sweep started. stop_all() stops them, and any started after it
    (a worker thread may be starting one as the interrupt arrives) is stopped as it starts."""

    def __init__(self):
        self.lock = threading.Lock()
        self.procs = []
        self.stopping = False

    def add(self, proc):
        with self.lock:
            self.procs.append(proc)
            stopping = self.stopping
        if stopping:
            stop(proc)

    def stop_all(self):
        with self.lock:
            self.stopping = True
            procs = list(self.procs)
        for proc in procs:
            stop(proc)


def run_one(cmd, run_dir, record, jobs, trainers):
    """Runs the trainer; returns its exit status (130 when interrupted, after recording).
    `trainers` registers the process, so that an interrupt in another thread can stop it."""
    started = time.monotonic()
    status = None
    with open(run_dir / "train.log", "a") as log:
        log.write(f"$ {' '.join(cmd)}\n")
        log.flush()
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        trainers.add(proc)
        try:
            status = proc.wait()
        except KeyboardInterrupt:
            stop(proc)
            status = 130
        if status < 0 and -status in (signal.SIGINT, signal.SIGTERM):
            status = 130
    record["attempts"] = record.get("attempts", 0) + 1
    record["wall_seconds"] = record.get("wall_seconds", 0.0) + time.monotonic() - started
    record["exit_status"] = status
    record["command"] = cmd
    # The most runs that shared the machine in any attempt: the wall time is only comparable
    # between runs with the same value.
    record["concurrent_jobs"] = max(record.get("concurrent_jobs", 1), jobs)
    (run_dir / "sweep.json").write_text(json.dumps(record, indent=2) + "\n")
    return status


def run_all(tasks, jobs, start, finish):
    """Runs each (name, cmd, run_dir, record) task, `jobs` at a time, calling start(task) as each
    begins and finish(task, status) as each ends. An interrupt (Ctrl-C) stops every running
    trainer and ends the sweep."""
    trainers = Trainers()

    def one(task):
        if trainers.stopping:
            return 130
        start(task)
        return run_one(task[1], task[2], task[3], jobs, trainers)

    if jobs == 1:
        for task in tasks:
            status = one(task)
            if status == 130:
                fail(f"interrupted during {task[0]}; run the same command again to resume")
            finish(task, status)
        return
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(one, task): task for task in tasks}
        try:
            for future in concurrent.futures.as_completed(futures):
                finish(futures[future], future.result())
        except KeyboardInterrupt:
            for future in futures:
                future.cancel()
            trainers.stop_all()
            fail("interrupted; run the same command again to resume the unfinished runs")


def target_epochs(args, extra):
    """The epochs a run must reach to be complete: --epochs among the extra arguments, else the
    preset's."""
    epochs_flag = flag_value(extra, "--epochs")
    if epochs_flag is None:
        return PRESET_EPOCHS[args.preset]
    if not re.fullmatch(r"[1-9]\d*", epochs_flag.strip()):
        fail(f"--epochs {epochs_flag!r}: expected a whole number of at least 1")
    return int(epochs_flag)


# Trainer options each run's command sets from the grid and the sweep's own options; given among
# the extra arguments they would reach the trainer twice.
SWEEP_SETS = {"--out": "its folder is <runs>/<name>; choose <runs> with --runs",
              "--resume": "it resumes the interrupted runs itself"}


def trainer_flags(trainer):
    """The long options the trainer's --help lists."""
    try:
        help_run = subprocess.run([trainer, "--help"], stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, errors="replace",
                                  timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        fail(f"cannot run {trainer} --help to check the trainer options: {e}")
    if help_run.returncode != 0:
        fail(f"{trainer} --help failed (exit {help_run.returncode}); is it cbnn-train-cifar?")
    return set(re.findall(r"^\s*(?:-\w,)?(--[\w-]+)", help_run.stdout, re.M))


def check_extra(trainer, extra):
    """Refuses, once and before any run folder exists, an extra argument every trainer would
    refuse: an option that is neither the sweep's nor the trainer's (a mistyped --shard, say),
    or one the sweep sets itself. Values (anything not starting with a letter after - or --,
    such as -1) are left to the trainer."""
    known = None
    for arg in extra:
        if not re.match(r"--?[A-Za-z]", arg):
            continue
        flag = arg.split("=", 1)[0]
        if flag in SWEEP_SETS:
            fail(f"{flag} is set by the sweep for each run ({SWEEP_SETS[flag]})")
        if known is None:
            known = trainer_flags(trainer)
        if flag not in known:
            fail(f"{flag} is neither an option of the sweep (scripts/reproduce.sh --help) nor "
                 f"of the trainer ({trainer} --help); nothing ran")


def complete_runs(runs, epochs):
    """The folders of the complete runs under `runs`, by name."""
    return [config.parent for config in sorted(Path(runs).glob("*/config.json"))
            if is_complete(config.parent, epochs)]


def held_by_a_trainer(run_dir):
    """Whether a trainer holds run_dir's run.lock now (train/run_lock.h: one trainer per folder):
    such a folder is never deleted, moved or trimmed here."""
    try:
        with open(run_dir / "run.lock", "rb") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(f, fcntl.LOCK_UN)
    except OSError:  # no lock file, or a file system without flock
        pass
    return False


def run_grid(args, configs, names, extra, epochs):
    """Runs the selected runs that are not complete at `epochs` (target_epochs)."""
    runs = Path(args.runs)
    failed, counts = [], {"done": 0, "run": 0, "resume": 0, "restart": 0, "blocked": 0, "busy": 0}
    tasks, prefixes = [], {}
    for k, name in enumerate(names, 1):
        c, run_dir = configs[name], runs / name
        if held_by_a_trainer(run_dir):
            state = "busy"  # another sweep's trainer is on it
        elif is_complete(run_dir, epochs):
            state = "done"
        elif (run_dir / "checkpoint.bin").exists():
            state = "resume"
        elif run_dir.exists() and finished_its_epochs(run_dir):
            # A run that finished the epochs it was started with, asked for more after its
            # checkpoint was removed (--remove-finished-checkpoints): never deleted here.
            state = "blocked"
        elif run_dir.exists():
            state = "restart"  # killed before its first checkpoint: nothing to continue from
        else:
            state = "run"
        counts[state] += 1
        cmd = trainer_command(args, c, run_dir, extra) + (["--resume"] if state == "resume" else [])
        prefix = f"[{k}/{len(names)}] {name}:"
        if state == "done":
            print(f"{prefix} complete ({epochs} epochs), skipped", flush=True)
            continue
        if state == "busy":
            print(f"{prefix} is being trained by another process ({run_dir / 'run.lock'} is "
                  "held), skipped", flush=True)
            continue
        if state == "blocked":
            failed.append(name)
            print(f"{prefix} finished its own epochs but has no checkpoint.bin to continue from "
                  f"to {epochs}; move or delete {run_dir} to run it again", flush=True)
            continue
        if args.dry_run:
            print(f"{prefix} would {state}: {' '.join(cmd)}", flush=True)
            continue
        record = {}
        if state == "restart":
            shutil.rmtree(run_dir)
        elif state == "resume" and (run_dir / "sweep.json").exists():
            record = read_json(run_dir / "sweep.json", "its attempts start again from 0") or {}
        run_dir.mkdir(parents=True, exist_ok=True)
        record.update(name=name, settings=c, epochs=epochs)
        prefixes[name] = prefix
        tasks.append((name, cmd, run_dir, record))

    def finish(task, status):
        name, _, run_dir, record = task
        lines = read_metrics(run_dir)
        error = lines[-1].get("test_error") if lines else None
        if status == 0 and isinstance(error, (int, float)):
            print(f"{prefixes[name]} done in {record['wall_seconds']:.0f} s, top-1 error "
                  f"{100 * error:.2f} %", flush=True)
        else:
            failed.append(name)
            print(f"{prefixes[name]} FAILED (exit {status}); see {run_dir / 'train.log'}",
                  flush=True)

    def start(task):
        print(f"{prefixes[task[0]]} {'resuming' if '--resume' in task[1] else 'running'} ...",
              flush=True)

    if args.mps and tasks:
        try:
            with mps_daemon(runs) as shared:
                for task in tasks:  # like concurrent_jobs: whether any attempt ran under MPS
                    task[3]["mps"] = task[3].get("mps", False) or shared
                run_all(tasks, args.jobs, start, finish)
        except KeyboardInterrupt:  # while the daemon started (run_all handles its own)
            fail("interrupted; run the same command again to resume the unfinished runs")
    else:
        run_all(tasks, args.jobs, start, finish)
    print(f"reproduce: {len(names)} selected: {counts['done']} already complete, "
          f"{counts['run']} new, {counts['resume']} resumed, {counts['restart']} restarted"
          + (f", {counts['blocked']} blocked" if counts["blocked"] else "")
          + (f", {counts['busy']} busy elsewhere" if counts["busy"] else "")
          + (" (dry run: nothing ran)" if args.dry_run else "")
          + (f"; {len(failed)} failed: {', '.join(failed)}" if failed else ""), flush=True)
    return failed


# --------------------------------------------------------------------------------------------
def positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got '{text}'")
    return value


def parse(argv):
    p = argparse.ArgumentParser(
        prog="scripts/reproduce.sh", allow_abbrev=False,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Runs a grid of cbnn-train-cifar configurations (default: issue 8's Table 2 "
                    "grid, scripts/grids/table2-cifar10.json, 85 runs) with --preset paper, one "
                    "folder per run under --runs, skipping complete runs and resuming interrupted "
                    "ones, then writes <runs>/results.md and results.csv from every finished run "
                    "there.",
        epilog="Any other argument goes to every cbnn-train-cifar command, e.g. --device cuda, "
               "or --epochs 1 --depth 8 for a quick check (--epochs also sets what 'complete' "
               "means; give a quick check its own --runs folder: a run resumes only with the "
               "settings it started with). The runner adds --eval-every 10 unless given "
               "(checkpoints: every epoch, the trainer's default). Before any run starts, "
               "each such option is checked against the trainer's --help (a mistyped sweep option such as --shards stops the sweep "
               "there), and the grid's values against what the trainer accepts (IF >= 1, beta in "
               "[0, 1), gamma >= 0, whole seeds).\n\n"
               "Examples:\n"
               "  scripts/reproduce.sh --device cuda                      # the whole grid\n"
               "  scripts/reproduce.sh --device cuda --shard 1/4          # a quarter of it\n"
               "  scripts/reproduce.sh --device cuda --only '*-if100-*'   # the IF 100 column\n"
               "  scripts/reproduce.sh --loss softmax,focal --gamma 1 --beta 0,0.9999 "
               "--imbalance 100 --seed 0,1 --device cuda\n"
               "  scripts/reproduce.sh --dataset cifar100 --data DIR --imbalance 100 "
               "--loss focal --beta 0.9 --device cuda\n"
               "  scripts/reproduce.sh --collect-only")
    g = p.add_argument_group("grid (a JSON file, or the flags below as comma-separated lists)")
    g.add_argument("--grid", help="JSON: a list of blocks, or {\"blocks\": [...]}; each block maps "
                   f"some of {', '.join(AXES)} to a value or a list; blocks are expanded as "
                   "Cartesian products")
    for axis, text in [("dataset", "cifar10 (default) or cifar100"),
                       ("imbalance", "imbalance factors (default 100)"),
                       ("subset_list", "training-list files, instead of --imbalance"),
                       ("loss", "softmax, sigmoid, focal (default softmax)"),
                       ("beta", "class-balanced betas, 0: plain (default 0)"),
                       ("gamma", "focal gammas (default 1; ignored for other losses)"),
                       ("seed", "seeds (default 0)")]:
        g.add_argument("--" + axis.replace("_", "-"), dest=axis, metavar="LIST", help=text)
    p.add_argument("--data", help="CIFAR folder (default: cifar10-jpg in $CBNN_DATA_DIR or "
                   "../shared/data; required for cifar100)")
    p.add_argument("--lists", help="folder of train_if<IF>.txt lists used for --imbalance IF "
                   "(default: ../cifar10-lt beside an image-folder --data; else --imbalance)")
    p.add_argument("--preset", default="paper", choices=sorted(PRESET_EPOCHS),
                   help="cbnn-train-cifar preset (default paper)")
    p.add_argument("--runs", default=str(ROOT / "runs/reproduce"),
                   help="folder of the run folders (default: runs/reproduce in the repository)")
    p.add_argument("--trainer", default=os.environ.get("CBNN_TRAINER",
                                                       str(ROOT / "build/cbnn-train-cifar")),
                   help="the cbnn-train-cifar binary (default: $CBNN_TRAINER, build/...)")
    p.add_argument("--only", metavar="PATTERN", help="runs whose name matches a glob or contains "
                   "a substring (comma-separated), e.g. '*-if100-*' or focal")
    p.add_argument("--shard", metavar="I/N",
                   help="the I-th of N interleaved parts of the selection")
    p.add_argument("--jobs", type=positive_int, default=1, metavar="N",
                   help="run N trainers at once (default 1); on one GPU 2-3 fill the gaps an "
                        "eager step leaves; the tables report the wall times with N")
    p.add_argument("--mps", action="store_true",
                   help="share the GPU between the --jobs trainers through a CUDA MPS daemon of "
                        "the sweep's own (their kernels then run side by side instead of by "
                        "turns; needs --jobs 2 or more and --device cuda; without "
                        "nvidia-cuda-mps-control, or when a CUDA program cannot start under the "
                        "daemon, the sweep says so and runs without it; stopped when the sweep "
                        "ends, its logs in <runs>/mps-logs)")
    p.add_argument("--dry-run", action="store_true", help="print what would run, run nothing")
    p.add_argument("--list", action="store_true", help="print the selected run names only")
    p.add_argument("--collect-only", action="store_true", help="run nothing, write the tables")
    p.add_argument("--remove-finished-checkpoints", action="store_true",
                   help="delete checkpoint.bin of every complete run under --runs (after the "
                        "sweep), keeping those of unfinished runs, which can resume")
    p.add_argument("--move-finished", metavar="DIR",
                   help="move every complete run folder under --runs into DIR (without its "
                        "checkpoint; a name DIR holds already stays) and write DIR's tables")
    return p.parse_known_args(argv)


def interrupt(signum, frame):
    """SIGTERM (`timeout`, a job manager) ends a sweep as Ctrl-C does: the running trainers are
    stopped too instead of running on, orphaned, into the run folders being collected."""
    raise KeyboardInterrupt


def remove_temporaries(run_dir):
    """Deletes what a complete run no longer needs beside its results: the temporary files of
    atomic writes a kill left behind (*.tmp) and the trainer's lock file."""
    for path in list(run_dir.glob("*.tmp")) + [run_dir / "run.lock"]:
        path.unlink(missing_ok=True)


def remove_finished_checkpoints(runs, epochs):
    """Deletes checkpoint.bin of every complete run under `runs` (keeping those that can still
    resume), e.g. before packing a runs folder to carry elsewhere."""
    removed = 0
    for run_dir in complete_runs(runs, epochs):
        if held_by_a_trainer(run_dir):  # still writing its report
            continue
        remove_temporaries(run_dir)
        if (run_dir / "checkpoint.bin").exists():
            (run_dir / "checkpoint.bin").unlink()
            removed += 1
    print(f"reproduce: removed the checkpoints of {removed} complete runs", flush=True)


def refuse_non_folder(path, option):
    """Stops with one message naming `option` when `path` exists and is not a folder."""
    if Path(path).exists() and not Path(path).is_dir():
        fail(f"{option} {path}: exists and is not a folder")


def make_folder(path, option):
    """Creates the folder `path` (and its parents) or stops with one message naming `option`."""
    path = Path(path)
    refuse_non_folder(path, option)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        fail(f"{option} {path}: cannot create the folder: {e.strerror}")


def move_finished(runs, dest, epochs):
    """Moves every complete run folder under `runs` into `dest`, without its checkpoint (e.g. the
    runs brought back from a GPU machine into the committed docs/measurements/reproduce). A run
    whose name `dest` already holds stays where it is, with a message."""
    dest = Path(dest)
    make_folder(dest, "--move-finished")
    moved = []
    for run_dir in complete_runs(runs, epochs):
        target = dest / run_dir.name
        if target.exists():
            print(f"reproduce: {target} exists already; {run_dir} stays", flush=True)
            continue
        if held_by_a_trainer(run_dir):
            print(f"reproduce: a trainer still holds {run_dir}; it stays", flush=True)
            continue
        (run_dir / "checkpoint.bin").unlink(missing_ok=True)
        remove_temporaries(run_dir)
        shutil.move(str(run_dir), str(target))
        moved.append(run_dir.name)
    print(f"reproduce: moved {len(moved)} complete runs to {dest}"
          + (": " + ", ".join(moved) if moved else ""), flush=True)
    rows, unfinished = collect_runs(dest)
    write_results(dest, rows, unfinished)


def main(argv):
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `| head` ends quietly
    signal.signal(signal.SIGTERM, interrupt)
    args, extra = parse(argv)
    if extra and extra[0] == "--":
        extra = extra[1:]
    configs = expand(*grid_from_args(args))
    names = select(configs, args.only, args.shard)
    epochs = target_epochs(args, extra)
    if args.list:
        print("\n".join(names))
        return 0
    for option, path in (("--runs", args.runs), ("--move-finished", args.move_finished)):
        if path:
            refuse_non_folder(path, option)
    failed = []
    if not args.collect_only:
        if not names:
            fail("no run of the grid matches --only/--shard")
        if args.mps and args.jobs < 2:
            fail("--mps shares the GPU between the --jobs trainers: give --jobs 2 or more")
        if args.mps and not (flag_value(extra, "--device") or "").startswith("cuda"):
            fail("--mps is for trainers on a GPU: give --device cuda")
        if not args.dry_run and not Path(args.trainer).is_file():
            fail(f"{args.trainer} is not built (scripts/build.sh, or --trainer PATH)")
        if args.data and not Path(args.data).is_dir():
            fail(f"--data {args.data}: no such folder")
        if Path(args.trainer).is_file():
            check_extra(args.trainer, extra)
        if not args.dry_run:
            make_folder(args.runs, "--runs")
        failed = run_grid(args, configs, names, extra, epochs)
    if args.dry_run:
        return 0
    if not Path(args.runs).is_dir():
        fail(f"{args.runs} does not exist: nothing to collect")
    if args.remove_finished_checkpoints:
        remove_finished_checkpoints(args.runs, epochs)
    if args.move_finished:
        move_finished(args.runs, args.move_finished, epochs)
    rows, unfinished = collect_runs(args.runs)
    md = write_results(args.runs, rows, unfinished)
    print("\n".join(md[:md.index("## Every finished run")]))
    print(f"reproduce: {len(rows)} finished runs in {Path(args.runs) / 'results.md'} and "
          f"results.csv" + (f"; not finished: {len(unfinished)}" if unfinished else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
