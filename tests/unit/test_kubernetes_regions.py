"""Region drills on GKE through the Kubernetes target (issue 16, "On GKE"): the database a Cloud SQL
cross-region read replica, driven by Google's official clients against local servers at the protocol
boundary (Cloud SQL Admin REST: tests/support/cloudsql.py; Cloud Monitoring gRPC:
tests/support/monitoring.py), and the standby cluster scaled (and its Strimzi mirror stopped:
tests/unit/test_kubernetes_mirror.py) through the official Kubernetes client against a local API
server (tests/support/kube_api.py). No twin, no cluster, no Google Cloud; each region's Kafka
bootstrap is a loopback port nothing listens on (Kafka's lag is then not measured, with its reason)."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import grpc
import pytest
import yaml
from google.cloud import monitoring_v3 as m

from gameday.errors import DeadlineExceeded, GamedayError, UsageError
from gameday.gcp import cloudsql
from gameday.targets import kubernetes_regions, regions
from gameday.targets.environment import load
from tests.support.cloudsql import CloudSqlServer
from tests.support.kube_api import KubeApi
from tests.support.monitoring import monitoring  # noqa: F401 (fixture)

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "sps-production"
PRIMARY, REPLICA = "sps-production-db", "sps-production-db-ew1"
WEB = {"app.kubernetes.io/name": "wordpress", "app.kubernetes.io/instance": "sps"}
ECK = {"elasticsearch.k8s.elastic.co/cluster-name": "sps-search"}
INDEXER = {"app": "indexer"}
MIRROR = {"connectCluster": "europe-west1",
          "clusters": [{"alias": "europe-west2", "bootstrapServers": "sps-events-kafka-bootstrap.ew2.example:9092"},
                       {"alias": "europe-west1", "bootstrapServers": "sps-events-kafka-bootstrap.kafka.svc:9092",
                        "config": {"offset.storage.topic": "mm2-offsets.europe-west2.internal",
                                   "exactly.once.source.support": "enabled"}}],
          "mirrors": [{"sourceCluster": "europe-west2", "targetCluster": "europe-west1",
                       "topicsPattern": "content-events|gameday-canary", "groupsPattern": "indexer",
                       "sourceConnector": {"tasksMax": 3, "config": {"replication.factor": 3}},
                       "checkpointConnector": {"config": {"sync.group.offsets.enabled": "true"}}}]}


def unused_port() -> int:
    """A loopback port nothing listens on (bound, then let go)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


NO_KAFKA = f"127.0.0.1:{unused_port()}"


@pytest.fixture
def sql(monkeypatch):
    server = CloudSqlServer(project=PROJECT).start()
    monkeypatch.setenv(cloudsql.ENDPOINT_ENV, server.endpoint)
    monkeypatch.delenv("GAMEDAY_I_MEAN_PRODUCTION", raising=False)
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("WORDPRESS_DB_PASSWORD", "set-by-the-operator")
    server.add_instance(PRIMARY, ip="10.30.0.5", flags={"max_connections": "500"})
    server.add_instance(REPLICA, availability="ZONAL", region="europe-west1", ip="10.31.0.5", replica_of=PRIMARY)
    yield server
    server.stop()


@pytest.fixture
def clusters():
    """The two clusters' API servers: the primary (europe-west2) and the standby (europe-west1)."""
    primary, dr = KubeApi().start(), KubeApi().start()
    yield primary, dr
    primary.stop()
    dr.stop()


def pair(tmp_path: Path, clusters, *, production: bool = False) -> regions.RegionPair:
    """The production example and its standby, copied to ``tmp_path``, each cluster's context on its
    local API server; an indexer layer added (the examples leave it out)."""
    for name, api in zip(("gke-production.example", "gke-production-dr.example"), clusters, strict=True):
        data = yaml.safe_load((ROOT / "environments" / f"{name}.yaml").read_text())
        env = data["configuration"]["gameday_environment"]
        block = env["kubernetes"]
        block["kubeconfig"] = str(api.kubeconfig(tmp_path, context=block["context"]))
        block["indexer"] = {"namespace": "indexer", "selector": "app=indexer"}
        block["db"]["cloud_sql"]["poll_s"] = 0.05
        block["kafka"]["bootstrap"] = NO_KAFKA
        if "kafka" in env["regions"]:
            env["regions"]["kafka"]["timeout_s"] = 0.5
        env["production"] = production
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(data))
    return regions.for_environment(load(tmp_path / "gke-production.example.yaml"))


