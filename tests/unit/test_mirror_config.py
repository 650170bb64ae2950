"""The MirrorMaker 2 member of a standby twin: its properties and workload (no servers)."""

from __future__ import annotations

import pytest

from gameday.sandbox.members import mirror
from gameday.sandbox.paths import SandboxPaths
from gameday.sandbox.shape import Shape, Upstream
from gameday.sandbox.twin import Twin


@pytest.fixture
def standby(monkeypatch, tmp_path):
    monkeypatch.setenv("GAMEDAY_STATE_DIR", str(tmp_path))
    Shape.standby_of("r2", Upstream(twin="prim", net=51, region="r1"), index=2).save(SandboxPaths.for_name("prim-r2"))
    return Twin.create("prim-r2", 52)


def _props(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))
    return {k.strip(): v.strip() for k, v in pairs}


def test_flow_is_upstream_region_into_this_one_only(standby):
    props = _props(mirror.properties(standby))
    assert props["clusters"] == "r1, r2"
    assert props["r1.bootstrap.servers"] == Twin.create("prim", 51).kafka_bootstrap()
    assert props["r2.bootstrap.servers"] == standby.kafka_bootstrap() == "127.52.40.1:9092,127.52.40.2:9092,127.52.40.3:9092"
    assert props["r1->r2.enabled"] == "true" and props["r2->r1.enabled"] == "false"
    assert props["r1->r2.topics"] == "content-events, gameday-canary"  # not the dead letters
    assert props["replication.policy.class"].endswith(".DefaultReplicationPolicy")
    assert mirror.mirrored_topic(standby, "content-events") == "r1.content-events"
    assert props["r2.exactly.once.source.support"] == "enabled"
    assert props["offset-syncs.topic.location"] == "target"  # nothing written upstream
    replication = {k: v for k, v in props.items() if "replication.factor" in k}
    assert len(replication) == 7 and set(replication.values()) == {"3"}
    assert props["sync.group.offsets.enabled"] == "true"
    assert props["emit.checkpoints.interval.seconds"] == props["sync.group.offsets.interval.seconds"] == "1"


def test_workload_is_one_java_member_after_kafka(standby):
    w = mirror.workload(standby)
    assert (w.name, w.layer, w.kind, w.replicas, w.after) == ("mirror", "mirror", "service", 1, ["kafka"])
    [m] = w.members
    assert m.name == "mirror-1" and m.address is None and m.readiness["type"] == "alive"
    assert m.labels["app"] == "mirrormaker2" and m.labels["zone"] == "regional"
    assert m.argv[-4:] == [mirror.MAIN, str(mirror.properties_file(standby)), "--clusters", "r2"]
    assert any(a.endswith("/mirror/log4j2.properties") for a in m.argv)


def test_a_twin_in_no_region_set_mirrors_nothing(monkeypatch, tmp_path):
    monkeypatch.setenv("GAMEDAY_STATE_DIR", str(tmp_path))
    with pytest.raises(ValueError, match="in no region set"):
        mirror.properties(Twin.create("alone", 53))


def test_the_active_region_declares_the_mirror_from_its_peer_but_runs_none(monkeypatch, tmp_path):
    from gameday.sandbox.shape import Shape, Upstream
    monkeypatch.setenv("GAMEDAY_STATE_DIR", str(tmp_path))
    paths = Twin.create("act", 54).paths
    Shape(region="r1", peer=Upstream(twin="act-r2", net=55, region="r2")).save(paths)
    active = Twin.create("act", 54)
    assert _props(mirror.properties(active))["clusters"] == "r2, r1"
    assert mirror.workload(active).replicas == 0  # scaled to 1 when it is rebuilt as the standby


def test_prepare_writes_the_properties_and_log_config(standby):
    mirror.prepare(standby)
    assert _props(mirror.properties_file(standby).read_text())["clusters"] == "r1, r2"
    assert "org.apache.kafka.clients" in (mirror.conf_dir(standby) / "log4j2.properties").read_text()
