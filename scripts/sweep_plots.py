"""The SVG charts of a sweep's results, which scripts/sweep_tables.py draws beside results.md: top-1
error against the imbalance factor, and test accuracy per class. Each is one self-contained SVG
file, which the markdown shows as it is. Python 3 standard library only.

This file also holds how the sweep names a configuration (LOSS_NAMES, num, and row_key and
row_label, the tables' rows and the charts' legends): the charts need them and import nothing else
of the sweep, so they sit here, at the bottom, and reproduce.py and sweep_tables.py take them from
here rather than each having a copy.
"""
import math

LOSS_NAMES = {"softmax": "Softmax", "sigmoid": "Sigmoid", "focal": "Focal"}


def num(x):
    """1.0 -> '1', 0.9999 -> '0.9999' (names and tables)."""
    return f"{float(x):g}"


def row_key(r):
    """Table order: plain losses, then class-balanced by beta; softmax, sigmoid, focal by gamma."""
    return (r["beta"] > 0, r["beta"], list(LOSS_NAMES).index(r["loss"]), r["gamma"])


def row_label(loss, gamma, beta):
    label = LOSS_NAMES[loss] + (f" γ={num(gamma)}" if loss == "focal" else "")
    return f"CB {label[0].lower() + label[1:]}, β={num(beta)}" if beta > 0 else label


PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf"]


def svg_frame(width, height, box, title):
    """The opening of a chart: white canvas, bold title, the plot area's frame (box: left,
    right, upper, lower)."""
    left, right, upper, lower = box
    return [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'font-family="sans-serif" font-size="12"><rect width="{width}" height="{height}" '
            f'fill="white"/><text x="{width / 2}" y="20" text-anchor="middle" font-weight="bold">'
            f'{title}</text><rect x="{left}" y="{upper}" width="{right - left}" '
            f'height="{lower - upper}" fill="none" stroke="#888"/>']


def svg_series(xy, colour, label, legend_at):
    """One line with its points, and its legend entry at legend_at (x, y)."""
    lx, ly = legend_at
    return ([f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="'
             + " ".join(f"{a:.1f},{b:.1f}" for a, b in xy) + '"/>']
            + [f'<circle cx="{a:.1f}" cy="{b:.1f}" r="3" fill="{colour}"/>' for a, b in xy]
            + [f'<line x1="{lx}" x2="{lx + 20}" y1="{ly}" y2="{ly}" stroke="{colour}" '
               f'stroke-width="2"/><text x="{lx + 26}" y="{ly + 4}">{label}</text>'])


def error_vs_if_svg(rows, title):
    """Mean top-1 error against IF (log axis, decreasing to the right as in Table 2), one line
    per loss (+ CB beta); a self-contained SVG."""
    series = {}
    for r in sorted(rows, key=row_key):
        if r["imbalance"] is not None:
            label = row_label(r["loss"], r["gamma"], r["beta"])
            series.setdefault(label, {}).setdefault(r["imbalance"], []).append(r["top1_error_pct"])
    ifs = sorted({i for points in series.values() for i in points})
    top = 10 * math.ceil(max(e for p in series.values() for v in p.values() for e in v) / 10)
    width, height, left, right, upper, lower = 760, 420, 60, 540, 40, 360
    span = math.log(ifs[-1] / ifs[0]) if len(ifs) > 1 else 0.0

    def x(i):
        if span == 0:
            return (left + right) / 2
        return right - (right - left) * math.log(i / ifs[0]) / span

    def y(e):
        return lower - (lower - upper) * e / top

    out = svg_frame(width, height, (left, right, upper, lower), title)
    for k in range(0, top + 1, 10):
        out.append(f'<line x1="{left}" x2="{right}" y1="{y(k):.1f}" y2="{y(k):.1f}" '
                   f'stroke="#e5e5e5"/><text x="{left - 6}" y="{y(k) + 4:.1f}" '
                   f'text-anchor="end">{k}%</text>')
    for i in ifs:
        out.append(f'<text x="{x(i):.1f}" y="{lower + 18}" text-anchor="middle">{num(i)}</text>')
    out.append(f'<text x="{(left + right) / 2}" y="{lower + 40}" text-anchor="middle">imbalance '
               f'factor</text><text x="16" y="{(upper + lower) / 2}" text-anchor="middle" '
               f'transform="rotate(-90 16 {(upper + lower) / 2})">top-1 error</text>')
    for n, (label, points) in enumerate(series.items()):
        colour = PALETTE[n % len(PALETTE)]
        xy = [(x(i), y(sum(v) / len(v))) for i, v in sorted(points.items(), reverse=True)]
        out += svg_series(xy, colour, label, (right + 16, upper + 8 + 18 * n))
    return "\n".join(out + ["</svg>"]) + "\n"


