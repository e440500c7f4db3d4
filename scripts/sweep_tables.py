"""Collects a sweep's finished runs into <runs>/results.md (Table 2-style tables of top-1 error, the
charts of sweep_plots.py, and every run's numbers) and results.csv. reproduce.py calls it after
each sweep, for --collect-only, and for the folder --move-finished fills. Python 3 standard
library only.

A run is finished when the last line of its metrics.jsonl is its configured last epoch with a test
error; the others are listed as not finished. A run file that cannot be read (not text, not JSON,
cut short) gets a warning on stderr naming it, once, and its run counts as not finished. ROOT,
read_json and read_metrics are defined here, the lowest file that needs them; reproduce.py imports
them to find the repository's files and to tell which runs are complete.
"""
import csv
import json
import math
import re
import sys
from pathlib import Path

import sweep_references as refs
from sweep_plots import (LOSS_NAMES, error_vs_if_svg, num, per_class_plot_runs, per_class_svg,
                         row_key, row_label)

ROOT = Path(__file__).resolve().parent.parent


_warned = set()


def warn(path, problem, consequence):
    """One warning per file on stderr, however often the file is read."""
    if str(path) not in _warned:
        _warned.add(str(path))
        print(f"reproduce: warning: {path}: {problem}; {consequence}", file=sys.stderr, flush=True)


def read_text(path, consequence):
    """The text of `path`; None, with a warning, when it cannot be read or is not UTF-8."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        warn(path, "not UTF-8 text", consequence)
    except OSError as e:
        warn(path, f"cannot be read ({e.strerror})", consequence)
    return None


def read_json(path, consequence):
    """The JSON object in `path`; None, with a warning saying `consequence`, when the file cannot
    be read or holds no JSON object."""
    text = read_text(path, consequence)
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        warn(path, f"not JSON ({e.msg}, line {e.lineno})", consequence)
        return None
    if not isinstance(value, dict):
        warn(path, "not a JSON object", consequence)
        return None
    return value


def read_metrics(run_dir):
    lines = []
    path = Path(run_dir) / "metrics.jsonl"
    if path.exists():
        text = read_text(path, "the run counts as not finished")
        for line in (text or "").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                break  # a line cut by a kill: the run is not complete
            if not isinstance(record, dict):
                warn(path, f"line {len(lines) + 1} is not a JSON object",
                     "the run counts as not finished from there")
                break
            lines.append(record)
    return lines


def imbalance_of(settings):
    if settings.get("subset_list"):
        m = re.search(r"if(\d+(?:\.\d+)?)", Path(settings["subset_list"]).name)
        return float(m.group(1)) if m else None
    return float(settings.get("imbalance", 1.0))


def pct(x):
    return None if x is None else round(100.0 * x, 4)


REPORT_CLASS = re.compile(r"class (\d+): accuracy ([0-9.]+)%, (\d+) training images")


def per_class_of(run_dir):
    """[(training images, test accuracy %)] per class of the run's last evaluation: eval.json, or
    for runs made before the trainer wrote it, the per-class chart's labels in report.html."""
    path = run_dir / "eval.json"
    if path.exists():
        classes = (read_json(path, "no per-class accuracy for this run") or {}).get("per_class")
        if isinstance(classes, list) and all(
                isinstance(c, dict) and isinstance(c.get("train_count"), (int, float)) and
                isinstance(c.get("accuracy"), (int, float)) for c in classes):
            return [(c["train_count"], 100.0 * c["accuracy"]) for c in classes] or None
        return None
    report = run_dir / "report.html"
    text = read_text(report, "no per-class accuracy for this run") if report.exists() else None
    found = REPORT_CLASS.findall(text or "")
    return [(int(n), float(a)) for _, a, n in sorted(found, key=lambda m: int(m[0]))] or None


def arithmetic_of(s):
    """How a run computed: its --precision (fp32 for runs made before the flag existed), with the
    layout, convolution kernels and evaluation precision when not the defaults, and "epoch
    batches" for runs cut by --batching epochs (every run made before the paper's stream batching
    became the default, 2026-11-27)."""
    parts = [s.get("precision", "fp32")]
    if s.get("layout", "nchw") != "nchw":
        parts.append(s["layout"])
    if s.get("conv_kernels", "cudnn") != "cudnn":
        parts.append(f"{s['conv_kernels']} convs")
    if s.get("eval_precision", "fp32") != "fp32" and parts[0] != "fp32":
        parts.append(f"eval {parts[0]}")
    if s.get("batching", "epochs") != "stream":
        parts.append("epoch batches")
    return " ".join(parts)


