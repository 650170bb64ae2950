"""A region move's RTO split by phase, from one run of the region playbook (its step timings and what it
recorded): the failover, the planned switchover and the failback are all read the same way.

    tl = timeline(run, kind="failover", origin=fault_at)    # run: gameday.chaos.region.run_region_playbook's dict
    tl = timeline(run, kind="switchover")                   # origin: the move's first step
    tl["phases"]   # [{"phase", "start_s", "end_s", "seconds", "status", "detail"}], seconds after the origin
    tl["rto_s"]    # a failover: origin -> the front switched; a switchover or failback: writes stopped -> switched

Used by the ``region_timeline`` probe (:mod:`gameday.chaos.region.probes`) for the drill an experiment
ran, and by the report (:mod:`gameday.report.regions`) for the failback, whose playbook run is in the
``fail_back`` action's output. Pure: no I/O, no clock.
"""

from __future__ import annotations

from typing import Any

KINDS = ("failover", "switchover", "failback")
# The region playbook's phases (gameday.recovery.layers.region), in the order they run
PHASES = ("detect", "decide", "rebuild-standby", "scale-up-standby", "stop-writes", "wait-caught-up",
          "promote-standby", "switch-front", "resume-writes", "rebuild-old-as-standby", "scale-down-old")


def _start(step: dict[str, Any]) -> float | None:
    return None if not step.get("ended_at") else step["ended_at"] - (step.get("seconds") or 0)


def timeline(run: dict[str, Any], *, kind: str, origin: float | None = None) -> dict[str, Any]:
    """``run``: ``{"steps": {name: {"status", "seconds", "detail", "ended_at"}}, "last": {...}}`` (the
    playbook's ``step_timings()`` and ``gameday.recovery.layers.region.LAST``). ``origin`` (epoch
    seconds): the fault; left out, the first step's start. Returns ``{"kind", "from", "to", "phases",
    "rto_s", "rto_without_decision_s", "decision_s", "writes_unavailable_s", "prepare_s",
    "redundancy_restored_s", "origin_at"}``; a switchover's or failback's RTO runs from writes stopped
    (what came before, ``prepare_s``, is preparation while readers are served); ``rto_s`` is None when
    the front's switch did not run or failed (the move did not finish)."""
    if kind not in KINDS:
        raise ValueError(f"a region timeline is one of {', '.join(KINDS)}, not {kind!r}")
    steps = run.get("steps") or {}
    starts = [s for s in (_start(step) for step in steps.values()) if s is not None]
    if origin is None:
        origin = min(starts) if starts else None
    phases = []
    for name in PHASES:
        s = steps.get(name)
        if not s or not s.get("ended_at") or origin is None:
            continue
        end = s["ended_at"] - origin
        phases.append({"phase": name, "start_s": round(end - (s.get("seconds") or 0), 2) + 0.0, "end_s": round(end, 2),
                       "seconds": s.get("seconds"), "status": s.get("status"), "detail": s.get("detail")})
    # readers are served by the new region once the front's switch succeeded; a failed switch is no RTO
    served = next((p["end_s"] for p in phases if p["phase"] == "switch-front" and p["status"] != "failed"), None)
    stopped = next((p["start_s"] for p in phases if p["phase"] == "stop-writes"), None)
    if served is not None and stopped is not None:  # a planned move: readers and writers are affected from
        served = round(served - stopped, 2)          # the moment writes stop; scaling up before is preparation
    decision = next((p["seconds"] for p in phases if p["phase"] == "decide"), 0.0) or 0.0
    last = run.get("last") or {}
    restored = last.get("redundancy_restored_at")
    return {"kind": kind, "from": last.get("from"), "to": last.get("to"), "phases": phases, "rto_s": served,
            "rto_without_decision_s": None if served is None else round(served - decision, 2),
            "decision_s": decision, "writes_unavailable_s": last.get("writes_unavailable_s"),
            "prepare_s": stopped, "origin_at": origin,
            "redundancy_restored_s": None if restored is None or origin is None else round(restored - origin, 2)}
