"""Inline SVG charts (no JavaScript, no network): the report opens anywhere, prints cleanly.

    svg = scenario_chart(series, marks)   # series: [{"t", "rps", "error_ratio", "p95_ms"}], marks: fault/detected/recovered
    svg = trend_chart([(label, score), ...])
    svg = phase_chart(Phases.from_dict(scenario["phases"]))   # the RTO split into phases, on a timeline bar
"""

from __future__ import annotations

from html import escape
from typing import Any

from ..measure.phases import Phases

W, PANEL_H, PAD_L, PAD_R, PAD_T = 760, 120, 56, 56, 18
MARK_COLOURS = {"fault": "#c0392b", "detected": "#e67e22", "recovered": "#27ae60"}


def _scale(v: float, lo: float, hi: float, a: float, b: float) -> float:
    return a if hi == lo else a + (v - lo) * (b - a) / (hi - lo)


def _polyline(points: list[tuple[float, float]], colour: str, width: float = 1.6) -> str:
    pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    return f'<polyline fill="none" stroke="{colour}" stroke-width="{width}" points="{pts}"/>'


def scenario_chart(series: list[dict[str, Any]], marks: dict[str, float | None]) -> str:
    """Two panels over time: requests/s with error rate, then p95 latency; fault/detection/recovery marked."""
    if not series:
        return '<p class="muted">No load timeline was recorded for this scenario.</p>'
    t0, t1 = series[0]["t"], series[-1]["t"] + 1
    x = lambda t: _scale(t, t0, t1, PAD_L, W - PAD_R)  # noqa: E731
    height = PAD_T + 2 * PANEL_H + 70
    out = [f'<svg class="chart" viewBox="0 0 {W} {height}" width="100%" role="img" '
           f'aria-label="requests per second, error rate and p95 latency over time" xmlns="http://www.w3.org/2000/svg">']
    max_rps = max((p["rps"] for p in series), default=1) or 1
    max_p95 = max((p["p95_ms"] or 0 for p in series), default=1) or 1
    top1, bottom1 = PAD_T, PAD_T + PANEL_H
    top2, bottom2 = bottom1 + 24, bottom1 + 24 + PANEL_H
    for top, bottom in ((top1, bottom1), (top2, bottom2)):
        out.append(f'<rect x="{PAD_L}" y="{top}" width="{W - PAD_L - PAD_R}" height="{bottom - top}" fill="#fafafa" stroke="#ddd"/>')
    out.append(_polyline([(x(p["t"] + 0.5), _scale(p["rps"], 0, max_rps, bottom1, top1)) for p in series], "#2c7fb8"))
    out.append(_polyline([(x(p["t"] + 0.5), _scale(p["error_ratio"] or 0, 0, 1, bottom1, top1)) for p in series], "#c0392b"))
    out.append(_polyline([(x(p["t"] + 0.5), _scale(p["p95_ms"] or 0, 0, max_p95, bottom2, top2)) for p in series], "#6a3d9a"))
    out.append(f'<text x="{PAD_L - 6}" y="{top1 + 10}" text-anchor="end" class="axis">{max_rps:.0f}/s</text>')
    out.append(f'<text x="{PAD_L - 6}" y="{bottom1}" text-anchor="end" class="axis">0</text>')
    out.append(f'<text x="{W - PAD_R + 6}" y="{top1 + 10}" class="axis" fill="#c0392b">100% err</text>')
    out.append(f'<text x="{PAD_L - 6}" y="{top2 + 10}" text-anchor="end" class="axis">{max_p95:.0f} ms</text>')
    out.append(f'<text x="{PAD_L - 6}" y="{bottom2}" text-anchor="end" class="axis">0</text>')
    out.append(f'<text x="{PAD_L + 4}" y="{top1 + 12}" class="legend"><tspan fill="#2c7fb8">requests/s</tspan> '
               f'<tspan fill="#c0392b">error rate</tspan></text>')
    out.append(f'<text x="{PAD_L + 4}" y="{top2 + 12}" class="legend" fill="#6a3d9a">p95 latency</text>')
    for i, (name, when) in enumerate(marks.items()):
        if when is None or not (t0 <= when <= t1):
            continue
        xx = x(when)
        colour = MARK_COLOURS.get(name, "#555")
        out.append(f'<line x1="{xx:.1f}" x2="{xx:.1f}" y1="{top1}" y2="{bottom2}" stroke="{colour}" '
                   f'stroke-dasharray="4 3" stroke-width="1.5"/>')
        out.append(f'<text x="{xx + 3:.1f}" y="{bottom2 + 14 + 11 * i}" class="mark" fill="{colour}">{escape(name)}</text>')
    span = t1 - t0
    for i in range(0, 6):
        t = t0 + span * i / 5
        rel = t - (marks.get("fault") or t0)
        out.append(f'<text x="{x(t):.1f}" y="{bottom2 + 60}" text-anchor="middle" class="axis">{rel:+.0f}s</text>')  # noqa: E501
    out.append("</svg>")
    return "".join(out)


