"""The database failover drill on a Kubernetes target whose database is Cloud SQL, through the real
code path: ``gameday.chaos.db.actions.lose_primary`` and ``recover_primary`` (the undo: the db
playbook applied), with the official Cloud SQL Admin client talking to the local Admin server
(tests/support/cloudsql.py), the undo records and the lock in a real Kubernetes API server (etcd and
kube-apiserver only, on net 38), and the site's database a real MariaDB there (the playbook checks it
answers SQL as the site's user). Each test asserts the requests the Admin server received.

Quick lane (tests/conftest.py NO_TWIN); needs the control plane built (`gameday sandbox install
--kubernetes`)::

    .venv/bin/pytest -m kubernetes tests/integration/test_cloudsql_failover_drill.py
"""

from __future__ import annotations

from pathlib import Path

import pymysql
import pytest
from chaoslib.exceptions import ActivityFailed, InterruptExecution

from gameday.chaos import ledger
from gameday.chaos.db import actions, probes
from gameday.chaos.lock import lock_for
from gameday.gcp import cloudsql
from gameday.sandbox.members import db
from gameday.sandbox.twin import DB_NAME, DB_USER, Twin
from gameday.targets import trust
from gameday.targets.environment import from_mapping
from tests.support.cloudsql import CloudSqlServer
from tests.support.cloudsql_cluster import control_plane_and_database, staging_environment

pytestmark = pytest.mark.kubernetes

ROOT = Path(__file__).resolve().parents[2]
NET = 38
PROJECT = "sps-staging"
PRIMARY, REPLICA = "sps-db", "sps-db-replica"
PASSWORD_VAR = "GAMEDAY_TEST_CLOUDSQL_DB_PASSWORD"


@pytest.fixture(autouse=True)
def _trust_undone(monkeypatch):
    """The process-wide CA bundle the target installs (its trust: the database's CA) is undone after each
    test: later tests of the worker verify with the system's roots as before."""
    for var in trust.ENV_VARS:
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(scope="module")
def cluster():
    """etcd + kube-apiserver (the undo records' ConfigMaps, the lock's Lease) and one MariaDB (the
    site's database), on their own loopback network; the state namespace made."""
    with control_plane_and_database("cloudsql-drill", NET) as twin:
        conn = pymysql.connect(host=db.address(twin), port=3306, user=DB_USER, password=twin.db_password(),
                               database=DB_NAME, connect_timeout=5, autocommit=True)
        with conn, conn.cursor() as cur:
            cur.execute("CREATE TABLE IF NOT EXISTS articles (id INT PRIMARY KEY, version INT NOT NULL)")
            cur.execute("INSERT IGNORE INTO articles VALUES (1, 1), (2, 1), (3, 1)")
        yield twin


@pytest.fixture
def sql(cluster, monkeypatch):
    server = CloudSqlServer(project=PROJECT).start()
    monkeypatch.setenv(cloudsql.ENDPOINT_ENV, server.endpoint)
    monkeypatch.setenv(PASSWORD_VAR, cluster.db_password())
    monkeypatch.delenv("GAMEDAY_I_MEAN_PRODUCTION", raising=False)
    yield server
    server.stop()
    env = from_mapping(environment(cluster), "test.yaml")
    for record in ledger.pending(env):  # a failed test's record goes with it (the next test starts clean)
        ledger.done(env, record["id"])
    lock_for(env).release()  # the actions took the target's Lease for this process


def environment(twin: Twin, *, production: bool = False, **cloud_sql) -> dict:
    """environments/gke-staging.example.yaml, its kubeconfig the control plane's, its database the
    MariaDB here and the Cloud SQL instance of the local Admin server."""
    return staging_environment(twin, name="cloudsql-drill", production=production, password_var=PASSWORD_VAR,
                               site_url=f"http://127.{NET}.0.250:8080/",
                               cloud_sql={"project": PROJECT, "instance": PRIMARY, "poll_s": 0.05,
                                          "operation_timeout_s": 3, **cloud_sql})


def chaos_config(twin: Twin, **kwargs) -> dict:
    return {"gameday_environment": environment(twin, **kwargs)}


