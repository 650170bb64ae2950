"""Issue 15, drill 3: a Kafka broker's disk lost, on the real twin (127.20.x.y).

One broker is stopped abruptly and kept stopped, and its whole data directory is deleted
(meta.properties included). It must come back empty, formatted with the twin's cluster id and its
own node id, and re-replicate until every partition's ISR is full and the KRaft quorum has its voter
back; the RPO canaries (Kafka acks=all, database, search) must read back every acknowledged record.

Twice: by plain ``chaos run experiments/kafka/lose-broker-disk.yaml`` (its method restores through
the undo it recorded), and by ``gameday playbook kafka --apply`` after the fault alone (a real
incident: nothing but the playbook brings it back). Run serialized with other twins:
``flock /tmp/gameday-twin.lock .venv/bin/pytest -x -s tests/integration/test_kafka_disk.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gameday import kafka_admin
from gameday.chaos import ledger
from gameday.measure.canary import Canaries, CanaryEndpoints
from gameday.recovery import Context
from gameday.sandbox.members import kafka as twin_kafka
from gameday.targets import for_environment
from gameday.targets.base import Node
from gameday.targets.environment import load as load_env
from tests.integration.test_chaos import ENV_FILE, chaos_run, outputs
from tests.support.chaos_journal import assert_steady_before

ROOT = Path(__file__).resolve().parents[2]
ENV = "sandbox-test"
NET = 20
GAMEDAY = str(Path(sys.executable).with_name("gameday"))
EXPERIMENT = ROOT / "experiments" / "kafka" / "lose-broker-disk.yaml"


@pytest.fixture
def target(steady_twin):
    return for_environment(load_env(ENV))


def metas(twin) -> dict[int, dict[str, str]]:
    """Each node's meta.properties (cluster.id, node.id, directory.id), read from its data directory."""
    return {i: twin_kafka.read_meta(twin, i) for i in (1, 2, 3)}


def all_topics(bootstrap: str) -> list[str]:
    md = kafka_admin._metadata(kafka_admin.admin(bootstrap), 10)
    return sorted(md.topics)


def assert_back_whole(twin, before: dict, lost: int) -> None:
    """Same cluster id and node id, new storage (a fresh directory id), every ISR full (internal
    topics too), every voter caught up in the quorum."""
    after = metas(twin)
    assert after[lost]["cluster.id"] == before[lost]["cluster.id"] == twin_kafka.cluster_id(twin)
    assert after[lost]["node.id"] == before[lost]["node.id"] == str(lost)
    assert after[lost]["directory.id"] != before[lost]["directory.id"], "its storage was not really made again"
    assert all(after[i] == before[i] for i in (1, 2, 3) if i != lost), "another broker's storage changed"
    bootstrap = twin.kafka_bootstrap()
    health = kafka_admin.partition_health(bootstrap, all_topics(bootstrap))
    assert health["healthy"] and health["brokers"] == [1, 2, 3], health
    rows = kafka_admin.quorum_replication(bootstrap)
    assert kafka_admin.voters_missing(rows, time.time() * 1000, [1, 2, 3]) == [], rows


def assert_nothing_lost(canaries: Canaries) -> dict:
    reports = canaries.verify(timeout=120)
    for layer, report in reports.items():
        assert report.acknowledged > 0, report.to_dict()
        assert report.lost == [], f"{layer}: lost acknowledged records {report.lost} ({report.to_dict()})"
    print("canaries: " + ", ".join(f"{k} {r.acknowledged} acknowledged, {r.failed_writes} refused, 0 lost"
                                    for k, r in reports.items()))
    return reports


def repair(target, member: str) -> None:
    """After a failed test: the broker formatted (if still lost) and started, no record left, and the
    cluster as the next module expects it (every ISR full, leaders preferred: the playbook's own end)."""
    for record in ledger.matching(target.env, "restore_storage", layer="kafka"):
        ledger.run_record(record)
    if member in target.lost_storage("kafka"):
        target.restore_member_storage(member)
    target.start(Node(name=member, layer="kafka"))
    subprocess.run([GAMEDAY, "playbook", "kafka", "--apply", "-e", ENV], capture_output=True, text=True, timeout=400,
                   env={**os.environ, "GAMEDAY_SANDBOX_NET": str(NET)})


