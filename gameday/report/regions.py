"""The report's region section: each region drill of the run (``experiments/region/``), read from its
scenario's chaos journal (the ``region_timeline`` and ``region_rpo`` probes of
:mod:`gameday.chaos.region.probes`, and ``lose_active_region``'s fault instant), each figure beside
its target (``targets.yaml``, layer ``region``: a switchover's RTO 30 s; a failover's 60 s, without the
simulated decision), and the trend across game days from earlier runs' ``summary.json``. A failback
(the ``fail_back`` action's playbook run: the lost region rebuilt as the standby, caught up and switched
back to) is a drill of its own, timed by the same :func:`gameday.measure.region_timeline.timeline` and
judged as a planned switchover.

    report["regions"] = section(report, run_folder, reports_dir)
    # {"drills": [drill, ...], "trend": {"failover": [point, ...], "switchover": [...], "failback": [...]},
    #  "sentences": [...]}
    # drill: {"id", "scenario", "title", "kind", "from", "to", "phases": [...], "figures": [...], "rpo": {...},
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
from ..measure.region_timeline import timeline as region_timeline

MODULE = "gameday.chaos.region.probes"
ACTIONS = "gameday.chaos.region.actions"
LAYER = "region"
KINDS = ("failover", "switchover", "failback")
FAILBACK_TARGETS = "switchover"  # targets.yaml's scenario a failback is judged by: it is a planned switchover
SHOWN_NAMES = 50  # lost records named in the sentence; the JSON keeps every one

# The playbook's phases (gameday.recovery.layers.region) in words
PHASE_LABELS = {
    "detect": "detect", "decide": "decide (simulated human decision)", "rebuild-standby": "rebuild the standby",
    "scale-up-standby": "scale up the standby", "stop-writes": "stop writes", "wait-caught-up": "wait until caught up",
    "promote-standby": "promote the standby", "switch-front": "switch the front", "resume-writes": "resume writes",
    "flush-site-caches": "flush the site's caches",
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


def _outputs(journal: dict[str, Any], module: str, func: str, *, rollbacks: bool = False) -> list[dict[str, Any]]:
    out = []
    for r in (journal.get("run", []) or []) + ((journal.get("rollbacks") or []) if rollbacks else []):
        provider = (r.get("activity") or {}).get("provider") or {}
        if provider.get("module") == module and provider.get("func") == func and isinstance(r.get("output"), dict):
            out.append(r["output"])
    return out


def _check(scenario: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((c for c in scenario.get("checks", []) if c.get("name") == name), None)


def targets_for(report: dict[str, Any], scenario: dict[str, Any], targets: Any = None, *,
                stem: str | None = None) -> dict[str, Any]:
    """The drill's objectives: ``targets.yaml``'s for layer region, the environment and the experiment
    (``switchover`` or ``lose-region``), then what the scenario was judged against (a suite's override).
    ``stem``: another experiment's objectives (a failback's are the switchover's), without the scenario's
    own (it was judged for its failover). ``{"rto_s", "rpo_records", "error"}``: None where they could
    not be read."""
    own = stem is None
    stem = Path(str(scenario.get("experiment", ""))).stem if own else stem
    out: dict[str, Any] = {"rto_s": None, "rpo_records": None, "error": None}
    try:
        if targets is None:
            from ..recovery import targets_yaml
            targets = targets_yaml.load()
        t = targets.for_layer(LAYER, environment=(report.get("target") or {}).get("name"), scenario=stem)
        out.update(rto_s=t.rto_s, rpo_records=t.rpo_records)
    except GamedayError as err:
        out["error"] = str(err)
    if own and scenario.get("layer") == LAYER:
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
                    f"never reached {read}: {shown}." + unmirrored_words(rpo.get("unmirrored")))
    return {"records": records, "span_s": rpo.get("rpo_s"), "window_s": window, "acknowledged": acknowledged,
            "lost": names, "written_to": rpo.get("written_to"), "read_from": rpo.get("read_from"),
            "sentence": sentence, "unmirrored": rpo.get("unmirrored"),
            "layers": {k: {"acknowledged": v.get("acknowledged"), "lost": list(v.get("lost") or []),
                           "failed_writes": v.get("failed_writes"), "rpo_records": v.get("rpo_records"),
                           "lost_span_s": v.get("lost_span_s")} for k, v in layers.items()}}


def unmirrored_words(unmirrored: Any) -> str:
    """`` Kafka: r2 had acknowledged 3 records MirrorMaker never copied to r1/r2.gameday-canary:
    gameday-canary partition 0 offsets 412-414 (copied through 411).`` from the RPO's ``unmirrored``
    (:func:`gameday.chaos.region.rpo.unmirrored`); "" when it names nothing."""
    if not isinstance(unmirrored, dict) or not unmirrored.get("count"):
        return ""
    parts = []
    for p in unmirrored.get("partitions") or []:
        span = (f"offset {p['first_offset']}" if p["first_offset"] == p["last_offset"]
                else f"offsets {p['first_offset']}-{p['last_offset']}")
        copied = ("nothing copied" if p.get("copied_through_offset") is None
                  else f"copied through {p['copied_through_offset']}")
        parts.append(f"{unmirrored.get('topic')} partition {p['partition']} {span} ({copied})")
    count = unmirrored["count"]
    return (f" Kafka: {unmirrored.get('region')} had acknowledged {count} record{'s' if count != 1 else ''} "
            f"MirrorMaker never copied to {unmirrored.get('mirrored_to')}"
            + (f": {'; '.join(parts)}." if parts else "."))


def drill_rto(journal: dict[str, Any]) -> dict[str, Any] | None:
    """The RTO a region drill is judged by, from its journal's last ``region_timeline``:
    ``{"kind", "name", "seconds", "explain"}`` (a failover's without the simulated decision, a
    switchover's from writes stopped), or None when the journal holds no region timeline. The report's
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
            "explain": "readers served by the new region, from writes stopped (scaling up before it is "
                       "preparation, readers still served)"}


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
    return {"id": scenario.get("name"), "scenario": scenario.get("name"), "title": scenario.get("title"), "kind": kind,
            "from": tl.get("from"), "to": tl.get("to"), "fault_at": fault_at or scenario.get("fault_at"),
            "phases": phases, "rto_s": tl.get("rto_s"), "rto_without_decision_s": tl.get("rto_without_decision_s"),
            "decision_s": tl.get("decision_s"), "writes_unavailable_s": tl.get("writes_unavailable_s"),
            "redundancy_restored_s": tl.get("redundancy_restored_s"), "judged_rto_s": judged,
            "targets": goal, "figures": figures, "rpo": rpo,
            "met": all(f["met"] is not False for f in figures)}


def failback_runs(journal: dict[str, Any]) -> list[dict[str, Any]]:
    """Each failback the journal's ``fail_back`` action ran (in the method, or as its rollback):
    :func:`gameday.chaos.region.restore.restore_region`'s result, its ``playbook`` the region
    playbook's run. A ``fail_back`` that found nothing to restore ran no failback."""
    return [r for o in _outputs(journal, ACTIONS, "fail_back", rollbacks=True) for r in o.get("restored") or []
            if isinstance(r, dict) and isinstance(r.get("playbook"), dict)]


def _caught_up(last: dict[str, Any]) -> str:
    done = last.get("caught_up") or {}
    if not done:
        return ""
    kafka = "not measured" if done.get("kafka_s") is None else f"{done['kafka_s']} s"
    return f" (database {done.get('db_s')} s, Kafka {kafka})"


def failback_drill(report: dict[str, Any], scenario: dict[str, Any], restored: dict[str, Any],
                   fault_at: float | None, targets: Any = None, *, index: int = 0) -> dict[str, Any]:
    """The failback of one ``restore_region`` result: the lost region rebuilt as the standby, caught up
    and switched back to, its phases in seconds after the failback's start, its RTO (writes stopped ->
    readers served by the region switched back to) and its RPO (the canaries ``restore_region`` wrote
    in the region being left and read back from the region switched back to, ``restored["rpo"]``)
    beside the switchover's targets. A result without canaries (written before they were) says its
    RPO was not measured, and what the failback waited for instead."""
    run = restored["playbook"]
    tl = region_timeline(run, kind="failback")
    last = run.get("last") or {}
    phases = sorted(({**p, "label": PHASE_LABELS.get(p.get("phase"), str(p.get("phase")))} for p in tl["phases"]),
                    key=lambda p: p.get("start_s") or 0.0)
    goal = targets_for(report, scenario, targets, stem=FAILBACK_TARGETS)
    after = None if fault_at is None or tl.get("origin_at") is None else round(tl["origin_at"] - fault_at, 2)
    to = tl.get("to") or restored.get("region")
    waited = "wait-caught-up" in {p["phase"] for p in phases}
    measured = restored.get("rpo") if isinstance(restored.get("rpo"), dict) else None
    if measured:
        rpo = rpo_view(measured, kind="failback", fault_at=None)
        rpo_figure = _figure("RPO (acknowledged writes lost)", rpo["records"], goal["rpo_records"], "records",
                             rpo["sentence"])
    else:
        unmeasured = ("RPO not measured by canaries (this failback ran none): "
                      + (f"writes stopped and {to} had every write before it was promoted{_caught_up(last)}."
                         if waited else "the failback did not record waiting until it had every write."))
        rpo = {"records": None, "sentence": unmeasured, "layers": {}, "lost": []}
        rpo_figure = _figure("RPO (acknowledged writes lost)", None, None, "records", unmeasured)
    figures = [
        _figure("RTO", tl.get("rto_s"), goal["rto_s"], "s",
                f"readers served by {to} again, from writes stopped (judged as a planned switchover)"),
        rpo_figure,
        _figure("writes unavailable", tl.get("writes_unavailable_s"), None, "s",
                "writes refused, from stop-writes until the region switched back to accepted them"),
        _figure("redundancy restored", tl.get("redundancy_restored_s"), None, "s",
                "after the failback's start: the region that took over replicating again as the standby"),
        _figure("failback started", after, None, "s", "after the region was lost"),
    ]
    name = str(scenario.get("name"))
    return {"id": f"{name}-failback" + (f"-{index + 1}" if index else ""), "scenario": name,
            "title": scenario.get("title"), "kind": "failback", "from": tl.get("from"), "to": to,
            "fault_at": tl.get("origin_at"), "started_after_fault_s": after, "phases": phases,
            "rto_s": tl.get("rto_s"), "rto_without_decision_s": tl.get("rto_s"), "decision_s": 0.0,
            "writes_unavailable_s": tl.get("writes_unavailable_s"), "prepare_s": tl.get("prepare_s"),
            "redundancy_restored_s": tl.get("redundancy_restored_s"), "judged_rto_s": tl.get("rto_s"),
            "outcome": run.get("outcome"), "targets": goal, "figures": figures,
            "rpo": rpo, "met": all(f["met"] is not False for f in figures)}


def scenario_drills(report: dict[str, Any], scenario: dict[str, Any], journal: dict[str, Any],
                    targets: Any = None) -> list[dict[str, Any]]:
    """The drills of one scenario's journal: its failover or switchover, then each failback it ran."""
    out = []
    d = drill(report, scenario, journal, targets)
    if d:
        out.append(d)
    lost = _outputs(journal, ACTIONS, "lose_active_region")
    fault_at = next((o["fault_at"] for o in lost if o.get("fault_at")), None)
    for i, restored in enumerate(failback_runs(journal)):
        out.append(failback_drill(report, scenario, restored, fault_at, targets, index=i))
    return out


def drills(report: dict[str, Any], run_folder: Path, targets: Any = None, *,
           region_layer_only: bool = False) -> list[dict[str, Any]]:
    """Every region drill of the run's scenarios (their journals under ``run_folder``), in scenario
    order; ``region_layer_only``: read only the journals of scenarios of layer region (an earlier run's)."""
    out = []
    for s in report.get("scenarios", []):
        if region_layer_only and s.get("layer") != LAYER:
            continue
        journal = _journal(run_folder, s)
        if journal:
            out.extend(scenario_drills(report, s, journal, targets))
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
    """``Failover took 95.0 s last time (2027-01-08), 41.2 s now (target 60 s).``, per kind this run measured
    (a failback's sentence too)."""
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