def trend_chart(points: list[tuple[str, float]]) -> str:
    """Score (0-100) per game day, oldest first."""
    if not points:
        return '<p class="muted">No game days yet.</p>'
    h = 200
    x = lambda i: _scale(i, 0, max(len(points) - 1, 1), PAD_L, W - PAD_R)  # noqa: E731
    y = lambda s: _scale(s, 0, 100, h - 30, PAD_T)  # noqa: E731
    out = [f'<svg class="chart" viewBox="0 0 {W} {h}" width="100%" role="img" aria-label="resilience score trend" '
           'xmlns="http://www.w3.org/2000/svg">',
           f'<rect x="{PAD_L}" y="{PAD_T}" width="{W - PAD_L - PAD_R}" height="{h - 30 - PAD_T}" fill="#fafafa" stroke="#ddd"/>',
           f'<text x="{PAD_L - 6}" y="{PAD_T + 10}" text-anchor="end" class="axis">100</text>',
           f'<text x="{PAD_L - 6}" y="{h - 30}" text-anchor="end" class="axis">0</text>',
           _polyline([(x(i), y(s)) for i, (_, s) in enumerate(points)], "#2c7fb8", 2.0)]
    for i, (label, score) in enumerate(points):
        out.append(f'<circle cx="{x(i):.1f}" cy="{y(score):.1f}" r="3.5" fill="#2c7fb8"><title>{escape(label)}: {score:g}</title></circle>')
    out.append(f'<text x="{x(0):.1f}" y="{h - 12}" class="axis">{escape(points[0][0])}</text>')
    if len(points) > 1:
        out.append(f'<text x="{x(len(points) - 1):.1f}" y="{h - 12}" text-anchor="end" class="axis">{escape(points[-1][0])}</text>')
    out.append("</svg>")
    return "".join(out)


PHASE_COLOURS = {"waiting": "#f5b7b1", "affected": "#c0392b", "serving": "#27ae60", "degraded": "#f0b27a",
                 "full": "#a9dfbf", "playbook": "#2c7fb8", "experiment": "#6a3d9a"}
MILESTONE_COLOURS = {"detected": "#e67e22", "playbook_started": "#2c7fb8", "serving_again": "#27ae60",
                     "redundancy_restored": "#117864"}
ROW_H, LABEL_W = 22, 170