def lag_point(server, seconds: float, at: float, instance: str = REPLICA) -> None:
    """A replica_lag sample of ``instance`` ending at ``at`` (readable once time reaches it)."""
    server.add(m.TimeSeries(
        metric={"type": kubernetes_regions.REPLICA_LAG},
        resource={"type": "cloudsql_database", "labels": {"project_id": PROJECT, "database_id": f"{PROJECT}:{instance}",
                                                           "region": "europe-west1"}},
        metric_kind="GAUGE", value_type="DOUBLE",
        points=[{"interval": {"end_time": {"seconds": int(at), "nanos": int((at % 1) * 1e9)}},
                 "value": {"double_value": seconds}}]))


# ---- replication ----------------------------------------------------------------------------------

def test_the_standby_reports_its_replica_and_the_measured_lag_and_why_kafka_is_not_measured(
        sql, monitoring, clusters, tmp_path):
    lag_point(monitoring, 7.0, time.time() - 200)
    lag_point(monitoring, 3.0, time.time() - 30)
    lag_point(monitoring, 0.0, time.time() - 30, instance="some-other-replica")
    rep = pair(tmp_path, clusters).target("europe-west1").region_replication()
    db = rep["db"]
    assert (rep["active"], rep["standby"]) == ("europe-west2", "europe-west1")
    assert db["replicating"] and (db["instance"], db["upstream"], db["region"]) == (REPLICA, PRIMARY, "europe-west1")
    assert db["replica_configuration"] == {"kind": "sql#replicaConfiguration", "failoverTarget": False}
    assert db["seconds_behind"] == 3.0 and db["lag"]["age_s"] == pytest.approx(30, abs=5)
    assert not db["caught_up"] and not rep["caught_up"] and db["transactions_behind"] is None
    assert rep["kafka"] == {"behind": None, "mirror": "kafka/sps-mirror", "why": (
        "not measured: gke-production-dr: KafkaMirrorMaker2 kafka/sps-mirror (regions.kafka.mirror) is not in the "
        "cluster; nothing was touched")}
    assert rep["not_measured"] == ["kafka"]
    (asked,) = monitoring.calls("ListTimeSeries")
    assert f'resource.labels.database_id = "{PROJECT}:{REPLICA}"' in asked.filter and asked.name == f"projects/{PROJECT}"
    assert [r["path"] for r in sql.requests] == [f"/v1/projects/{PROJECT}/instances/{REPLICA}"] and not sql.changes()
    assert not clusters[0].requests  # nothing asked of the primary's cluster; of the standby's, its mirror
    assert [(r["method"], r["path"]) for r in clusters[1].requests] == [
        ("GET", "/apis/kafka.strimzi.io/v1beta2/namespaces/kafka/kafkamirrormaker2s/sps-mirror")]


def test_a_lag_that_cannot_be_read_is_not_measured_never_guessed(sql, monitoring, clusters, tmp_path):
    dr = pair(tmp_path, clusters).target("europe-west1")
    lag_point(monitoring, 0.0, time.time() - 600)  # older than a fresh sample can be
    rep = dr.region_replication()
    assert rep["db"]["seconds_behind"] is None and not rep["caught_up"]
    assert rep["db"]["lag"]["why"].startswith("not measured: no point since")
    monitoring.fail("ListTimeSeries", grpc.StatusCode.PERMISSION_DENIED, "Permission monitoring.timeSeries.list denied")
    rep = dr.region_replication()
    assert rep["db"]["seconds_behind"] is None and not rep["caught_up"]
    assert "not measured: Cloud Monitoring (project sps-production) denied permission" in rep["db"]["lag"]["why"]


def test_a_replica_of_another_primary_or_with_replication_disabled_does_not_replicate(sql, monitoring, clusters,
                                                                                     tmp_path):
    dr = pair(tmp_path, clusters).target("europe-west1")
    sql.instances[REPLICA]["settings"]["databaseReplicationEnabled"] = False
    lag_point(monitoring, 0.0, time.time() - 10)
    rep = dr.region_replication()
    assert not rep["db"]["replicating"] and not rep["caught_up"] and rep["db"]["seconds_behind"] is None
    assert not monitoring.calls("ListTimeSeries")  # no lag is read for a replica that does not replicate
    with pytest.raises(GamedayError, match=f"{REPLICA} does not replicate from {PRIMARY}.*nothing to wait for"):
        dr.wait_region_caught_up(timeout=5)
    sql.instances[REPLICA]["settings"]["databaseReplicationEnabled"] = True
    sql.add_instance("elsewhere-db")
    sql.instances[REPLICA]["masterInstanceName"] = f"{PROJECT}:elsewhere-db"
    rep = dr.region_replication()
    assert not rep["db"]["replicating"] and rep["db"]["upstream"] == "elsewhere-db"


