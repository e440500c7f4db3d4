#!/usr/bin/env python3
"""Checks that a browser screenshot of a run report shows a rendered page (scripts/check-report.sh).

Usage: png_render_check.py SCREENSHOT.png

Decodes the 8-bit RGB/RGBA PNG that Chromium writes with the standard library only and fails
(exit 1, one line on stderr) when the picture is a single colour, when less than 2 % of it is
not white, or when the colour of the first chart series (#1f77b4, train/report_html.cpp) covers
fewer than 200 pixels, i.e. when the charts did not draw.
"""
import itertools
import struct
import sys
import zlib

CHART_RGB = b"\x1f\x77\xb4"
WHITE = b"\xff\xff\xff"


def read_png(path):
    """Returns (width, height, rows of RGB bytes)."""
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG file")
    pos, idat, header = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", data[pos + 8:pos + 8 + length])
        elif kind == b"IDAT":
            idat.append(data[pos + 8:pos + 8 + length])
        pos += 12 + length
    width, height, depth, colour_type, _, _, interlace = header
    if depth != 8 or colour_type not in (2, 6) or interlace:
        raise ValueError(f"unsupported PNG (bit depth {depth}, colour type {colour_type}, "
                         f"interlace {interlace})")
    bpp = 3 if colour_type == 2 else 4
    raw = zlib.decompress(b"".join(idat))
    stride = width * bpp
    prev = bytes(stride)
    rows = []
    for y in range(height):
        start = y * (stride + 1)
        kind, row = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        if kind == 1:  # Sub
            for c in range(bpp):
                row[c::bpp] = bytes(itertools.accumulate(row[c::bpp], lambda a, b: (a + b) & 255))
        elif kind == 2:  # Up
            row = bytearray((a + b) & 255 for a, b in zip(row, prev))
        elif kind == 3:  # Average
            for i in range(stride):
                left = row[i - bpp] if i >= bpp else 0
                row[i] = (row[i] + ((left + prev[i]) >> 1)) & 255
        elif kind == 4:  # Paeth
            for i in range(stride):
                a = row[i - bpp] if i >= bpp else 0
                b, c = prev[i], (prev[i - bpp] if i >= bpp else 0)
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                row[i] = (row[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        elif kind != 0:
            raise ValueError(f"row {y}: unknown PNG filter {kind}")
        prev = bytes(row)
        if bpp == 4:
            row = bytearray(b"".join(prev[i:i + 3] for i in range(0, stride, 4)))
        rows.append(bytes(row))
    return width, height, rows


def main():
    if sys.argv[1:] in (["--help"], ["-h"]):
        print(__doc__)
        return
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    try:
        width, height, rows = read_png(sys.argv[1])
    except (OSError, ValueError, zlib.error, struct.error) as e:
        sys.exit(f"check-report: cannot read the screenshot {sys.argv[1]}: {e}")
    first = rows[0][:3]
    uniform = all(row == first * width for row in rows)
    white = chart = 0
    for row in rows:
        pixels = [row[i:i + 3] for i in range(0, len(row), 3)]
        white += pixels.count(WHITE)
        chart += pixels.count(CHART_RGB)
    total = width * height
    ink = total - white
    problems = []
    if uniform:
        problems.append(f"the screenshot is one colour (#{first.hex()}): nothing rendered")
    if ink < total // 50:
        problems.append(f"only {ink} of {total} pixels are not white: the page looks blank")
    if chart < 200:
        problems.append(f"{chart} pixels of the chart colour #1f77b4: the charts did not draw")
    if problems:
        sys.exit("check-report: " + "; ".join(problems))
    print(f"screenshot {width}x{height}: {100 * ink / total:.1f} % not white, "
          f"{chart} pixels of the first chart colour: ok")


if __name__ == "__main__":
    main()
