"""Strimzi's MirrorMaker 2 into a GKE standby region (gameday.targets.kubernetes_mirror): stopped by a
promotion through the official Kubernetes client against a local API server (tests/support/kube_api.py),
its lag reported as not measured, with the reason, when Kafka does not answer (a loopback port nothing
listens on). The database side is test_kubernetes_regions.py's: its fixtures and example pair."""

from __future__ import annotations

import time

import pytest

from gameday.errors import GamedayError, UsageError
from gameday.targets import kubernetes_mirror
from tests.support.monitoring import monitoring  # noqa: F401 (fixture)
from tests.unit.test_kubernetes_regions import MIRROR, NO_KAFKA, REPLICA, clusters, pair, sql  # noqa: F401 (fixtures)

PATH = "/apis/kafka.strimzi.io/v1beta2/namespaces/kafka/kafkamirrormaker2s/sps-mirror"
KEY = ("KafkaMirrorMaker2", "kafka", "sps-mirror")
NAMES = ["europe-west2->europe-west1.MirrorSourceConnector", "europe-west2->europe-west1.MirrorCheckpointConnector"]


def states(obj: dict) -> list[tuple[str, str]]:
    return [(key, m[key].get("state", "running")) for m in obj["spec"]["mirrors"]
            for key in kubernetes_mirror.CONNECTORS if m.get(key) is not None]


def test_a_promotion_stops_every_connector_of_the_named_mirror(sql, clusters, tmp_path):
    dr_api = clusters[1]
    dr_api.add_mirror("kafka", "sps-mirror", spec=MIRROR)
    dr = pair(tmp_path, clusters).target("europe-west1")
    promoted = dr.promote_region(planned=False)
    kafka = promoted["kafka"]
    assert (kafka["mirror"], kafka["how"], kafka["connectors"]) == ("kafka/sps-mirror", "connector state stopped", NAMES)
    assert not kafka["already"] and kafka["confirmed"] and "not built on GKE" in kafka["offset_translation"]
    held = dr_api.objects[KEY]  # the object as the server holds it afterwards
    assert states(held) == [("sourceConnector", "stopped"), ("checkpointConnector", "stopped")]
    assert held["spec"]["mirrors"][0]["sourceConnector"]["config"] == {"replication.factor": 3}  # the rest kept
    assert held["spec"]["mirrors"][0]["topicsPattern"] == "content-events|gameday-canary"
    assert held["metadata"]["generation"] == 2
    assert [(c["name"], c["connector"]["state"]) for c in held["status"]["connectors"]] == \
        [(n, "STOPPED") for n in NAMES]
    (patch,) = dr_api.patches()
    assert patch["path"] == PATH and patch["content_type"] == "application/merge-patch+json"
    assert patch["body"]["metadata"] == {"resourceVersion": "101"} and set(patch["body"]) == {"metadata", "spec"}
    assert not clusters[0].requests  # the lost region's cluster is not asked

    again = kubernetes_mirror.stop(dr, kubernetes_mirror.read(dr))  # idempotent: nothing sent again
    assert again["already"] and again["confirmed"] and len(dr_api.patches()) == 1


def test_a_named_mirror_that_is_not_there_is_one_clear_error_and_nothing_is_touched(sql, clusters, tmp_path):
    dr = pair(tmp_path, clusters).target("europe-west1")
    with pytest.raises(GamedayError, match="gke-production-dr: KafkaMirrorMaker2 kafka/sps-mirror "
                                           r"\(regions.kafka.mirror\) is not in the cluster; nothing was touched") as err:
        dr.promote_region(planned=False)
    assert "get kafkamirrormaker2 -A" in (err.value.hint or "")
    assert not sql.changes() and sql.instances[REPLICA]["instanceType"] == "READ_REPLICA_INSTANCE"
    assert not clusters[1].patches()


def test_without_consent_nothing_is_patched(sql, clusters, tmp_path, monkeypatch):
    monkeypatch.setenv("GAMEDAY_I_MEAN_PRODUCTION", "1")
    p = pair(tmp_path, clusters, production=True)
    monkeypatch.delenv("GAMEDAY_I_MEAN_PRODUCTION")
    clusters[1].add_mirror("kafka", "sps-mirror", spec=MIRROR)
    before = dict(clusters[1].objects[KEY]["metadata"])
    with pytest.raises(UsageError, match="stopping KafkaMirrorMaker2 kafka/sps-mirror\\) needs consent"):
        p.target("europe-west1").promote_region(planned=False)
    assert not clusters[1].patches() and not sql.changes()
    assert states(clusters[1].objects[KEY]) == [("sourceConnector", "running"), ("checkpointConnector", "running")]
    assert clusters[1].objects[KEY]["metadata"] == before


