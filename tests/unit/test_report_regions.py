"""The report's region section, from journals shaped as the region experiments write them: the
timeline is made by the real ``region_timeline`` probe from a playbook's step timings, the RPO from
real ``CanaryReport``s as ``region_rpo`` assembles them. A failover with acknowledged writes lost by
name, a switchover that lost nothing, each figure beside targets.yaml's, and the trend across game days."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from gameday.chaos.region import actions as region_actions
from gameday.chaos.region.probes import region_timeline
from gameday.measure.canary import CanaryReport
from gameday.report import model, regions, render
from tests.unit.test_report import T0

DAY = 86400
RUN = "9f2c1a"  # the canaries' run id (a Canaries run names its records <run>/<layer>/<seq>)


def steps(fault_at: float, spans: list[tuple[str, float, float]]) -> dict[str, dict]:
    """``RecoveryResult.step_timings()`` of a region playbook: each step ending ``end`` s after the fault."""
    return {name: {"status": "done", "seconds": seconds, "did": f"{name} done", "detail": None,
                   "ended_at": fault_at + end} for name, end, seconds in spans}


def timeline(kind: str, fault_at: float, spans, last: dict) -> dict:
    """What the real probe returns after ``fail_over`` or ``switch_over`` recorded their playbook run."""
    region_actions.CANARIES.clear()
    run = {"outcome": "restored", "findings": [], "steps": steps(fault_at, spans), "last": last}
    region_actions.CANARIES.update({kind: run, **({"fault_at": fault_at} if kind == "failover" else {})})
    try:
        return region_timeline()
    finally:
        region_actions.CANARIES.clear()


def rpo(written_to: str, read_from: str, fault_at: float, lost_db: list[int], lost_kafka: list[int]) -> dict:
    """What ``region_rpo`` returns: per layer a CanaryReport's dict, the lost records by name."""
    reports = {}
    for layer, lost, acked in (("kafka", lost_kafka, 120), ("db", lost_db, 118)):
        times = [fault_at - 0.8 + 0.25 * i for i in range(len(lost))]
        reports[layer] = CanaryReport(layer=layer, run=RUN, attempts=acked + 4, acknowledged=acked, failed_writes=4,
                                      lost=lost, lost_span_s=round(max(times) - min(times), 3) if times else 0.0,
                                      first_lost_at=min(times) if times else None,
                                      last_lost_at=max(times) if times else None)
    return {"written_to": written_to, "read_from": read_from,
            "kafka_topic": "gameday-canary" if read_from == written_to else f"{written_to}.gameday-canary",
            "layers": {k: r.to_dict() for k, r in reports.items()},
            "lost": [f"{r.run}/{k}/{seq}" for k, r in reports.items() for seq in r.lost],
            "rpo_records": sum(len(r.lost) for r in reports.values()),
            "rpo_s": max(r.lost_span_s for r in reports.values())}


def record(activity: str, module: str, func: str, output: dict, kind: str = "probe") -> dict:
    return {"activity": {"type": kind, "name": activity, "provider": {"type": "python", "module": module, "func": func}},
            "status": "succeeded", "output": output}


def failover_journal(fault_at: float, *, decide: float = 5.0, scale_up: float = 17.6, lost=([41, 42], [118])) -> dict:
    spans = [("detect", 1.8, 1.6), ("decide", 1.8 + decide, decide), ("scale-up-standby", 1.8 + decide + scale_up, scale_up),
             ("promote-standby", 7.3 + decide + scale_up, 5.5),
             ("switch-front", 8.6 + decide + scale_up, 1.3), ("resume-writes", 9.2 + decide + scale_up, 0.6)]
    tl = timeline("failover", fault_at, spans, {"from": "r1", "to": "r2", "planned": False})
    probes = "gameday.chaos.region.probes"
    acts = "gameday.chaos.region.actions"
    return {"status": "completed", "run": [
        record("start-canaries", acts, "start_region_canaries", {"region": "r1", "run": RUN, "layers": ["kafka", "db"]},
               "action"),
        record("lose-the-active-region", acts, "lose_active_region",
               {"target": "sandbox", "layer": "region", "region": "r1", "standby": "r2",
                "members": ["web-1", "db-1", "kafka-1"], "fault_at": fault_at}, "action"),
        record("what-was-lost", probes, "region_rpo", rpo("r1", "r2", fault_at, *lost)),
        record("region-timeline", probes, "region_timeline", tl),
    ]}


def switchover_journal(started: float) -> dict:
    spans = [("scale-up-standby", 14.0, 14.0), ("stop-writes", 14.4, 0.4), ("wait-caught-up", 16.9, 2.5),
             ("promote-standby", 19.0, 2.1), ("switch-front", 20.2, 1.2), ("resume-writes", 20.5, 0.3),
             ("rebuild-old-as-standby", 52.0, 31.5)]
    tl = timeline("switchover", started, spans,
                  {"from": "r1", "to": "r2", "planned": True, "writes_unavailable_s": 6.1,
                   "redundancy_restored_at": started + 52.0})
    return {"status": "completed", "run": [
        record("what-was-lost", "gameday.chaos.region.probes", "region_rpo", rpo("r1", "r2", started, [], [])),
        record("region-timeline", "gameday.chaos.region.probes", "region_timeline", tl)]}