def per_class_plot_runs(rows):
    """The imbalance factor and the two series of the per-class plot: plain softmax and the
    class-balanced loss with the lowest mean error, at IF 100 if it has both, else at the largest
    IF that does. None when no IF has both (with per-class data)."""
    usable = [r for r in rows if r["per_class"] and r["imbalance"] is not None]
    for imbalance in sorted({r["imbalance"] for r in usable}, key=lambda i: (i != 100, -i)):
        at = [r for r in usable if r["imbalance"] == imbalance]
        softmax = [r for r in at if r["loss"] == "softmax" and r["beta"] == 0]
        by_cb = {}
        for r in at:
            if r["beta"] > 0:
                by_cb.setdefault((r["loss"], r["gamma"], r["beta"]), []).append(r)
        if softmax and by_cb:
            best = min(by_cb.values(),
                       key=lambda v: sum(r["top1_error_pct"] for r in v) / len(v))
            return imbalance, softmax, best
    return None


def per_class_svg(softmax, best, title):
    """Test accuracy per class against the class's training images (classes ordered from the
    largest to the smallest), mean over seeds, for the two series; a self-contained SVG."""
    series = []
    for runs in (softmax, best):
        counts = [n for n, _ in runs[0]["per_class"]]
        means = [sum(r["per_class"][c][1] for r in runs) / len(runs) for c in range(len(counts))]
        label = row_label(runs[0]["loss"], runs[0]["gamma"], runs[0]["beta"])
        series.append((f"{label} ({len(runs)} seed{'s' if len(runs) > 1 else ''})", counts, means))
    counts = series[0][1]
    order = sorted(range(len(counts)), key=lambda c: (-counts[c], c))
    width, height, left, right, upper, lower = 860, 420, 60, 540, 40, 340
    step = (right - left) / max(len(order), 1)

    def x(rank):
        return left + step * (rank + 0.5)

    def y(acc):
        return lower - (lower - upper) * acc / 100.0

    out = svg_frame(width, height, (left, right, upper, lower), title)
    for k in range(0, 101, 20):
        out.append(f'<line x1="{left}" x2="{right}" y1="{y(k):.1f}" y2="{y(k):.1f}" '
                   f'stroke="#e5e5e5"/><text x="{left - 6}" y="{y(k) + 4:.1f}" '
                   f'text-anchor="end">{k}%</text>')
    label_every = max(1, len(order) // 20)
    for rank, c in enumerate(order):
        if rank % label_every == 0:
            out.append(f'<text x="{x(rank):.1f}" y="{lower + 16}" text-anchor="end" '
                       f'transform="rotate(-60 {x(rank):.1f} {lower + 16})">{counts[c]}</text>')
    out.append(f'<text x="{(left + right) / 2}" y="{height - 8}" text-anchor="middle">training '
               f'images of the class (largest to smallest)</text><text x="16" '
               f'y="{(upper + lower) / 2}" text-anchor="middle" '
               f'transform="rotate(-90 16 {(upper + lower) / 2})">test accuracy</text>')
    for n, (label, _, means) in enumerate(series):
        colour = PALETTE[n]
        xy = [(x(rank), y(means[c])) for rank, c in enumerate(order)]
        out += svg_series(xy, colour, label, (right + 16, upper + 8 + 18 * n))
    return "\n".join(out + ["</svg>"]) + "\n"
