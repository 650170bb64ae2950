"""The coverage matrix (schema ``gameday.coverage/v1``): component x failure mode, with whether an
experiment and a playbook exist, the last game day that exercised it (from ``reports/*/summary.json``),
its result, measured RTO / RPO, and the age of that evidence.

    data = build(inv, claims.scan(ROOT), Path("reports"), stale_days=30)
    data["cells"][0]["status"]      # ok | stale | failed | untested | no-experiment

Statuses: ``ok`` the last game day that exercised it met its targets within ``stale_days``;
``stale`` it did, longer ago; ``failed`` the last one missed a target or did not finish;
``untested`` an experiment exists but no game day ran it; ``no-experiment`` nothing can test it yet.
Only game days against the inventory's platform count: any sandbox twin for ``sandbox``, else the
target named like the inventory's ``platform`` (a sandbox or staging run proves nothing about production).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from .. import zones
from . import regions as region_set
from .claims import Claim, by_cell
from .inventory import Inventory

SCHEMA = "gameday.coverage/v1"
REPORT_SCHEMA = "gameday.report/v1"
STATUSES = ("ok", "stale", "untested", "no-experiment", "failed")  # in order of concern
RANK = {s: i for i, s in enumerate(STATUSES)}
DAY = 86400.0


def read_runs(reports_dir: Path) -> list[dict[str, Any]]:
    """Every game-day summary under ``reports_dir`` (``*/summary.json``), oldest first; others skipped."""
    runs = []
    if not reports_dir.is_dir():
        return runs
    for summary in sorted(reports_dir.glob("*/summary.json")):
        try:
            data = json.loads(summary.read_text())
        except ValueError:
            continue  # a half-written or foreign file is not evidence
        if isinstance(data, dict) and data.get("schema") == REPORT_SCHEMA and data.get("started_at"):
            data["_folder"] = summary.parent.name
            runs.append(data)
    runs.sort(key=lambda r: r["started_at"])
    return runs


def counts_for(inv: Inventory, run: dict[str, Any]) -> bool:
    """Whether a run is evidence for this inventory's platform: any sandbox run for ``sandbox``, else
    a run against the target of the same name (a staging game day proves nothing about production)."""
    target = run.get("target") or {}
    if inv.platform == "sandbox":
        return target.get("kind", "sandbox") == "sandbox"
    return target.get("kind") != "sandbox" and target.get("name") == inv.platform


def exercised(run: dict[str, Any], experiment_cells: dict[str, list[str]]) -> dict[str, list[str]]:
    """Scenario name -> cells it exercised: as recorded in the run's coverage section, else what its
    experiment claims now."""
    recorded = (run.get("coverage") or {}).get("exercised")
    if isinstance(recorded, dict):
        return {k: list(v) for k, v in recorded.items() if isinstance(v, list)}
    return {s["name"]: list(experiment_cells.get(s.get("experiment", ""), [])) for s in run.get("scenarios", [])}


def _check(scenario: dict[str, Any], name: str, prefix: bool = False) -> dict[str, Any] | None:
    for c in scenario.get("checks", []):
        if c.get("name") == name or (prefix and str(c.get("name", "")).startswith(name)):
            return c
    return None


def evidence(run: dict[str, Any], scenario: dict[str, Any], now: float) -> dict[str, Any]:
    """What one scenario of one game day proves about a cell."""
    rto = _check(scenario, "RTO")
    rpo = _check(scenario, "RPO (records lost)") or _check(scenario, "RPO", prefix=True)
    when = scenario.get("fault_at") or run["started_at"]
    return {
        "run_id": run.get("run_id", run.get("_folder")), "report": f"{run.get('_folder', run.get('run_id'))}/report.html",
        "target": (run.get("target") or {}).get("name"), "suite": run.get("suite"), "scenario": scenario.get("name"),
        "at": when, "age_days": round(max(0.0, now - when) / DAY, 1),
        "passed": bool(scenario.get("passed")), "status": scenario.get("status"),
        "rto_s": rto.get("value") if rto else None, "rto_target_s": rto.get("target") if rto else None,
        "rpo_records": rpo.get("value") if rpo else None, "rpo_target_records": rpo.get("target") if rpo else None,
        "playbook_outcome": (scenario.get("playbook") or {}).get("outcome"),
    }


def status_of(has_experiment: bool, last: dict[str, Any] | None, stale_days: float) -> str:
    if last is None:
        return "untested" if has_experiment else "no-experiment"
    if not last["passed"]:
        return "failed"
    return "stale" if last["age_days"] > stale_days else "ok"


def build(inv: Inventory, found: list[Claim], reports_dir: Path, *, stale_days: float = 30,
          now: float | None = None, extra_runs: list[dict[str, Any]] = ()) -> dict[str, Any]:
    """The ``gameday.coverage/v1`` dict (see the module docstring). ``extra_runs``: report dicts not
    written yet (the game day being reported), counted as if they were; they replace a summary with
    the same run id."""
    now = time.time() if now is None else now
    claimed = by_cell(found)
    experiment_cells: dict[str, list[str]] = {}
    for claim in found:
        if claim.kind == "experiment":
            experiment_cells.setdefault(claim.source, []).append(claim.cell)
    extra_ids = {r.get("run_id") for r in extra_runs}
    all_runs = [r for r in read_runs(reports_dir) if r.get("run_id") not in extra_ids] + list(extra_runs)
    all_runs.sort(key=lambda r: r["started_at"])
    runs = [r for r in all_runs if counts_for(inv, r)]
    history: dict[str, list[dict[str, Any]]] = {}
    trend, seen = [], set()
    cell_ids = {f"{c.id}/{m.id}" for c, m in inv.cells()}
    for run in runs:
        by_scenario = {s["name"]: s for s in run.get("scenarios", [])}
        for name, cells in exercised(run, experiment_cells).items():
            if name not in by_scenario:
                continue
            for cell in cells:
                history.setdefault(cell, []).append(evidence(run, by_scenario[name], now))
                if cell in cell_ids:
                    seen.add(cell)
        trend.append({"run_id": run.get("run_id"), "report": f"{run.get('_folder', run.get('run_id'))}/report.html",
                      "started_at": run["started_at"], "exercised_cells": len(seen),
                      "exercised_ratio": round(len(seen) / len(cell_ids), 3) if cell_ids else 0.0})
    cells = []
    for component, mode in inv.cells():
        key = f"{component.id}/{mode.id}"
        links = claimed.get(key, {"experiments": [], "playbooks": []})
        experiments = sorted(set(mode.experiments) | set(links["experiments"]))
        playbooks = sorted(set(mode.playbooks) | set(links["playbooks"]))
        past = sorted(history.get(key, []), key=lambda e: e["at"])
        last = past[-1] if past else None
        cells.append({"component": component.id, "failure_mode": mode.id, "title": mode.title,
                      "signals": list(mode.signals), "experiments": experiments, "playbooks": playbooks,
                      "has_experiment": bool(experiments), "has_playbook": bool(playbooks),
                      "status": status_of(bool(experiments), last, stale_days), "last": last,
                      "times_exercised": len(past)})
    components = []
    single = single_points_of_failure(inv)
    for component in inv.components:
        mine = [c for c in cells if c["component"] == component.id]
        worst = max((c["status"] for c in mine), key=RANK.__getitem__, default="no-experiment")
        components.append({"id": component.id, "name": component.name, "kind": component.kind,
                           "layer": component.layer, "depends_on": list(component.depends_on), "status": worst,
                           "single_instance": component.id in single,
                           "cells": len(mine), "ok": sum(1 for c in mine if c["status"] == "ok"),
                           "counts": {s: sum(1 for c in mine if c["status"] == s) for s in STATUSES}})
    totals: dict[str, Any] = {"cells": len(cells), **{s: sum(1 for c in cells if c["status"] == s) for s in STATUSES}}
    totals["with_experiment"] = sum(1 for c in cells if c["has_experiment"])
    totals["with_playbook"] = sum(1 for c in cells if c["has_playbook"])
    totals["proven_ratio"] = round(totals["ok"] / len(cells), 3) if cells else 0.0
    return {
        "schema": SCHEMA, "generated_at": now, "stale_days": stale_days,
        "inventory": {"path": str(inv.path) if inv.path else None, "platform": inv.platform,
                      "description": inv.description},
        "reports_dir": str(reports_dir), "runs_counted": len(runs), "runs_skipped": len(all_runs) - len(runs),
        "totals": totals, "components": components, "cells": cells, "trend": trend,
        "single_points_of_failure": [{"component": cid, "members": members} for cid, members in single.items()],
        "zones": zone_survival(inv),
        # both regions and the front when the inventory has a region set (and, for the sandbox, which is active here)
        "regions": region_set.with_live_state(region_set.described(inv), inv),
    }


def single_points_of_failure(inv: Inventory) -> dict[str, list[str]]:
    """Components realised by one instance that cannot scale out and have no standby (``realised_by``:
    ``replicas`` 1, ``max_replicas`` 1, no ``standby``), and components whose members are all in one
    zone (``realised_by.zones``, :mod:`gameday.zones`): losing it (or its zone) loses what it does,
    whatever the experiments prove about bringing it back. Component id -> its member(s)."""
    out = {}
    for c in inv.components:
        rb = c.realised_by or {}
        if rb.get("replicas") == 1 and rb.get("max_replicas", 1) == 1 and not rb.get("standby"):
            out[c.id] = list(rb.get("members") or [])
    for z in zone_survival(inv):
        if z["single_point_of_failure"] and z["component"] not in out:
            out[z["component"]] = [m for members in z["zones"].values() for m in members]
    return out


def zone_survival(inv: Inventory) -> list[dict[str, Any]]:
    """Per component whose ``realised_by`` declares ``zones`` ({zone: [members]}): whether it survives
    losing any one zone, and why (:func:`gameday.zones.survivability`, recomputed: the inventory's own
    ``survives_zone_loss`` is for people). ``[]`` when the inventory declares no zones."""
    out = []
    for c in inv.components:
        declared = (c.realised_by or {}).get("zones")
        if not isinstance(declared, dict):
            continue
        members = {m: z for z, names in declared.items() for m in (names or [])}
        out.append({"name": c.name, "layer": c.layer, **zones.survivability(c.id, members).to_dict()})
    return out