def region_scenario(name: str, experiment: str, fault_at: float, rto_target: float | None = None) -> model.Scenario:
    checks = [model.Check("RTO", 12.0, rto_target, "s")] if rto_target is not None else []
    return model.Scenario(name=name, title=f"Drill {name}", description="A region drill.", layer="region",
                          experiment=f"experiments/region/{experiment}.yaml", status="completed", fault_at=fault_at,
                          checks=checks, artifacts={"journal": f"journals/{name}.json"})


def write_run(reports: Path, run_id: str, started: float, journals: dict[str, dict], *scenarios: model.Scenario,
              target: str = "sandbox") -> dict:
    report = model.build(run_id=run_id, started_at=started, ended_at=started + 600,
                         target={"name": target, "kind": "sandbox"}, suite="regions", scenarios=list(scenarios),
                         versions={"gameday": "0.1.0"})
    out = reports / run_id
    (out / "journals").mkdir(parents=True)
    for name, journal in journals.items():
        (out / "journals" / f"{name}.json").write_text(json.dumps(journal))
    render.write(report, out)
    return json.loads((out / "summary.json").read_text())


def test_a_failover_names_the_writes_it_lost_and_judges_the_rto_without_the_decision(tmp_path):
    fault = T0 + 100
    saved = write_run(tmp_path / "reports", "run-now", T0, {"lose-region": failover_journal(fault)},
                      region_scenario("lose-region", "lose-region", fault))
    [d] = saved["regions"]["drills"]
    assert (d["kind"], d["from"], d["to"]) == ("failover", "r1", "r2")
    assert [p["phase"] for p in d["phases"]] == ["detect", "decide", "scale-up-standby", "promote-standby",
                                                 "switch-front", "resume-writes"]
    assert d["rto_s"] == pytest.approx(31.2) and d["decision_s"] == 5.0
    figures = {f["name"]: f for f in d["figures"]}
    rto = figures["RTO without the decision"]
    assert rto["value"] == pytest.approx(26.2) and rto["target"] == 60 and rto["met"] is True  # targets.yaml region
    assert figures["RTO with the decision"]["target"] is None and figures["RTO with the decision"]["met"] is None
    lost = figures["RPO (acknowledged writes lost)"]
    assert (lost["value"], lost["target"], lost["met"]) == (3, 0, False)
    assert d["rpo"]["lost"] == [f"{RUN}/kafka/118", f"{RUN}/db/41", f"{RUN}/db/42"]
    assert d["rpo"]["sentence"] == (f"3 acknowledged writes made in r1 in its last 0.8 s before it was lost never "
                                    f"reached r2: {RUN}/kafka/118, {RUN}/db/41, {RUN}/db/42.")
    assert d["met"] is False
    html = (tmp_path / "reports" / "run-now" / "report.html").read_text()
    assert 'id="regions"' in html and 'id="region-lose-region"' in html and 'class="chart region-timeline"' in html
    assert f"never reached r2: {RUN}/kafka/118" in html and 'data-phase="scale-up-standby"' in html
    assert "RTO target 60 s + 5 s decision" in html  # the target line sits after the simulated decision
    assert saved["regions"]["sentences"] == ["Failover took 26.2 s now (target 60 s); the first one measured on "
                                             "this target."]


def test_a_switchover_loses_nothing_and_shows_how_long_writes_were_refused(tmp_path):
    start = T0 + 50
    saved = write_run(tmp_path / "reports", "run-sw", T0, {"switchover": switchover_journal(start)},
                      region_scenario("switchover", "switchover", start))
    [d] = saved["regions"]["drills"]
    figures = {f["name"]: f for f in d["figures"]}
    assert d["kind"] == "switchover" and "RTO with the decision" not in figures
    # a switchover's RTO runs from writes stopped (14.0) to the front switched (20.2); the scale-up is preparation
    assert (figures["RTO"]["value"], figures["RTO"]["target"], figures["RTO"]["met"]) == (6.2, 30, True)
    assert "from writes stopped" in figures["RTO"]["explain"]  # what the figure says it measures
    assert figures["writes unavailable"]["value"] == 6.1 and figures["writes unavailable"]["target"] is None
    assert figures["redundancy restored"]["value"] == 52.0
    assert (figures["RPO (acknowledged writes lost)"]["value"], d["met"]) == (0, True)
    assert d["rpo"]["sentence"] == "Nothing lost: every one of the 238 acknowledged writes made in r1 was read back from r2."
    html = (tmp_path / "reports" / "run-sw" / "report.html").read_text()
    assert "Nothing lost: every one of the 238" in html and "writes refused" in html
    assert 'data-phase="wait-caught-up"' in html and 'data-phase="stop-writes"' in html


