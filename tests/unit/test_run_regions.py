"""``gameday run`` with the regions suite: it is a valid suite whose drills resolve targets.yaml's
region objectives; a suite of region drills brings the environment's region set up (the default suite
its one twin, as before), and an environment without a regions block is refused before anything starts."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from gameday.cli.run import _region_drills
from gameday.errors import UsageError
from gameday.runner.suite import ROOT
from gameday.runner.suite import load as load_suite
from gameday.targets.environment import load as load_environment


def test_the_regions_suite_switches_over_then_loses_a_region_with_targets_yamls_objectives():
    suite = load_suite("regions").for_environment("sandbox")
    assert [(sc.name, sc.experiment.relative_to(ROOT).as_posix(), sc.layer, sc.playbook) for sc in suite.scenarios] == [
        ("region-switchover", "experiments/region/switchover.yaml", "region", "region"),
        ("region-lost", "experiments/region/lose-region.yaml", "region", "region")]
    switchover, lost = suite.scenarios
    assert (switchover.targets.rto_s, switchover.targets.rpo_records) == (30, 0)
    assert (lost.targets.rto_s, lost.targets.rpo_records) == (60, 0)


def test_only_a_suite_of_region_drills_brings_the_regions_up():
    sandbox = load_environment("sandbox")
    assert _region_drills(load_suite("regions"), sandbox) is True
    for name in ("default", "smoke", "disaster"):  # unchanged: the environment's one twin
        assert _region_drills(load_suite(name), sandbox) is False
    with pytest.raises(UsageError, match="suite regions has region drills .* but environment sandbox-test names "
                                         "no second region"):
        _region_drills(load_suite("regions"), load_environment("sandbox-test"))


def test_the_cli_refuses_region_drills_without_a_second_region_before_starting_anything():
    out = subprocess.run([sys.executable, "-m", "gameday", "run", "--suite", "regions", "--env", "sandbox-test",
                          "--no-install"], capture_output=True, text=True, timeout=120, cwd=ROOT,
                         env={**os.environ, "COLUMNS": "200"})
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert "Traceback" not in out.stderr and "names no second region" in out.stderr and "--env sandbox" in out.stderr


def _judged(tmp_path, journal: dict, *, which: int = 1, bad: range = range(0)):
    """A region drill of the regions suite (``which``: 0 the switchover, 1 the failover) judged with
    ``journal`` (the runner's canaries not started: its RPO is the one the drill measured); the load
    timeline's seconds ``t0 + bad`` all failed. Returns the run and its checks by name."""
    from gameday.load.timeline import Timeline, make_row
    from gameday.measure.recovery import Slo
    from gameday.runner.judge import judge
    from gameday.runner.scenario import ScenarioRun, region_rpo

    t0 = 1_800_000_000
    spec = load_suite("regions").for_environment("sandbox").scenarios[which]
    rows = [make_row(t, "all", {12: 20}, 20 if t - t0 in bad else 0, {"200": 0 if t - t0 in bad else 20})
            for t in range(t0, t0 + 60)]
    run = ScenarioRun(spec=spec, started=t0 + 5, ended=t0 + 55, journal=journal, exit_code=0,
                      journal_path=tmp_path / "j.json", log_path=tmp_path / "j.log", fault_at=t0 + 9.7,
                      rpo=region_rpo(journal))
    scenario = judge(run, Timeline({}, rows), Slo(min_success_ratio=0.95, max_p95_ms=2000, window_s=5))
    return run, {c.name: c for c in scenario.checks}


def test_a_region_drills_rpo_is_what_its_own_canaries_read_back_from_the_region_that_took_over(tmp_path):
    from gameday.measure.canary import CanaryReport

    def layer(name: str, acked: int, lost: list[int]) -> dict:
        return CanaryReport(layer=name, run="c1", attempts=acked + 2, acknowledged=acked, failed_writes=2, lost=lost,
                            lost_span_s=0.4 if lost else 0.0, first_lost_at=None, last_lost_at=None).to_dict()
    probe = {"written_to": "r2", "read_from": "r1", "kafka_topic": "r2.gameday-canary",
             "layers": {"kafka": layer("kafka", 40, []), "db": layer("db", 40, [39, 40])},
             "lost": ["c1/db/39", "c1/db/40"], "rpo_records": 2, "rpo_s": 0.4}
    journal = {"status": "completed", "run": [
        {"activity": {"name": "lose-the-active-region", "type": "action"}, "output": {"fault_at": 1.0}},
        {"activity": {"name": "what-was-lost", "type": "probe"}, "output": probe}]}
    run, checks = _judged(tmp_path, journal)
    check = checks["RPO (records lost)"]
    assert run.rpo == probe["layers"]
    assert check.value == 2 and check.target == 0 and check.met is False and "db seq [39, 40]" in check.explain


def test_a_region_drill_whose_rpo_probe_never_ran_is_not_measured_never_zero(tmp_path):
    run, checks = _judged(tmp_path, {"status": "aborted", "run": []})
    check = checks["RPO (records lost)"]
    assert run.rpo["region"]["rpo_records"] is None and "did not run (experiment aborted)" in run.rpo["region"]["last_error"]
    assert check.value is None and check.met is False and "not measured" in check.explain


def _timeline_output(kind: str, **figures) -> dict:
    return {"activity": {"name": "region-timeline", "type": "probe",
                         "provider": {"type": "python", "module": "gameday.chaos.region.probes",
                                      "func": "region_timeline"}},
            "output": {"kind": kind, "from": "r1", "to": "r2", "phases": [], **figures}}


def test_a_planned_switchover_is_judged_by_its_own_rto_not_by_the_minute_spent_scaling_the_standby_up(tmp_path):
    # the load's first failed seconds come 60 s into the method (the front switched after the standby
    # scaled up); the switchover itself, from stop-writes, took 3.1 s: that is its RTO
    journal = {"status": "completed", "run": [_timeline_output("switchover", rto_s=3.12, writes_unavailable_s=3.24)]}
    _run, checks = _judged(tmp_path, journal, which=0, bad=range(30, 35))
    assert checks["RTO"].value == 3.12 and checks["RTO"].target == 30 and checks["RTO"].met is True
    assert checks["RTO"].explain.startswith("RTO: readers served by the new region")
    assert checks["readers' outage (load)"].value == 5 and checks["readers' outage (load)"].target is None
    assert "time to detect" not in checks  # nothing to detect in a planned move
    assert checks["availability"].value < 1.0


def test_a_failover_is_judged_without_the_simulated_decision_and_keeps_its_time_to_detect(tmp_path):
    journal = {"status": "completed", "run": [
        {"activity": {"name": "lose-the-active-region", "type": "action"}, "output": {"fault_at": 1.0}},
        _timeline_output("failover", rto_s=65.7, rto_without_decision_s=5.7, decision_s=60)]}
    _run, checks = _judged(tmp_path, journal, bad=range(10, 76))
    assert checks["RTO"].value == 5.7 and checks["RTO"].met is True
    assert checks["RTO"].explain.startswith("RTO without the decision:")
    assert checks["time to detect"].value is not None


def test_a_region_drill_without_its_timeline_has_no_rto_and_misses_the_target(tmp_path):
    journal = {"status": "completed", "run": [_timeline_output("failover", rto_s=None, rto_without_decision_s=None)]}
    _run, checks = _judged(tmp_path, journal)
    assert checks["RTO"].value is None and checks["RTO"].met is False
    assert "no RTO" in checks["RTO"].explain


def test_a_suite_without_region_drills_is_refused_against_the_standby_region_before_the_lock(tmp_path, monkeypatch):
    # After gameday run --suite regions, r1 (environment sandbox) can be the standby of r2: a default game
    # day against it would write its first canary to a read-only database (a traceback, before this)
    import tempfile

    from gameday.runner.gameday import GameDay
    from gameday.sandbox.regions import Regions
    from gameday.sandbox.twin import Twin

    with tempfile.TemporaryDirectory(prefix="gd-") as state:  # HAProxy's short socket paths: a short root
        monkeypatch.setenv("GAMEDAY_STATE_DIR", state)
        regions = Regions.of(Twin.create("default", 10))
        regions.write_shapes()
        regions.record_active("r2", "a switchover")
        env = load_environment("sandbox")
        day = GameDay(load_suite("smoke"), env, tmp_path, progress=lambda _m: None)
        with pytest.raises(UsageError, match="region r1, now the standby of r2") as err:
            day.check_active_region()
        assert "--env sandbox-r2" in err.value.hint and "--switchover --apply" in err.value.hint
        assert day.lock.holder() is None and not any(tmp_path.iterdir())  # nothing touched
        GameDay(load_suite("regions"), env, tmp_path, progress=lambda _m: None).check_active_region()  # drills: either way
        regions.record_active("r1", "switched back")
        day.check_active_region()  # the active region: no question


def test_a_twin_without_its_region_set_is_one_region_not_a_warning(tmp_path, monkeypatch):
    # make gameday's twin is 'default' alone: environment sandbox names regions, none are started. Every
    # default game day printed "WARNING: could not tell which region is active" before this.
    import tempfile

    from gameday.runner.gameday import GameDay

    lines: list[str] = []
    with tempfile.TemporaryDirectory(prefix="gd-") as state:
        monkeypatch.setenv("GAMEDAY_STATE_DIR", state)
        day = GameDay(load_suite("smoke"), load_environment("sandbox"), tmp_path, progress=lines.append)
        day.check_active_region()
    assert lines == ["sandbox runs as one region (its region set is not started): no standby to check"]
    assert day.lock.holder() is None and not any(tmp_path.iterdir())  # nothing touched
