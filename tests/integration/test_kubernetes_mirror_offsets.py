"""The translated offsets a GKE promotion reads (gameday.targets.kubernetes_mirror_offsets), from a real
Kafka: one KRaft broker on 127.61.0.1 (tests/support/kafka_broker.py, no twin) stands for the standby
region's Kafka. The offsets MirrorMaker's checkpoint connector would have synced onto the standby's
``indexer`` group are committed there as it commits them (an offset commit for a group with no
member); partition 1 gets none. The promotion itself runs as in tests/unit/test_kubernetes_mirror.py:
Cloud SQL and the Kubernetes API are the local stand-ins. Run it under ``flock /tmp/gameday-twin.lock``."""

from __future__ import annotations

import time

import yaml
from confluent_kafka import Producer

from gameday import kafka_records
from gameday.targets import regions
from gameday.targets.environment import load
from tests.support.kafka_broker import KafkaBroker
from tests.unit.test_kubernetes_regions import MIRROR, REPLICA, clusters, pair, sql  # noqa: F401 (fixtures)

ADDRESS = "127.61.0.1"
TOPIC = "europe-west2.content-events"  # MIRROR's DefaultReplicationPolicy: <source alias>.<topic>
RECORDS = {0: 12, 1: 7, 2: 9}  # records mirrored into each partition
TRANSLATED = {0: 10, 2: 9}  # the next offset MirrorMaker translated for the indexer group; none on partition 1


def _produce(bootstrap: str) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for partition, n in RECORDS.items():
        for i in range(n):
            producer.produce(TOPIC, value=f'{{"id": {i}, "version": 1}}'.encode(), partition=partition)
    assert producer.flush(30) == 0


def _standby_on(tmp_path, clusters, bootstrap: str):  # noqa: F811 (fixture)
    """The example pair (:func:`pair`), the standby's Kafka bootstrap the real broker."""
    pair(tmp_path, clusters)
    path = tmp_path / "gke-production-dr.example.yaml"
    data = yaml.safe_load(path.read_text())
    data["configuration"]["gameday_environment"]["kubernetes"]["kafka"]["bootstrap"] = bootstrap
    data["configuration"]["gameday_environment"]["regions"]["kafka"]["timeout_s"] = 10
    path.write_text(yaml.safe_dump(data))
    return regions.for_environment(load(tmp_path / "gke-production.example.yaml")).target("europe-west1")


def test_a_promotion_reads_the_offsets_translated_onto_the_standbys_indexer_group(sql, clusters, tmp_path):  # noqa: F811
    (tmp_path / "kafka").mkdir()
    with KafkaBroker(tmp_path / "kafka", address=ADDRESS) as broker:
        broker.create_topic(TOPIC, partitions=3)
        _produce(broker.bootstrap)
        kafka_records.commit(broker.bootstrap, "indexer", TOPIC, TRANSLATED, timeout=30)
        clusters[1].add_mirror("kafka", "sps-mirror", spec=MIRROR)
        dr = _standby_on(tmp_path, clusters, broker.bootstrap)

        started = time.monotonic()
        promoted = dr.promote_region(planned=False)
        took = time.monotonic() - started
        print(f"promotion with the offsets read from a real broker: {took:.2f}s")

        assert promoted["db"]["new_primary"] == REPLICA and promoted["kafka"]["confirmed"]
        assert promoted["kafka"]["offset_translation"]["translated"]
        offsets = promoted["kafka"]["indexer_offsets"]
        assert (offsets["group"], offsets["topic"]) == ("indexer", TOPIC)
        assert offsets["partitions"] == {0: {"committed": 10, "end": 12}, 2: {"committed": 9, "end": 9}}
        assert offsets["missing"] == [1]
        assert promoted["warnings"] == [offsets["why"]]  # translated, but partition 1 has no offset: said
        assert offsets["why"].startswith(f"group indexer has no committed offset on {TOPIC} partitions [1]: there the "
                                         "indexer starts where auto.offset.reset says")