# ---- a planned switchover ---------------------------------------------------------------------------

def test_a_switchover_fences_the_active_instance_waits_for_a_fresh_zero_lag_and_promotes_the_replica(
        sql, monitoring, clusters, tmp_path):
    p = pair(tmp_path, clusters)
    active, dr = p.target("europe-west2"), p.target("europe-west1")
    before = sql.instances[PRIMARY]["settings"]["settingsVersion"]
    fenced = active.fence_region_writes()
    (patch,) = sql.changes()
    assert patch["method"] == "PATCH" and patch["path"] == f"/v1/projects/{PROJECT}/instances/{PRIMARY}"
    assert patch["body"] == {"settings": {"settingsVersion": before, "databaseFlags": [
        {"name": "max_connections", "value": "500"}, {"name": "read_only", "value": "on"}]}}  # the other flag kept
    assert fenced["flag"] == "read_only=on" and not fenced["already"]
    # whether read_only restarts the instance is what the API's flags.list says, read before the patch
    assert fenced["restart"] == {"required": False, "flags": {"read_only": False}, "source": "flags.list (MYSQL_8_0)"}
    assert sql.calls("GET", "/v1/flags")[0]["query"]["databaseVersion"] == "MYSQL_8_0" and not sql.restarts
    assert sql.polls_to_done <= len(sql.calls("GET", f"/operations/{fenced['operation']}"))
    assert active.fence_region_writes()["already"] and len(sql.changes()) == 1  # idempotent: nothing sent again

    lag_point(monitoring, 0.0, time.time() - 20)        # taken before the fence: it proves nothing
    lag_point(monitoring, 0.0, time.time() + 1.5)       # the first sample after it
    done = dr.wait_region_caught_up(timeout=20)
    assert done["db_s"] >= 1.0 and done["kafka_s"] is None and done["kafka"]["behind"] is None
    assert done["replication"]["db"]["caught_up"] and len(monitoring.calls("ListTimeSeries")) > 1

    clusters[1].add_mirror("kafka", "sps-mirror", spec=MIRROR)
    promoted = dr.promote_region(planned=True)
    assert sql.changes()[-1]["path"] == f"/v1/projects/{PROJECT}/instances/{REPLICA}/promoteReplica"
    db = promoted["db"]
    assert (db["old_primary"], db["new_primary"], db["upstream_fenced"]) == (PRIMARY, REPLICA, True)
    assert db["lag"]["seconds"] == 0.0 and db["site_endpoint"] == "unchanged"
    assert db["addresses"] == [{"type": "PRIVATE", "ip": "10.31.0.5"}] and promoted["planned"]
    assert promoted["kafka"]["mirror"] == "kafka/sps-mirror" and promoted["kafka"]["confirmed"]
    assert sql.instances[REPLICA]["instanceType"] == "CLOUD_SQL_INSTANCE" and "masterInstanceName" not in sql.instances[REPLICA]
    assert {"name": "read_only", "value": "on"} in sql.instances[PRIMARY]["settings"]["databaseFlags"]  # still fenced
    assert not dr.region_replication()["db"]["replicating"]


def test_waiting_for_a_lag_that_never_reaches_zero_stops_at_the_deadline(sql, monitoring, clusters, tmp_path):
    dr = pair(tmp_path, clusters).target("europe-west1")
    lag_point(monitoring, 2.0, time.time() + 0.2)
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded, match=r"replica lag of 0.*last lag read was 2.0 s"):
        dr.wait_region_caught_up(timeout=1.5)
    assert 1.5 <= time.monotonic() - started < 8


def test_a_planned_promotion_is_refused_unfenced_or_behind_and_touches_nothing(sql, monitoring, clusters, tmp_path):
    dr = pair(tmp_path, clusters).target("europe-west1")
    with pytest.raises(UsageError, match=f"needs the upstream {PRIMARY} fenced.*nothing was touched"):
        dr.promote_region(planned=True)
    sql.instances[PRIMARY]["settings"]["databaseFlags"].append({"name": "read_only", "value": "on"})
    lag_point(monitoring, 4.0, time.time() - 10)
    with pytest.raises(UsageError, match=f"{REPLICA} is 4 s behind {PRIMARY}.*nothing was touched"):
        dr.promote_region(planned=True)
    assert not sql.changes()


