"""Inline SVG for the report's region section (no JavaScript, no network), from
:mod:`gameday.report.regions`' dicts.

    svg = drill_timeline(drill)     # the RTO split by phase on a timeline bar, the target, redundancy restored
    svg = rto_trend(points)         # per game day, the judged RTO of each failover, switchover and failback
"""

from __future__ import annotations

from html import escape
from typing import Any

from .charts import PAD_R, PAD_T, W, _polyline, _scale

ROW_H, LABEL_W = 22, 210
CHAR_W = 5.6  # about how wide one character of a 10 px label is
COLOURS = {"detect": "#e67e22", "decide": "#f5b041", "stop-writes": "#c0392b", "wait-caught-up": "#ec7063",
           "promote-standby": "#2c7fb8", "scale-up-standby": "#5dade2", "rebuild-standby": "#85929e",
           "switch-front": "#27ae60", "resume-writes": "#1e8449", "rebuild-old-as-standby": "#a9dfbf",
           "scale-down-old": "#d5dbdb", "verify-readers": "#6a3d9a"}
KIND_COLOURS = {"failover": "#c0392b", "switchover": "#2c7fb8", "failback": "#27ae60"}
ORIGINS = {"failover": "the fault", "switchover": "the switchover's start", "failback": "the failback's start"}


def rto_origin(drill: dict[str, Any]) -> float:
    """Where on the drill's axis its RTO starts: a failover's at the fault (0), a planned move's
    (switchover, failback) when writes stopped; what came before it is preparation."""
    if drill.get("kind") == "failover":
        return 0.0
    return next((p.get("start_s") or 0.0 for p in drill.get("phases") or [] if p.get("phase") == "stop-writes"), 0.0)


def _end(drill: dict[str, Any]) -> float:
    ends = [p.get("end_s") or 0.0 for p in drill.get("phases") or []]
    base = rto_origin(drill)
    ends += [v for v in (None if drill.get("rto_s") is None else base + drill["rto_s"],
                         drill.get("redundancy_restored_s")) if v is not None]
    target = (drill.get("targets") or {}).get("rto_s")
    if target is not None:
        ends.append(base + target + ((drill.get("decision_s") or 0.0) if drill.get("kind") == "failover" else 0.0))
    return max(ends, default=1.0) * 1.08 + 1.0


