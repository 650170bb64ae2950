"""Blast-radius caps count what is already down, choices skip it, and production consent undoes what it
injected: plain `chaos run` and `gameday playbook` against the test session's twin (127.20.x.y).

Most cases are refused by the guard's dry run, so they touch nothing and take seconds; the two that
inject a fault (the indexer stopped on a "production" target, a web replica held) undo it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from chaoslib.exceptions import InterruptExecution

from gameday.chaos import ledger
from gameday.chaos.controls.guard import check_experiment
from gameday.chaos.lock import TargetLock
from gameday.chaos.search.actions import kill_data_node
from gameday.targets.environment import load as load_env
from tests.support import search

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
ENV_FILE = ROOT / "environments" / "sandbox-test.yaml"
ENV_NAME = "sandbox-test"
CONTROLS = yaml.safe_load((ROOT / "experiments" / "web" / "kill-one-pod.yaml").read_text())["controls"]


def environment(**changes) -> dict:
    doc = yaml.safe_load(ENV_FILE.read_text())["configuration"]["gameday_environment"]
    limits = {**doc["limits"], **changes.pop("limits", {})}
    return {**doc, **changes, "limits": limits}


def write_env(tmp_path: Path, **changes) -> Path:
    path = tmp_path / "env.yaml"
    path.write_text(yaml.safe_dump({"configuration": {"gameday_environment": environment(**changes)}}))
    return path


def action(title: str, module: str, func: str, /, **arguments) -> dict:
    return {"type": "action", "name": title,
            "provider": {"type": "python", "module": f"gameday.chaos.{module}.actions", "func": func, "arguments": arguments}}


def experiment(tmp_path: Path, method: list, rollbacks: list = ()) -> Path:
    """An experiment behind the catalog's controls. It declares the consent key: Chaos Toolkit passes
    a --var on only for keys the experiment's configuration declares."""
    doc = {"version": "1.0.0", "title": "caps and consent", "description": "issue 13",
           "configuration": {"gameday_environment": "sandbox", "gameday_i_mean_production": False},
           "controls": CONTROLS,
           "method": method, "rollbacks": list(rollbacks)}
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def chaos_run(experiment_path: Path, var_file: Path, tmp_path: Path, *extra: str) -> tuple[subprocess.CompletedProcess, dict]:
    journal = tmp_path / "journal.json"
    env = {k: v for k, v in os.environ.items() if k != "GAMEDAY_I_MEAN_PRODUCTION"}
    proc = subprocess.run([str(BIN / "chaos"), "--no-log-file", "run", str(experiment_path), "--rollback-strategy",
                           "always", "--var-file", str(var_file), "--journal-path", str(journal), *extra],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)
    return proc, (json.loads(journal.read_text()) if journal.exists() else {})


def restarts(client) -> dict:
    return {m["name"]: m["restarts"] for m in client.status()["members"]}


def assert_refused(proc, journal, client, before: dict, *phrases: str) -> None:
    for phrase in phrases:
        assert phrase in proc.stderr, proc.stderr[-3000:]
    assert journal.get("status") == "interrupted" and journal.get("run") == [], proc.stderr[-3000:]
    assert restarts(client) == before  # not one member was touched
    assert TargetLock(ENV_NAME).holder() is None and ledger.pending(ENV_NAME) == []


# ---- caps count per target, across the actions of an experiment --------------------------------

@pytest.mark.parametrize("layer, limits, method, phrases", [
    ("search", {"search_max_nodes": 1},
     [action("kill-search-1", "search", "kill_data_node", choose="name", name="search-1"),
      action("kill-search-2", "search", "kill_data_node", choose="name", name="search-2")],
     ["limits.search_max_nodes = 1", "search-1 (taken down by an earlier action of this experiment)"]),
    ("web", {"web_max_percent": 50},
     [action("kill-a-web-pod", "web", "kill_web_pods", qty=1, mode="fixed"),
      action("kill-another-web-pod", "web", "kill_web_pods", qty=1, mode="fixed")],
     ["limits.web_max_percent = 50%", "2 of 3 web members down"]),
])
def test_two_faults_that_pass_a_cap_together_are_refused_before_the_first(layer, limits, method, phrases,
                                                                          steady_twin, twin_client, tmp_path):
    before = restarts(twin_client)
    proc, journal = chaos_run(experiment(tmp_path, method), write_env(tmp_path, limits=limits), tmp_path)
    assert_refused(proc, journal, twin_client, before, "above this target's cap", *phrases)


