"""gameday reaches Kafka over TLS, verified, when the environment says ``kafka.tls`` (gameday.kafka_client).

On the session twin (127.20.x.y): each broker's fourth listener, TLS on port ``kafka_tls``, advertised
as ``kafka-N.test.gameday.test`` with the certificate the twin's CA issued for those names and the
brokers' addresses (:func:`gameday.sandbox.tls.ensure_kafka_broker`), as Strimzi's ``tls`` listener is
on GKE. A Kubernetes target described as a GKE environment describes Strimzi (``kubernetes.kafka``:
the bootstrap by names, ``tls: verify-identity``; ``trust:`` with the CA) hands its bootstrap to every
Kafka client gameday makes: the admin client's partition health, a broker answering a raw ApiVersions
request, Kafka's own ``kafka-metadata-quorum`` tool, a producer and a reader, each over TLS. Without
the CA trusted the brokers are never reached (nothing falls back to plain text).

Run serialized with other twins: ``flock /tmp/gameday-twin.lock .venv/bin/pytest -q tests/integration/test_kafka_tls.py``.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import yaml
from confluent_kafka.admin import NewTopic

from gameday import kafka_admin, kafka_client, kafka_records
from gameday.kafka_admin import KafkaUnavailable
from gameday.kafka_client import KafkaTlsError
from gameday.sandbox import tls
from gameday.sandbox.twin import CANARY_TOPIC, KAFKA_NODES, PORTS, Twin
from gameday.targets import trust
from gameday.targets.environment import from_mapping
from gameday.targets.kubernetes import KubernetesTarget

REHEARSAL = Path(__file__).resolve().parents[2] / "environments" / "rehearsal.yaml"


def strimzi_target(twin: Twin, *, trusted: bool = True, mode: str = "verify-identity") -> KubernetesTarget:
    """The rehearsal file (a GKE-shaped environment) with Kafka at the twin's TLS listener, by names."""
    env = yaml.safe_load(REHEARSAL.read_text())["configuration"]["gameday_environment"]
    env.update(name="kafka-tls", production=False, trust=[{"file": str(tls.ca_bundle_path(twin))}] if trusted else [])
    env["kubernetes"]["kafka"]["bootstrap"] = ",".join(f"{tls.kafka_host(twin, i)}:{PORTS['kafka_tls']}"
                                                       for i in range(1, KAFKA_NODES + 1))
    env["kubernetes"]["kafka"]["tls"] = mode
    return KubernetesTarget(from_mapping(env, "test_kafka_tls"))


@pytest.fixture(autouse=True)
def untrusting(monkeypatch):
    """No CA installed in this process (an earlier target of the session may have trusted the twin's),
    and none left behind: the process-wide bundle a target installs (trust.install) is undone after each
    test, so later tests of the worker verify with the system's roots as before."""
    for var in trust.ENV_VARS:
        monkeypatch.delenv(var, raising=False)


def test_every_kafka_client_reaches_the_brokers_over_verified_tls(steady_twin):
    bootstrap = strimzi_target(steady_twin).kafka_bootstrap()
    assert kafka_client.tls_for(bootstrap).librdkafka()["security.protocol"] == "SSL"
    assert kafka_client.tls_for(bootstrap).librdkafka()["ssl.endpoint.identification.algorithm"] == "https"
    seen = kafka_client.check(bootstrap)  # what the game day's preflight shows
    assert seen["address"] == f"kafka-1.test.gameday.test:{PORTS['kafka_tls']}" and seen["mode"] == "verify-identity"
    assert seen["version"].startswith("TLSv1.") and seen["cipher"]
    health = kafka_admin.partition_health(bootstrap, [CANARY_TOPIC])
    assert health["healthy"] and sorted(health["brokers"]) == [1, 2, 3], health
    assert all(kafka_admin.broker_answers(bootstrap, i) for i in range(1, KAFKA_NODES + 1))  # raw ApiVersions, TLS
    assert kafka_admin.active_controller(bootstrap) in (1, 2, 3)  # Kafka's own Java tool, --command-config
    topic = f"gameday-tls-{uuid.uuid4().hex[:8]}"  # a topic of its own: the canary topic's readers parse JSON
    made = kafka_admin.admin(bootstrap).create_topics([NewTopic(topic, num_partitions=1, replication_factor=3)])
    made[topic].result(timeout=30)
    try:
        kafka_records.publish_raw(bootstrap, topic, [b"over TLS"])
        assert [r["value"] for r in kafka_records.read_all(bootstrap, topic)] == [b"over TLS"]
    finally:
        kafka_admin.admin(bootstrap).delete_topics([topic])[topic].result(timeout=30)


def test_brokers_whose_ca_is_not_trusted_are_never_reached(steady_twin):
    bootstrap = strimzi_target(steady_twin, trusted=False).kafka_bootstrap()
    assert kafka_client.tls_for(bootstrap).ca_file is None  # the system's roots: not the twin's CA
    with pytest.raises(KafkaTlsError) as refused:  # the preflight stops the run here, saying why
        kafka_client.check(bootstrap)
    assert "did not verify" in str(refused.value) and "cluster-ca-cert" in refused.value.hint
    with pytest.raises(KafkaUnavailable):  # and librdkafka never reaches a broker
        kafka_admin.partition_health(bootstrap, [CANARY_TOPIC], timeout=3)
