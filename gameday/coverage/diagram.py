"""The platform's dependency diagram as inline SVG (no JavaScript, no network), each component
coloured by its coverage: entry points at the top, what they depend on below.

    svg = dependency_diagram(data["components"])    # components of a gameday.coverage/v1 dict
"""

from __future__ import annotations

from html import escape
from typing import Any

COLOURS = {  # fill, stroke
    "ok": ("#e8f6ee", "#27ae60"), "stale": ("#fff4e5", "#e67e22"), "untested": ("#fdecea", "#c0392b"),
    "no-experiment": ("#eeeeee", "#7f8c8d"), "failed": ("#f5b7b1", "#922b21"),
}
LEGEND = {"ok": "proven recently", "stale": "proven, but stale", "untested": "experiment never run",
          "no-experiment": "no experiment", "failed": "last game day failed"}
BOX_W, BOX_H, GAP_X, GAP_Y, PAD = 168, 54, 28, 40, 20


def levels(components: list[dict[str, Any]]) -> dict[str, int]:
    """Height of each component: 0 for what depends on nothing, else one above its highest dependency
    (a dependency cycle is cut where it closes). The diagram draws the highest level at the top."""
    ids = {c["id"] for c in components}
    deps = {c["id"]: [d for d in c["depends_on"] if d in ids] for c in components}
    memo: dict[str, int] = {}

    def level(cid: str, path: frozenset[str]) -> int:
        if cid in memo:
            return memo[cid]
        below = [level(d, path | {cid}) + 1 for d in deps[cid] if d not in path]
        memo[cid] = max(below, default=0)
        return memo[cid]

    return {c["id"]: level(c["id"], frozenset()) for c in components}


def rows(components: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Components in rows, top row first; within a row, ordered under the components that depend on
    them (the mean position of their dependants), which keeps edges short and crossings few."""
    level_of = levels(components)
    top = max(level_of.values(), default=0)
    grouped: list[list[dict[str, Any]]] = [[] for _ in range(top + 1)]
    for c in components:
        grouped[top - level_of[c["id"]]].append(c)
    grouped = [r for r in grouped if r]
    slot: dict[str, float] = {}
    for r, members in enumerate(grouped):
        if r:
            def centre(c: dict[str, Any], i: int, r: int = r, members: list = members) -> float:
                above = [slot[o["id"]] for row in grouped[:r] for o in row if c["id"] in o["depends_on"]]
                return sum(above) / len(above) if above else (i + 0.5) / len(members)
            keys = {c["id"]: centre(c, i) for i, c in enumerate(members)}
            members.sort(key=lambda c: keys[c["id"]])
        for i, c in enumerate(members):
            slot[c["id"]] = (i + 0.5) / len(members)
    return grouped


def _bar(c: dict[str, Any], x: float, y: float) -> str:
    """A strip along the bottom of a box: one segment per failure mode, coloured by its status."""
    counts = c.get("counts") or {}
    total = sum(counts.values())
    if not total:
        return ""
    out, left, inner = [], x + 10, BOX_W - 20
    for status in ("ok", "stale", "failed", "untested", "no-experiment"):
        n = counts.get(status, 0)
        if n:
            w = inner * n / total
            out.append(f'<rect class="seg" x="{left:.1f}" y="{y + BOX_H - 9:.1f}" width="{w:.1f}" height="5" '
                       f'fill="{COLOURS[status][1]}"><title>{n} {escape(LEGEND[status])}</title></rect>')
            left += w
    return "".join(out)


def dependency_diagram(components: list[dict[str, Any]]) -> str:
    if not components:
        return '<p class="muted">The inventory lists no components.</p>'
    grid = rows(components)
    widest = max(len(r) for r in grid)
    width = max(760, PAD * 2 + widest * BOX_W + (widest - 1) * GAP_X)
    height = PAD * 2 + len(grid) * BOX_H + (len(grid) - 1) * GAP_Y + 34
    pos: dict[str, tuple[float, float]] = {}
    for r, members in enumerate(grid):
        span = len(members) * BOX_W + (len(members) - 1) * GAP_X
        x0 = (width - span) / 2
        for i, c in enumerate(members):
            pos[c["id"]] = (x0 + i * (BOX_W + GAP_X), PAD + r * (BOX_H + GAP_Y))
    out = [f'<svg class="diagram" id="dependency-diagram" viewBox="0 0 {width} {height}" width="100%" role="img" '
           f'aria-label="platform components and their dependencies, coloured by recovery coverage" '
           f'xmlns="http://www.w3.org/2000/svg">',
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
           'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#888"/></marker></defs>']
    for c in components:
        x1, y1 = pos[c["id"]]
        for dep in c["depends_on"]:
            if dep not in pos:
                continue
            x2, y2 = pos[dep]
            start = (x1 + BOX_W / 2, y1 + BOX_H) if y2 > y1 else (x1 + BOX_W / 2, y1)
            end = (x2 + BOX_W / 2, y2) if y2 > y1 else (x2 + BOX_W / 2, y2 + BOX_H)
            if y2 == y1:  # same row: side to side
                start, end = (x1 + (BOX_W if x2 > x1 else 0), y1 + BOX_H / 2), (x2 + (0 if x2 > x1 else BOX_W), y2 + BOX_H / 2)
            out.append(f'<line class="edge" data-from="{escape(c["id"])}" data-to="{escape(dep)}" '
                       f'x1="{start[0]:.1f}" y1="{start[1]:.1f}" x2="{end[0]:.1f}" y2="{end[1]:.1f}" '
                       f'stroke="#aaa" stroke-width="1.3" marker-end="url(#arrow)"/>')
    for c in components:
        x, y = pos[c["id"]]
        fill, stroke = COLOURS.get(c["status"], COLOURS["no-experiment"])
        label = c["id"] if len(c["id"]) <= 22 else c["id"][:21] + "…"
        out.append(f'<g class="node status-{escape(c["status"])}" data-component="{escape(c["id"])}">'
                   f'<title>{escape(c["name"])}: {c["ok"]} of {c["cells"]} failure modes proven ({escape(c["status"])})</title>'
                   f'<rect x="{x:.1f}" y="{y:.1f}" width="{BOX_W}" height="{BOX_H}" rx="6" fill="{fill}" '
                   f'stroke="{stroke}" stroke-width="2"/>'
                   f'<text x="{x + BOX_W / 2:.1f}" y="{y + 20:.1f}" text-anchor="middle" class="name">{escape(label)}</text>'
                   f'<text x="{x + BOX_W / 2:.1f}" y="{y + 36:.1f}" text-anchor="middle" class="sub">'
                   f'{c["ok"]}/{c["cells"]} proven</text>{_bar(c, x, y)}</g>')
    lx = PAD
    ly = height - 16
    for status, words in LEGEND.items():
        fill, stroke = COLOURS[status]
        out.append(f'<rect x="{lx}" y="{ly - 10}" width="12" height="12" fill="{fill}" stroke="{stroke}"/>'
                   f'<text x="{lx + 16}" y="{ly}" class="legend">{escape(words)}</text>')
        lx += 28 + 7 * len(words)
    out.append("</svg>")
    return "".join(out)