def drill_timeline(drill: dict[str, Any]) -> str:
    """One row per phase of the drill (seconds after the fault, or the switchover's or failback's start), a row for
    the time writes were refused, the moment readers were served by the new region (the RTO, counted from
    the fault or, for a planned move, from writes stopped: :func:`rto_origin`), its target and the moment
    redundancy was restored."""
    phases = drill.get("phases") or []
    if not phases:
        return '<p class="muted">No phase of this drill was recorded.</p>'
    end = _end(drill)
    x0, x1 = LABEL_W, W - PAD_R
    x = lambda s: _scale(max(0.0, s), 0, end, x0, x1)  # noqa: E731
    top = PAD_T + 30
    rows: list[str] = []

    def row(y: float, label: str, a: float, b: float, colour: str, title: str, text: str) -> None:
        xa, xb = x(a), x(b)
        rows.append(f'<text x="{x0 - 8}" y="{y + 15}" text-anchor="end" class="legend">{escape(label[:34])}</text>')
        rows.append(f'<rect x="{xa:.1f}" y="{y + 3}" width="{max(1.5, xb - xa):.1f}" height="{ROW_H - 6}" '
                    f'fill="{colour}"><title>{escape(title)}</title></rect>')
        right = xb + 4 > x1 - 90
        tx, anchor = (xa - 4, "end") if right and xa - 4 > x0 + 60 else (xb + 4, "start")
        rows.append(f'<text x="{tx:.1f}" y="{y + 15}" text-anchor="{anchor}" class="mark">{escape(text)}</text>')

    y = top
    for p in phases:
        a, b = p.get("start_s") or 0.0, p.get("end_s") or 0.0
        status = f", {p['status']}" if p.get("status") else ""
        row(y, p.get("label") or str(p.get("phase")), a, b, COLOURS.get(p.get("phase"), "#7f8c8d"),
            f"{p.get('phase')}: {p.get('seconds') or 0:.1f} s from +{a:.1f} s{status}"
            + (f" ({p['detail']})" if p.get("detail") else ""), f"{p.get('seconds') or 0:.1f} s")
        y += ROW_H
    refused = drill.get("writes_unavailable_s")
    if refused is not None:
        stop = next((p.get("start_s") for p in phases if p.get("phase") == "stop-writes"), 0.0) or 0.0
        row(y, "writes refused", stop, stop + refused, "#922b21", f"writes refused for {refused:.1f} s",
            f"{refused:.1f} s")
        y += ROW_H
    bottom = y
    marks: list[str] = []
    target = (drill.get("targets") or {}).get("rto_s")
    decision = (drill.get("decision_s") or 0.0) if drill.get("kind") == "failover" else 0.0
    base = rto_origin(drill)
    served = drill.get("rto_s")
    lines = [("readers served by " + str(drill.get("to") or "the new region")
              + (f" (RTO {served:.1f} s from writes stopped)" if base and served is not None else ""),
              None if served is None else base + served, "#27ae60"),
             ("redundancy restored", drill.get("redundancy_restored_s"), "#117864")]
    if target is not None:
        words = f"RTO target {target:g} s" + (f" + {decision:.0f} s decision" if decision else "") \
            + (" from writes stopped" if base else "")
        lines.append((words, base + target + decision, "#555"))
    for i, (words, at, colour) in enumerate(lines):
        if at is None:
            continue
        xx = x(at)
        dash = "" if colour == "#555" else ' stroke-dasharray="4 3"'
        marks.append(f'<line x1="{xx:.1f}" x2="{xx:.1f}" y1="{top - 4}" y2="{bottom}" stroke="{colour}" '
                     f'stroke-width="1.5"{dash}/>')
        when = "" if colour == "#555" else f" +{at:.1f} s"
        anchor = "end" if xx + CHAR_W * len(words + when) > W - 2 else "start"  # the label stays inside the chart
        marks.append(f'<text x="{xx + (-3 if anchor == "end" else 3):.1f}" y="{PAD_T + 10 * i}" '
                     f'text-anchor="{anchor}" class="mark" fill="{colour}">{escape(words)}{when}</text>')
    axis = [f'<line x1="{x0}" x2="{x1}" y1="{bottom}" y2="{bottom}" stroke="#999"/>']
    for i in range(6):
        s = end * i / 5
        axis.append(f'<text x="{x(s):.1f}" y="{bottom + 14}" text-anchor="middle" class="axis">+{s:.0f} s</text>')
    origin = ORIGINS.get(str(drill.get("kind")), "the drill's start")
    axis.append(f'<text x="{(x0 + x1) / 2:.1f}" y="{bottom + 28}" text-anchor="middle" class="axis">'
                f'seconds after {origin}</text>')
    return "".join([f'<svg class="chart region-timeline" viewBox="0 0 {W} {bottom + 36}" width="100%" role="img" '
                    f'aria-label="{escape(str(drill.get("kind")))} from {escape(str(drill.get("from")))} to '
                    f'{escape(str(drill.get("to")))}: the RTO split by phase" xmlns="http://www.w3.org/2000/svg">',
                    *rows, *marks, *axis, "</svg>"])


