"""The disk-loss drill's logic that needs no running Kafka: the quorum table, which voters are back,
the twin's storage operations on a real directory, and targets that refuse rather than pretend.
The drill itself runs in tests/integration/test_kafka_disk.py."""

from __future__ import annotations

import copy
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from gameday import kafka_admin
from gameday.errors import GamedayError, UsageError
from gameday.sandbox import storage
from gameday.sandbox.members import kafka
from gameday.targets import kubernetes as k8s
from gameday.targets.environment import from_mapping

ROOT = Path(__file__).resolve().parents[2]

REPLICATION = """\
NodeId  DirectoryId             LogEndOffset  Lag  LastFetchTimestamp  LastCaughtUpTimestamp  Status
1       pqiNmYrKRv2Ji1ifAwQHBQ  4170          0    1760000000000       1760000000000          Leader
2       f8pO5DyYT2W0SOHGv-rnAg  4170          0    1759999999800       1759999999800          Follower
3       Ksl6UNqESQGVqkBrNU4WtA  1200          2970 1759999990000       1759999980000          Follower
"""


def test_the_quorum_table_is_read_by_its_header():
    rows = kafka_admin.parse_quorum_replication("some log line\n" + REPLICATION)
    assert [(r["node_id"], r["lag"], r["status"]) for r in rows] == [(1, 0, "Leader"), (2, 0, "Follower"), (3, 2970, "Follower")]
    assert rows[1]["last_fetch_ms"] == 1759999999800
    with pytest.raises(kafka_admin.KafkaUnavailable, match="no replication table"):
        kafka_admin.parse_quorum_replication("Error while executing: timed out")


def test_a_voter_is_back_when_it_is_a_caught_up_follower_that_fetched_lately():
    rows = kafka_admin.parse_quorum_replication(REPLICATION)
    now = 1760000000000
    assert kafka_admin.voters_missing(rows, now, [1, 2, 3]) == [3]  # 2970 records behind
    rows[2]["lag"] = 0
    assert kafka_admin.voters_missing(rows, now, [1, 2, 3]) == []
    assert kafka_admin.voters_missing(rows, now + 60_000, [1, 2, 3]) == [2, 3]  # silent followers are not back
    assert kafka_admin.voters_missing(rows, now, [1, 2, 3, 4]) == [4]  # not in the table at all
    rows[2]["status"] = "Observer"
    assert kafka_admin.voters_missing(rows, now, [3]) == [3]


def fake_twin(tmp_path: Path):
    """The paths a Kafka member's storage uses, on a temporary directory (no server needed)."""
    conf, data = tmp_path / "conf", tmp_path / "data"
    conf.mkdir()
    data.mkdir()
    return SimpleNamespace(paths=SimpleNamespace(conf=conf, data=data))


def test_the_twin_loses_a_brokers_whole_data_directory_and_sees_it_lost(tmp_path):
    twin = fake_twin(tmp_path)
    for i in (1, 2, 3):
        d = twin.paths.data / f"kafka-{i}"
        d.mkdir()
        (d / "meta.properties").write_text(f"#\ncluster.id=abc\nnode.id={i}\ndirectory.id=d{i}\nversion=1\n")
        (d / "content-events-0").mkdir()
    assert storage.lost(twin, "kafka") == [] and storage.lost(twin, "search") == []
    assert kafka.read_meta(twin, 2) == {"cluster.id": "abc", "node.id": "2", "directory.id": "d2", "version": "1"}
    gone = storage.lose(twin, "kafka-2")
    assert gone["node_id"] == 2 and gone["data_dir"] == str(twin.paths.data / "kafka-2")
    assert not (twin.paths.data / "kafka-2").exists()  # the directory itself, not only meta.properties
    assert storage.lost(twin, "kafka") == ["kafka-2"]
    assert storage.describe(twin, "kafka-2") == {"member": "kafka-2", "data_dir": gone["data_dir"], "exists": False,
                                                 "formatted": False, "meta": {}}
    assert storage.describe(twin, "kafka-1")["formatted"]


@pytest.mark.parametrize("member", ["web-1", "search-4", "kafka-4", "kafka-0", "kafka-1x", "", "../kafka-1"])
def test_only_kafka_brokers_and_search_nodes_have_storage_the_twin_can_lose_or_restore(tmp_path, member):
    twin = fake_twin(tmp_path)
    for operation in (storage.lose, storage.restore, storage.describe):
        with pytest.raises(UsageError, match="has no storage the twin can lose or restore"):
            operation(twin, member)


def test_formatting_needs_the_brokers_configuration(tmp_path):
    with pytest.raises(GamedayError, match="kafka-2: no server.properties"):
        kafka.format_storage(fake_twin(tmp_path), 2)


def test_the_kubernetes_target_loses_a_disk_as_its_claim_and_leaves_the_formatting_to_the_broker():
    from gameday.targets.kubernetes_storage import claims_of
    pod = {"metadata": {"name": "kafka-2"}, "spec": {"volumes": [
        {"name": "data", "persistentVolumeClaim": {"claimName": "data-kafka-2"}}, {"name": "tmp", "emptyDir": {}}]}}
    assert claims_of(pod) == ["data-kafka-2"] and claims_of({"spec": {}}) == []
    raw = yaml.safe_load((ROOT / "environments" / "rehearsal.yaml").read_text())
    target = k8s.KubernetesTarget(from_mapping(copy.deepcopy(raw["configuration"]["gameday_environment"]), "test"))
    assert target.restore_member_storage("kafka-2") == {"member": "kafka-2", "node_id": 2,
                                                        "formatted_by": "the broker's start, on its new claim"}
    assert target.lost_storage("kafka") == []  # it claims no loss it cannot see; the playbook's diagnosis still runs


def test_no_topic_to_describe_asks_kafka_nothing():
    """partition_health of topics none of which exists yet: the official client refuses an empty
    describe_configs (ValueError), so min.insync.replicas of nothing is read as nothing, not asked."""
    from confluent_kafka.admin import AdminClient
    client = AdminClient({"bootstrap.servers": "127.0.0.1:9", "log_level": 0})
    with pytest.raises(ValueError):
        client.describe_configs([], request_timeout=1)
    assert kafka_admin._min_isr(client, [], timeout=1) == {}
