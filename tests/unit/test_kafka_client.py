"""How gameday's Kafka clients reach a bootstrap (gameday.kafka_client) and where the setting comes from
(``kubernetes.kafka.tls``). The clients themselves, against the twin's brokers' TLS listener:
tests/integration/test_kafka_tls.py."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gameday import kafka_client
from gameday.errors import GamedayError, UsageError
from gameday.kafka_client import KafkaTls
from gameday.targets import trust
from gameday.targets.environment import from_mapping
from gameday.targets.kubernetes import KubernetesTarget

ROOT = Path(__file__).resolve().parents[2]


def test_each_mode_gives_the_clients_their_settings_and_plain_text_adds_none():
    assert KafkaTls().librdkafka() == {} and KafkaTls().java() == {}
    identity = KafkaTls("verify-identity", "/ca.pem")
    assert identity.librdkafka() == {"security.protocol": "SSL", "ssl.ca.location": "/ca.pem",
                                     "ssl.endpoint.identification.algorithm": "https"}
    assert identity.java() == {"security.protocol": "SSL", "ssl.endpoint.identification.algorithm": "https",
                               "ssl.truststore.type": "PEM", "ssl.truststore.location": "/ca.pem"}
    ca_only = KafkaTls("verify-ca")
    assert ca_only.librdkafka()["ssl.ca.location"] == "probe"  # the system's roots
    assert ca_only.librdkafka()["ssl.endpoint.identification.algorithm"] == "none"
    assert ca_only.java() == {"security.protocol": "SSL", "ssl.endpoint.identification.algorithm": ""}
    with pytest.raises(GamedayError, match="not one of disabled, verify-identity, verify-ca"):
        KafkaTls("plaintext")


def test_a_registered_bootstrap_gets_its_settings_and_others_stay_plain():
    kafka_client.register("k-1.example:9093", "verify-ca", lambda: "/bundle.pem")
    got = kafka_client.settings({"bootstrap.servers": "k-1.example:9093", "acks": "all"})
    assert got["acks"] == "all" and got["security.protocol"] == "SSL" and got["ssl.ca.location"] == "/bundle.pem"
    assert kafka_client.settings({"bootstrap.servers": "elsewhere:9092"}) == {"bootstrap.servers": "elsewhere:9092"}
    with pytest.raises(GamedayError, match="not one of"):
        kafka_client.register("k-2.example:9093", "tls")


def test_the_kubernetes_target_registers_its_bootstrap_as_its_environment_says(tmp_path, monkeypatch):
    for var in trust.ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    data = yaml.safe_load((ROOT / "environments" / "rehearsal.yaml").read_text())["configuration"]["gameday_environment"]
    ca = tmp_path / "ca.pem"
    ca.write_text(CA_PEM)  # trust: reads PEM text (a CA certificate is public)
    data["trust"] = [{"file": str(ca)}]
    bootstrap = KubernetesTarget(from_mapping(data, "test")).kafka_bootstrap()
    assert bootstrap.startswith("kafka-1.default.gameday.test:9095")  # the rehearsal: the brokers' TLS listener
    registered = kafka_client.tls_for(bootstrap)
    assert registered.mode == "verify-identity" and registered.ca_file and CA_PEM.strip() in Path(
        registered.ca_file).read_text()  # the environment's trusted CAs, in the process's one bundle
    data["kubernetes"]["kafka"]["tls"] = "required"
    with pytest.raises(UsageError) as bad:
        from_mapping(data, "test")
    assert "kubernetes.kafka.tls" in str(bad.value)
    del data["kubernetes"]["kafka"]["tls"]  # plain text when unset: Strimzi's plain listener
    plain = KubernetesTarget(from_mapping(data, "test")).kafka_bootstrap()
    assert kafka_client.tls_for(plain) == KafkaTls()


CA_PEM = '''-----BEGIN CERTIFICATE-----
MIIBbTCCAROgAwIBAgIUJ6x1Z0m4PzOQ0k2o3pGQ0q1n7vMwCgYIKoZIzj0EAwIw
-----END CERTIFICATE-----'''