def phase_chart(phases: Phases) -> str:
    """The scenario's RTO on a timeline bar (seconds after the fault): readers' service (until detected,
    affected, served again), each recovery step, and each layer until its redundancy was full again,
    with the milestones marked and labelled in plain words."""
    fault = phases.fault_at
    ms = {m.key: m for m in phases.milestones}
    serving = ms["serving_again"]
    end = phases.end_s
    target = serving.target_s
    if target is not None and target <= 1.5 * end:
        end = max(end, target)
    end = end * 1.08 + 1.0
    x0, x1 = LABEL_W, W - PAD_R
    x = lambda s: _scale(max(0.0, s), 0, end, x0, x1)  # noqa: E731
    rows: list[str] = []
    top = PAD_T + 12 * len(MILESTONE_COLOURS) + 6  # one line per milestone label

    def label(y: float, text: str) -> None:
        rows.append(f'<text x="{x0 - 8}" y="{y + 15}" text-anchor="end" class="legend">{escape(text)}</text>')

    def bar(y: float, a: float, b: float, colour: str, title: str, text: str = "") -> None:
        xa, xb = x(a), x(b)
        rows.append(f'<rect x="{xa:.1f}" y="{y + 3}" width="{max(1.5, xb - xa):.1f}" height="{ROW_H - 6}" '
                    f'fill="{colour}"><title>{escape(title)}</title></rect>')
        if text:
            right = xb + 4 > x1 - 140  # no room after the bar: the words end inside it
            tx, anchor = (xb - 4, "end") if right else (xb + 4, "start")
            rows.append(f'<text x="{tx:.1f}" y="{y + 15}" text-anchor="{anchor}" class="mark">{escape(text)}</text>')

    y = top
    label(y, "readers")
    det, srv = ms["detected"].after_fault_s, serving.after_fault_s
    if srv == 0.0 and det is None:
        bar(y, 0, end, PHASE_COLOURS["serving"], "served within the SLO throughout", "served within the SLO throughout")
    else:
        if det is not None:
            bar(y, 0, det, PHASE_COLOURS["waiting"], f"fault not yet seen by readers: {det:.1f} s")
        stop = srv if srv is not None else end
        bar(y, det or 0, stop, PHASE_COLOURS["affected"], "readers not served within the SLO")
        if srv is not None:
            bar(y, srv, end, PHASE_COLOURS["serving"], f"serving again after {srv:.1f} s")
    y += ROW_H
    for step in phases.steps:
        a = step.started_at - fault
        label(y, f"{'playbook' if step.by == 'playbook' else 'experiment'}: {step.name}"[:30])
        bar(y, a, a + step.seconds, PHASE_COLOURS[step.by if step.by in PHASE_COLOURS else "playbook"],
            f"{step.name} ({step.status}): {step.seconds:.1f} s from +{a:.1f} s", f"{step.seconds:.1f} s")
        y += ROW_H
    for r in phases.redundancy:
        label(y, f"{r.layer} redundancy")
        after = r.after_fault_s(fault)
        if r.status == "never-lost":
            bar(y, 0, end, PHASE_COLOURS["full"], r.sentence(fault), f"{r.check} throughout")
        elif r.status == "restored" and after is not None:
            lost = max(0.0, (r.lost_at or fault) - fault)
            bar(y, lost, after, PHASE_COLOURS["degraded"], r.sentence(fault))
            bar(y, after, end, PHASE_COLOURS["full"], r.sentence(fault), f"{r.check} at +{after:.1f} s")
        elif r.status == "not-restored":
            lost = max(0.0, (r.lost_at or fault) - fault)
            bar(y, lost, end, PHASE_COLOURS["degraded"], r.sentence(fault), "not restored")
        else:
            rows.append(f'<text x="{x0 + 4}" y="{y + 15}" class="mark" fill="#777">not measured: {escape(r.detail)}</text>')
        y += ROW_H
    bottom = y
    marks: list[str] = []
    for i, m in enumerate(m for m in phases.milestones if m.key in MILESTONE_COLOURS and m.after_fault_s is not None):
        xx = x(m.after_fault_s)
        colour = MILESTONE_COLOURS[m.key]
        marks.append(f'<line x1="{xx:.1f}" x2="{xx:.1f}" y1="{top - 4}" y2="{bottom}" stroke="{colour}" '
                     f'stroke-dasharray="4 3" stroke-width="1.5"/>')
        ty = PAD_T + 12 * i
        anchor = "end" if xx > x1 - 110 else "start"
        marks.append(f'<text x="{xx + (-3 if anchor == "end" else 3):.1f}" y="{ty}" text-anchor="{anchor}" '
                     f'class="mark" fill="{colour}">{escape(m.label)} +{m.after_fault_s:.1f} s</text>')
    if target is not None and target <= end:
        xt = x(target)
        marks.append(f'<line x1="{xt:.1f}" x2="{xt:.1f}" y1="{top - 4}" y2="{bottom}" stroke="#555" stroke-width="1"/>')
        marks.append(f'<text x="{xt - 3:.1f}" y="{bottom + 12}" text-anchor="end" class="axis">RTO target {target:g} s</text>')
    axis = [f'<line x1="{x0}" x2="{x1}" y1="{bottom}" y2="{bottom}" stroke="#999"/>']
    for i in range(0, 6):
        s = end * i / 5
        axis.append(f'<text x="{x(s):.1f}" y="{bottom + 26}" text-anchor="middle" class="axis">+{s:.0f} s</text>')
    axis.append(f'<text x="{(x0 + x1) / 2:.1f}" y="{bottom + 40}" text-anchor="middle" class="axis">'
                f'seconds after the fault</text>')
    height = bottom + 48
    return "".join([f'<svg class="chart phases" viewBox="0 0 {W} {height}" width="100%" role="img" '
                    f'aria-label="recovery timeline: detected, playbook, serving again, redundancy restored" '
                    f'xmlns="http://www.w3.org/2000/svg">', *rows, *marks, *axis, "</svg>"])
