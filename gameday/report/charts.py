"""Inline SVG charts (no JavaScript, no network): the report opens anywhere, prints cleanly.

    svg = scenario_chart(series, marks)   # series: [{"t", "rps", "error_ratio", "p95_ms"}], marks: fault/detected/recovered
    svg = trend_chart([(label, score), ...])
"""

from __future__ import annotations

from html import escape
from typing import Any

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
