#!/usr/bin/env bash
# Checks a run's report.html: every inline <svg> is well-formed XML, the page references nothing
# on the network (no http(s):// URL, no <script>, <link> or @import), and, when a Chromium-family
# browser is installed (chromium, chromium-headless-shell, google-chrome, ...), that it loads
# headless with as many <svg> charts and <polyline> curves in its DOM as the file has, and that
# a screenshot of it (800 x 1300) shows a rendered page: not one colour, at least 2 % not white,
# the first chart colour drawn (scripts/png_render_check.py). Without a browser the browser step
# is skipped with a message (exit 0; CBNN_INSTALL_BROWSER=1 scripts/install-deps.sh installs one);
# any failed check exits 1.
#
# A report cut short (a run killed while writing it, a partial copy) fails: the page must end
# with </html>, and every <svg> must be closed by its </svg>. A file that is not UTF-8 text fails
# with one message.
#
# Usage: scripts/check-report.sh [REPORT.html | RUN_DIR]    (-h or --help: this text)
#   a relative path is taken from the current folder; default: the example that
#   `cbnn_tests --gtest_filter=RunWriter.WritesExampleReport` writes to
#   $CBNN_BUILD_DIR/test-output/report-example/report.html (CBNN_BUILD_DIR, default build, is
#   relative to the repository root)
# Environment:
#   CBNN_REPORT_SCREENSHOT=FILE   keep the screenshot there (PNG; relative to the current folder)
set -euo pipefail

# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

report=""
for arg in "$@"; do
    case $arg in
        -h | --help)
            cbnn_usage "${BASH_SOURCE[0]}"
            exit 0
            ;;
    esac
done
for arg in "$@"; do
    if [[ $arg == -* && ! -e $arg ]]; then
        echo "check-report: unknown option '$arg' (see scripts/check-report.sh --help)" >&2
        exit 1
    elif [[ -n $report ]]; then
        echo "check-report: one report or run folder at a time, got '$report' and '$arg'" >&2
        exit 1
    fi
    report=$arg
done
# The argument is the caller's (a relative path from where they are), the default the
# repository's.
if [[ -z $report ]]; then
    build_dir=${CBNN_BUILD_DIR:-build}
    [[ $build_dir == /* ]] || build_dir=$CBNN_ROOT/$build_dir
    report=$build_dir/test-output/report-example/report.html
fi
[[ -d $report ]] && report=$report/report.html
if [[ ! -f $report ]]; then
    echo "check-report: $report not found (run a training, or" \
        "${CBNN_BUILD_DIR:-build}/cbnn_tests --gtest_filter=RunWriter.WritesExampleReport)" >&2
    exit 1
fi
report=$(cd "$(dirname "$report")" && pwd)/$(basename "$report")

cbnn_log "static checks of $report"
python3 - "$report" <<'PY'
import re, sys, xml.etree.ElementTree as ET
path = sys.argv[1]
try:
    with open(path, encoding="utf-8") as f:
        html = f.read()
except UnicodeDecodeError as e:
    sys.exit(f"check-report: {path} is not UTF-8 text (byte 0x{e.object[e.start]:02x} at offset "
             f"{e.start}): not a report.html, or a damaged one")
except OSError as e:
    sys.exit(f"check-report: cannot read {path}: {e.strerror}")
problems = []
for pattern in (r"https?://", r"<script", r"<link", r"@import", r"url\("):
    if re.search(pattern, html, re.I):
        problems.append(f"network reference or script: {pattern}")
# A cut file can still hold only well-formed charts: the page must be whole.
if not re.search(r"</html>\s*\Z", html, re.I):
    problems.append("the page does not end with </html>: truncated?")
opened, closed = len(re.findall(r"<svg\b", html)), html.count("</svg>")
if opened != closed:
    problems.append(f"{opened} <svg> but {closed} </svg>: a chart is not closed (truncated?)")
svgs = re.findall(r"<svg\b.*?</svg>", html, re.S)
if not opened:
    problems.append("no <svg> chart")
for i, svg in enumerate(svgs):
    try:
        ET.fromstring(svg.replace("&ndash;", "-"))
    except ET.ParseError as e:
        problems.append(f"svg #{i} is not well-formed: {e}")
if problems:
    sys.exit(f"check-report: {path}: " + "; ".join(problems))
print(f"{len(svgs)} charts, {html.count('<polyline')} curves, {html.count('<table')} tables: ok")
PY

browser=""
for name in chromium chromium-headless-shell chromium-browser google-chrome google-chrome-stable \
    chrome-headless-shell; do
    if command -v "$name" >/dev/null 2>&1; then
        browser=$name
        break
    fi
done
if [[ -z $browser ]]; then
    cbnn_log "no Chromium-family browser installed: headless render check skipped" \
        "(Debian: apt-get install chromium-headless-shell)"
    exit 0
fi

# --no-sandbox: CI machines and containers run as root, where Chromium's sandbox will not start.
chrome=("$browser" --headless --disable-gpu --no-sandbox --no-first-run --hide-scrollbars)
cbnn_log "rendering with $browser --headless"
dom=$(timeout 60 "${chrome[@]}" --dump-dom "file://$report" 2>/dev/null) || {
    echo "check-report: $browser failed to load $report" >&2
    exit 1
}
svg_in_file=$(grep -o '<svg' "$report" | wc -l)
svg_in_dom=$(grep -o '<svg' <<<"$dom" | wc -l)
curves_in_file=$(grep -o '<polyline' "$report" | wc -l)
curves_in_dom=$(grep -o '<polyline' <<<"$dom" | wc -l)
if [[ $svg_in_dom -ne $svg_in_file || $curves_in_dom -ne $curves_in_file ]]; then
    echo "check-report: the browser's DOM has $svg_in_dom <svg> and $curves_in_dom <polyline>," \
        "the file $svg_in_file and $curves_in_file" >&2
    exit 1
fi
cbnn_log "DOM: $svg_in_dom charts, $curves_in_dom curves"

shot_dir=$(mktemp -d)
trap 'rm -rf "$shot_dir"' EXIT
shot=$shot_dir/report.png
# 800 x 1300 holds the summary table and the first charts, and keeps the pure-Python PNG
# decoding below to a few seconds.
if ! timeout 60 "${chrome[@]}" --window-size=800,1300 --screenshot="$shot" "file://$report" \
    >/dev/null 2>&1 || [[ ! -s $shot ]]; then
    echo "check-report: $browser wrote no screenshot of $report" >&2
    exit 1
fi
if [[ -n ${CBNN_REPORT_SCREENSHOT:-} ]]; then
    cp "$shot" "$CBNN_REPORT_SCREENSHOT"
    cbnn_log "screenshot kept as $CBNN_REPORT_SCREENSHOT"
fi
python3 "$CBNN_ROOT/scripts/png_render_check.py" "$shot"
cbnn_log "rendered: $report"
