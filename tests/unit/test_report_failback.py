"""The failback in the report's region section: the region-lost drill's ``fail_back`` action (the lost
region rebuilt as the standby, caught up and switched back to) becomes a drill of its own, its phases
timed by the same ``gameday.measure.region_timeline.timeline`` as the failover's (which the real
``region_timeline`` probe makes), its RTO judged as a planned switchover. The journals are shaped as the
region experiments write them (``tests/unit/test_report_regions.py``); the failback's output is what
``fail_back`` returns: ``restore_region``'s result around ``run_region_playbook``'s dict."""

from __future__ import annotations

import json

import pytest

from gameday.report import regions
from tests.unit.test_report import T0
from tests.unit.test_report_regions import failover_journal, record, region_scenario, steps, write_run

ACTIONS = "gameday.chaos.region.actions"
FAILBACK_AFTER_S = 70.0  # the failback starts this long after the region was lost
# the failback's playbook steps: (phase, ends s after the failback's start, took s)
FAILBACK = [("rebuild-standby", 40.3, 40.3), ("scale-up-standby", 49.8, 9.5), ("stop-writes", 49.9, 0.1),
            ("wait-caught-up", 51.1, 1.2), ("promote-standby", 51.2, 0.1), ("switch-front", 51.7, 0.5),
            ("resume-writes", 51.8, 0.1), ("rebuild-old-as-standby", 53.0, 1.2), ("scale-down-old", 61.5, 8.5)]


def fail_back_output(started: float, spans=FAILBACK, *, to: str = "r1", came_from: str = "r2") -> dict:
    """What ``fail_back`` returns after the undo of a lost region ran its failback."""
    playbook = {"outcome": "restored", "findings": ["region.standby-not-replicating", "region.switchover-requested"],
                "steps": steps(started, spans), "rto": None,
                "last": {"from": came_from, "to": to, "planned": True, "writes_stopped_at": started + 49.8,
                         "writes_resumed_at": started + 51.8, "writes_unavailable_s": 2.0,
                         "caught_up": {"db_s": 0.9, "kafka_s": 1.2}, "redundancy_restored_at": started + 53.0}}
    return {"layer": "region", "active": to,
            "restored": [{"region": to, "started": ["web-1", "db-1"], "playbook": playbook, "active": to,
                          "existed": True}]}


def lost_and_failed_back(fault: float, *, in_rollbacks: bool = False) -> dict:
    journal = failover_journal(fault)
    done = record("fail-back", ACTIONS, "fail_back", fail_back_output(fault + FAILBACK_AFTER_S), "action")
    if in_rollbacks:  # the method's fail-back failed; the rollback did it
        journal["run"].append({**record("fail-back", ACTIONS, "fail_back", {}, "action"), "status": "failed",
                               "output": None})
        journal["rollbacks"] = [done]
    else:
        journal["run"].append(done)
        journal["rollbacks"] = [record("fail-back", ACTIONS, "fail_back",
                                       {"layer": "region", "restored": [], "active": "r1"}, "action")]
    return journal


def test_the_failback_is_a_drill_with_its_phases_timed_from_its_start(tmp_path):
    fault = T0 + 100
    saved = write_run(tmp_path / "reports", "run-fb", T0, {"lose-region": lost_and_failed_back(fault)},
                      region_scenario("lose-region", "lose-region", fault))
    failover, failback = saved["regions"]["drills"]  # the rollback's fail_back found nothing left: no third
    assert failover["kind"] == "failover" and failover["id"] == "lose-region"
    assert (failback["kind"], failback["id"], failback["scenario"]) == ("failback", "lose-region-failback", "lose-region")
    assert (failback["from"], failback["to"]) == ("r2", "r1")
    assert str(failback["phases"][0]["start_s"]) == "0.0"  # not -0.0
    assert [(p["phase"], p["start_s"], p["end_s"]) for p in failback["phases"]] == [
        (name, pytest.approx(end - took), pytest.approx(end)) for name, end, took in FAILBACK]
    assert failback["phases"][0]["label"] == "rebuild the standby"
    figures = {f["name"]: f for f in failback["figures"]}
    # writes stopped at +49.8 s, the front switched back at +51.7 s; the standby's rebuild and scale-up before
    # are preparation, as in a switchover, and judged against the switchover's target (targets.yaml: 30 s)
    assert (figures["RTO"]["value"], figures["RTO"]["target"], figures["RTO"]["met"]) == (pytest.approx(1.9), 30, True)
    assert failback["prepare_s"] == pytest.approx(49.8)
    assert figures["writes unavailable"]["value"] == 2.0
    assert figures["redundancy restored"]["value"] == pytest.approx(53.0)
    assert figures["failback started"]["value"] == pytest.approx(FAILBACK_AFTER_S)
    rpo = figures["RPO (acknowledged writes lost)"]
    assert rpo["value"] is None and rpo["target"] is None and rpo["met"] is None
    assert "r1 had every write before it was promoted (database 0.9 s, Kafka 1.2 s)" in rpo["explain"]
    assert failback["met"] is True and failback["rpo"]["records"] is None
    assert failback["rpo"]["sentence"] == rpo["explain"]
    # the scenario is still judged by its failover (gameday.runner.judge reads drill_rto)
    journal = json.loads((tmp_path / "reports" / "run-fb" / "journals" / "lose-region.json").read_text())
    assert regions.drill_rto(journal)["kind"] == "failover"
    html = (tmp_path / "reports" / "run-fb" / "report.html").read_text()
    assert 'id="region-lose-region"' in html and 'id="region-lose-region-failback"' in html
    assert "RPO not measured by canaries (this failback ran none)" in html
    assert 'data-kind="failback"' in html and "seconds after the failback's start" in html
    assert 'data-phase="rebuild-standby"' in html and 'data-phase="scale-down-old"' in html
    assert html.count('class="chart region-timeline"') == 2
    assert saved["regions"]["sentences"] == [
        "Failover took 26.2 s now (target 60 s); the first one measured on this target.",
        "Failback took 1.9 s now (target 30 s); the first one measured on this target."]