def collect_runs(runs):
    rows, unfinished = [], []
    for config_path in sorted(Path(runs).glob("*/config.json")):
        run_dir = config_path.parent
        config = read_json(config_path, "the run counts as not finished")
        s = config.get("settings") if config else None
        if not isinstance(s, dict):
            if config:
                warn(config_path, "no \"settings\" object", "the run counts as not finished")
            unfinished.append(run_dir.name)
            continue
        versions = config.get("versions")
        versions = versions if isinstance(versions, dict) else {}
        lines = read_metrics(run_dir)
        last = lines[-1] if lines else {}
        if not lines or last.get("epoch") != s.get("epochs") or \
                not isinstance(last.get("test_error"), (int, float)):
            unfinished.append(run_dir.name)
            continue
        sweep = {}
        if (run_dir / "sweep.json").exists():
            sweep = read_json(run_dir / "sweep.json", "its wall time is left out") or {}
        device = s.get("device", "")
        rows.append({
            "run": run_dir.name, "dataset": s.get("dataset"), "imbalance": imbalance_of(s),
            "loss": s.get("loss"), "beta": float(s.get("beta", 0)),
            "gamma": float(s.get("gamma", 0)), "seed": s.get("seed"), "epochs": s.get("epochs"),
            "top1_error_pct": pct(last.get("test_error")), "top5_error_pct": pct(last.get("top5")),
            "many_acc_pct": pct(last.get("many")), "medium_acc_pct": pct(last.get("medium")),
            "few_acc_pct": pct(last.get("few")),
            "wall_seconds": sweep.get("wall_seconds") and round(sweep["wall_seconds"], 1),
            "concurrent_jobs": sweep.get("concurrent_jobs", 1), "mps": sweep.get("mps", False),
            "train_seconds": round(sum(line.get("seconds") or 0 for line in lines), 1),
            "device": device,
            "card": versions.get("device") if device.startswith("cuda") else versions.get("cpu"),
            "arithmetic": arithmetic_of(s),
            "per_class": per_class_of(run_dir),
        })
    return rows, unfinished


def fmt(x, digits=2):
    return "–" if x is None else f"{x:.{digits}f}"


def cell(errors):
    if not errors:
        return "–"
    mean = sum(errors) / len(errors)
    if len(errors) == 1:
        return f"{mean:.2f}"
    sd = math.sqrt(sum((e - mean) ** 2 for e in errors) / (len(errors) - 1))
    return f"{mean:.2f} ± {sd:.2f} ({len(errors)})"


def md_row(label, cells):
    return f"| {label} | " + " | ".join(cells) + " |"


def table_axes(title, rows):
    """A Table 2-style table of `rows`: its IF columns (descending), its row keys (row_key order)
    and its two header lines."""
    ifs = sorted({r["imbalance"] for r in rows if r["imbalance"] is not None}, reverse=True)
    keys = sorted({row_key(r) for r in rows})
    return ifs, keys, [md_row(title, [f"IF {num(i)}" for i in ifs]), "|---" * (len(ifs) + 1) + "|"]


def table2(rows):
    """Rows: loss (+ CB beta), columns: IF (descending), cells: mean top-1 error over seeds."""
    ifs, keys, out = table_axes("top-1 error %", rows)
    errors = {}
    for r in rows:
        key = row_key(r)
        errors.setdefault((key, r["imbalance"]), []).append(r["top1_error_pct"])
    for key in keys:
        label = row_label(list(LOSS_NAMES)[key[2]], key[3], key[1])
        out.append(md_row(label, [cell(errors.get((key, i), [])) for i in ifs]))
    best = {}
    for cb in (False, True):
        best[cb] = [min((sum(v) / len(v) for (k, i), v in errors.items() if k[0] == cb and i == f),
                        default=None) for f in ifs]
    out.append(md_row("best plain loss", [fmt(b) for b in best[False]]))
    out.append(md_row("best class-balanced", [fmt(b) for b in best[True]]))
    gains = [None if p is None or c is None else p - c for p, c in zip(best[False], best[True])]
    out.append(md_row("CB gain (points)", [fmt(g) for g in gains]))
    return out


