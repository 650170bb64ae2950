"""The experiment catalog, run with plain `chaos run` against the real twin, and the extension's safety.

Every experiment must complete with its steady state met before and after, touch what it says, and
leave no fault recorded and no lock held.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pymysql
import pytest
import requests
import yaml

from gameday import kafka_admin
from gameday.chaos import ledger
from gameday.chaos.lock import TargetLock
from gameday.deadline import wait_until
from gameday.sandbox.shape import WEB_TIERS
from tests.support import search
from tests.support.chaos_journal import assert_steady_before

ROOT = Path(__file__).resolve().parents[2]
CHAOS = str(Path(sys.executable).with_name("chaos"))
ENV_FILE = ROOT / "environments" / "sandbox-test.yaml"
ENV_NAME = "sandbox-test"
CATALOG = sorted(p.relative_to(ROOT / "experiments").as_posix() for p in (ROOT / "experiments").glob("*/*.yaml")
                 if p.parent.name != "suites")  # suites are game-day files, not experiments


def chaos_run(experiment: Path, tmp_path: Path, var_file: Path = ENV_FILE, timeout: float = 600,
              extra: tuple = ()) -> tuple[subprocess.CompletedProcess, dict]:
    journal = tmp_path / f"journal-{experiment.stem}.json"
    proc = subprocess.run([CHAOS, "--no-log-file", "run", str(experiment), "--rollback-strategy", "always",
                           "--var-file", str(var_file), "--journal-path", str(journal), *extra],
                          capture_output=True, text=True, timeout=timeout, cwd=tmp_path)
    return proc, (json.loads(journal.read_text()) if journal.exists() else {})


def outputs(journal: dict) -> dict:
    return {r["activity"]["name"]: r.get("output") for r in journal.get("run", [])}


def test_catalog_covers_every_layer_the_issue_asks_for():
    assert {"web/kill-one-pod.yaml", "web/kill-half-the-pods.yaml", "web/full-outage.yaml", "web/rolling-restart.yaml",
            "kafka/kill-partition-leader.yaml", "kafka/kill-two-brokers.yaml", "kafka/stop-indexer.yaml",
            "search/kill-data-node.yaml", "search/fail-shards.yaml", "search/lose-index.yaml",
            "db/kill-database.yaml", "network/latency-web-to-search.yaml", "network/cut-web-to-db.yaml"} <= set(CATALOG)


def _before(name: str, twin, client) -> dict:
    if name == "kafka/kill-partition-leader.yaml":
        return {"leader": kafka_admin.leader_of(twin.kafka_bootstrap(), "content-events", 0)}
    if name == "search/kill-data-node.yaml":
        return {"most": next(iter(search.admin(twin).primaries_by_node("content")))}
    if name == "search/lose-index.yaml":
        return {"docs": search.admin(twin).count("content")}
    members = client.status()["members"]
    return {"restarts": {m["name"]: m["restarts"] for m in members}, "pids": {m["name"]: m["pid"] for m in members}}


def _unsent_outbox(twin) -> int:
    conn = pymysql.connect(host=twin.address("db"), port=3306, user="sps", password=twin.db_password(),
                           database="sps", connect_timeout=2)
    with conn, conn.cursor() as cur:
        cur.execute(twin.content_schema().outbox_unsent_sql())  # the Python site's outbox, or WordPress's
        return cur.fetchone()[0]


# run with plain chaos run, and checked more closely, by their own module (one run each is enough)
RUN_ELSEWHERE = {"kafka/lose-broker-disk.yaml": "tests/integration/test_kafka_disk.py",
                 # the game days' chaos run children, checked there from their journals and the supervisor
                 "web/kill-one-pod.yaml": "tests/integration/test_gameday.py",
                 "search/kill-data-node.yaml": "tests/integration/test_gameday.py",
                 "web/full-outage.yaml": "tests/integration/test_gameday.py",
                 "search/lose-cluster.yaml": "tests/integration/test_search_cluster_loss.py",
                 "db/destroy-content.yaml": "tests/integration/test_db_restore.py",
                 "db/lose-primary.yaml": "tests/integration/test_db_failover.py",
                 "kafka/poison-events.yaml": "tests/integration/test_empty_cells.py",
                 "web/replica-not-ready.yaml": "tests/integration/test_empty_cells.py",
                 "lb/kill-load-balancer.yaml": "tests/integration/test_empty_cells.py",
                 "zone/lose-zone.yaml": "tests/integration/test_zone_loss.py",
                 # run there by chaos run with their own assertions (no leader seen, ENOSPC seen, 0 lost)
                 "kafka/lose-controller-quorum.yaml": "tests/integration/test_kafka_quorum_and_disk.py",
                 "kafka/fill-broker-disk.yaml": "tests/integration/test_kafka_quorum_and_disk.py",
                 # two regions of their own (gameday sandbox up --regions 2)
                 "region/switchover.yaml": "tests/integration/test_regions.py",
                 "region/lose-region.yaml": "tests/integration/test_regions.py",
                 # WordPress-only (refused on the Python twin): its own small WordPress twin, under chaos run
                 "web/lose-media-uploads.yaml": "tests/integration/test_media_drill.py",
                 # WordPress-only: run on their own small WordPress twins
                 "network/latency-web-to-db.yaml": "tests/integration/test_web_tier_faults.py",
                 "cdn/lose-cdn.yaml": "tests/integration/test_web_tier_faults.py"}


def test_experiments_run_elsewhere_are_run_there():
    for name, module in RUN_ELSEWHERE.items():
        assert name in CATALOG and Path(name).name in (ROOT / module).read_text(), (name, module)


# WordPress-only experiments: the Python session twin refuses them (no relay, no object cache), and their
# small WordPress twins lack what the files' steady state asks (Kafka partitions healthy, search green).
# Their own activities and playbooks run there, through a real Target; the FILES run under `chaos run`
# here when the session twin is WordPress (GAMEDAY_SANDBOX_WEB=wordpress: issue 17, docs/web-tier-switch.md
# C5b), and nowhere while the Python site is the default tier.
ACTIVITIES_RUN_ELSEWHERE = {"events/stop-relay.yaml": "tests/integration/test_relay_drill.py",
                            "cache/lose-object-cache.yaml": "tests/integration/test_cache_drill.py"}
SESSION_WEB = os.environ.get("GAMEDAY_SANDBOX_WEB") or WEB_TIERS[0]  # the session twin's tier (tests/conftest.py)
RUN_HERE = [n for n in CATALOG if n not in RUN_ELSEWHERE
            and (n not in ACTIVITIES_RUN_ELSEWHERE or SESSION_WEB == "wordpress")]


def test_wordpress_only_experiments_activities_are_run_there():
    """Each fault/probe module of the experiment's own layer (``gameday.chaos.<layer>``) that the file's
    method or rollbacks call is imported and used by the module named."""
    import yaml
    for name, module in ACTIVITIES_RUN_ELSEWHERE.items():
        assert name in CATALOG and name not in RUN_ELSEWHERE, name
        text = (ROOT / module).read_text()
        experiment = yaml.safe_load((ROOT / "experiments" / name).read_text())
        own = {a["provider"]["module"] for a in experiment["method"] + experiment.get("rollbacks", [])
               if a.get("provider", {}).get("module", "").startswith(f"gameday.chaos.{Path(name).parent.name}.")}
        assert own, name
        for mod in own:
            package, leaf = mod.rsplit(".", 1)
            assert f"from {package} import" in text and leaf in text, (name, module, mod)


@pytest.mark.parametrize("name", RUN_HERE)
def test_experiment_runs_against_the_twin(name, steady_twin, twin_client, tmp_path):
    twin = steady_twin
    before = _before(name, twin, twin_client)
    proc, journal = chaos_run(ROOT / "experiments" / name, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert_steady_before(proc, journal)
    assert journal["status"] == "completed" and journal["deviated"] is False, proc.stderr[-3000:]
    out = outputs(journal)
    fault = next(r["output"] for r in journal["run"] if r["activity"]["type"] == "action")  # the first action
    assert fault["target"] == ENV_NAME and fault["fault_at"] <= time.time()

    if name == "web/rolling-restart.yaml":
        assert fault["touched"] == ["web-1", "web-2", "web-3"]  # one at a time, in order
        after = {m["name"]: m for m in twin_client.status()["members"]}
        assert all(after[n]["pid"] != before["pids"][n] and after[n]["ready"] for n in fault["touched"])
        for n in fault["touched"]:  # each stopped gracefully (held, SIGTERM), started again once
            assert after[n]["restarts"] == before["restarts"][n] + 1
            events = [h["event"] for h in after[n]["history"]]
            assert "held" in events and "released" in events
            exited = [h for h in after[n]["history"] if h["event"] == "exited"][-1]
            assert exited.get("signal") != "SIGKILL"
    elif name.startswith("web/"):
        expected = {"web/kill-one-pod.yaml": 1, "web/kill-half-the-pods.yaml": 2, "web/full-outage.yaml": 3}[name]
        assert len(fault["touched"]) == expected
        after = {m["name"]: m["restarts"] for m in twin_client.status()["members"]}
        assert all(after[n] == before["restarts"][n] + 1 for n in fault["touched"])
    elif name == "kafka/kill-partition-leader.yaml":
        assert fault["broker_id"] == before["leader"] and fault["touched"] == [f"kafka-{before['leader']}"]
    elif name == "kafka/kill-two-brokers.yaml":
        assert len(fault["touched"]) == 2
        published = out["editors-publish-while-kafka-refuses-writes"]
        assert published["failed"] == 0 and published["acknowledged"] + published["pending"] == 3
        wait_until(lambda: _unsent_outbox(twin) == 0, timeout=60, what="the outbox to drain")
    elif name == "kafka/stop-indexer.yaml":
        assert out["backlog-while-stopped"] >= 5
        assert kafka_admin.consumer_lag(twin.kafka_bootstrap(), "indexer", "content-events")["total"] == 0
    elif name == "search/kill-data-node.yaml":
        assert fault["touched"] == [before["most"]]
    elif name == "search/fail-shards.yaml":
        assert out["cluster-while-shards-are-failed"]["status"] == "red"
        assert out["readers-of-articles-during-the-fault"]["success_ratio"] == 1.0
    elif name == "search/lose-index.yaml":
        assert search.admin(twin).count("content") >= before["docs"]
    elif name == "db/kill-database.yaml":
        assert out["readers-during-the-fault"]["success_ratio"] < 1.0
    elif name == "network/latency-web-to-search.yaml":
        assert out["search-readers-during-the-delay"]["p50_ms"] >= 1500
        assert out["article-readers-during-the-delay"]["p95_ms"] < 1500
    elif name == "network/cut-web-to-db.yaml":
        assert out["readers-during-the-fault"]["success_ratio"] < 0.5
    elif name == "events/stop-relay.yaml":  # the editors' updates waited in the outbox, then all reached Kafka
        assert fault["touched"] and out["outbox-backlog-while-stopped"]["unsent"] >= 8, out["outbox-backlog-while-stopped"]
        done = out["the-events-playbook-starts-the-relay-and-proves-the-backlog-in-kafka"]
        assert done["outcome"] == "restored" and "events.members-missing" in {f["code"] for f in done["findings"]}, done
        assert _unsent_outbox(twin) == 0
    elif name == "cache/lose-object-cache.yaml":  # lost, brought back by its playbook, filled again
        assert fault["touched"] and out["the-cache-playbook-brings-it-back-and-sees-it-fill"]["outcome"] == "restored"
        members = out["object-cache-after"]["members"]
        assert members and all(m["answers"] for m in members.values()), members
    assert ledger.pending(ENV_NAME) == []
    assert TargetLock(ENV_NAME).holder() is None
    assert requests.get(f"{twin.toxiproxy_api}/proxies", timeout=5).json()["db"]["toxics"] == []


# ---- bad input: a clear error before anything is touched --------------------------------------

def _write_env(tmp_path: Path, **changes) -> Path:
    doc = yaml.safe_load(ENV_FILE.read_text())
    doc["configuration"]["gameday_environment"].update(changes)
    path = tmp_path / "env.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _experiment(tmp_path: Path, base: str, **provider_changes) -> Path:
    doc = yaml.safe_load((ROOT / "experiments" / base).read_text())
    doc["method"][0]["provider"].update(provider_changes)
    path = tmp_path / Path(base).name
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _assert_untouched(proc, journal, twin_client, before_restarts, phrase):
    assert phrase in proc.stderr, proc.stderr[-2000:]
    assert journal.get("status") in (None, "interrupted", "aborted")
    after = {m["name"]: m["restarts"] for m in twin_client.status()["members"]}
    assert after == before_restarts


@pytest.mark.parametrize("case, phrase", [
    ("typo", "unknown key 'limts'"),
    ("not-allowed", "not allow-listed"),
    ("over-cap", "above this target's cap"),
    ("no-match", "no search node named 'search-9'"),
    ("unknown-action", "kill_everything"),
])
def test_bad_input_is_refused_before_any_fault(case, phrase, twin, twin_client, tmp_path):
    before = {m["name"]: m["restarts"] for m in twin_client.status()["members"]}
    var_file, experiment = ENV_FILE, ROOT / "experiments" / "web" / "kill-one-pod.yaml"
    if case == "typo":
        doc = yaml.safe_load(ENV_FILE.read_text())
        env = doc["configuration"]["gameday_environment"]
        env["limts"] = env.pop("limits")
        var_file = tmp_path / "env.yaml"
        var_file.write_text(yaml.safe_dump(doc))
    elif case == "not-allowed":
        var_file = _write_env(tmp_path, allowed=False)
    elif case == "over-cap":
        var_file = _write_env(tmp_path, limits={"web_max_percent": 50})
        experiment = ROOT / "experiments" / "web" / "full-outage.yaml"
    elif case == "no-match":
        experiment = _experiment(tmp_path, "search/kill-data-node.yaml",
                                 arguments={"choose": "name", "name": "search-9"})
    else:
        experiment = _experiment(tmp_path, "web/kill-one-pod.yaml", func="kill_everything")
    proc, journal = chaos_run(experiment, tmp_path, var_file=var_file, timeout=120)
    _assert_untouched(proc, journal, twin_client, before, phrase)
    assert TargetLock(ENV_NAME).holder() is None or case == "unknown-action"


def test_second_run_is_refused_while_the_target_is_locked(twin, twin_client, tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    lock = TargetLock(ENV_NAME, owner_pid=holder.pid)
    try:
        lock.acquire(purpose="another game day")
        before = {m["name"]: m["restarts"] for m in twin_client.status()["members"]}
        proc, journal = chaos_run(ROOT / "experiments" / "web" / "kill-one-pod.yaml", tmp_path, timeout=120)
        _assert_untouched(proc, journal, twin_client, before, f"is locked by pid {holder.pid}")
    finally:
        holder.kill()
        holder.wait(timeout=10)
    # its holder is dead now: the lock is stale and the next run takes it over
    assert TargetLock(ENV_NAME).break_stale() is not None


# ---- nothing stays broken -----------------------------------------------------------------------

def _slow_fault_experiment(tmp_path: Path, safeguard: dict | None = None) -> Path:
    """Blackhole web->db, then sit in a long probe: time to kill the runner mid-fault."""
    doc = yaml.safe_load((ROOT / "experiments" / "network" / "cut-web-to-db.yaml").read_text())
    doc["method"] = [doc["method"][0], {
        "type": "probe", "name": "long-look-at-the-fault",
        "provider": {"type": "python", "module": "gameday.chaos.site.probes", "func": "measure_site",
                     "arguments": {"window_s": 40, "rate": 2}}}]
    if safeguard is not None:
        doc["controls"][1]["provider"]["arguments"] = safeguard
    path = tmp_path / "slow-fault.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _db_toxics(twin) -> list:
    return requests.get(f"{twin.toxiproxy_api}/proxies", timeout=5).json()["db"]["toxics"]


def _kill_runner_mid_fault(twin, tmp_path: Path) -> None:
    """Start the slow-fault experiment and SIGKILL its runner once the blackhole is in place."""
    experiment = _slow_fault_experiment(tmp_path)
    log = tmp_path / "runner.log"
    with open(log, "w") as out:
        runner = subprocess.Popen([CHAOS, "--no-log-file", "run", str(experiment), "--rollback-strategy", "always",
                                   "--var-file", str(ENV_FILE)], cwd=tmp_path, stdout=out, stderr=out)
    try:
        wait_until(lambda: _db_toxics(twin) or runner.poll() is not None, timeout=60, what="the blackhole")
        assert _db_toxics(twin), log.read_text()
    finally:
        runner.send_signal(signal.SIGKILL)
        runner.wait(timeout=10)


def test_runner_killed_mid_fault_is_repaired_by_gameday_cleanup(steady_twin, tmp_path):
    twin = steady_twin
    _kill_runner_mid_fault(twin, tmp_path)
    assert [t["name"] for t in _db_toxics(twin)] == ["gameday-blackhole"]  # still broken...
    assert [r["undo"] for r in ledger.pending(ENV_NAME)] == ["remove_toxic"]  # ...but its undo is on disk
    out = subprocess.run([sys.executable, "-m", "gameday", "cleanup", "-e", str(ENV_FILE), "--json"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert [u["undo"] for u in report["undone"]] == ["remove_toxic"] and report["stale_lock_removed"]
    assert _db_toxics(twin) == [] and ledger.pending(ENV_NAME) == []
    # the web replicas went unready during the cut; the load balancer's next health checks take them back
    wait_until(lambda: requests.get(f"{twin.lb_url}/api/articles/1", timeout=5).status_code == 200, timeout=15,
               what="the site to serve articles again after the cleanup")


def test_runner_killed_mid_fault_is_repaired_by_the_next_run(steady_twin, tmp_path):
    twin = steady_twin
    _kill_runner_mid_fault(twin, tmp_path)
    proc, journal = chaos_run(ROOT / "experiments" / "web" / "kill-one-pod.yaml", tmp_path)
    assert "undid a fault left by an earlier run: blackhole on web->db" in proc.stderr
    assert journal["status"] == "completed" and _db_toxics(twin) == [], proc.stderr[-3000:]  # the guard says why


def test_sigterm_mid_fault_runs_the_rollbacks(steady_twin, tmp_path):
    """A SIGTERM (what a runner's death sends its chaos run) lands inside an activity: Chaos Toolkit's
    handler raises InterruptExecution there, which its Python provider reports as a failed activity before
    running the rest of the method. The guard stops the method instead: a second fault after the
    interrupted probe is never injected, and the rollbacks remove the first (make test, December 2026:
    a killed game day's chaos run went on through its method and waited 60 s on a fault it had not removed)."""
    twin = steady_twin
    experiment = _slow_fault_experiment(tmp_path)
    doc = yaml.safe_load(experiment.read_text())
    second = yaml.safe_load((ROOT / "experiments" / "network" / "latency-web-to-search.yaml").read_text())["method"][0]
    doc["method"].append({**second, "name": "a-second-fault-after-the-interruption"})
    experiment.write_text(yaml.safe_dump(doc, sort_keys=False))
    journal_path = tmp_path / "journal.json"
    runner = subprocess.Popen([CHAOS, "--no-log-file", "run", str(experiment), "--rollback-strategy", "always",
                               "--var-file", str(ENV_FILE), "--journal-path", str(journal_path)], cwd=tmp_path,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wait_until(lambda: _db_toxics(twin), timeout=60, what="the blackhole to be injected")
    time.sleep(1)  # inside the long look at the fault (a 40 s probe): where the signal lands
    runner.send_signal(signal.SIGTERM)
    _, err = runner.communicate(timeout=120)
    journal = json.loads(journal_path.read_text())
    ran = [r["activity"]["name"] for r in journal["run"]]
    assert "a-second-fault-after-the-interruption" not in ran, (ran, err[-2000:])
    assert journal["status"] == "interrupted", journal["status"]
    assert _db_toxics(twin) == [] and ledger.pending(ENV_NAME) == []
    search = requests.get(f"{twin.toxiproxy_api}/proxies", timeout=5).json()
    assert all(search[f"search-{n}"]["toxics"] == [] for n in (1, 2, 3))
    assert TargetLock(ENV_NAME).holder() is None
    assert "SIGTERM" in err


REFUSED = {"type": "probe", "name": "standby-lag-of-a-twin-with-no-second-region",  # refuses: a UsageError
           "provider": {"type": "python", "module": "gameday.chaos.region.probes", "func": "standby_lag"}}


def test_an_activity_that_refuses_stops_the_method_but_not_the_rollbacks(steady_twin, tmp_path):
    # Chaos Toolkit's Python provider reports an activity's InterruptExecution as a failed activity and
    # goes on; seen in a region drill whose actions met a held lock: the switch-over was refused and the
    # probes after it ran, journal "completed". The guard now stops the method at the refusal.
    twin = steady_twin
    marker = tmp_path / "marker"
    write_marker = {"type": "action", "name": "write-the-marker",
                    "provider": {"type": "process", "path": sys.executable,
                                 "arguments": ["-c", f"open({str(marker)!r}, 'w').write('ran')"]}}
    doc = yaml.safe_load((ROOT / "experiments" / "network" / "cut-web-to-db.yaml").read_text())
    doc["method"] = [doc["method"][0], REFUSED, write_marker]
    doc["rollbacks"] = [REFUSED, *doc["rollbacks"]]
    experiment = tmp_path / "refused.yaml"
    experiment.write_text(yaml.safe_dump(doc, sort_keys=False))
    proc, journal = chaos_run(experiment, tmp_path, timeout=300)
    assert journal["status"] == "interrupted", proc.stderr[-3000:]
    assert not marker.exists(), "the action after the refused probe ran"
    assert "so the experiment stops after activity 'standby-lag-of-a-twin-with-no-second-region'" in proc.stderr
    assert "names no second region" in proc.stderr
    # the blackhole the first action injected was removed by the rollback after the refused one
    rollbacks = {r["activity"]["name"]: r["status"] for r in journal["rollbacks"]}
    assert rollbacks == {REFUSED["name"]: "failed", doc["rollbacks"][1]["name"]: "succeeded"}, rollbacks
    assert _db_toxics(twin) == [] and ledger.pending(ENV_NAME) == []
    assert TargetLock(ENV_NAME).holder() is None
    # the web replicas went unready during the cut; the load balancer's next health checks take them back
    wait_until(lambda: requests.get(f"{twin.lb_url}/api/articles/1", timeout=5).status_code == 200, timeout=15,
               what="the site to serve articles again after the rollback")


def test_safeguard_interrupts_an_experiment_that_breaks_the_site(steady_twin, tmp_path):
    twin = steady_twin
    experiment = _slow_fault_experiment(tmp_path, {"max_error_ratio": 0.3, "window_s": 3, "sustained_s": 2})
    started = time.monotonic()
    proc, journal = chaos_run(experiment, tmp_path, timeout=180)
    assert "gameday safeguard: error ratio" in proc.stderr
    assert journal["status"] == "interrupted"
    assert time.monotonic() - started < 40  # stopped well before the 40 s probe would have ended
    assert _db_toxics(twin) == [] and ledger.pending(ENV_NAME) == []