def test_a_failover_promotes_the_replica_without_reading_the_lost_primary(sql, monitoring, clusters, tmp_path):
    dr = pair(tmp_path, clusters).target("europe-west1")
    clusters[1].add_mirror("kafka", "sps-mirror", spec=MIRROR)
    del sql.instances[PRIMARY]  # the region is gone: its instance does not answer
    promoted = dr.promote_region(planned=False)
    assert not promoted["planned"] and promoted["db"]["upstream_fenced"] is None
    assert "failover does not wait" in promoted["db"]["lag"]["why"]
    assert [r["path"] for r in sql.changes()] == [f"/v1/projects/{PROJECT}/instances/{REPLICA}/promoteReplica"]
    assert not any(r["path"].endswith(f"/instances/{PRIMARY}") for r in sql.requests)
    assert not monitoring.calls("ListTimeSeries")


def test_what_cannot_be_fenced_or_promoted_is_refused_before_any_change(sql, monitoring, clusters, tmp_path):
    p = pair(tmp_path, clusters)
    active, dr = p.target("europe-west2"), p.target("europe-west1")
    with pytest.raises(UsageError, match=f"{REPLICA} is a read replica .*nothing was touched"):
        dr.fence_region_writes()
    with pytest.raises(UsageError, match=f"{PRIMARY} is not a read replica .*nothing to promote"):
        active.promote_region(planned=False)
    sql.instances[PRIMARY]["databaseVersion"] = "POSTGRES_15"
    with pytest.raises(UsageError, match="built for Cloud SQL for MySQL; .* is POSTGRES_15"):
        active.fence_region_writes()
    sql.instances[PRIMARY]["state"] = "MAINTENANCE"
    sql.instances[PRIMARY]["databaseVersion"] = "MYSQL_8_0"
    with pytest.raises(GamedayError, match="is MAINTENANCE, not RUNNABLE; nothing was touched"):
        active.fence_region_writes()
    assert not sql.changes()


def test_the_local_server_refuses_what_cloud_sql_refuses(sql):
    """The protocol boundary holds the real API's rules: a flag it does not know, a value the flag does
    not take, a stale settingsVersion, a promotion of an instance that is no replica."""
    db = cloudsql.CloudSql(PROJECT, PRIMARY, service=cloudsql.sqladmin(sql.endpoint), poll_s=0.05)
    with pytest.raises(UsageError, match="offers no database flag read_onyl for MYSQL_8_0 .flags.list.; nothing"):
        db.set_flags({"read_onyl": "on"})  # refused by gameday before sending: flags.list does not offer it
    with pytest.raises(cloudsql.CloudSqlError, match="Invalid value for flag read_only: yes"):
        db.set_flags({"read_only": "yes"})
    service = db.service.instances()
    with pytest.raises(Exception, match="Invalid flag for instance: read_onyl"):
        service.patch(project=PROJECT, instance=PRIMARY, body={"settings": {"settingsVersion": "7",
                      "databaseFlags": [{"name": "read_onyl", "value": "on"}]}}).execute()
    with pytest.raises(Exception, match="412"):
        service.patch(project=PROJECT, instance=PRIMARY, body={"settings": {"settingsVersion": "1",
                      "databaseFlags": [{"name": "read_only", "value": "on"}]}}).execute()
    with pytest.raises(Exception, match="not valid for a non-replica instance"):
        service.promoteReplica(project=PROJECT, instance=PRIMARY).execute()
    assert db.database_flags() == {"max_connections": "500"}  # nothing changed by any of them


def test_production_changes_need_consent_even_from_a_target_made_with_it(sql, monitoring, clusters, tmp_path,
                                                                         monkeypatch):
    monkeypatch.setenv("GAMEDAY_I_MEAN_PRODUCTION", "1")
    p = pair(tmp_path, clusters, production=True)
    monkeypatch.delenv("GAMEDAY_I_MEAN_PRODUCTION")
    with pytest.raises(UsageError, match="production target: setting read_only=on .*needs consent"):
        p.target("europe-west2").fence_region_writes()
    sql.instances[PRIMARY]["settings"]["databaseFlags"].append({"name": "read_only", "value": "on"})
    clusters[1].add_mirror("kafka", "sps-mirror", spec=MIRROR)
    with pytest.raises(UsageError, match=rf"production target: promoting Cloud SQL replica {REPLICA} \(and stopping "
                                         r"KafkaMirrorMaker2 kafka/sps-mirror\) needs consent"):
        p.target("europe-west1").promote_region(planned=False)
    assert not sql.changes() and not clusters[1].patches()


