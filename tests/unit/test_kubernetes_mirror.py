"""Strimzi's MirrorMaker 2 into a GKE standby region (gameday.targets.kubernetes_mirror): stopped by a
promotion through the official Kubernetes client against a local API server (tests/support/kube_api.py),
its lag reported as not measured, with the reason, when Kafka does not answer (a loopback port nothing
listens on), and whether it translates the indexer's group offsets (gameday.targets.kubernetes_mirror_offsets)
read from the custom object in each shape Strimzi has. The database side is test_kubernetes_regions.py's:
its fixtures and example pair. The translated offsets read from a real Kafka:
tests/integration/test_kubernetes_mirror_offsets.py."""

from __future__ import annotations

import json
import time

import pytest

from gameday.errors import GamedayError, UsageError
from gameday.targets import kubernetes_mirror, kubernetes_mirror_offsets
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
    assert not kafka["already"] and kafka["confirmed"]
    assert kafka["offset_translation"]["translated"] and promoted["warnings"] == []  # MIRROR syncs indexer's offsets
    assert kafka["indexer_offsets"]["topic"] == "europe-west2.content-events"  # its Kafka is a port nothing listens on
    assert kafka["indexer_offsets"]["partitions"] is None and kafka["indexer_offsets"]["why"].startswith(
        f"not read (Kafka at {NO_KAFKA}): Kafka did not answer a metadata request")
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


# ---- the indexer's offset translation ---------------------------------------------------------------

def _spec(**changes) -> dict:
    """MIRROR (the example's mirror, translating) with its one mirror entry changed: a value None removes the key."""
    import copy
    spec = copy.deepcopy(MIRROR)
    entry = spec["mirrors"][0]
    for key, value in changes.items():
        if value is None:
            entry.pop(key, None)
        else:
            entry[key] = value
    return spec


def _offsets(sql, clusters, tmp_path, spec) -> dict:
    clusters[1].add_mirror("kafka", "sps-mirror", spec=spec)
    rep = pair(tmp_path, clusters).target("europe-west1").region_replication()
    assert [(r["method"], r["path"]) for r in clusters[1].requests] == [("GET", PATH)]  # one read for lag and offsets
    return rep["offsets"]


def test_the_replication_status_says_the_indexers_offsets_are_translated_and_how_often(sql, monitoring, clusters,
                                                                                       tmp_path):
    offsets = _offsets(sql, clusters, tmp_path, MIRROR)
    assert (offsets["translated"], offsets["group"], offsets["mirror"]) == (True, "indexer", "kafka/sps-mirror")
    assert offsets["why"] == ("translated: the checkpoint connector copies group indexer's offsets onto this region's "
                              "indexer group every 60 s (checkpoints every 60 s) while it has no member here, up to "
                              "offset.lag.max (100) records or more earlier per partition (indexed again, none "
                              "skipped); at a failover they can be up to 120 s old")
    assert "warning" not in offsets and "fix" not in offsets
    assert offsets["groups"] == {"include": "indexer", "include_from": "groupsPattern",
                                 "exclude": kubernetes_mirror_offsets.DEFAULT_GROUPS_EXCLUDE,
                                 "exclude_from": "MirrorMaker's default groups.exclude", "takes_group": True}
    assert (offsets["sync_interval_s"], offsets["checkpoint_interval_s"], offsets["offset_lag_max"]) == (60, 60, 100)


def test_intervals_and_an_exact_translation_are_read_from_the_connectors_config(sql, monitoring, clusters, tmp_path):
    spec = _spec(checkpointConnector={"config": {"sync.group.offsets.enabled": True,
                                                 "sync.group.offsets.interval.seconds": "5",
                                                 "emit.checkpoints.interval.seconds": 1}},
                 sourceConnector={"config": {"offset.lag.max": "0"}}, groupsPattern=None)  # groups: all (MirrorMaker's)
    offsets = _offsets(sql, clusters, tmp_path, spec)
    assert offsets["translated"] and offsets["exact"] and offsets["groups"]["include_from"] == "MirrorMaker's default groups"
    assert "every 5 s (checkpoints every 1 s) while it has no member here, exactly (offset.lag.max 0); at a failover " \
           "they can be up to 6 s old" in offsets["why"]