def test_lose_primary_fails_over_cloud_sql_once_after_its_undo_is_recorded_and_the_playbook_reports_it(cluster, sql):
    sql.add_instance(PRIMARY, availability="REGIONAL", settings_version="42", zone="europe-west2-a",
                     secondary="europe-west2-b")
    config = chaos_config(cluster)
    before = probes.replication_status(configuration=config)
    assert before["roles"]["primary"] == f"{PRIMARY}@europe-west2-a"
    assert before["roles"]["replicas"] == [f"{PRIMARY}@europe-west2-b"]
    assert probes.replication_healthy(configuration=config) is True

    lost = actions.lose_primary(configuration=config)
    assert lost["touched"] == [f"{PRIMARY}@europe-west2-a"] and "instances.failover" in lost["how"]
    failovers = sql.calls("POST", f"/instances/{PRIMARY}/failover")
    assert len(failovers) == 1
    assert failovers[0]["body"]["failoverContext"]["settingsVersion"] == "42"
    env = from_mapping(environment(cluster), "test.yaml")
    [record] = ledger.matching(env, "recover_db_primary")
    assert record["kwargs"] == {"member": f"{PRIMARY}@europe-west2-a"}
    assert record["created_at"] < failovers[0]["at"]  # the undo was in the cluster before the fault was sent
    assert sql.instances[PRIMARY]["gceZone"] == "europe-west2-b"

    recovered = actions.recover_primary(configuration=config)["recovered"]
    [report] = recovered
    assert report["outcome"] == "healthy" and report["findings"] == []
    assert report["primary_moved"] is True and report["roles"]["primary"] == f"{PRIMARY}@europe-west2-b"
    state = report["failover_state"]
    assert (state["state"], state["runnable"], state["zone"], state["in_progress"]) == (
        "RUNNABLE", True, "europe-west2-b", [])
    assert ledger.matching(env, "recover_db_primary") == []
    assert len(sql.calls("POST", "/failover")) == 1  # the playbook reported; it sent no second failover
    switched = actions.switch_primary_back(member="db-1", configuration=config)
    assert switched["switched"] is False and "not a member" in switched["why"]
    assert [c["path"] for c in sql.changes()] == [f"/v1/projects/{PROJECT}/instances/{PRIMARY}/failover"]


def test_a_failover_still_running_is_reported_and_waited_for_never_sent_again(cluster, sql):
    sql.add_instance(PRIMARY, availability="REGIONAL")
    sql.script("failover", never=True)
    config = chaos_config(cluster)
    with pytest.raises(ActivityFailed) as err:  # the fault's wait passes its deadline: the undo runs at once
        actions.lose_primary(configuration=config)
    text = str(err.value)
    assert "db/wait-for-db-failover failed" in text and "FAILOVER op-failover-1 RUNNING" in text, text
    assert len(sql.calls("POST", "/failover")) == 1
    env = from_mapping(environment(cluster), "test.yaml")
    assert len(ledger.matching(env, "recover_db_primary")) == 1  # it stays for `gameday cleanup`


def test_with_failover_replica_the_primary_is_stopped_and_the_playbook_promotes_the_replica(cluster, sql):
    sql.add_instance(PRIMARY, availability="ZONAL")
    sql.add_instance(REPLICA, availability="ZONAL", replica_of=PRIMARY, ip="10.20.0.9")
    config = chaos_config(cluster, failover="replica", replica=REPLICA)
    actions.lose_primary(configuration=config)
    [stop] = sql.changes()
    assert stop["method"] == "PATCH" and stop["body"]["settings"]["activationPolicy"] == "NEVER"
    with pytest.raises(ActivityFailed) as err:  # promoted; repointing the site is the operator's step
        actions.recover_primary(configuration=config)
    assert "repoint-db-endpoint failed" in str(err.value) and f"at {REPLICA} (10.20.0.9)" in str(err.value)
    assert [c["path"].rsplit("/", 1)[-1] for c in sql.changes()] == [PRIMARY, "promoteReplica"]
    assert sql.instances[REPLICA]["instanceType"] == "CLOUD_SQL_INSTANCE"


def test_production_without_consent_and_bad_input_are_refused_before_anything_is_touched(cluster, sql):
    sql.add_instance(PRIMARY, availability="REGIONAL")
    env = from_mapping(environment(cluster), "test.yaml")
    with pytest.raises(InterruptExecution, match="production"):
        actions.lose_primary(configuration=chaos_config(cluster, production=True))
    with pytest.raises(InterruptExecution, match="kubernetes.db.cloud_sql.replica is missing"):
        actions.lose_primary(configuration=chaos_config(cluster, failover="replica"))
    with pytest.raises(InterruptExecution, match="failover must be 'ha' or 'replica', not 'zonal'"):
        actions.lose_primary(configuration=chaos_config(cluster, failover="zonal"))
    data = environment(cluster)
    del data["kubernetes"]["db"]["cloud_sql"]
    with pytest.raises(ActivityFailed, match="kubernetes.db.cloud_sql"):
        actions.lose_primary(configuration={"gameday_environment": data})
    assert sql.changes() == [] and ledger.pending(env) == []
