"""The twin's scheduled search snapshots without a cluster: which snapshot is the newest (a
successful one holding the content index, whoever took it), which of the member's own it prunes
(never another's, never one in progress), the settings and the member's place in the topology.
Snapshot listings shaped as ``GET _snapshot/<repository>/_all`` answers; real files for the settings."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from gameday.errors import UsageError
from gameday.recovery import targets_yaml
from gameday.sandbox import schedule, search_snapshot_schedule as sss, topology
from gameday.sandbox.paths import SandboxPaths
from gameday.sandbox.twin import Twin
from gameday.zones import REGIONAL


def snap(name: str, start_s: float, state: str = "SUCCESS", indices=("content",)) -> dict:
    return {"snapshot": name, "state": state, "indices": list(indices), "start_time_in_millis": int(start_s * 1000),
            "end_time_in_millis": int((start_s + 1) * 1000) if state != "IN_PROGRESS" else 0}


def twin_at(tmp_path: Path) -> Twin:
    paths = SandboxPaths(name="snapshot-test", home=tmp_path / "twin")
    return Twin(name="snapshot-test", net=34, paths=paths, loc=None, python="/usr/bin/python3")


def test_names_sort_by_time_and_are_lower_case():
    a, b = sss.snapshot_name(1_780_000_000.25), sss.snapshot_name(1_780_000_001.5)
    assert a == "scheduled-20260528-202640-250" and a < b and a == a.lower()


def test_the_newest_is_a_successful_snapshot_of_the_content_index_whoever_took_it():
    listing = [snap("scheduled-a", 100), snap("gameday-before-loss-1", 200), snap("scheduled-b", 300, "PARTIAL"),
               snap("other-index", 400, indices=("logs",)), snap("scheduled-c", 500, "IN_PROGRESS")]
    assert sss.newest(listing) == {"id": "gameday-before-loss-1", "at": 201.0, "scheduled": False}
    assert sss.newest([snap("scheduled-b", 300, "FAILED")]) is None
    assert sss.newest([]) is None


def test_pruning_keeps_the_newest_n_of_its_own_and_never_touches_another_or_one_in_progress():
    listing = [snap("scheduled-1", 100), snap("gameday-before-loss-9", 150), snap("scheduled-2", 200),
               snap("scheduled-3", 300, "PARTIAL"), snap("scheduled-4", 400), snap("scheduled-5", 500, "IN_PROGRESS")]
    assert sss.to_prune(listing, keep=2) == ["scheduled-1", "scheduled-3"]
    assert sss.to_prune(listing, keep=1) == ["scheduled-1", "scheduled-2", "scheduled-3"]
    assert sss.to_prune(listing, keep=5) == ["scheduled-3"]  # a partial snapshot is no backup: deleted at once
    assert [s["snapshot"] for s in sss.ours(listing)][0] == "scheduled-1"
    with pytest.raises(Exception, match="keep"):
        sss.to_prune(listing, keep=0)


def test_the_interval_counts_from_the_newest_snapshot():
    assert schedule.due_in(None, 60, now=1000) < 0  # none yet: at once
    assert schedule.due_in({"at": 990.0}, 60, now=1000) == 50
    assert schedule.due_in({"at": 900.0}, 60, now=1000) < 0


def test_settings_come_from_the_environment_at_up_and_change_at_run_time(tmp_path, monkeypatch):
    twin = twin_at(tmp_path)
    monkeypatch.delenv(sss.ENV_INTERVAL, raising=False)
    monkeypatch.delenv(sss.ENV_KEEP, raising=False)
    assert sss.ensure(twin) == schedule.Settings(sss.SCHEDULE.default_interval_s(), 3)
    monkeypatch.setenv(sss.ENV_INTERVAL, "120")
    monkeypatch.setenv(sss.ENV_KEEP, "2")
    assert sss.ensure(twin) == schedule.Settings(120.0, 2)
    monkeypatch.delenv(sss.ENV_INTERVAL)
    monkeypatch.delenv(sss.ENV_KEEP)
    assert sss.ensure(twin) == schedule.Settings(120.0, 2)  # kept from then on
    assert sss.configure(twin, interval_s=30) == sss.load(twin) == schedule.Settings(30.0, 2)
    assert (twin.paths.data / "search-snapshot-schedule.json").exists()
    with pytest.raises(UsageError, match="interval_s"):
        sss.configure(twin, interval_s=1)
    monkeypatch.setenv(sss.ENV_INTERVAL, "soon")
    with pytest.raises(UsageError, match=sss.ENV_INTERVAL):
        sss.ensure(twin)
    assert sss.load(twin) == schedule.Settings(30.0, 2)  # a refused change changes nothing


def test_the_default_interval_is_half_the_search_layers_backup_age_limit():
    _objective, limit = targets_yaml.load().for_layer("search").backup_limit()
    expected = max(schedule.MIN_INTERVAL_S, limit / 2) if limit else sss.DEFAULT_INTERVAL_S
    assert sss.SCHEDULE.default_interval_s() == expected


def test_the_schedule_is_a_supervised_regional_member_of_the_supervisor_twin(tmp_path):
    twin = twin_at(tmp_path)
    w = sss.workload(twin)
    (m,) = w.members
    assert (w.name, w.kind, w.replicas, w.after, m.name) == ("search-snapshot", "service", 1, ["bootstrap"],
                                                             "search-snapshot-1")
    assert m.labels["zone"] == REGIONAL and m.address is None and not m.env and not m.env_files
    assert m.argv[1:3] == ["-m", "gameday.sandbox.search_snapshot_schedule"] and str(tmp_path / "twin") in m.argv
    assert not any("password" in a.lower() for a in m.argv)
    built = Twin.create("snapshot-test", net=34)  # topology.build reads nothing, writes nothing
    assert "search-snapshot" in [w.name for w in topology.build(built).workloads]
    assert "search-snapshot" not in [w.name for w in topology.build(built, kubernetes=True).workloads]


# ---- one guarded attempt (schedule.Loop.guarded, used by both members' loops) ------------------------

class _Probe(schedule.Loop):
    """A loop whose work is the test's own: what ``guarded`` sees of ``busy``, errors and signals."""

    def __init__(self, tmp_path: Path):
        super().__init__(twin_at(tmp_path), sss.SCHEDULE)