NOT_TRANSLATED = [
    pytest.param(_spec(checkpointConnector={"config": {"sync.group.offsets.enabled": "false"}}),
                 "spec.mirrors[0].checkpointConnector.config.sync.group.offsets.enabled is 'false': the checkpoints are "
                 "written to europe-west2.checkpoints.internal but no group in this region is given them",
                 "set spec.mirrors[0].checkpointConnector.config.sync.group.offsets.enabled: true", id="off"),
    pytest.param(_spec(checkpointConnector={"config": {"refresh.groups.interval.seconds": 60}}),
                 "sync.group.offsets.enabled is not set (MirrorMaker: false)",
                 "set spec.mirrors[0].checkpointConnector.config.sync.group.offsets.enabled: true", id="not-set"),
    pytest.param(_spec(checkpointConnector=None),
                 "spec.mirrors[0] has no checkpointConnector: MirrorMaker copies no group offset",
                 "add checkpointConnector: {config: {sync.group.offsets.enabled: true}} to spec.mirrors[0]",
                 id="no-checkpoint-connector"),
    pytest.param(_spec(groupsExcludePattern="indexer, connect-.*"),
                 "the groups exclude pattern 'indexer, connect-.*' (groupsExcludePattern) excludes group indexer",
                 "set spec.mirrors[0].groupsExcludePattern to a pattern that leaves indexer (now 'indexer, connect-.*')",
                 id="excluded"),
    pytest.param(_spec(groupsExcludePattern=None, groupsBlacklistPattern="index.*"),
                 "'index.*' (groupsBlacklistPattern) excludes group indexer",
                 "set spec.mirrors[0].groupsBlacklistPattern to a pattern that leaves indexer", id="v1beta2-blacklist"),
    pytest.param(_spec(groupsPattern="payments-.*|search-.*"),
                 "the groups pattern 'payments-.*|search-.*' (groupsPattern) does not take group indexer",
                 "add indexer to spec.mirrors[0].groupsPattern (now 'payments-.*|search-.*')", id="not-in-pattern"),
    pytest.param(_spec(groupsPattern="indexer-v2"),  # a whole-name match, as MirrorMaker's group filter
                 "'indexer-v2' (groupsPattern) does not take group indexer", "add indexer", id="whole-name-only"),
    pytest.param(_spec(checkpointConnector={"state": "paused", "config": {"sync.group.offsets.enabled": "true"}}),
                 "spec.mirrors[0].checkpointConnector is paused: no offset is copied now",
                 "set spec.mirrors[0].checkpointConnector.state: running", id="paused"),
    pytest.param(_spec(checkpointConnector={"config": {"sync.group.offsets.enabled": "true",
                                                       "emit.checkpoints.enabled": "false"}}),
                 "emit.checkpoints.enabled is false: it runs no task",
                 "remove spec.mirrors[0].checkpointConnector.config.emit.checkpoints.enabled", id="no-checkpoints"),
]


@pytest.mark.parametrize("spec, why, fix", NOT_TRANSLATED)
def test_a_mirror_that_does_not_translate_the_indexers_offsets_says_why_and_the_field_to_set(
        sql, monitoring, clusters, tmp_path, spec, why, fix):
    offsets = _offsets(sql, clusters, tmp_path, spec)
    assert offsets["translated"] is False and offsets["group"] == "indexer"
    assert offsets["why"].startswith("not translated: ") and why in offsets["why"], offsets["why"]
    assert offsets["fix"].startswith("in KafkaMirrorMaker2 kafka/sps-mirror: ") and fix in offsets["fix"], offsets["fix"]
    assert offsets["warning"] == (
        "the indexer group's offsets are not translated into this region: after a promotion the indexer has no "
        "committed offset on europe-west2.content-events (or a stale one) and starts where its auto.offset.reset "
        "says: earliest re-indexes the whole mirrored topic, latest skips every record the standby received")


V1 = {"target": {"alias": "europe-west1", "bootstrapServers": "sps-events-kafka-bootstrap.kafka.svc:9092",
                 "groupId": "sps-mirror", "offsetStorageTopic": "mm2-offsets", "configStorageTopic": "mm2-configs",
                 "statusStorageTopic": "mm2-status", "config": {"replication.policy.separator": "_"}},
      "mirrors": [{"source": {"alias": "europe-west3", "bootstrapServers": "elsewhere:9092"}, "sourceConnector": {},
                   "checkpointConnector": {}},
                  {"source": {"alias": "europe-west2", "bootstrapServers": "sps-events-kafka-bootstrap.ew2.example:9092"},
                   "sourceConnector": {"config": {"replication.policy.separator": "_"}},
                   "checkpointConnector": {"config": {"sync.group.offsets.enabled": "true"}},
                   "topicsPattern": "content-events", "groupsPattern": "indexer|search-.*",
                   "groupsExcludePattern": "search-tmp-.*"}]}


def test_the_v1_shape_is_read_from_the_mirror_of_the_active_region(sql, monitoring, clusters, tmp_path):
    offsets = _offsets(sql, clusters, tmp_path, V1)
    assert offsets["translated"] and offsets["groups"]["takes_group"] and offsets["groups"]["exclude"] == "search-tmp-.*"

    off = json.loads(json.dumps(V1))
    off["mirrors"][1]["checkpointConnector"]["config"]["sync.group.offsets.enabled"] = False
    clusters[1].objects.clear()
    clusters[1].requests.clear()
    offsets = _offsets(sql, clusters, tmp_path, off)
    assert not offsets["translated"] and "spec.mirrors[1].checkpointConnector.config.sync.group.offsets.enabled is " \
        "'false': the checkpoints are written to europe-west2_checkpoints_internal" in offsets["why"]
    assert "europe-west2_content-events" in offsets["warning"]  # the replication policy's separator


