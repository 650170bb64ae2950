"""The coverage page: ``coverage.html``, self-contained (inline CSS and SVG, no script, no network).

    path = write(data, Path("reports/coverage.html"))     # data: a gameday.coverage/v1 dict
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from .diagram import COLOURS, LEGEND, dependency_diagram
from .regions import sentence as regions_sentence

WORDS = {"ok": "proven", "stale": "stale", "failed": "failed", "untested": "never tested",
         "no-experiment": "no experiment"}


def _date(ts: float | None) -> str:
    return "-" if not ts else time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ts))


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def headline(data: dict[str, Any]) -> str:
    """One sentence for a stakeholder: how much of the platform's recovery is proven, and the gaps."""
    t = data["totals"]
    parts = [f"{t['ok']} of {t['cells']} ways the platform can fail were recovered within target on a game day "
             f"in the last {data['stale_days']:g} days"]
    gaps = [f"{t[s]} {WORDS[s]}" for s in ("failed", "stale", "untested", "no-experiment") if t[s]]
    single = [f"{s['component']} ({', '.join(s['members']) or 'one instance'})"
              for s in data.get("single_points_of_failure") or []]
    zones = data.get("zones") or []
    lost = [z["component"] for z in zones if not z["survives_zone_loss"]]
    zone_text = (f" Losing one zone: {len(zones) - len(lost)} of {len(zones)} components survive by design"
                 + (f"; not {', '.join(lost)}." if lost else ".")) if zones else ""
    return parts[0] + (f"; {', '.join(gaps)}." if gaps else ".") + (
        f" Single points of failure (one instance, or every member in one zone): {', '.join(single)}."
        if single else "") + zone_text + regions_sentence(data.get("regions"))


def html(data: dict[str, Any], reports_href: str = "") -> str:
    env = Environment(loader=PackageLoader("gameday.coverage", "templates"), autoescape=select_autoescape(["html"]))
    env.filters.update(date=_date, seconds=_seconds)
    return env.get_template("coverage.html").render(
        d=data, headline=headline(data), diagram=dependency_diagram(data["components"]), words=WORDS,
        colours=COLOURS, legend=LEGEND, base=reports_href)


def write(data: dict[str, Any], path: Path) -> Path:
    """Write the page; links to game-day reports are relative to where it is written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    base = os.path.relpath(Path(data["reports_dir"]).resolve(), path.parent.resolve())
    path.write_text(html(data, "" if base == "." else base.rstrip("/") + "/"))
    return path
