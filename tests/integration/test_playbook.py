"""Recovery playbooks against the real twin `playbook` (127.60.x.y): inject a fault the platform
does not heal by itself (members stopped, an index deleted, a dependency cut), run the playbook,
and assert the layer is back within its target and no acknowledged canary record was lost.

Faults are made with the sandbox's own controls (stop = held: the supervisor will not restart it),
so only the playbook can bring the layer back; each test undoes its fault in ``finally``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from gameday.deadline import wait_until
from gameday.measure.canary import Canaries, CanaryEndpoints
from gameday.recovery import HEALTHY, RESTORED, Context, load_playbook, run
from gameday.recovery import targets_yaml
from gameday.sandbox.client import SandboxClient
from gameday.targets.environment import load as load_env


ENV = "sandbox-test"
NET = 20
GAMEDAY = str(Path(sys.executable).with_name("gameday"))
TARGETS = targets_yaml.load()


@pytest.fixture
def pb_twin(steady_twin):
    """The test session's twin (127.20.x.y, tests/conftest.py), in a steady state."""
    return steady_twin


@pytest.fixture
def client(pb_twin) -> SandboxClient:
    return SandboxClient(pb_twin.paths)


@pytest.fixture
def ctx(pb_twin) -> Context:
    c = Context.for_environment(load_env(ENV))
    c.state.slo = TARGETS.slo(ENV)
    return c


def cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([GAMEDAY, "playbook", *args, "-e", ENV], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "GAMEDAY_SANDBOX_NET": str(NET)})


def snapshot_members(client: SandboxClient) -> dict:
    return {m["name"]: (m["pid"], m["restarts"], m["state"]) for m in client.status()["members"]}


def apply(ctx: Context, name: str, fault_at: float, scenario: str | None = None):
    target = TARGETS.for_layer(name, environment=ENV, scenario=scenario)
    result = run(load_playbook(name), ctx, apply=True, fault_at=fault_at, rto_target_s=target.rto_s)
    assert result.outcome == RESTORED, json.dumps(result.to_dict(), indent=1)
    assert result.rto["met"], result.rto
    assert json.loads(json.dumps(result.to_dict()))["schema"] == "gameday.playbook/v1"
    print(f"{name}/{scenario or '-'}: RTO {result.rto['measured_s']}s (target {target.rto_s:g}s); steps: "
          + ", ".join(f"{s.name} {s.seconds}s" for s in result.steps if s.seconds is not None))
    return result


def assert_nothing_lost(canaries: Canaries) -> dict:
    reports = canaries.verify(timeout=120)
    for layer, report in reports.items():
        assert report.acknowledged > 0, report.to_dict()
        assert report.lost == [], f"{layer}: lost acknowledged records {report.lost} ({report.to_dict()})"
    return reports


def restart_held(client: SandboxClient, *names: str) -> None:
    for name in names:
        client.start(name)