def test_a_failback_run_by_the_rollback_is_shown_too(tmp_path):
    fault = T0 + 100
    saved = write_run(tmp_path / "reports", "run-rb", T0,
                      {"lose-region": lost_and_failed_back(fault, in_rollbacks=True)},
                      region_scenario("lose-region", "lose-region", fault))
    assert [d["kind"] for d in saved["regions"]["drills"]] == ["failover", "failback"]


def test_a_fail_back_that_restored_nothing_is_no_failback(tmp_path):
    fault = T0 + 100
    journal = failover_journal(fault)
    journal["run"].append(record("fail-back", ACTIONS, "fail_back", {"layer": "region", "restored": [], "active": "r2"},
                                 "action"))
    saved = write_run(tmp_path / "reports", "run-none", T0, {"lose-region": journal},
                      region_scenario("lose-region", "lose-region", fault))
    assert [d["kind"] for d in saved["regions"]["drills"]] == ["failover"]


def test_the_failback_has_its_own_trend_read_from_earlier_journals(tmp_path):
    reports = tmp_path / "reports"
    before = T0 - 30 * 86400
    # last time the switch back took 20 s longer: the front's switch, and everything after it later
    slow = [(name, end + (20.0 if end >= 51.7 else 0.0), took + (20.0 if name == "switch-front" else 0.0))
            for name, end, took in FAILBACK]
    journal = failover_journal(before + 100)
    journal["run"].append(record("fail-back", ACTIONS, "fail_back", fail_back_output(before + 170, slow), "action"))
    write_run(reports, "run-before", before, {"lose-region": journal}, region_scenario("lose-region", "lose-region",
                                                                                      before + 100))
    summary = reports / "run-before" / "summary.json"  # written before the section: read from its journal
    data = json.loads(summary.read_text())
    del data["regions"]
    summary.write_text(json.dumps(data))
    saved = write_run(reports, "run-now", T0, {"lose-region": lost_and_failed_back(T0 + 100)},
                      region_scenario("lose-region", "lose-region", T0 + 100))
    points = saved["regions"]["trend"]["failback"]
    assert [(p["run_id"], p["seconds"]) for p in points] == [("run-before", pytest.approx(21.9)),
                                                             ("run-now", pytest.approx(1.9))]
    assert saved["regions"]["sentences"][-1].startswith("Failback took 21.9 s last time (")
    assert saved["regions"]["sentences"][-1].endswith("), 1.9 s now (target 30 s).")


def test_a_failback_whose_front_switch_failed_has_no_rto():
    restored = fail_back_output(T0 + 170)["restored"][0]
    run = restored["playbook"]
    run["outcome"] = "failed"
    run["steps"]["switch-front"].update(status="failed", detail="the front refused the new backend")
    for name in ("resume-writes", "rebuild-old-as-standby", "scale-down-old"):  # not run after the failure
        run["steps"][name].update(status="not-run", seconds=None, ended_at=None)
    d = regions.failback_drill({"target": {"name": "sandbox"}}, {"name": "lose-region", "layer": "region",
                               "experiment": "experiments/region/lose-region.yaml"}, restored, T0 + 100)
    figures = {f["name"]: f for f in d["figures"]}
    assert d["rto_s"] is None and (figures["RTO"]["value"], figures["RTO"]["met"]) == (None, False)
    assert not d["met"] and d["outcome"] == "failed"
    assert [p["phase"] for p in d["phases"]][-1] == "switch-front"  # still drawn, with its status