def rto_trend(points: dict[str, list[dict[str, Any]]]) -> str:
    """The judged RTO of each kind of drill per game day (oldest first), with each kind's target
    dashed: "failover took X s last time, Y s now" as a chart."""
    runs: list[str] = []
    for series in points.values():
        for p in series:
            if p["run_id"] not in runs:
                runs.append(p["run_id"])
    measured = [p for series in points.values() for p in series if p["seconds"] is not None]
    if not measured:
        return '<p class="muted">No region drill has been measured on this target yet.</p>'
    h, top = 210, PAD_T + 16  # the legend above the plot
    top_s = max([p["seconds"] for p in measured] + [p["target"] or 0 for p in measured]) * 1.15 or 1.0
    left = LABEL_W // 3
    x = lambda i: _scale(i, 0, max(len(runs) - 1, 1), left + 12, W - PAD_R - 12)  # noqa: E731
    y = lambda s: _scale(s, 0, top_s, h - 30, top)  # noqa: E731
    out = [f'<svg class="chart region-trend" viewBox="0 0 {W} {h}" width="100%" role="img" '
           f'aria-label="region drill RTO per game day" xmlns="http://www.w3.org/2000/svg">',
           f'<rect x="{left}" y="{top}" width="{W - left - PAD_R}" height="{h - 30 - top}" fill="#fafafa" stroke="#ddd"/>',
           f'<text x="{left - 6}" y="{top + 10}" text-anchor="end" class="axis">{top_s:.0f} s</text>',
           f'<text x="{left - 6}" y="{h - 30}" text-anchor="end" class="axis">0</text>']
    legend_x = left
    for kind, series in points.items():
        colour = KIND_COLOURS.get(kind, "#555")
        pts = [(x(runs.index(p["run_id"])), y(p["seconds"])) for p in series if p["seconds"] is not None]
        if len(pts) > 1:
            out.append(_polyline(pts, colour, 2.0))
        for p in series:
            if p["seconds"] is None:
                continue
            xx, yy = x(runs.index(p["run_id"])), y(p["seconds"])
            out.append(f'<circle cx="{xx:.1f}" cy="{yy:.1f}" r="{4.5 if p["this_run"] else 3.5}" fill="{colour}">'
                       f'<title>{escape(kind)} {escape(p["when"])} ({escape(str(p["run_id"]))}): '
                       f'{p["seconds"]:.1f} s</title></circle>'
                       f'<text x="{xx:.1f}" y="{yy - 7:.1f}" text-anchor="middle" class="mark" fill="{colour}">'
                       f'{p["seconds"]:.0f} s</text>')
        targets = [p["target"] for p in series if p["target"] is not None]
        if targets:
            yt = y(targets[-1])
            out.append(f'<line x1="{left}" x2="{W - PAD_R}" y1="{yt:.1f}" y2="{yt:.1f}" stroke="{colour}" '
                       f'stroke-dasharray="5 4" stroke-width="1"/>')
            out.append(f'<text x="{W - PAD_R + 4}" y="{yt + 3:.1f}" class="axis" fill="{colour}">{targets[-1]:g} s</text>')
        if series:
            words = f'{kind} RTO{" without the decision" if kind == "failover" else ""}'
            out.append(f'<line x1="{legend_x}" x2="{legend_x + 16}" y1="{PAD_T - 3}" y2="{PAD_T - 3}" stroke="{colour}" '
                       f'stroke-width="2"/><text x="{legend_x + 20}" y="{PAD_T + 1}" class="legend" fill="{colour}">'
                       f'{escape(words)}</text>')
            legend_x += 40 + 6 * len(words)
    first = next(p for s in points.values() for p in s if p["run_id"] == runs[0])
    last = next(p for s in points.values() for p in s if p["run_id"] == runs[-1])
    out.append(f'<text x="{x(0):.1f}" y="{h - 12}" class="axis">{escape(first["when"])}</text>')
    if len(runs) > 1:
        out.append(f'<text x="{x(len(runs) - 1):.1f}" y="{h - 12}" text-anchor="end" class="axis">'
                   f'{escape(last["when"])} (now)</text>')
    out.append("</svg>")
    return "".join(out)