def test_a_suites_own_target_wins_over_targets_yaml(tmp_path):
    fault = T0 + 100
    saved = write_run(tmp_path / "reports", "run-o", T0, {"lose-region": failover_journal(fault, scale_up=40.0)},
                      region_scenario("lose-region", "lose-region", fault, rto_target=30))
    rto = saved["regions"]["drills"][0]["figures"][0]
    assert rto["value"] == pytest.approx(48.6) and rto["target"] == 30 and rto["met"] is False


def test_the_trend_says_how_long_the_failover_took_last_time_and_now(tmp_path):
    reports = tmp_path / "reports"
    old, mid, now = T0 - 90 * DAY, T0 - 30 * DAY, T0
    write_run(reports, "run-old", old, {"lose-region": failover_journal(old + 100, scale_up=80.0)},
              region_scenario("lose-region", "lose-region", old + 100))
    # a game day written before the report had a region section: read from its journals
    summary = reports / "run-old" / "summary.json"
    data = json.loads(summary.read_text())
    del data["regions"]
    summary.write_text(json.dumps(data))
    write_run(reports, "run-mid", mid, {"lose-region": failover_journal(mid + 100, scale_up=60.0),
                                        "switchover": switchover_journal(mid + 400)},
              region_scenario("lose-region", "lose-region", mid + 100),
              region_scenario("switchover", "switchover", mid + 400))
    write_run(reports, "run-elsewhere", mid + DAY, {"lose-region": failover_journal(mid + DAY + 100, scale_up=5.0)},
              region_scenario("lose-region", "lose-region", mid + DAY + 100), target="regions-test")
    saved = write_run(reports, "run-now", now, {"lose-region": failover_journal(now + 100)},
                      region_scenario("lose-region", "lose-region", now + 100))
    trend = saved["regions"]["trend"]
    assert [(p["run_id"], p["seconds"]) for p in trend["failover"]] == [
        ("run-old", pytest.approx(88.6)), ("run-mid", pytest.approx(68.6)), ("run-now", pytest.approx(26.2))]
    assert [p["run_id"] for p in trend["switchover"]] == ["run-mid"]  # not measured this time: no sentence
    mid_day = time.strftime("%Y-%m-%d", time.gmtime(mid))
    assert saved["regions"]["sentences"] == [f"Failover took 68.6 s last time ({mid_day}), 26.2 s now (target 60 s)."]
    html = (reports / "run-now" / "report.html").read_text()
    assert 'class="chart region-trend"' in html and html.count("<circle") >= 4
    assert f"Failover took 68.6 s last time ({mid_day}), 26.2 s now" in html


def test_a_run_without_region_drills_has_an_empty_section_and_no_heading(tmp_path):
    from tests.unit.test_report import build, scenario
    report = build(scenario("kill-one-pod", rto_target=30, down_for=3))
    paths = render.write(report, tmp_path / "run")
    saved = json.loads(paths["json"].read_text())
    assert saved["regions"] == {"drills": [], "trend": {"failover": [], "switchover": [], "failback": []},
                                "sentences": []}
    assert 'id="regions"' not in paths["html"].read_text()


def test_an_unreadable_journal_or_a_drill_that_did_not_get_far_is_no_evidence(tmp_path):
    fault = T0 + 100
    journal = failover_journal(fault)
    journal["run"] = [r for r in journal["run"] if r["activity"]["provider"]["func"] != "region_rpo"]
    saved = write_run(tmp_path / "reports", "run-x", T0, {"lose-region": journal, "switchover": {"run": []}},
                      region_scenario("lose-region", "lose-region", fault), region_scenario("switchover", "switchover", fault),
                      region_scenario("gone", "switchover", fault))
    [d] = saved["regions"]["drills"]  # the switchover's journal has no timeline; "gone" has no journal file
    rpo_figure = {f["name"]: f for f in d["figures"]}["RPO (acknowledged writes lost)"]
    assert rpo_figure["value"] is None and rpo_figure["met"] is False and "not measured" in rpo_figure["explain"]
    assert d["rpo"] is None


def test_rpo_not_measured_when_the_read_back_failed():
    layers = {"db": CanaryReport(layer="db", run=RUN, attempts=10, acknowledged=9, failed_writes=1, lost=[],
                                 lost_span_s=0.0, first_lost_at=None, last_lost_at=None,
                                 last_error="read-back failed: OperationalError", unverified=9).to_dict()}
    view = regions.rpo_view({"written_to": "r1", "read_from": "r2", "layers": layers, "lost": [], "rpo_records": None,
                             "rpo_s": None}, kind="failover", fault_at=T0)
    assert view["records"] is None
    assert view["sentence"] == ("RPO not measured: db: 9 acknowledged record(s) could not be read back from r2 "
                                "(read-back failed: OperationalError)")
