#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""make bench: draw build/bench/bench.json as an SVG bar chart, with no plotting library.

One group of bars per row (test/metric), one bar per target, each normalised to the better
of the fsdax anchors (ext4-dax, xfs-dax) for that row, oriented so that taller is better;
the error bars are each median's spread ((max - min) / median) around it.

    bench-chart.py BENCH_JSON OUT_SVG [TITLE]
"""
import json
import sys
from html import escape

ANCHORS = ("ext4-dax", "xfs-dax")
COLOURS = {"refdax": "#d62728", "ext4-dax": "#1f77b4", "xfs-dax": "#2ca02c",
           "device-dax": "#9467bd", "tmpfs": "#8c564b", "anon": "#7f7f7f"}


def main():
    src, out = sys.argv[1], sys.argv[2]
    title = sys.argv[3] if len(sys.argv) > 3 else "refdax vs the kernel's DAX file systems"
    with open(src) as f:
        data = json.load(f)
    rows, targets, by = [], [], {}
    for r in data["results"]:
        key = (r["test"], r["metric"])
        if r["metric"] in ("faults", "fault_rate", "notifications"):
            continue  # counts, and rates over different fault counts: touch_time says it
        if key not in rows:
            rows.append(key)
        if r["target"] not in targets:
            targets.append(r["target"])
        by[(key, r["target"])] = r
    groups = []
    for key in rows:
        anchors = [by[(key, a)] for a in ANCHORS if (key, a) in by and by[(key, a)]["median"]]
        if not anchors:
            continue
        hib = anchors[0]["higher_is_better"]
        best = (max if hib else min)(a["median"] for a in anchors)
        bars = []
        for t in targets:
            r = by.get((key, t))
            if not r or not r["median"]:
                continue
            v = r["median"] / best if hib else best / r["median"]
            bars.append((t, v, v * r["spread"]))
        groups.append(("%s %s" % key, bars))
    top = max([v + e / 2 for _, bars in groups for _, v, e in bars] + [1.0])
    top = min(top, 4.0)
    gw, bw, h, left, base = 24 * len(targets) + 30, 24, 360, 60, 420
    width = left + gw * len(groups) + 20
    svg = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
           'font-family="sans-serif" font-size="11">' % (width, base + 150),
           '<text x="%d" y="20" font-size="14">%s</text>' % (left, escape(title))]
    for k in range(0, int(top * 4) + 1):
        y = base - h * (k / 4) / top
        svg.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="%s"/>'
                   % (left, width - 10, y, y, "#000" if k == 4 else "#ddd"))
        svg.append('<text x="%d" y="%.1f" text-anchor="end">%.2f</text>' % (left - 4, y + 4, k / 4))
    for g, (label, bars) in enumerate(groups):
        x0 = left + g * gw + 10
        for i, (t, v, e) in enumerate(bars):
            shown = min(v, top)
            x = x0 + targets.index(t) * bw
            y = base - h * shown / top
            svg.append('<rect x="%d" y="%.1f" width="%d" height="%.1f" fill="%s">'
                       '<title>%s %s: %.2f</title></rect>'
                       % (x, y, bw - 4, base - y, COLOURS.get(t, "#bcbd22"), escape(label),
                          escape(t), v))
            lo, hi = base - h * min(v - e / 2, top) / top, base - h * min(v + e / 2, top) / top
            cx = x + (bw - 4) / 2
            svg.append('<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#000"/>'
                       % (cx, cx, lo, hi))
            if v > top:
                svg.append('<text x="%.1f" y="%.1f" text-anchor="middle">%.1f</text>'
                           % (cx, y - 3, v))
        svg.append('<text transform="translate(%d,%d) rotate(40)">%s</text>'
                   % (x0, base + 14, escape(label)))
    for i, t in enumerate(targets):
        svg.append('<rect x="%d" y="30" width="10" height="10" fill="%s"/>'
                   '<text x="%d" y="39">%s</text>'
                   % (left + i * 100, COLOURS.get(t, "#bcbd22"), left + i * 100 + 14, escape(t)))
    svg.append('<text x="%d" y="%d">Each row relative to the better of ext4-dax and xfs-dax '
               '(1.00; taller is better); error bars: spread of the runs.</text>'
               % (left, base + 140))
    svg.append("</svg>")
    with open(out, "w") as f:
        f.write("\n".join(svg) + "\n")


if __name__ == "__main__":
    main()
