"""A Kafka pod's start on the Kubernetes twin (gameday.kube.kafka_storage): its properties pointed at
its claim, formatting only a new claim, then the broker itself (exec)."""

from __future__ import annotations

import pytest

from gameday.kube import kafka_storage


def test_the_properties_put_every_log_on_the_claim():
    text = "node.id=2\nlog.dirs=/var/lib/gameday/t/data/kafka-2\nmetadata.log.dir=/x\nlisteners=BROKER://:9092\n"
    out = kafka_storage.on_claim(text, "/var/lib/kafka/data")
    assert out.splitlines() == ["node.id=2", "listeners=BROKER://:9092", "log.dirs=/var/lib/kafka/data"]


def test_a_claim_not_formatted_is_formatted_with_the_cluster_id_then_the_broker_starts(tmp_path, monkeypatch):
    props = tmp_path / "server.properties"
    props.write_text("node.id=2\nlog.dirs=/elsewhere\n")
    data = tmp_path / "claim" / "data"
    data.mkdir(parents=True)
    ran, execd = [], []
    monkeypatch.setattr(kafka_storage.subprocess, "run",
                        lambda argv, timeout: ran.append(argv) or type("P", (), {"returncode": 0})())
    monkeypatch.setattr(kafka_storage.os, "execvp", lambda file, argv: execd.append(argv))
    jvm = ["/usr/bin/java", "-Xmx384m", "-cp", "/opt/kafka/libs/*"]
    kafka_storage.main(["--data", str(data), "--cluster-id", "AbC", "--", *jvm, "kafka.Kafka", str(props)])
    copy = tmp_path / "claim" / "server.properties"
    assert ran == [[*jvm, "kafka.tools.StorageTool", "format", "--cluster-id=AbC", "-c", str(copy), "--ignore-formatted"]]
    assert execd == [[*jvm, "kafka.Kafka", str(copy)]] and f"log.dirs={data}" in copy.read_text()
    (data / "meta.properties").write_text("cluster.id=AbC\n")  # formatted: a restart does not format again
    ran.clear()
    kafka_storage.main(["--data", str(data), "--cluster-id", "AbC", "--", *jvm, "kafka.Kafka", str(props)])
    assert ran == [] and len(execd) == 2


def test_a_command_that_is_not_a_broker_is_refused():
    with pytest.raises(SystemExit, match="kafka.Kafka"):
        kafka_storage.main(["--data", "/d", "--cluster-id", "x", "--", "java", "-version"])