# ---- the standby cluster's size ---------------------------------------------------------------------

def workloads(primary: KubeApi, dr: KubeApi) -> None:
    primary.add("Deployment", "wordpress", "wordpress", replicas=4, labels=WEB)
    primary.add("Deployment", "indexer", "indexer", replicas=2, labels=INDEXER)
    primary.add("StatefulSet", "search", "search", replicas=3, labels=ECK)
    dr.add("Deployment", "wordpress", "wordpress", replicas=1, labels=WEB)
    dr.add("Deployment", "indexer", "indexer", replicas=0, labels=INDEXER)
    dr.add("StatefulSet", "search", "search", replicas=1, labels=ECK)
    dr.add("StatefulSet", "search", "sps-search-es-masters", replicas=1, labels=ECK,
           owner={"apiVersion": "elasticsearch.k8s.elastic.co/v1", "kind": "Elasticsearch", "name": "sps-search",
                  "uid": "uid-es"})
    dr.add("Deployment", "wordpress", "wordpress-cron", replicas=1, labels=WEB)


def test_scaling_the_standby_to_the_primarys_size_waits_until_ready(sql, clusters, tmp_path):
    primary, dr_api = clusters
    workloads(primary, dr_api)
    dr = pair(tmp_path, clusters).target("europe-west1")
    done = dr.resize_region("primary")
    assert done["scaled"] == {"wordpress": 4, "indexer": 2, "search": 3}
    assert done["left"] == {"wordpress-cron": "gke-production has no web workload named wordpress-cron",
                            "sps-search-es-masters": "controlled by Elasticsearch sps-search: its operator sets the count"}
    patched = {r["path"].rsplit("/", 1)[-1]: r["body"]["spec"]["replicas"] for r in dr_api.patches()}
    assert patched == {"wordpress": 4, "indexer": 2, "search": 3} and not primary.patches()
    for kind, ns, name in (("Deployment", "wordpress", "wordpress"), ("Deployment", "indexer", "indexer"),
                           ("StatefulSet", "search", "search")):
        obj = dr_api.objects[(kind, ns, name)]
        assert obj["status"]["readyReplicas"] == obj["spec"]["replicas"] == done["scaled"][name]  # waited for
    again = dr.resize_region("primary")
    assert again["scaled"] == {} and again["left"]["wordpress"] == "already 4 (the primary runs 4)"
    assert len(dr_api.patches()) == 3
    assert dr.resize_region("standby")["scaled"] == {} and len(dr_api.patches()) == 3
    with pytest.raises(UsageError, match="no region size 'huge'"):
        dr.resize_region("huge")


def test_a_standby_that_never_gets_ready_stops_at_the_deadline(sql, clusters, tmp_path):
    primary, dr_api = clusters
    workloads(primary, dr_api)
    dr_api.reads_to_ready = 10**9
    dr = pair(tmp_path, clusters).target("europe-west1")
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded, match="Deployment wordpress/wordpress on gke-production-dr to have 4 ready"):
        dr.resize_region("primary", timeout=1.0)
    assert time.monotonic() - started < 8


# ---- what is refused on GKE ------------------------------------------------------------------------------

def test_losing_or_rebuilding_a_region_is_refused_and_touches_nothing(sql, clusters, tmp_path):
    p = pair(tmp_path, clusters)
    active, dr = p.target("europe-west2"), p.target("europe-west1")
    for call in (active.lose_region, dr.lose_region, lambda: dr.restore_region(active=False)):
        with pytest.raises(UsageError, match="a region cannot be lost on purpose on GKE; rehearse the failover with "
                                             "--switchover, or on the twin"):
            call()
    assert not active.region_lost() and not dr.region_lost()
    with pytest.raises(GamedayError, match="manual, slow step") as err:
        active.rebuild_region_as_standby(dr)
    assert f"--master-instance-name={REPLICA}" in (err.value.hint or "")
    assert not sql.requests and not clusters[0].requests and not clusters[1].requests