def test_guarded_returns_the_result_or_the_error_and_is_busy_only_inside(tmp_path):
    loop = _Probe(tmp_path)
    assert loop.guarded(lambda: loop.busy) == (True, None) and loop.busy is False
    err = OSError("repository not reachable")

    def fails():
        raise err
    assert loop.guarded(fails) == (None, err) and loop.busy is False
    with pytest.raises(ZeroDivisionError):  # not one of loop.errors: a bug, raised
        loop.guarded(lambda: 1 / 0)
    assert loop.busy is False


def test_a_sigterm_inside_a_guarded_step_ends_the_member_and_between_steps_only_stops_the_loop(tmp_path):
    import os
    import signal

    loop = _Probe(tmp_path)
    previous = signal.signal(signal.SIGTERM, loop.on_signal)
    try:
        with pytest.raises(SystemExit) as exit_:
            loop.guarded(lambda: os.kill(os.getpid(), signal.SIGTERM) or time.sleep(5))
        assert exit_.value.code == 0 and loop.stop.is_set() and loop.busy is False
        loop.stop.clear()
        os.kill(os.getpid(), signal.SIGTERM)  # outside a step: the loop sees stop at its next wait
        assert loop.stop.wait(5) and loop.run() == 0
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_only_the_twins_schedule_is_gamedays_to_change_elsewhere_the_platform_is_named():
    import copy

    import yaml

    from gameday.errors import GamedayError
    from gameday.targets import kubernetes as k8s
    from gameday.targets.environment import from_mapping

    raw = yaml.safe_load((Path(__file__).resolve().parents[2] / "environments" / "rehearsal.yaml").read_text())
    target = k8s.KubernetesTarget(from_mapping(copy.deepcopy(raw["configuration"]["gameday_environment"]), "test"))
    with pytest.raises(GamedayError, match="the platform takes the search snapshots.*_slm/policy.*nothing was changed"):
        target.set_search_snapshot_schedule(interval_s=60)


def test_on_the_kubernetes_twin_the_same_loop_is_a_deployment_reading_the_password_from_ecks_secret(tmp_path, monkeypatch):
    from gameday.kube import schedules, workloads

    monkeypatch.setenv("GAMEDAY_STATE_DIR", str(tmp_path))
    twin = Twin.create("snapshot-test", net=34)
    (deployment,) = schedules.objects(twin)
    assert [o["metadata"]["name"] for o in workloads.objects(twin, part="web")][-1] == "search-snapshot"
    assert "search-snapshot" not in [o["metadata"]["name"] for o in workloads.objects(twin, part="data")]
    spec = deployment["spec"]
    assert (deployment["metadata"]["namespace"], spec["replicas"], spec["strategy"]) == ("gameday", 1, {"type": "Recreate"})
    (container,) = spec["template"]["spec"]["containers"]
    assert container["command"] + container["args"] == sss.workload(twin).members[0].argv  # the member's own command
    env = {e["name"]: e for e in container["env"]}
    assert env[sss.PASSWORD_ENV]["valueFrom"]["secretKeyRef"] == {"name": "search-es-elastic-user", "key": "elastic"}
    assert twin.search_password() not in str(deployment) and "readinessProbe" not in container


def test_the_member_reads_the_password_from_its_environment_when_a_pod_sets_it(tmp_path, monkeypatch):
    twin = twin_at(tmp_path)
    monkeypatch.setenv(sss.PASSWORD_ENV, "from-the-secret")
    assert sss.admin(twin).session.auth == ("elastic", "from-the-secret")
    monkeypatch.delenv(sss.PASSWORD_ENV)
    assert sss.admin(twin).session.auth == ("elastic", twin.search_password())  # the twin's 0600 file
