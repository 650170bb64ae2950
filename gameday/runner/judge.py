"""The judge: one scenario's run and its objectives -> the report's scenario, its figures beside their targets.

    scenario = judge(run, timeline, suite.slo)     # run: a gameday.runner.scenario.ScenarioRun
    scenario.checks, scenario.status, scenario.error

Figures come from the load timeline (:func:`gameday.measure.recovery.measure`: RTO, time to detect,
availability) and the RPO canaries; targets from the scenario's resolved objectives
(:class:`gameday.runner.suite.Objectives`: targets.yaml, then the suite's overrides). A scenario whose
fault was removed under the run, could not be undone, or whose playbook failed is an error whatever
its figures say. :mod:`gameday.report.model` scores what this returns.
"""

from __future__ import annotations

from typing import Any

import yaml

from ..load.timeline import ALL, Timeline
from ..measure import phases as phase_timeline
from ..measure.recovery import Slo, measure
from ..report import model
from ..report.regions import drill_rto as region_drill_rto
from .scenario import REGION_LAYER, ScenarioRun


def judge(run: ScenarioRun, timeline: Timeline | None, slo: Slo) -> model.Scenario:
    """The report's account of ``run``: status, checks against the scenario's objectives, the
    recovery figures, a per-second series for its chart and the marks on it."""
    spec = run.spec
    doc = yaml.safe_load(spec.experiment.read_text())
    status, error = _status(run)
    checks: list[model.Check] = []
    recovery: dict[str, Any] = {}
    series: list[dict[str, Any]] = []
    edge: dict[str, Any] | None = None
    marks: dict[str, float | None] = {"fault": run.fault_at}
    phases = None
    if run.fault_at:  # the RTO split into phases, from the events (detection and serving again: the timeline's)
        phases = phase_timeline.from_events(run.events, scenario=spec.name, fault_at=run.fault_at, detected_at=None,
                                            serving_at=None, rto_target_s=spec.targets.rto_s, load_measured=False)
    if timeline is not None and run.fault_at:
        # The recorder writes a second once its requests have finished: the last few seconds before
        # the load stopped may be missing, and must not count as failed seconds.
        t_end = min(run.ended, timeline.end or run.ended)
        rec = measure(timeline, t_fault=run.fault_at, t_end=t_end, slo=slo)
        recovery = rec.as_dict()
        marks.update(detected=rec.first_failed_second, recovered=rec.recovered_at)
        phases = phase_timeline.from_events(
            run.events, scenario=spec.name, fault_at=run.fault_at, rto_target_s=spec.targets.rto_s,
            detected_at=None if rec.ttd_s is None else run.fault_at + rec.ttd_s, serving_at=rec.recovered_at,
            never_failed=rec.rto_s == 0.0 and rec.first_failed_second is None)
        checks = _recovery_checks(spec, rec, run.journal)
        checks += _rpo_checks(run, spec.targets.rpo_records)
        edge = _edge(timeline, started=run.started, fault_at=run.fault_at, t_end=t_end)
        for row in timeline.series(ALL, int(run.started) - 5, int(t_end)):
            series.append({"t": row.t, "rps": row.rps, "p95_ms": row.p95_ms,
                           "error_ratio": round(row.failures / row.requests, 4) if row.requests else None})
    elif status == "completed":
        status, error = "error", "no fault instant or no load timeline to measure the scenario against"
    if run.removed_under:
        status, error = "error", ("the fault was removed under this run by someone else, so the scenario "
                                  "proves nothing: " + "; ".join(f"{r['reason']} ({r['why']})"
                                                                 for r in run.removed_under))
    if run.undo_failed:
        status, error = "error", "a fault could not be undone: " + "; ".join(
            f"{f['reason']}: {f['error']}" for f in run.undo_failed)
    playbook = run.playbook
    if playbook is not None:
        if playbook["outcome"] == "failed":
            status, error = "error", f"the {spec.playbook} playbook failed to restore: {playbook.get('error')}"
        playbook = _playbook_view(playbook)
    return model.Scenario(
        name=spec.name, title=doc.get("title", spec.name), playbook=playbook, rpo=run.rpo,
        description=doc.get("description", "").strip(), layer=spec.layer,
        experiment=str(spec.experiment.relative_to(spec.experiment.parents[2])),
        status=status, fault_at=run.fault_at, checks=checks, recovery=recovery, series=series, marks=marks,
        artifacts={"journal": f"journals/{run.journal_path.name}", "log": f"journals/{run.log_path.name}"},
        error=error, phases=phases, edge=edge)