def test_chaos_run_loses_a_brokers_disk_and_it_comes_back_empty_with_nothing_lost(steady_twin, target, tmp_path):
    twin = steady_twin
    before = metas(twin)
    assert all(m.get("cluster.id") for m in before.values()), before
    ctx = Context.for_environment(target.env)
    canaries = Canaries(CanaryEndpoints.from_context(ctx), interval=0.5).start()
    started = time.monotonic()
    proc, journal = chaos_run(EXPERIMENT, tmp_path, var_file=ENV_FILE, timeout=400)
    print(f"chaos run: {time.monotonic() - started:.1f}s")
    fault = journal["run"][0]["output"] if journal.get("run") else {}
    member = fault.get("lost_disk") or "kafka-1"
    try:
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert_steady_before(proc, journal)
        assert journal["status"] == "completed" and journal["deviated"] is False, proc.stderr[-3000:]
        out = outputs(journal)
        lost = fault["broker_id"]
        assert fault["target"] == ENV and fault["touched"] == [f"kafka-{lost}"] == [member]
        assert fault["data_dir"] == str(twin_kafka._data_dir(twin, lost)) and fault["cluster_id"] == twin_kafka.cluster_id(twin)
        # while it was down its storage was really gone: no meta.properties, so a restart alone could not help
        assert out["brokers-whose-storage-is-lost"] == [member]
        restored = out["format-the-empty-disk-and-start-the-broker"]["restored"]
        assert [r["started"] for r in restored] == [member]
        assert restored[0]["formatted"]["node_id"] == lost
        assert restored[0]["formatted"]["cluster_id"] == twin_kafka.cluster_id(twin)
        published = out["editors-publish-while-the-broker-is-gone"]
        assert published["failed"] == 0 and published["acknowledged"] + published["pending"] == 5, published
        print(f"{member} lost its disk; ISR full after {out['time-until-every-partition-is-fully-replicated']}s, "
              f"voters back after {out['time-until-the-quorum-has-every-voter']}s more")
        assert_back_whole(twin, before, lost)
        assert ledger.pending(target.env) == [], "the lost disk's undo record must be consumed"
    finally:
        if member in target.lost_storage("kafka") or ledger.pending(target.env):
            repair(target, member)
    assert_nothing_lost(canaries)


def test_the_kafka_playbook_alone_restores_a_lost_disk(steady_twin, target):
    twin = steady_twin
    member, lost = "kafka-3", 3
    before = metas(twin)
    ctx = Context.for_environment(target.env)
    canaries = Canaries(CanaryEndpoints.from_context(ctx), interval=0.5).start()
    time.sleep(2)  # some records acknowledged before the fault
    try:
        fault_at = time.time()
        gone = target.lose_member_storage(member)
        assert gone["data_dir"] == str(twin_kafka._data_dir(twin, lost)) and not Path(gone["data_dir"]).exists()
        assert target.lost_storage("kafka") == [member]
        time.sleep(5)  # nothing on the platform brings it back by itself
        assert target.client.member(member)["pid"] is None and not Path(gone["data_dir"]).exists()

        env = {**os.environ, "GAMEDAY_SANDBOX_NET": str(NET)}
        dry = subprocess.run([GAMEDAY, "playbook", "kafka", "-e", ENV], capture_output=True, text=True, timeout=120, env=env)
        assert dry.returncode == 11 and "lost its storage" in dry.stdout, dry.stdout + dry.stderr
        assert "kafka/restore-broker-storage" in dry.stdout and member in target.lost_storage("kafka")

        proc = subprocess.run([GAMEDAY, "playbook", "kafka", "--apply", "--json", "-e", ENV],
                              capture_output=True, text=True, timeout=400, env=env)
        result = json.loads(proc.stdout)
        assert proc.returncode == 10 and result["outcome"] == "restored", proc.stdout[-3000:] + proc.stderr[-2000:]
        steps = {s["name"]: s for s in result["steps"]}
        assert steps["restore-broker-storage"]["status"] == "ok", steps
        assert f"formatted {member}" in steps["restore-broker-storage"]["did"]
        assert f"node id {lost}" in steps["restore-broker-storage"]["did"]
        assert steps["wait-isr"]["status"] == "ok" and steps["wait-quorum-voters"]["status"] == "ok", steps
        print(f"playbook: restored {time.time() - fault_at:.1f}s after the fault; steps: "
              + ", ".join(f"{s['name']} {s['seconds']}s" for s in result["steps"] if s["seconds"] is not None))
        assert_back_whole(twin, before, lost)
    finally:
        if member in target.lost_storage("kafka") or not target.client.member(member)["desired"]:
            repair(target, member)
    assert_nothing_lost(canaries)