# ---- healthy: nothing to do -----------------------------------------------------------------
def test_playbooks_on_a_healthy_site_change_nothing(client):
    before = snapshot_members(client)
    proc = cli("site", "--apply", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["outcome"] == HEALTHY and doc["findings"] == [] and doc["steps"] == []
    for layer in ("web", "kafka", "search", "db"):
        dry = cli(layer)
        assert dry.returncode == 0 and "healthy" in dry.stdout and "nothing was changed" in dry.stdout, dry.stdout
    assert snapshot_members(client) == before


# ---- web ------------------------------------------------------------------------------------
def test_web_full_outage_dry_run_then_restore(ctx, client):
    canaries = Canaries(CanaryEndpoints.from_context(ctx), interval=0.5).start()
    webs = [m["name"] for m in client.members(layer="web") if m["desired"]]
    try:
        fault_at = time.time()
        for name in webs:
            client.stop(name)
        client.scale("web", 2)
        dry = cli("web")
        assert dry.returncode == 11, dry.stdout + dry.stderr
        assert "stopped and nothing will start them again" in dry.stdout and "scaled to 2 of 3" in dry.stdout
        assert "web/start-web" in dry.stdout and "nothing was changed" in dry.stdout
        assert not any(m["desired"] for m in client.members(layer="web")), "a dry run must not act"

        result = apply(ctx, "web", fault_at, scenario="full-outage")
        assert [s.name for s in result.steps][0] == "start-web"
        assert "scaled web 2 -> 3" in result.steps[0].did
        assert requests.get(ctx.target.site_url() + "/", timeout=5).status_code == 200
    finally:
        client.scale("web", 3)
        restart_held(client, *webs)
    assert_nothing_lost(canaries)


def test_a_rolling_restart_asked_for_replaces_every_web_replica_and_loses_nothing(ctx, client):
    canaries = Canaries(CanaryEndpoints.from_context(ctx), interval=0.5).start()
    before = {m["name"]: m["pid"] for m in client.members(layer="web") if m["desired"]}
    dry = cli("web", "--rolling-restart")
    assert dry.returncode == 11 and "web/rolling-restart-web" in dry.stdout, dry.stdout + dry.stderr
    assert {m["name"]: m["pid"] for m in client.members(layer="web") if m["desired"]} == before  # a dry run acts not
    applied = cli("web", "--rolling-restart", "--apply", "--json")
    result = json.loads(applied.stdout)
    assert applied.returncode == 10 and result["outcome"] == "restored", applied.stdout[-3000:] + applied.stderr[-2000:]
    step = next(s for s in result["steps"] if s["name"] == "rolling-restart-web")
    assert step["status"] == "ok" and "web-1, web-2, web-3" in step["did"]
    after = {m["name"]: m for m in client.members(layer="web") if m["desired"]}
    assert all(after[n]["pid"] != pid and after[n]["ready"] for n, pid in before.items())
    assert all(s["status"] == "ok" for s in result["steps"]), result["steps"]
    assert_nothing_lost(canaries)
    bad = cli("kafka", "--rolling-restart")
    assert bad.returncode == 2 and "--rolling-restart is for the web playbook" in bad.stderr


# ---- kafka ----------------------------------------------------------------------------------
# Two brokers held down (start-kafka, restore-controller-quorum, elect-preferred-leaders, verify-lag-drains,
# nothing acknowledged lost): tests/integration/test_kafka_quorum_and_disk.py, through the quorum drill.


# ---- search ---------------------------------------------------------------------------------
def test_search_node_stopped_is_restored_green_and_complete(ctx, client):
    canaries = Canaries(CanaryEndpoints.from_context(ctx), interval=0.5).start()
    try:
        fault_at = time.time()
        client.stop("search-2")
        api = ctx.target.search_admin()
        wait_until(lambda: api.health()["status"] != "green", timeout=60, what="the cluster to notice")
        result = apply(ctx, "search", fault_at)
        assert "started search-2" in result.steps[0].did
        assert api.health()["status"] == "green"
    finally:
        restart_held(client, "search-2")
    assert_nothing_lost(canaries)


def test_search_index_loss_restored_from_snapshot_plus_replay_with_zero_lost_documents(ctx, client):
    api = ctx.target.search_admin(timeout=120)
    canaries = Canaries(CanaryEndpoints.from_context(ctx), interval=0.5).start()
    try:
        snapshot = f"test-backup-{int(time.time())}"
        api.snapshot("gameday-fs", snapshot, ["content"])  # the scheduled backup
        wait_until(lambda: canaries.acknowledged()["search"] >= 4, timeout=60,
                   what="publishes after the snapshot (only Kafka and the database have them)")
        fault_at = time.time()
        api.delete_index("content")
        time.sleep(3)  # the indexer keeps writing: automatic index creation makes an impostor
        result = apply(ctx, "search", fault_at, scenario="lose-index")
        ran = {s.name: s for s in result.steps}
        assert snapshot in ran["restore-snapshot"].did
        assert "replayed" in ran["replay-events"].did and "replayed 0 events" not in ran["replay-events"].did
        assert ran["resume-indexer"].status == "ok" and ran["verify-count"].status == "ok"
    finally:
        for m in client.members(layer="indexer"):
            if not m["desired"]:
                client.start(m["name"])
    reports = assert_nothing_lost(canaries)
    assert reports["search"].acknowledged >= 4

    def complete():  # a publish that timed out at the client may still be in the outbox: the relay sends it
        api.request("POST", "/content/_refresh")
        return api.count("content") == ctx.article_count()
    wait_until(complete, timeout=90, what="every article in the database to be searchable")


def test_an_index_of_another_size_is_the_sites_and_an_auto_created_one_is_an_impostor(ctx):
    """The search playbook deletes what :func:`impostor_reason` calls an impostor: an index with the site's
    mapping and another shard count (re-sized, or a platform's own layout) is the site's, never deleted;
    one made by automatic index creation (a write to a missing index: dynamic mapping) is an impostor."""
    import copy

    from gameday.search_index import impostor_reason
    from gameday.site.search import INDEX_SETTINGS

    api = ctx.target.search_admin(timeout=60)
    sized, auto = "gameday-test-index-sized", "gameday-test-index-auto"
    body = copy.deepcopy(INDEX_SETTINGS)
    body["settings"]["index"].update(number_of_shards=1, number_of_replicas=0)
    try:
        api.request("PUT", f"/{sized}", json=body)
        assert impostor_reason(api, sized) is None
        api.request("PUT", f"/{auto}/_doc/1", ok=(200, 201), json={
            "kind": "guidance", "slug": "x", "title": "X", "category": "c", "summary": "s", "body": "b", "version": 1,
            "updated_at": "2026-12-07T08:00:00Z"})
        why = impostor_reason(api, auto)
        assert why is not None and "kind, category, slug" in why, why
    finally:
        for index in (sized, auto):
            if api.index_exists(index):
                api.delete_index(index)


# ---- db -------------------------------------------------------------------------------------
def test_database_stopped_is_restarted_and_the_site_verified(ctx, client):
    canaries = Canaries(CanaryEndpoints.from_context(ctx), interval=0.5).start()
    try:
        fault_at = time.time()
        client.stop("db-1")
        client.wait_stopped("db-1", timeout=60)
        result = apply(ctx, "db", fault_at)
        ran = {s.name: s for s in result.steps}
        assert "started db-1" in ran["start-db"].did and ran["verify-site-after-db"].status == "ok"
    finally:
        restart_held(client, "db-1")
    reports = assert_nothing_lost(canaries)
    assert reports["db"].failed_writes > 0  # the database was really gone for a while


def test_a_lost_canary_record_is_reported_by_sequence_number(ctx):
    canaries = Canaries(CanaryEndpoints.from_context(ctx), layers=("db",), interval=0.2).start()
    wait_until(lambda: canaries.acknowledged()["db"] >= 5, timeout=30, what="five canary rows")
    canaries.stop()
    ctx.db_query("DELETE FROM gameday_canary WHERE run = %s AND seq IN (2, 4)", (canaries.run,))
    report = canaries.verify(timeout=30)["db"]
    assert report.lost == [2, 4] and not report.ok
    assert report.to_dict()["rpo_records"] == 2 and report.lost_span_s > 0


# ---- a step that cannot succeed fails at its deadline, clearly ------------------------------
def test_a_step_past_its_deadline_fails_clearly_instead_of_hanging(ctx, client, pb_twin):
    proxy = f"{pb_twin.toxiproxy_api}/proxies/db"
    try:
        requests.post(proxy, json={"enabled": False}, timeout=5).raise_for_status()  # cut web -> db
        wait_until(lambda: not any(m["ready"] for m in client.members(layer="web") if m["desired"]), timeout=60,
                   what="web replicas to turn not ready")
        started = time.monotonic()
        proc = cli("web", "--apply", "--step-timeout", "5", timeout=120)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert "error: playbook web failed to restore" in proc.stderr
        assert "deadline of 5s passed" in proc.stderr and "not ready" in proc.stderr
        assert "Traceback" not in proc.stderr
        assert time.monotonic() - started < 100
    finally:
        requests.post(proxy, json={"enabled": True}, timeout=5).raise_for_status()
        wait_until(lambda: all(m["ready"] for m in client.members(layer="web") if m["desired"]), timeout=120,
                   what="web replicas ready again")


def test_bad_input_is_refused_with_exit_code_2(pb_twin, tmp_path):
    bad = tmp_path / "targets.yaml"
    bad.write_text("schema: gameday.targets/v1\ndefaults:\n  slo: {success_ratio: 0.99, p95_ms: 1000, window_s: 10}\n"
                   "  layers:\n    web: {rto: 10}\n")
    proc = cli("web", "--targets", str(bad))
    assert proc.returncode == 2 and "unknown key 'rto'" in proc.stderr and "did you mean 'rto_s'" in proc.stderr
    proc = subprocess.run([GAMEDAY, "playbook", "nosuch"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
