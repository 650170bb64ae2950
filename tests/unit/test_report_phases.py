"""The RTO split into phases, from recorded events: each milestone, each step, each layer's time to
full redundancy beside the site's RTO, through the judge into the JSON and the HTML timeline bar."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gameday.load.timeline import Timeline, make_row
from gameday.measure import phases
from gameday.measure.phases import (NEVER_LOST, NOT_MEASURED, NOT_RESTORED, RESTORED, LayerRedundancy, Phases,
                                    Sample, experiment_steps, judge_samples)
from gameday.measure.recovery import Slo
from gameday.report import model, render
from gameday.runner.judge import judge
from gameday.runner.scenario import ScenarioRun
from gameday.runner.suite import Objectives, ScenarioSpec

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_800_000_000
FAULT = T0 + 20.4
SLO = Slo(min_success_ratio=0.95, max_p95_ms=2000, window_s=5)

# What events.jsonl holds for one scenario (search node killed, the playbook run after it), as the runner writes it.
EVENTS = [
    {"at": T0 + 10.0, "event": "scenario.start", "scenario": "search-node"},
    {"at": T0 + 60.0, "event": "fault", "scenario": "search-node", "touched": ["search-2"]},
    {"at": T0 + 60.1, "event": "experiment.step", "scenario": "search-node", "step": "restart-the-node",
     "status": "succeeded", "started": FAULT + 1.0, "seconds": 4.0},
    {"at": T0 + 61.0, "event": "playbook.start", "scenario": "search-node", "playbook": "search"},
    {"at": T0 + 70.0, "event": "playbook.step", "scenario": "search-node", "playbook": "search",
     "step": "retry-failed-allocations", "status": "ok", "started": T0 + 61.5, "seconds": 6.5},
    {"at": T0 + 72.0, "event": "playbook.step", "scenario": "search-node", "playbook": "search",
     "step": "verify-green", "status": "ok", "started": T0 + 68.0, "seconds": 3.0},
    {"at": T0 + 72.1, "event": "playbook.end", "scenario": "search-node", "playbook": "search", "outcome": "restored"},
    {"at": T0 + 80.0, "event": "redundancy", "scenario": "search-node", "layer": "search", "check": "cluster green",
     "status": RESTORED, "lost_at": FAULT + 0.6, "restored_at": T0 + 70.9, "full_before": True,
     "detail": "cluster green, 3 nodes, 0 shards unassigned", "samples": 52},
    {"at": T0 + 80.0, "event": "redundancy", "scenario": "search-node", "layer": "kafka",
     "check": "every partition's ISR full", "status": NEVER_LOST, "full_before": True, "detail": "12 partitions", "samples": 50},
    {"at": T0 + 80.0, "event": "redundancy", "scenario": "search-node", "layer": "db", "check": "replica caught up",
     "status": NOT_MEASURED, "detail": "no database replica to check yet"},
    # another scenario's events are not this one's
    {"at": T0 + 90.0, "event": "playbook.start", "scenario": "web-one-pod", "playbook": "web"},
]


def timeline(down_from: int, down_for: int, length: int = 120) -> Timeline:
    rows = []
    for t in range(T0, T0 + length):
        if down_from <= t < down_from + down_for:
            rows.append(make_row(t, "all", {3000: 10}, 10, {"503": 10}))
        else:
            rows.append(make_row(t, "all", {12: 20}, 0, {"200": 20}))
    return Timeline({}, rows)


def test_milestones_steps_and_redundancy_from_the_recorded_events():
    ph = phases.from_events(EVENTS, scenario="search-node", fault_at=FAULT, detected_at=FAULT + 0.6,
                            serving_at=T0 + 27.0, rto_target_s=60)
    assert [(m.key, m.after_fault_s) for m in ph.milestones] == [
        ("fault", 0.0), ("detected", 0.6), ("playbook_started", 1.0), ("serving_again", 6.6),
        ("redundancy_restored", 50.5)]
    assert ph.milestone("playbook_started").note == "the experiment ran the recovery itself"
    assert ph.milestone("serving_again").target_s == 60
    assert ph.milestone("redundancy_restored").note == "search: cluster green"
    assert [(s.name, s.by) for s in ph.steps] == [("restart-the-node", "experiment"),
                                                  ("retry-failed-allocations", "playbook"), ("verify-green", "playbook")]
    assert {r.layer: r.after_fault_s(FAULT) for r in ph.redundancy} == {"search": 50.5, "kafka": 0.0, "db": None}
    assert ph.end_s == pytest.approx(T0 + 71.0 - FAULT)  # the last step's end
    assert Phases.from_dict(json.loads(json.dumps(ph.as_dict()))) == ph  # the JSON reads back typed


def test_readers_never_failing_and_a_layer_not_restored_are_said_in_words():
    events = [e for e in EVENTS if e.get("event") != "experiment.step"]
    events = [dict(e, status=NOT_RESTORED, restored_at=None, detail="cluster yellow, 3 nodes, 3 shards unassigned")
              if e.get("layer") == "search" else e for e in events]
    ph = phases.from_events(events, scenario="search-node", fault_at=FAULT, detected_at=None, serving_at=None,
                            rto_target_s=60, never_failed=True)
    assert ph.milestone("detected").at is None and "did not notice" in ph.milestone("detected").note
    assert ph.milestone("serving_again").after_fault_s == 0.0
    assert ph.milestone("playbook_started").at == T0 + 61.0
    assert ph.milestone("playbook_started").note.startswith("after readers were served again: the platform recovered by itself")
    full = ph.milestone("redundancy_restored")
    assert full.at is None and full.note == "not restored when the wait ended: search"
    search = next(r for r in ph.redundancy if r.layer == "search")
    assert search.sentence(FAULT) == ("search: cluster green NOT restored when the wait ended "
                                      "(cluster yellow, 3 nodes, 3 shards unassigned)")


def test_a_layer_is_restored_at_the_first_full_look_after_the_last_short_one():
    looks = [Sample(FAULT - 5, True, "green"), Sample(FAULT + 1, False, "yellow"), Sample(FAULT + 2, True, "green"),
             Sample(FAULT + 3, False, "yellow"), Sample(FAULT + 9, True, "green"), Sample(FAULT + 10, True, "green")]
    r = judge_samples("search", "cluster green", looks, full_before=True, fault_at=FAULT)
    assert (r.status, r.lost_at, r.restored_at, r.after_fault_s(FAULT)) == (RESTORED, FAULT + 1, FAULT + 9, 9.0)
    still = judge_samples("search", "cluster green", looks[:4], full_before=True, fault_at=FAULT)
    assert still.status == NOT_RESTORED and still.after_fault_s(FAULT) is None and still.detail == "yellow"
    never = judge_samples("kafka", "ISR full", [Sample(FAULT + i, True, "ok") for i in range(3)], full_before=False,
                          fault_at=FAULT)
    assert never.status == NEVER_LOST and never.detail.startswith("already not full before the fault")
    silent = judge_samples("web", "ready", [Sample(FAULT + 1, False, "did not answer: refused", answered=False)],
                           full_before=False, fault_at=FAULT)
    assert silent.status == NOT_MEASURED and silent.detail == "did not answer: refused"
    assert judge_samples("web", "ready", [], full_before=None, fault_at=FAULT).status == NOT_MEASURED
    assert LayerRedundancy.from_event({"event": "redundancy", "at": 1.0, **r.to_event()}) == r


def test_steps_an_experiment_ran_itself_come_out_of_its_journal():
    rebuild = {"type": "python", "module": "gameday.chaos.search.actions", "func": "rebuild_search_cluster"}
    restart = {"type": "python", "module": "gameday.chaos.search.actions", "func": "start_nodes"}
    journal = {"experiment": {"rollbacks": [{"type": "action", "provider": rebuild}, {"type": "action", "provider": restart}]},
               "run": [
        {"activity": {"type": "action", "name": "lose-the-whole-search-cluster"}, "start": "2027-01-15T08:00:00+00:00",
         "duration": 1.5, "output": {"fault_at": 1_800_000_000.0}},
        {"activity": {"type": "probe", "name": "readers-during-the-loss"}, "start": "2027-01-15T08:00:02+00:00",
         "duration": 3.0, "output": {}},
        {"activity": {"type": "action", "name": "rebuild-the-cluster-with-the-search-playbook", "provider": rebuild},
         "start": "2027-01-15T08:00:05+00:00", "duration": 40.0, "status": "succeeded",
         "output": {"rebuilt": [{"steps": {
             "restore-node-storage": {"status": "ok", "seconds": 25.0, "ended_at": 1_800_000_030.0},
             "restore-snapshot": {"status": "ok", "seconds": 5.0, "ended_at": 1_800_000_036.0},
             "not-run": {"status": "not-run", "seconds": None, "ended_at": None}}}]}},
        {"activity": {"type": "action", "name": "editors-publish", "provider": {"module": "gameday.chaos.site.actions",
                                                                                  "func": "publish_updates"}},
         "start": "2027-01-15T08:00:46", "duration": 0.5, "status": "succeeded", "output": {"published": 5}},
        {"activity": {"type": "action", "name": "start-the-nodes", "provider": restart}, "start": "2027-01-15T08:00:47",
         "duration": 2.5, "status": "succeeded", "output": {"started": ["search-1"]}}],
        "rollbacks": [{"activity": {"type": "action"}, "output": {"rebuilt": []}}]}
    fault = 1_800_000_000.0  # 2027-01-15T08:00:00Z
    spans = experiment_steps(journal, fault + 0.5)
    assert [(s.name, s.started_at - fault, s.seconds) for s in spans] == [
        ("restore-node-storage", 5.0, 25.0), ("restore-snapshot", 31.0, 5.0), ("start-the-nodes", 47.0, 2.5)]
    assert experiment_steps(journal, None) == []


def spec(name: str = "search-node") -> ScenarioSpec:
    return ScenarioSpec(name=name, experiment=ROOT / "experiments" / "search" / "kill-data-node.yaml", layer="search",
                        playbook="search", targets=Objectives(rto_s=60, rpo_records=0, rpo_s=0, min_availability=0.5))


def test_the_judge_puts_phases_and_full_redundancy_beside_the_rto_in_json_and_html(tmp_path):
    run = ScenarioRun(spec=spec(), started=T0 + 10, ended=T0 + 100, journal={"status": "completed"}, exit_code=0,
                      journal_path=tmp_path / "j.json", log_path=tmp_path / "j.log", fault_at=FAULT,
                      events=EVENTS, playbook={"outcome": "restored", "steps": [], "diagnose_s": 0.2})
    scenario = judge(run, timeline(T0 + 21, 6), SLO)
    rto = next(c for c in scenario.checks if c.name == "RTO")
    assert rto.value == pytest.approx(6.6)
    ph = scenario.phases
    assert ph.milestone("detected").after_fault_s == 0.6 and ph.milestone("serving_again").after_fault_s == 6.6
    report = model.build(run_id="r", started_at=T0, ended_at=T0 + 120, target={"name": "sandbox", "kind": "sandbox"},
                         suite="smoke", scenarios=[scenario], versions={})
    got = report["scenarios"][0]
    assert got["full_redundancy"]["after_fault_s"] == 50.5
    assert got["full_redundancy"]["layers"]["search"] == {"status": "restored", "check": "cluster green",
                                                          "after_fault_s": 50.5,
                                                          "text": "search: cluster green again 50.5 s after the fault"}
    assert got["full_redundancy"]["layers"]["db"]["status"] == "not-measured"
    assert [m["key"] for m in got["phases"]["milestones"]] == ["fault", "detected", "playbook_started", "serving_again",
                                                               "redundancy_restored"]
    assert report["verdict"] == "passed"  # redundancy is reported, not judged
    paths = render.write(report, tmp_path / "run")
    text = paths["html"].read_text()
    assert text.count("<svg") == 2 and 'class="chart phases"' in text  # the load chart and the timeline bar
    assert "redundancy restored +50.5 s" in text and "serving again +6.6 s" in text and "RTO target 60 s" in text
    beside = text.split('id="search-node-redundancy"')[1].split("</p>")[0]
    assert "<strong>6.6 s</strong> after the fault" in beside and "(RTO target 60.0 s)" in beside
    assert "full redundancy <strong>50.5 s</strong> after the fault" in beside
    assert "search: cluster green again 50.5 s after the fault" in text
    assert "db: replica caught up: not measured (no database replica to check yet)" in text
    assert "<th title=" in text and ">50.5 s</td>" in text  # the summary table's column beside the RTO
    assert json.loads(paths["json"].read_text())["scenarios"][0]["phases"] == got["phases"]


def test_a_redundancy_not_restored_is_an_action_item_and_not_a_failure(tmp_path):
    events = [dict(e, status=NOT_RESTORED, restored_at=None, detail="cluster yellow") if e.get("layer") == "search" else e
              for e in EVENTS]
    run = ScenarioRun(spec=spec(), started=T0 + 10, ended=T0 + 100, journal={"status": "completed"}, exit_code=0,
                      journal_path=tmp_path / "j.json", log_path=tmp_path / "j.log", fault_at=FAULT, events=events)
    report = model.build(run_id="r", started_at=T0, ended_at=T0 + 120, target={"name": "sandbox", "kind": "sandbox"},
                         suite="smoke", scenarios=[judge(run, timeline(T0 + 21, 6), SLO)], versions={})
    assert report["verdict"] == "passed"
    assert any("search layer's redundancy (cluster green) was not restored" in i for i in report["action_items"])
    assert report["scenarios"][0]["full_redundancy"]["after_fault_s"] is None
    assert "not restored" in render.html(report)


def test_no_load_timeline_still_times_the_steps_and_says_what_was_not_measured(tmp_path):
    run = ScenarioRun(spec=spec(), started=T0 + 10, ended=T0 + 100, journal={"status": "completed"}, exit_code=0,
                      journal_path=tmp_path / "j.json", log_path=tmp_path / "j.log", fault_at=FAULT, events=EVENTS)
    ph = judge(run, None, SLO).phases
    assert ph.milestone("detected").note == "not measured (no load timeline)"
    assert ph.milestone("serving_again").at is None and ph.milestone("redundancy_restored").after_fault_s == 50.5