def key_config(key):
    """A table row's key (row_key) as a configuration of sweep_references.py."""
    _, beta, loss_index, gamma = key
    return refs.configuration(list(LOSS_NAMES)[loss_index], gamma, beta)


def config_label(config):
    loss, gamma, beta = config
    return row_label(loss, gamma if gamma is not None else 0.0, beta)


def paper_table(dataset, rows):
    """The paper's Table 2 in the layout of table2(rows): the same rows and IF columns, "–" where
    the paper gives no number (a class-balanced configuration that was not the column's best);
    best plain loss over all five of the paper's plain rows, its best class-balanced loss named."""
    ifs, keys, out = table_axes("paper, top-1 error %", rows)
    for key in keys:
        config = key_config(key)
        out.append(md_row(config_label(config),
                          [fmt(refs.paper_error(dataset, i, config)) for i in ifs]))
    plain = [min((v[refs.IMBALANCES.index(i)] for v in refs.PAPER_PLAIN.get(dataset, {}).values()),
                 default=None) if i in refs.IMBALANCES else None for i in ifs]
    best = [refs.paper_cb_best(dataset, i) for i in ifs]
    out.append(md_row("best plain loss", [fmt(p) for p in plain]))
    out.append(md_row("best class-balanced",
                      [f"{fmt(b[0])} ({config_label(b[1])})" if b else "–" for b in best]))
    gains = [p - b[0] if p is not None and b else None for p, b in zip(plain, best)]
    out.append(md_row("CB gain (points)", [fmt(g) for g in gains]))
    return out


def seeds_text(values):
    return f"{len(values)} seed{'s' if len(values) != 1 else ''}"


def reference_table(dataset, rows):
    """cbnn against the reference reproduction on this data (ANCHORS.md), where it has one: each
    configuration's mean over seeds, the difference, and issue 8's verdict (within 1 point, mean
    of at least 2 seeds); then the class-balanced gain at that IF against its 4-point target."""
    by_config = {}
    for r in rows:
        config = refs.configuration(r["loss"], r["gamma"], r["beta"])
        by_config.setdefault((r["imbalance"], config), []).append(r["top1_error_pct"])
    out = []
    for imbalance in sorted({r["imbalance"] for r in rows if r["imbalance"] is not None},
                            reverse=True):
        configs = refs.reference_configs(dataset, imbalance)
        if not configs:
            continue
        out += [f"Against the reference on this data at IF {num(imbalance)} (ANCHORS.md: PyTorch, "
                f"the same protocol and list; issue 8: within {num(refs.WITHIN_POINTS)} point, "
                f"mean of at least {refs.MIN_SEEDS} seeds):", "",
                "| configuration | cbnn | reference | cbnn - reference | verdict |",
                "|---|---|---|---|---|"]
        means = {}
        for config in configs:
            ours = by_config.get((imbalance, config), [])
            theirs = refs.reference_errors(dataset, imbalance, config)
            ref_mean = sum(theirs) / len(theirs)
            if not ours:
                out.append(f"| {config_label(config)} | not run | {fmt(ref_mean)} "
                           f"({seeds_text(theirs)}) | – | – |")
                continue
            mean = means[config] = sum(ours) / len(ours)
            close = abs(mean - ref_mean) <= refs.WITHIN_POINTS
            verdict = ("within" if close else "outside") + (
                "" if len(ours) >= refs.MIN_SEEDS else f", {seeds_text(ours)} of {refs.MIN_SEEDS}")
            out.append(f"| {config_label(config)} | {fmt(mean)} ({seeds_text(ours)}) | "
                       f"{fmt(ref_mean)} ({seeds_text(theirs)}) | {mean - ref_mean:+.2f} | "
                       f"{verdict} |")
        plain, cb = refs.CB_GAIN_PAIR
        if plain in means and cb in means:
            gain = means[plain] - means[cb]
            met = "met" if gain >= refs.CB_GAIN_TARGET else "not met"
            seeds = (len(by_config[(imbalance, plain)]), len(by_config[(imbalance, cb)]))
            out += ["", f"CB gain at IF {num(imbalance)} ({config_label(plain)} - "
                    f"{config_label(cb)}): {fmt(gain)} points (means of {seeds[0]} and "
                    f"{seeds[1]} seeds), the target of {num(refs.CB_GAIN_TARGET)} {met}."]
        out.append("")
    return out