def test_a_v1_mirror_is_stopped_and_its_translation_reported_at_a_promotion(sql, clusters, tmp_path):
    clusters[1].add_mirror("kafka", "sps-mirror", spec=V1)
    promoted = pair(tmp_path, clusters).target("europe-west1").promote_region(planned=False)
    kafka = promoted["kafka"]
    assert kafka["confirmed"] and kafka["connectors"] == [
        "europe-west3->europe-west1.MirrorSourceConnector", "europe-west3->europe-west1.MirrorCheckpointConnector",
        "europe-west2->europe-west1.MirrorSourceConnector", "europe-west2->europe-west1.MirrorCheckpointConnector"]
    assert kafka["offset_translation"]["translated"] and not promoted["warnings"]
    assert kafka["indexer_offsets"]["topic"] == "europe-west2_content-events"


def test_a_failover_without_translation_is_not_refused_but_says_what_the_indexer_will_do(sql, clusters, tmp_path):
    clusters[1].add_mirror("kafka", "sps-mirror", spec=_spec(checkpointConnector=None))
    promoted = pair(tmp_path, clusters).target("europe-west1").promote_region(planned=False)
    assert promoted["db"]["new_primary"] == REPLICA and promoted["kafka"]["confirmed"]  # promoted and stopped
    (warning,) = promoted["warnings"]
    assert warning.startswith("the indexer group's offsets are not translated into this region: after a promotion ")
    assert warning.endswith("(fix: in KafkaMirrorMaker2 kafka/sps-mirror: add checkpointConnector: {config: "
                            "{sync.group.offsets.enabled: true}} to spec.mirrors[0])")
    assert promoted["kafka"]["offset_translation"]["translated"] is False


def test_with_no_mirror_named_or_none_in_the_cluster_translation_is_not_known_and_said(sql, monitoring, clusters,
                                                                                       tmp_path):
    p = pair(tmp_path, clusters)
    dr = p.target("europe-west1")
    offsets = dr.region_replication()["offsets"]  # named, not in the cluster
    assert offsets["translated"] is None and offsets["why"] == (
        "not read: gke-production-dr: KafkaMirrorMaker2 kafka/sps-mirror (regions.kafka.mirror) is not in the "
        "cluster; nothing was touched")
    assert offsets["warning"].startswith("whether MirrorMaker translates the indexer group's offsets into this region "
                                         "is not known (gke-production-dr: KafkaMirrorMaker2 kafka/sps-mirror")
    assert offsets["warning"].endswith("after a promotion the indexer may re-index the mirrored topic from its earliest "
                                       "offset or skip to its latest (auto.offset.reset)")
    assert offsets["fix"] == ("make KafkaMirrorMaker2 kafka/sps-mirror readable in the standby's cluster, or fix "
                              "regions.kafka.mirror (kubectl get kafkamirrormaker2 -A)")

    del dr.env.regions["kafka"]  # no mirror named
    offsets = dr.region_replication()["offsets"]
    assert offsets["translated"] is None and offsets["mirror"] is None
    assert offsets["why"] == f"not read: {kubernetes_mirror.NOT_NAMED}"
    assert offsets["fix"] == "name the KafkaMirrorMaker2 in regions.kafka.mirror of the standby's environment"
    promoted = dr.promote_region(planned=False)
    assert promoted["kafka"]["indexer_offsets"]["partitions"] is None and len(promoted["warnings"]) == 1
    assert "is not known" in promoted["warnings"][0] and "regions.kafka.mirror" in promoted["warnings"][0]


def test_the_offsets_report_says_where_the_promoted_indexer_starts():
    """The mapping from the standby's committed offsets (kafka_records.committed: -1 where none) and end
    offsets to the report; read from a real Kafka in tests/integration/test_kubernetes_mirror_offsets.py."""
    report = kubernetes_mirror_offsets.offsets_report("indexer", "europe-west2.content-events",
                                                      {0: 120, 1: -1, 2: 131}, {0: 150, 1: 40, 2: 131})
    assert report["partitions"] == {0: {"committed": 120, "end": 150}, 2: {"committed": 131, "end": 131}}
    assert report["missing"] == [1]
    assert report["why"] == ("group indexer has no committed offset on europe-west2.content-events partitions [1]: "
                             "there the indexer starts where auto.offset.reset says (earliest re-indexes them whole, "
                             "latest skips what they hold); on [0, 2] it starts from the translated offsets")
    whole = kubernetes_mirror_offsets.offsets_report("indexer", "t", {0: 5}, {0: 9})
    assert whole["missing"] == [] and whole["why"] == "group indexer starts from the translated offsets on every partition of t"
    none = kubernetes_mirror_offsets.offsets_report("indexer", "t", {}, {})
    assert none["partitions"] == {} and none["why"].startswith("t is not on this region's Kafka")
