"""Coverage in the game-day report and the history index (called by :mod:`gameday.report.render`).

    report["coverage"] = section(report, reports_dir)   # what this run exercised, and coverage after it
    pages = write_pages(reports_dir)                    # reports/coverage.html (+ one per GKE inventory)

Neither raises for an inventory problem: a report must still be written, so the problem is carried
in the section (``{"error": "..."}``) and shown where the coverage would have been.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import GamedayError
from . import claims, consistency, inventory, matrix, page, run_regions


def inventory_for(target: dict[str, Any]) -> inventory.Inventory:
    """The sandbox's ``platform.yaml`` for a sandbox target, else ``inventory/<target name>.yaml``."""
    if (target or {}).get("kind", "sandbox") == "sandbox":
        return inventory.load(None)
    return inventory.load(target.get("name"))


def _checked(inv: inventory.Inventory) -> list[claims.Claim]:
    found = claims.scan(inventory.ROOT)
    consistency.check(inv, found, inventory.ROOT)
    return found


def section(report: dict[str, Any], reports_dir: Path) -> dict[str, Any]:
    """This run's coverage: the cells each scenario exercised, and the totals once this run counts. A run
    with region drills (``report["regions"]``, worked out first) names its own two regions, the region
    active when it ended and what its drills proved (:mod:`.run_regions`), not the default twin's set."""
    try:
        inv = inventory_for(report.get("target") or {})
        found = _checked(inv)
    except GamedayError as err:
        return {"error": str(err)}
    experiment_cells: dict[str, list[str]] = {}
    for claim in found:
        if claim.kind == "experiment":
            experiment_cells.setdefault(claim.source, []).append(claim.cell)
    exercised = {s["name"]: experiment_cells.get(s.get("experiment", ""), []) for s in report.get("scenarios", [])}
    this_run = {**report, "coverage": {"exercised": exercised}, "_folder": report.get("run_id")}
    data = matrix.build(inv, found, reports_dir, extra_runs=[this_run], now=report.get("ended_at"))
    gaps = [f"{c['component']}/{c['failure_mode']}" for c in data["cells"] if c["status"] != "ok"]
    regions_run = run_regions.rehearsed(report, exercised, run_regions.region_set((report.get("target") or {}).get("name")))
    headline = page.headline(data)
    if regions_run:
        if regions_run["set"]:  # the run's two regions, not what platform.yaml's default twin would run here
            data["regions"] = regions_run["set"]
            headline = page.headline(data)
        headline += (" The components, single points of failure and zones are counted in one region's twin "
                     "(platform.yaml); each region runs its own." + regions_run["sentence"])
    return {"schema": matrix.SCHEMA, "inventory": str(inv.path.relative_to(inventory.ROOT))
            if inv.path and inv.path.is_relative_to(inventory.ROOT) else str(inv.path),
            "platform": inv.platform, "stale_days": data["stale_days"], "exercised": exercised,
            "totals": data["totals"], "headline": headline, "not_proven": gaps, "regions": regions_run,
            "single_points_of_failure": data["single_points_of_failure"], "zones": data["zones"],
            "page": "../" + page_name(inv)}


def page_name(inv: inventory.Inventory) -> str:
    return "coverage.html" if inv.platform == "sandbox" else f"coverage-{inv.platform}.html"


def write_pages(reports_dir: Path) -> dict[str, Any]:
    """Write ``coverage.html`` (the sandbox) and ``coverage-<platform>.html`` for each inventory in
    ``inventory/`` that has game days; return what the history index shows: the pages and, per run,
    how many failure modes had been exercised by then."""
    pages, per_run, errors = [], {}, []
    candidates = [None] + sorted(p for p in inventory.INVENTORIES.glob("*.yaml"))
    for candidate in candidates:
        try:
            inv = inventory.load(candidate)
            found = _checked(inv)
        except GamedayError as err:
            errors.append(str(err))
            continue
        data = matrix.build(inv, found, reports_dir)
        if candidate is not None and not data["runs_counted"]:
            continue  # a production inventory with no production game day: nothing to show yet
        name = page_name(inv)
        page.write(data, reports_dir / name)
        pages.append({"href": name, "platform": inv.platform, "headline": page.headline(data)})
        for point in data["trend"]:
            per_run[point["run_id"]] = {"exercised": point["exercised_cells"], "cells": data["totals"]["cells"],
                                        "ratio": point["exercised_ratio"]}
    return {"pages": pages, "per_run": per_run, "errors": errors}