def wall_cell(r):
    """Wall seconds, with how many runs shared the machine when it was more than one."""
    jobs = r.get("concurrent_jobs") or 1
    shared = f" ({jobs} at once{', MPS' if r.get('mps') else ''})" if jobs > 1 else ""
    return fmt(r["wall_seconds"], 0) + shared


def write_results(runs, rows, unfinished):
    fields = ["run", "dataset", "imbalance", "loss", "beta", "gamma", "seed", "epochs",
              "top1_error_pct", "top5_error_pct", "many_acc_pct", "medium_acc_pct",
              "few_acc_pct", "wall_seconds", "concurrent_jobs", "mps", "train_seconds", "device",
              "card", "arithmetic"]
    with open(Path(runs) / "results.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    where = Path(runs).resolve()
    if where.is_relative_to(ROOT):  # a committed table names its folder as the repository does
        where = where.relative_to(ROOT)
    md = [f"# Results of {where}", "",
          "Top-1 test error (%) at the last epoch; mean ± standard deviation (seeds) where a "
          "configuration has several seeds. CB gain: best plain loss minus best class-balanced "
          "loss of the column.", ""]
    kinds = {}
    for r in rows:
        kinds[r["arithmetic"]] = kinds.get(r["arithmetic"], 0) + 1
    if len(kinds) > 1:  # a cell may then average runs of different arithmetic
        md += ["Arithmetic of the runs (the last table says which run used which): " +
               ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items())) + ".", ""]
    for dataset in sorted({r["dataset"] for r in rows}):
        subset = [r for r in rows if r["dataset"] == dataset]
        title = f"{dataset.upper().replace('CIFAR', 'CIFAR-')}-LT"
        plot = f"error_vs_if-{dataset}.svg"
        md += [f"## {title}", ""]
        # Runs on a list whose name gives no imbalance factor have no column: the run table
        # below lists them.
        placed = [r for r in subset if r["imbalance"] is not None]
        if not placed:
            md += ["No run has an imbalance factor (its list's name gives none): see the run "
                   "table.", ""]
            continue
        (Path(runs) / plot).write_text(error_vs_if_svg(placed, title + ": top-1 error"))
        md += table2(placed) + [""]
        md += ["The paper's Table 2 (original CIFAR, PAPER.md section 4) for the same rows; its "
               "best plain loss is over all five of its plain rows:", ""]
        md += paper_table(dataset, placed) + [""] + reference_table(dataset, placed)
        md += [f"![error against IF]({plot})", ""]
        chosen = per_class_plot_runs(subset)
        if chosen:
            imbalance, softmax, best = chosen
            name = f"per_class-{dataset}-if{num(imbalance)}.svg"
            heading = f"{title}, IF {num(imbalance)}: test accuracy per class"
            (Path(runs) / name).write_text(per_class_svg(softmax, best, heading))
            best_label = row_label(best[0]["loss"], best[0]["gamma"], best[0]["beta"])
            md += [f"Per-class test accuracy at IF {num(imbalance)}: softmax and the best "
                   f"class-balanced loss of the column ({best_label}).",
                   "", f"![per-class accuracy]({name})", ""]
    md += ["## Every finished run", "",
           "| run | top-1 % | top-5 % | many % | medium % | few % | wall s | train s | card | "
           "arithmetic |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        md.append(f"| {r['run']} | {fmt(r['top1_error_pct'])} | {fmt(r['top5_error_pct'])} | "
                  f"{fmt(r['many_acc_pct'], 1)} | {fmt(r['medium_acc_pct'], 1)} | "
                  f"{fmt(r['few_acc_pct'], 1)} | {wall_cell(r)} | "
                  f"{fmt(r['train_seconds'], 0)} | {r['card'] or r['device']} | "
                  f"{r['arithmetic']} |")
    if unfinished:
        md += ["", "Not finished (no final evaluation yet): " + ", ".join(unfinished)]
    (Path(runs) / "results.md").write_text("\n".join(md) + "\n")
    return md