def test_the_lag_is_not_measured_with_its_reason_when_kafka_does_not_answer(sql, monitoring, clusters, tmp_path):
    clusters[1].add_mirror("kafka", "sps-mirror", spec=MIRROR)
    dr = pair(tmp_path, clusters).target("europe-west1")
    started = time.monotonic()
    rep = dr.region_replication()
    assert time.monotonic() - started < 5  # regions.kafka.timeout_s is 0.5 here
    kafka = rep["kafka"]
    assert kafka["behind"] is None and kafka["mirror"] == "kafka/sps-mirror"
    assert kafka["why"].startswith(f"not measured: Kafka at {NO_KAFKA} did not answer a metadata request")
    assert rep["not_measured"] == ["kafka"] and not rep["caught_up"]
    assert not clusters[1].patches()  # read-only


def test_the_names_kafka_is_measured_by_come_from_the_custom_object_or_the_environment():
    obj = {"spec": MIRROR}
    assert kubernetes_mirror.offsets_topic(obj) == (
        "mm2-offsets.europe-west2.internal", "spec.clusters[europe-west1].config.offset.storage.topic")
    assert kubernetes_mirror.offsets_topic(obj, "given-offsets") == ("given-offsets", "regions.kafka.offsets_topic")
    assert kubernetes_mirror.offsets_topic({"spec": {"connectCluster": "b", "clusters": [{"alias": "b"}]}}) == (
        "mirrormaker2-cluster-offsets", "Strimzi's default offset.storage.topic")
    v1 = {"spec": {"target": {"alias": "europe-west1", "offsetStorageTopic": "mm2-offsets"},
                   "mirrors": [{"source": {"alias": "europe-west2"}, "sourceConnector": {}}]}}
    assert kubernetes_mirror.offsets_topic(v1) == ("mm2-offsets", "spec.target.offsetStorageTopic")
    assert kubernetes_mirror.connector_names(v1) == {"europe-west2->europe-west1.MirrorSourceConnector": "running"}
    assert kubernetes_mirror.connector_names(obj) == {n: "running" for n in NAMES}


def test_the_local_server_refuses_a_connector_state_strimzi_does_not_know(clusters):
    """The protocol boundary holds the CRD's rule: a state outside running, paused, stopped is a 422."""
    import json
    import urllib.request

    api = clusters[1]
    api.add_mirror("kafka", "sps-mirror", spec=MIRROR)
    mirrors = json.loads(json.dumps(MIRROR["mirrors"]))
    mirrors[0]["sourceConnector"]["state"] = "halted"
    request = urllib.request.Request(api.url + PATH, method="PATCH", data=json.dumps({"spec": {"mirrors": mirrors}}).encode(),
                                     headers={"Content-Type": "application/merge-patch+json"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, timeout=5)
    assert err.value.code == 422 and 'Unsupported value: "halted"' in json.loads(err.value.read())["message"]
    assert states(api.objects[KEY])[0] == ("sourceConnector", "running")


# ---- the environment's regions.kafka ------------------------------------------------------------------

def _checked(mutate) -> str:
    """The UsageError message for the standby example changed by ``mutate(gameday_environment)``."""
    import yaml

    from gameday.schema.base import check
    from gameday.schema.environment import EnvironmentFile
    from tests.unit.test_kubernetes_regions import ROOT
    data = yaml.safe_load((ROOT / "environments" / "gke-production-dr.example.yaml").read_text())
    mutate(data["configuration"]["gameday_environment"])
    with pytest.raises(UsageError) as err:
        check(EnvironmentFile, data, "dr.yaml", schema="environment")
    return err.value.message


def test_regions_kafka_is_checked_with_every_problem_named():
    def bad(env):
        env["regions"]["kafka"] = {"mirror": {"namespace": "Kafka_NS"}, "offsets_topic": "no spaces", "timeout_s": 0,
                                   "topics": "x"}
    message = _checked(bad)
    for line in ("regions.kafka.mirror.namespace is not in the right form, not 'Kafka_NS' -> the namespace of the "
                 "KafkaMirrorMaker2: lowercase letters, digits and hyphens",
                 "regions.kafka.mirror.name is missing -> add it: the KafkaMirrorMaker2's name",
                 "regions.kafka.offsets_topic is not in the right form, not 'no spaces'",
                 "regions.kafka.timeout_s must be between 0.5 and 120, not 0",
                 "regions.kafka: unknown key 'topics' -> valid keys: mirror, offsets_topic, timeout_s"):
        assert line in message, message


def test_a_strimzi_mirror_is_refused_on_an_environment_that_is_not_kubernetes():
    def twin(env):
        env["kind"] = "sandbox"
        env["regions"]["front"] = {"kind": "twin"}
    message = _checked(twin)
    assert "regions.kafka names a Strimzi KafkaMirrorMaker2, used only by a kind: kubernetes environment " \
           "(this is kind: sandbox)" in message
