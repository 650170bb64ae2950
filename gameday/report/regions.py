"""The report's region section: each region drill of the run (``experiments/region/``), read from its
scenario's chaos journal (the ``region_timeline`` and ``region_rpo`` probes of
:mod:`gameday.chaos.region.probes`, and ``lose_active_region``'s fault instant), each figure beside
its target (``targets.yaml``, layer ``region``: a switchover's RTO 30 s; a failover's 60 s, without the
simulated decision), and the trend across game days from earlier runs' ``summary.json``.

    report["regions"] = section(report, run_folder, reports_dir)
    # {"drills": [drill, ...], "trend": {"failover": [point, ...], "switchover": [...]}, "sentences": [...]}
    # drill: {"scenario", "title", "kind", "from", "to", "phases": [...], "figures": [...], "rpo": {...},
    #         "rto_s", "rto_without_decision_s", "decision_s", "writes_unavailable_s", "redundancy_restored_s", ...}

Nothing here raises for a missing or unreadable journal: a drill that left no evidence is not in the
section (the scenario's own status says why). Pure apart from reading files.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from ..coverage.matrix import read_runs
from ..errors import GamedayError

MODULE = "gameday.chaos.region.probes"
ACTIONS = "gameday.chaos.region.actions"
LAYER = "region"
KINDS = ("failover", "switchover")
SHOWN_NAMES = 50  # lost records named in the sentence; the JSON keeps every one

# The playbook's phases (gameday.recovery.layers.region) in words
PHASE_LABELS = {
    "detect": "detect", "decide": "decide (simulated human decision)", "rebuild-standby": "rebuild the standby",
    "scale-up-standby": "scale up the standby", "stop-writes": "stop writes", "wait-caught-up": "wait until caught up",
    "promote-standby": "promote the standby", "switch-front": "switch the front", "resume-writes": "resume writes",
    "rebuild-old-as-standby": "rebuild the old region as standby", "scale-down-old": "scale the new standby down",
    "verify-readers": "verify readers",
}


def _journal(run_folder: Path, scenario: dict[str, Any]) -> dict[str, Any] | None:
    rel = (scenario.get("artifacts") or {}).get("journal")
    if not rel:
        return None
    try:
        journal = json.loads((run_folder / rel).read_text())
    except (OSError, ValueError):
        return None  # not evidence
    return journal if isinstance(journal, dict) else None


def _outputs(journal: dict[str, Any], module: str, func: str) -> list[dict[str, Any]]:
    out = []
    for r in journal.get("run", []) or []:
        provider = (r.get("activity") or {}).get("provider") or {}
        if provider.get("module") == module and provider.get("func") == func and isinstance(r.get("output"), dict):
            out.append(r["output"])
    return out


def _check(scenario: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((c for c in scenario.get("checks", []) if c.get("name") == name), None)


def targets_for(report: dict[str, Any], scenario: dict[str, Any], targets: Any = None) -> dict[str, Any]:
    """The drill's objectives: ``targets.yaml``'s for layer region, the environment and the experiment
    (``switchover`` or ``lose-region``), then what the scenario was judged against (a suite's override).
    ``{"rto_s", "rpo_records", "error"}``: None where they could not be read."""
    stem = Path(str(scenario.get("experiment", ""))).stem
    out: dict[str, Any] = {"rto_s": None, "rpo_records": None, "error": None}
    try:
        if targets is None:
            from ..recovery import targets_yaml
            targets = targets_yaml.load()
        t = targets.for_layer(LAYER, environment=(report.get("target") or {}).get("name"), scenario=stem)
        out.update(rto_s=t.rto_s, rpo_records=t.rpo_records)
    except GamedayError as err:
        out["error"] = str(err)
    if scenario.get("layer") == LAYER:
        for key, name in (("rto_s", "RTO"), ("rpo_records", "RPO (records lost)")):
            c = _check(scenario, name)
            if c and c.get("target") is not None:
                out[key] = c["target"]
    return out


def _figure(name: str, value: float | None, target: float | None, unit: str, explain: str = "") -> dict[str, Any]:
    met = None if target is None else (False if value is None else value <= target)
    return {"name": name, "value": value, "target": target, "unit": unit, "met": met, "explain": explain}


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def rpo_view(rpo: dict[str, Any], *, kind: str, fault_at: float | None) -> dict[str, Any]:
    """The RPO in plain words: how many acknowledged writes never reached the region that took over,
    made in how many seconds before the loss, and their names (``<run>/<layer>/<seq>``)."""
    layers = rpo.get("layers") or {}
    written, read = rpo.get("written_to") or "the old region", rpo.get("read_from") or "the new region"
    acknowledged = sum(int(v.get("acknowledged") or 0) for v in layers.values())
    names = list(rpo.get("lost") or [])
    records = rpo.get("rpo_records")
    firsts = [v["first_lost_at"] for v in layers.values() if v.get("first_lost_at") is not None]
    window = round(fault_at - min(firsts), 2) if fault_at is not None and firsts else rpo.get("rpo_s")
    if records is None:
        unread = {k: v for k, v in layers.items() if v.get("rpo_records") is None}
        sentence = ("RPO not measured: " + "; ".join(
            f"{k}: {v.get('unverified', v.get('acknowledged'))} acknowledged record(s) could not be read back from "
            f"{read} ({v.get('last_error') or 'no answer'})" for k, v in unread.items())) if unread else \
            "RPO not measured: the records could not be read back"
    elif records == 0:
        sentence = (f"Nothing lost: every one of the {acknowledged} acknowledged writes made in {written} "
                    f"was read back from {read}.")
    else:
        when = (f"in its last {window:.1f} s before it was lost" if kind == "failover" and fault_at is not None
                and window is not None else f"within {_seconds(window)}")
        shown = ", ".join(names[:SHOWN_NAMES]) + (f" and {len(names) - SHOWN_NAMES} more" if len(names) > SHOWN_NAMES
                                                    else "")
        sentence = (f"{records} acknowledged write{'s' if records != 1 else ''} made in {written} {when} "
                    f"never reached {read}: {shown}.")
    return {"records": records, "span_s": rpo.get("rpo_s"), "window_s": window, "acknowledged": acknowledged,
            "lost": names, "written_to": rpo.get("written_to"), "read_from": rpo.get("read_from"),
            "sentence": sentence,
            "layers": {k: {"acknowledged": v.get("acknowledged"), "lost": list(v.get("lost") or []),
                           "failed_writes": v.get("failed_writes"), "rpo_records": v.get("rpo_records"),
                           "lost_span_s": v.get("lost_span_s")} for k, v in layers.items()}}


def drill_rto(journal: dict[str, Any]) -> dict[str, Any] | None:
    """The RTO a region drill is judged by, from its journal's last ``region_timeline``:
    ``{"kind", "name", "seconds", "explain"}`` (a failover's without the simulated decision, a
    switchover's from its start), or None when the journal holds no region timeline. The report's
    region section and the scenario's RTO check (:func:`gameday.runner.judge.judge`) both use it."""
    timelines = _outputs(journal, MODULE, "region_timeline")
    if not timelines:
        return None
    tl = timelines[-1]
    kind = tl.get("kind") if tl.get("kind") in KINDS else "failover"
    if kind == "failover":
        return {"kind": kind, "name": "RTO without the decision", "seconds": tl.get("rto_without_decision_s"),
                "explain": "readers served by the new region, after the fault less the simulated decision"}
    return {"kind": kind, "name": "RTO", "seconds": tl.get("rto_s"),
            "explain": "readers served by the new region, after the fault (from the switchover's start)"}


def drill(report: dict[str, Any], scenario: dict[str, Any], journal: dict[str, Any],
          targets: Any = None) -> dict[str, Any] | None:
    """One region drill of one scenario, from its journal; None when the journal holds no region timeline."""
    rto = drill_rto(journal)
    if rto is None:
        return None
    tl = _outputs(journal, MODULE, "region_timeline")[-1]
    kind = rto["kind"]
    rpos = _outputs(journal, MODULE, "region_rpo")
    lost = _outputs(journal, ACTIONS, "lose_active_region")
    fault_at = next((o["fault_at"] for o in lost if o.get("fault_at")), None)
    goal = targets_for(report, scenario, targets)
    phases = sorted(({**p, "label": PHASE_LABELS.get(p.get("phase"), str(p.get("phase")))} for p in tl.get("phases") or []),
                    key=lambda p: p.get("start_s") or 0.0)  # in the order they ran
    judged = rto["seconds"]
    figures = [_figure(rto["name"], judged, goal["rto_s"], "s", rto["explain"])]
    if kind == "failover":
        figures.append(_figure("RTO with the decision", tl.get("rto_s"), None, "s",
                               f"including {_seconds(tl.get('decision_s'))} of simulated human decision"))
    rpo = rpo_view(rpos[-1], kind=kind, fault_at=fault_at) if rpos else None
    figures.append(_figure("RPO (acknowledged writes lost)", rpo["records"] if rpo else None, goal["rpo_records"],
                           "records", rpo["sentence"] if rpo else "not measured: no region_rpo probe in the journal"))
    figures.append(_figure("writes unavailable", tl.get("writes_unavailable_s"), None, "s",
                           "writes refused, from stop-writes (or the loss) until the new region accepted them"))
    figures.append(_figure("redundancy restored", tl.get("redundancy_restored_s"), None, "s",
                           "the old region replicating again as the standby"))
    return {"scenario": scenario.get("name"), "title": scenario.get("title"), "kind": kind,
            "from": tl.get("from"), "to": tl.get("to"), "fault_at": fault_at or scenario.get("fault_at"),
            "phases": phases, "rto_s": tl.get("rto_s"), "rto_without_decision_s": tl.get("rto_without_decision_s"),
            "decision_s": tl.get("decision_s"), "writes_unavailable_s": tl.get("writes_unavailable_s"),
            "redundancy_restored_s": tl.get("redundancy_restored_s"), "judged_rto_s": judged,
            "targets": goal, "figures": figures, "rpo": rpo,
            "met": all(f["met"] is not False for f in figures)}


def drills(report: dict[str, Any], run_folder: Path, targets: Any = None, *,
           region_layer_only: bool = False) -> list[dict[str, Any]]:
    """Every region drill of the run's scenarios (their journals under ``run_folder``), in scenario
    order; ``region_layer_only``: read only the journals of scenarios of layer region (an earlier run's)."""
    out = []
    for s in report.get("scenarios", []):
        if region_layer_only and s.get("layer") != LAYER:
            continue
        journal = _journal(run_folder, s)
        d = drill(report, s, journal, targets) if journal else None
        if d:
            out.append(d)
    return out


def _same_platform(a: dict[str, Any], b: dict[str, Any]) -> bool:
    ta, tb = a.get("target") or {}, b.get("target") or {}
    return ta.get("name") == tb.get("name") and ta.get("kind", "sandbox") == tb.get("kind", "sandbox")


def trend(report: dict[str, Any], mine: list[dict[str, Any]], reports_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """Per kind, the judged RTO of every drill of earlier game days against the same target (their
    ``summary.json``'s region section, or their journals when they were written before it), oldest
    first, then this run's."""
    points: dict[str, list[dict[str, Any]]] = {k: [] for k in KINDS}

    def add(run: dict[str, Any], found: list[dict[str, Any]]) -> None:
        for d in found:
            if d.get("kind") in points:
                points[d["kind"]].append({"run_id": run.get("run_id"), "started_at": run.get("started_at"),
                                          "when": time.strftime("%Y-%m-%d", time.gmtime(run.get("started_at") or 0)),
                                          "scenario": d.get("scenario"), "seconds": d.get("judged_rto_s"),
                                          "target": (d.get("targets") or {}).get("rto_s"),
                                          "rpo_records": (d.get("rpo") or {}).get("records"),
                                          "this_run": run.get("run_id") == report.get("run_id")})

    for run in read_runs(reports_dir):
        if run.get("run_id") == report.get("run_id") or not _same_platform(run, report):
            continue
        if run.get("started_at", 0) > report.get("started_at", 0):
            continue  # a later game day is not history for this one
        earlier = (run.get("regions") or {}).get("drills")
        if earlier is None:
            earlier = drills(run, reports_dir / run["_folder"], region_layer_only=True)
        add(run, earlier)
    add(report, mine)
    return points


def trend_sentences(points: dict[str, list[dict[str, Any]]]) -> list[str]:
    """``Failover took 95.0 s last time (2027-01-08), 41.2 s now (target 60 s).``, per kind this run measured."""
    out = []
    for kind, series in points.items():
        now = [p for p in series if p["this_run"]]
        before = [p for p in series if not p["this_run"] and p["seconds"] is not None]
        if not now:
            continue
        last = now[-1]
        target = f" (target {last['target']:g} s)" if last["target"] is not None else ""
        took = "did not finish" if last["seconds"] is None else f"took {last['seconds']:.1f} s"
        if before:
            prev = before[-1]
            out.append(f"{kind.capitalize()} took {prev['seconds']:.1f} s last time ({prev['when']}), "
                       f"{took.replace('took ', '')} now{target}.")
        else:
            out.append(f"{kind.capitalize()} {took} now{target}; the first one measured on this target.")
    return out


def section(report: dict[str, Any], run_folder: Path, reports_dir: Path | None = None) -> dict[str, Any]:
    """The region section of a report being written to ``run_folder`` (earlier runs: ``reports_dir``,
    default its parent). Empty lists when the run had no region drill."""
    mine = drills(report, run_folder)
    points = trend(report, mine, reports_dir or run_folder.parent) if mine else {k: [] for k in KINDS}
    return {"drills": mine, "trend": points, "sentences": trend_sentences(points)}
