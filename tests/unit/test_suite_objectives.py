"""A suite's objectives come from targets.yaml, overridden with targets.yaml's own keys; old keys are
clear errors; the judge puts each figure beside the objective it resolved to."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gameday.cli import main
from gameday.errors import UsageError
from gameday.load.timeline import Timeline, make_row
from gameday.measure.recovery import Slo
from gameday.recovery import targets_yaml
from gameday.runner import suite
from gameday.runner.judge import judge
from gameday.runner.scenario import ScenarioRun

ROOT = Path(__file__).resolve().parents[2]
SLO = Slo(min_success_ratio=0.99, max_p95_ms=1000, window_s=5)  # passed in: measure has no default SLO

# What every scenario of every suite was judged against before targets.yaml became their source
# (the suites' own figures then): (rto_s, min_availability, rpo_records), and each suite's SLO
# (min_success_ratio, max_p95_ms, window_s). The same environments must still see exactly these.
BEFORE = {
    "default": ((0.95, 2000.0, 10), {
        "web-rolling-restart": (30, 0.99, 0), "web-half-the-pods": (30, 0.95, 0), "web-full-outage": (60, 0.5, 0),
        "kafka-partition-leader": (60, 0.95, 0), "search-data-node": (60, 0.9, 0),
        "kafka-active-controller": (60, 0.95, 0), "database-crash": (90, 0.5, 0),
        "zone-lost": (120, 0.9, 0)}),  # added with its objective in targets.yaml (site/lose-zone), issue 15 drill 5
    "smoke": ((0.95, 2000.0, 5), {"web-one-pod": (30, 0.95, 0), "search-data-node": (60, 0.9, 0)}),
    "kubernetes": ((0.95, 2000.0, 10), {
        "web-one-pod": (30, 0.95, 0), "web-rolling-restart": (30, 0.99, 0), "kafka-partition-leader": (60, 0.95, 0),
        "search-data-node": (60, 0.9, 0), "database-crash": (90, 0.5, 0), "indexer-stopped": (120, 0.95, 0)}),
    # added with targets.yaml's region layer (issue 16): the suite sets no objective of its own
    "regions": ((0.95, 2000.0, 10), {"region-switchover": (30, 0.5, 0), "region-lost": (60, 0.0, 0)}),
    # issue 17's WordPress scenarios: the suite sets no objective of its own (targets.yaml's network/latency-web-to-db,
    # web/lose-cdn, and the events and cache layers)
    "wordpress": ((0.95, 2000.0, 10), {"web-workers-exhausted-by-a-slow-db": (150, 0.0, 0), "cdn-lost": (120, 0.9, 0),
                                       "event-relay-stopped": (120, 0.95, 0), "object-cache-lost": (60, 0.9, 0),
                                       "media-uploads-lost": (300, 0.95, 0)}),
}


@pytest.mark.parametrize("environment", [None, "sandbox", "sandbox-test", "rehearsal", "gke-staging"])
@pytest.mark.parametrize("name", sorted(BEFORE))
def test_every_suite_keeps_its_effective_targets(name, environment):
    loaded = suite.load(name).for_environment(environment)
    slo, scenarios = BEFORE[name]
    assert (loaded.slo.min_success_ratio, loaded.slo.max_p95_ms, loaded.slo.window_s) == slo
    assert {sc.name: (sc.targets.rto_s, sc.targets.min_availability, sc.targets.rpo_records)
            for sc in loaded.scenarios} == scenarios
    assert all(sc.targets.rpo_s == 0 for sc in loaded.scenarios)  # targets.yaml's, judged nowhere yet


def test_production_takes_its_slo_window_from_targets_yaml_and_the_suite_keeps_its_overrides():
    prod = suite.load("default").for_environment("gke-production")
    assert prod.slo.window_s == targets_yaml.load().slo("gke-production")["window_s"] == 60
    assert prod.slo.min_success_ratio == 0.95  # the suite's override still wins


def write_suite(tmp_path: Path, drop: tuple[str, ...] = (), **changes) -> Path:
    """The smoke suite with ``changes`` and without the keys in ``drop``, as a file."""
    data = yaml.safe_load((ROOT / "experiments" / "suites" / "smoke.yaml").read_text())
    data.update(changes)
    for key in drop:
        data.pop(key)
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_a_scenario_without_targets_gets_targets_yaml_for_its_layer_experiment_and_environment(tmp_path):
    scenarios = [{"name": "outage", "experiment": "experiments/web/full-outage.yaml", "layer": "web"},
                 {"name": "brokers", "experiment": "experiments/kafka/kill-two-brokers.yaml", "layer": "kafka",
                  "targets": {"min_availability": 0.5}}]
    path = write_suite(tmp_path, drop=("slo",), scenarios=scenarios)
    t = targets_yaml.load()
    for env in ("sandbox", "gke-production"):
        loaded = suite.load(path, environment=env)
        outage, brokers = loaded.scenarios
        expected = t.for_layer("web", environment=env, scenario="full-outage")
        assert outage.targets.to_dict() == {"rto_s": expected.rto_s, "rpo_records": expected.rpo_records,
                                            "rpo_s": expected.rpo_s, "min_availability": expected.min_availability}
        assert brokers.targets.rto_s == t.for_layer("kafka", environment=env, scenario="kill-two-brokers").rto_s
        assert brokers.targets.min_availability == 0.5
        assert loaded.slo == Slo(min_success_ratio=t.slo(env)["success_ratio"], max_p95_ms=t.slo(env)["p95_ms"],
                                 window_s=t.slo(env)["window_s"])
    assert suite.load(path).scenarios[0].targets.min_availability == 0.0  # web full-outage in targets.yaml


def test_old_keys_name_their_new_keys_all_at_once(tmp_path):
    path = write_suite(tmp_path, slo={"min_success_ratio": 0.95, "max_p95_ms": 2000, "window_s": 5}, scenarios=[
        {"name": "one", "experiment": "experiments/web/kill-one-pod.yaml", "layer": "web",
         "targets": {"rto_s": 30, "availability": 0.95}},
        {"name": "two", "experiment": "experiments/search/kill-data-node.yaml", "layer": "search",
         "targets": {"rto_s": "fast"}}])
    with pytest.raises(UsageError) as err:
        suite.load(path)
    message = str(err.value)
    assert "4 problems" in message
    for words in ("slo.min_success_ratio is now success_ratio", "slo.max_p95_ms is now p95_ms",
                  "scenarios[0].targets.availability is now min_availability",
                  "scenarios[1].targets.rto_s must be a number"):
        assert words in message, message


def test_an_old_suite_exits_2_naming_the_new_key_without_a_traceback(tmp_path, capsys):
    path = write_suite(tmp_path, slo={"min_success_ratio": 0.95})
    assert main(["run", "--suite", str(path), "--env", "sandbox", "--no-install",
                 "--reports", str(tmp_path / "reports")]) == 2
    err = capsys.readouterr().err
    assert "slo.min_success_ratio is now success_ratio" in err and "Traceback" not in err
    assert not (tmp_path / "reports").exists()


def test_a_layer_targets_yaml_does_not_know_is_refused(tmp_path):
    path = write_suite(tmp_path, scenarios=[{"name": "x", "experiment": "experiments/web/kill-one-pod.yaml",
                                             "layer": "cdn"}])
    with pytest.raises(UsageError, match="scenarios\\[0\\].layer"):
        suite.load(path)


T0 = 1_800_000_000


def test_the_judge_puts_each_figure_beside_its_resolved_objective(tmp_path):
    rows = [make_row(t, "all", {2000: 10}, 10, {"503": 10}) if T0 + 10 <= t < T0 + 18
            else make_row(t, "all", {12: 18, 40: 2}, 0, {"200": 20}) for t in range(T0, T0 + 60)]
    spec = suite.load("smoke").scenarios[0]
    run = ScenarioRun(spec=spec, started=T0 + 5, ended=T0 + 55, journal={"status": "completed"}, exit_code=0,
                      journal_path=tmp_path / "web-one-pod.json", log_path=tmp_path / "web-one-pod.log",
                      fault_at=T0 + 9.7, rpo={"kafka": {"rpo_records": 0, "rpo_s": 0.0, "lost": [], "acknowledged": 9}})
    scenario = judge(run, Timeline({}, rows), Slo(min_success_ratio=0.95, max_p95_ms=2000, window_s=5))
    checks = {c.name: c for c in scenario.checks}
    assert checks["RTO"].target == spec.targets.rto_s == 30 and checks["RTO"].value == pytest.approx(8.3)
    assert checks["availability"].target == spec.targets.min_availability == 0.95
    assert checks["RPO (records lost)"].target == spec.targets.rpo_records == 0
    assert checks["time to detect"].target is None and checks["RPO (time span lost)"].target is None
    assert scenario.status == "completed" and not scenario.passed  # 8 s down of 50: availability missed


def test_a_fault_removed_under_the_run_or_not_undone_is_an_error_whatever_the_figures(tmp_path):
    spec = suite.load("smoke").scenarios[0]
    common = dict(spec=spec, started=T0, ended=T0 + 50, journal={"status": "completed"}, exit_code=0,
                  journal_path=tmp_path / "j.json", log_path=tmp_path / "j.log", fault_at=T0 + 9.7)
    rows = [make_row(t, "all", {12: 20}, 0, {"200": 20}) for t in range(T0, T0 + 60)]
    ok = judge(ScenarioRun(**common), Timeline({}, rows), SLO)
    assert ok.passed
    removed = judge(ScenarioRun(**common, removed_under=[{"reason": "latency", "why": "gone"}]),
                    Timeline({}, rows), SLO)
    assert removed.status == "error" and "removed under this run" in removed.error
    stuck = judge(ScenarioRun(**common, undo_failed=[{"reason": "latency", "error": "refused"}]),
                  Timeline({}, rows), SLO)
    assert stuck.status == "error" and "could not be undone" in stuck.error