def test_a_member_already_down_counts_against_the_cap_and_is_never_chosen(steady_twin, twin_client, tmp_path):
    twin_client.stop("web-1")  # held stopped, as a playbook drill or another run might leave it
    try:
        twin_client.wait_stopped("web-1", timeout=30)
        before = restarts(twin_client)
        proc, journal = chaos_run(experiment(tmp_path, [action("kill-a-web-pod", "web", "kill_web_pods", qty=1)]),
                                  write_env(tmp_path, limits={"web_max_percent": 50}), tmp_path)
        assert_refused(proc, journal, twin_client, before, "limits.web_max_percent = 50%", "web-1 (held stopped)")
        # under a cap that allows it, the choice skips web-1 (in the dry run and the real run alike)
        plans = check_experiment({"method": [action("kill-two", "web", "kill_web_pods", qty=2)]},
                                 {"gameday_environment": environment(limits={"web_max_percent": 100})}, {})
        assert plans == ["kill-two: would touch web-2, web-3"] or plans == ["kill-two: would touch web-3, web-2"]
    finally:
        twin_client.start("web-1")
        twin_client.wait_ready("web-1", timeout=120)


def test_a_fault_recorded_by_any_run_counts_against_the_cap(steady_twin):
    """An undo record (a member stopped by another run, not undone yet) is down, whatever the
    target says; kill_data_node refuses a second search node while it is there."""
    env = load_env(ENV_NAME)
    rid = ledger.write(env, "start_node", {"layer": "search", "name": "search-3"}, reason="stopped search-3 (a test)")
    try:
        with pytest.raises(InterruptExecution) as err:
            kill_data_node(choose="name", name="search-1", dry_run=True,
                           configuration={"gameday_environment": environment(limits={"search_max_nodes": 1})})
        assert "limits.search_max_nodes = 1" in str(err.value) and "search-3 (stopped, undo pending" in str(err.value)
    finally:
        ledger.done(env, rid)


def test_a_second_most_primaries_choice_skips_the_node_the_first_takes(steady_twin):
    """Cluster metadata still names the first victim as the node with most primaries; the second
    choice must skip it (here in the guard's dry run, under a cap of two that lets both pass)."""
    most = next(iter(search.admin(steady_twin).primaries_by_node("content")))
    kill = action("kill-most-primaries", "search", "kill_data_node", choose="most-primaries")
    plans = check_experiment({"method": [kill, {**kill, "name": "kill-most-primaries-again"}]},
                             {"gameday_environment": environment(limits={"search_max_nodes": 2})}, {})
    first, second = (p.split("would touch ")[1] for p in plans)
    assert first == most and second != most and second.startswith("search-"), plans


# ---- production consent: what it injected, it undoes -------------------------------------------

def test_a_production_rollback_runs_with_the_consent_the_run_was_given(steady_twin, twin_client, tmp_path):
    stop = action("stop-the-indexer", "kafka", "stop_consumers", layer="indexer")
    start = {**action("start-the-indexer", "kafka", "start_consumers", layer="indexer")}
    path = experiment(tmp_path, [stop], rollbacks=[start])
    var_file = write_env(tmp_path, production=True)
    indexers = [m["name"] for m in twin_client.status()["members"] if m["layer"] == "indexer" and m["desired"]]
    try:
        refused, journal = chaos_run(path, var_file, tmp_path)  # no consent: nothing at all
        assert "production target" in refused.stderr and journal.get("run") == [], refused.stderr[-3000:]
        ran, journal = chaos_run(path, var_file, tmp_path, "--var", "gameday_i_mean_production:bool=true")
        assert journal["status"] == "completed", ran.stderr[-3000:]
        assert journal["run"][0]["output"]["touched"] == indexers
        assert sorted(journal["rollbacks"][0]["output"]["started"]) == sorted(indexers), ran.stderr[-3000:]
        assert ledger.pending(ENV_NAME) == [] and TargetLock(ENV_NAME).holder() is None
        members = {m["name"]: m for m in twin_client.status()["members"]}
        assert all(members[n]["desired"] for n in indexers)
    finally:
        for name in indexers:  # whatever happened above, the twin keeps its indexer
            twin_client.start(name)
        for name in indexers:
            twin_client.wait_ready(name, timeout=120)


def test_a_playbook_restores_a_production_target_with_the_flag(steady_twin, twin_client, tmp_path):
    var_file = write_env(tmp_path, production=True)
    gameday = [str(BIN / "gameday"), "playbook", "web", "--apply", "-e", str(var_file)]
    env = {k: v for k, v in os.environ.items() if k != "GAMEDAY_I_MEAN_PRODUCTION"}
    twin_client.stop("web-2")
    try:
        twin_client.wait_stopped("web-2", timeout=30)
        refused = subprocess.run(gameday, capture_output=True, text=True, timeout=120, env=env)
        assert refused.returncode == 2 and "--i-mean-production" in refused.stderr, refused.stderr[-2000:]
        assert not twin_client.member("web-2")["desired"]  # refused: nothing was done
        restored = subprocess.run([*gameday, "--i-mean-production"], capture_output=True, text=True, timeout=300, env=env)
        assert restored.returncode == 10, restored.stdout[-2000:] + restored.stderr[-2000:]
        assert twin_client.member("web-2")["ready"]
    finally:
        twin_client.start("web-2")
        twin_client.wait_ready("web-2", timeout=120)