def _edge(timeline: Timeline, *, started: float, fault_at: float, t_end: float) -> dict[str, Any] | None:
    """What the scenario's readers got from the CDN, from their answers' ``X-Cache`` (the timeline's
    ``cdn_hits``): the hit ratio from the scenario's start to the fault and from the fault to its end,
    with the requests counted; None when no answer came through a CDN (the load went to the origin, or
    the CDN sends no ``X-Cache``)."""
    before = timeline.window(int(started), int(fault_at) - 1)
    during = timeline.window(int(fault_at), int(t_end))
    if before.cdn_hit_ratio is None and during.cdn_hit_ratio is None:
        return None
    return {"hit_ratio_before": before.cdn_hit_ratio, "hit_ratio_during": during.cdn_hit_ratio,
            "requests_during": during.requests, "hits_during": during.cdn_hits}


def _recovery_checks(spec, rec, journal: dict[str, Any]) -> list[model.Check]:
    """RTO, time to detect and availability, from the load timeline. A region drill's RTO is the
    drill's own (:func:`gameday.report.regions.drill_rto`: a failover's without the simulated
    decision, as the region section judges it), and the readers' outage seen by the load is reported
    beside it: the timeline counts from the method's start, which for a planned switchover includes
    scaling the standby up while every reader is served. A planned switchover has nothing to detect."""
    availability = model.Check("availability", rec.availability, spec.targets.min_availability, "%",
                               higher_is_better=True, explain="Readers saw errors for longer than allowed.")
    drill = region_drill_rto(journal) if spec.layer == REGION_LAYER else None
    if drill is None:
        never = (f"The site never met its SLO (p95 at most {rec.slo.max_p95_ms:.0f} ms, at least "
                 f"{rec.slo.min_success_ratio:.1%} successful) for {rec.slo.window_s} s in a row after the fault; "
                 f"the longest run was {rec.longest_good_s} s. See the chart.")
        return [model.Check("RTO", rec.rto_s, spec.targets.rto_s, "s",
                            explain=never if rec.rto_s is None else
                            "Find what slowed recovery in the playbook steps and the chart."),
                model.Check("time to detect", rec.ttd_s, None, "s",
                            explain="" if rec.ttd_s is not None else "no second failed the SLO"),
                availability]
    checks = [model.Check("RTO", drill["seconds"], spec.targets.rto_s, "s",  # the name every reader of checks looks up
                          explain=f"{drill['name']}: {drill['explain']}" if drill["seconds"] is not None
                          else "the drill's timeline has no RTO: see its phases"),
              model.Check("readers' outage (load)", rec.failed_seconds, None, "s",
                          explain="seconds that missed the SLO, as the load saw them")]
    if drill["kind"] == "failover":
        checks.append(model.Check("time to detect", rec.ttd_s, None, "s",
                                  explain="" if rec.ttd_s is not None else "no second failed the SLO"))
    return checks + [availability]


def _status(run: ScenarioRun) -> tuple[str, str | None]:
    """The experiment's own outcome: ``completed``, ``interrupted`` or ``error``, and why not completed."""
    journal = run.journal
    status = {"completed": "completed", "interrupted": "interrupted"}.get(journal.get("status"), "error")
    before = (journal.get("steady_states") or {}).get("before") or {}
    if before and not before.get("steady_state_met", True):
        return "error", "the steady state was not met before the fault, so no fault was injected"
    if journal.get("deviated"):
        return "error", "the steady state was not met after the fault"
    if status != "completed":
        return status, f"experiment {journal.get('status', 'did not run')} (see {run.log_path.name})"
    return status, None


def _rpo_checks(run: ScenarioRun, rpo_records: float) -> list[model.Check]:
    """Acknowledged canary records lost (judged) and the time span they cover (reported)."""
    if not run.rpo:
        return []
    rpo = run.rpo
    unread = {k: v for k, v in rpo.items() if v["rpo_records"] is None}
    if unread:  # not measured: a failed check with no figure, never a guess of 0 or of "all lost"
        explain = "RPO not measured: " + "; ".join(
            f"{k}: {v.get('unverified', v['acknowledged'])} acknowledged record(s) could not be read back "
            f"({v.get('last_error') or 'no answer'})" for k, v in unread.items())
        return [model.Check("RPO (records lost)", None, rpo_records, "records", explain=explain),
                model.Check("RPO (time span lost)", None, None, "s")]
    lost = sum(r["rpo_records"] for r in rpo.values())
    return [model.Check("RPO (records lost)", lost, rpo_records, "records",
                        explain="Acknowledged writes did not survive recovery: " + ", ".join(
                            f"{k} seq {v['lost'][:10]}" for k, v in rpo.items() if v["lost"])),
            model.Check("RPO (time span lost)", max(r["rpo_s"] for r in rpo.values()), None, "s")]


def _playbook_view(playbook: dict[str, Any]) -> dict[str, Any]:
    """The playbook's steps as the report shows them (a healthy layer: its diagnosis as one step)."""
    return {"outcome": playbook["outcome"], "steps": [
        {"description": st["description"], "outcome": st["did"] or st["status"], "seconds": st["seconds"]}
        for st in playbook["steps"]] or [{"description": "diagnose: nothing to restore",
                                           "outcome": playbook["outcome"], "seconds": playbook["diagnose_s"]}]}
