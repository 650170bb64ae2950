"""The destroy-content drill (experiments/db/destroy-content.yaml) on a Kubernetes target whose
database is Cloud SQL, through the real code path: ``gameday.chaos.db.actions.take_backup``,
``destroy_content`` (the rows deleted as the site's own user, its undo recorded first) and
``restore_content`` (the undo: the db playbook applied, which clones the instance as it was at the
moment before the incident and queries the clone). The official Cloud SQL Admin client talks to the
local Admin server (tests/support/cloudsql.py) whose instance has a real MariaDB behind it
(tests/support/cloudsql_mariadb.py): the backup is a real dump, the clone a real MariaDB loaded from
it with the binary log replayed up to the moment. The undo records and the lock are in a real
Kubernetes API server (etcd and kube-apiserver only, on net 39); the site's database is that MariaDB.
The site's front door is a stand-in answering 200 (the web tier is not part of this drill: the
playbook's last step checks the site still serves, which a Cloud SQL restore does not change).

Quick lane (tests/conftest.py NO_TWIN); needs the control plane built (`gameday sandbox install
--kubernetes`)::

    .venv/bin/pytest -m kubernetes tests/integration/test_cloudsql_restore_drill.py
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import pymysql
import pytest
from chaoslib.exceptions import ActivityFailed, InterruptExecution

from gameday.chaos import ledger
from gameday.chaos.db import actions
from gameday.chaos.lock import lock_for
from gameday.gcp import cloudsql
from gameday.sandbox.members import db
from gameday.sandbox.twin import DB_NAME, DB_USER, Twin
from gameday.targets import trust
from gameday.targets.environment import from_mapping
from tests.support.cloudsql import CloudSqlServer
from tests.support.cloudsql_cluster import control_plane_and_database, staging_environment
from tests.support.cloudsql_mariadb import SourceDatabase
from tests.support.front_door import front_door as serving_ok

pytestmark = pytest.mark.kubernetes

ROOT = Path(__file__).resolve().parents[2]
NET = 39
PROJECT = "sps-staging"
PRIMARY, RESTORE = "sps-db", "sps-db-pitr"
CLONE_HOST = f"127.{NET}.200.1"
PASSWORD_VAR = "GAMEDAY_TEST_CLOUDSQL_DB_PASSWORD"
SEEDED = 3000  # articles 1..3000, version 1


@pytest.fixture(autouse=True)
def _trust_undone(monkeypatch):
    """The process-wide CA bundle the target installs (its trust: the database's CA) is undone after each
    test: later tests of the worker verify with the system's roots as before."""
    for var in trust.ENV_VARS:
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(scope="module")
def cluster():
    """etcd + kube-apiserver (the undo records' ConfigMaps, the lock's Lease) and one MariaDB (the
    site's database, the Cloud SQL instance's data), on their own loopback network."""
    with control_plane_and_database("cloudsql-restore", NET) as twin:
        yield twin


@pytest.fixture(scope="module")
def front_door(cluster):
    """What the playbook's verify-site-after-db step asks at site_url: 200 to every GET."""
    with serving_ok(f"127.{NET}.0.250", 8080) as url:
        yield url


def site(twin: Twin, host: str | None = None):
    return pymysql.connect(host=host or db.address(twin), port=3306, user=DB_USER, password=twin.db_password(),
                           database=DB_NAME, connect_timeout=5, autocommit=True)


def query(twin: Twin, sql: str, host: str | None = None) -> list[tuple]:
    with site(twin, host) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return list(cur.fetchall())


@pytest.fixture
def sql(cluster, front_door, monkeypatch):
    """The local Admin server, its instance backed by the MariaDB (a fresh articles table of 3,000)."""
    with site(cluster) as conn, conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS articles")
        cur.execute("DROP TABLE IF EXISTS gameday_canary")
        cur.execute("CREATE TABLE articles (id INT PRIMARY KEY, version INT NOT NULL)")
        cur.execute("INSERT INTO articles VALUES " + ", ".join(f"({i}, 1)" for i in range(1, SEEDED + 1)))
        cur.execute("CREATE TABLE gameday_canary (run VARCHAR(64) NOT NULL, seq INT NOT NULL, written_at DOUBLE NOT NULL,"
                    " PRIMARY KEY (run, seq))")
    workdir = Path(tempfile.mkdtemp(prefix="cloudsql-restore-"))
    os.chmod(workdir, 0o711)  # the clone's mariadbd (user mysql) reaches its directory inside
    source = SourceDatabase(socket=db.socket_path(cluster), binlog_dir=db.binlog_dir(cluster), database=DB_NAME,
                            clone_hosts=[CLONE_HOST], workdir=workdir)
    server = CloudSqlServer(project=PROJECT).start()
    server.add_instance(PRIMARY, availability="REGIONAL", database=source)
    monkeypatch.setenv(cloudsql.ENDPOINT_ENV, server.endpoint)
    monkeypatch.setenv(PASSWORD_VAR, cluster.db_password())
    monkeypatch.delenv("GAMEDAY_I_MEAN_PRODUCTION", raising=False)
    zone = os.environ.get("TZ")
    os.environ["TZ"] = "America/New_York"  # not UTC: a clone that reads the moment in local time is caught
    time.tzset()
    try:
        yield server
    finally:
        if zone is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = zone
        time.tzset()
        server.stop()  # the clone's MariaDB too
        shutil.rmtree(workdir, ignore_errors=True)  # the dumps
        env = from_mapping(environment(cluster), "test.yaml")
        for record in ledger.pending(env):  # a failed test's record goes with it (the next test starts clean)
            ledger.done(env, record["id"])
        lock_for(env).release()  # the actions took the target's Lease for this process


def environment(twin: Twin, *, production: bool = False) -> dict:
    """environments/gke-staging.example.yaml, its kubeconfig the control plane's, its database the
    MariaDB here and the Cloud SQL instance of the local Admin server."""
    return staging_environment(twin, name="cloudsql-restore", production=production, password_var=PASSWORD_VAR,
                               site_url=f"http://127.{NET}.0.250:8080/",
                               cloud_sql={"project": PROJECT, "instance": PRIMARY, "restore_instance": RESTORE,
                                          "poll_s": 0.1, "operation_timeout_s": 60})


def chaos_config(twin: Twin, **kwargs) -> dict:
    return {"gameday_environment": environment(twin, **kwargs)}


def publish(twin: Twin, new_ids: range, edited: int, canary: list[int]) -> None:
    """Editors publish (new articles, one edited) and the canary writes, as the site's user."""
    with site(twin) as conn, conn.cursor() as cur:
        cur.executemany("INSERT INTO articles VALUES (%s, 1)", [(i,) for i in new_ids])
        cur.execute("UPDATE articles SET version = version + 1 WHERE id = %s", (edited,))
        cur.executemany("INSERT INTO gameday_canary VALUES ('run-1', %s, %s)", [(s, time.time()) for s in canary])


def test_destroyed_content_is_cloned_at_the_moment_before_queried_and_the_writes_after_named(cluster, sql):
    config = chaos_config(cluster)
    env = from_mapping(environment(cluster), "test.yaml")
    backup = actions.take_backup(configuration=config)
    assert backup["kind"] == "cloud-sql" and len(sql.calls("POST", f"/instances/{PRIMARY}/backupRuns")) == 1
    publish(cluster, range(3001, 3005), edited=5, canary=[1, 2])  # after the backup: replayed from the binlog
    # the site's own writes land right before the fault, in the same whole second (binlog times are whole
    # seconds): the fault's moment must still hold them, and the clone must still pass
    publish(cluster, range(3005, 3006), edited=11, canary=[])

    destroyed = actions.destroy_content(table="articles", how="delete", first_id=1001, last_id=2000,
                                        configuration=config)
    assert destroyed["destroyed"]["rows"] == 1000 and destroyed["destroyed"]["min_id"] == 1001
    [record] = ledger.matching(env, "restore_db_content")
    before = record["kwargs"]["before"]
    assert (before["rows"], before["min_id"], before["max_id"]) == (3005, 1, 3005)
    assert record["created_at"] <= destroyed["fault_at"] and before["at"] <= record["created_at"]
    assert query(cluster, "SELECT COUNT(*) FROM articles")[0][0] == 2005
    publish(cluster, range(3006, 3009), edited=7, canary=[3, 4])  # after the incident: not in a clone at the moment

    restored = actions.restore_content(configuration=config)
    [report] = restored["restored"]
    assert report["outcome"] == "restored", report
    [clone] = sql.calls("POST", f"/instances/{PRIMARY}/clone")
    assert clone["body"] == {"cloneContext": {"kind": "sql#cloneContext", "destinationInstanceName": RESTORE,
                                              "pointInTime": cloudsql.rfc3339(before["at"])}}
    assert [c["path"].rsplit("/", 1)[-1] for c in sql.changes()] == ["backupRuns", "clone"]
    done = report["restore"]
    checked = done["verification"]
    assert checked["matches"] is True and checked["address"] == f"{CLONE_HOST}:3306"
    # queried over TLS, verified by the clone's own server CA (from the Admin API: not in the environment's trust)
    assert done["server_ca"].startswith("-----BEGIN CERTIFICATE") and done["server_ca"] not in \
        Path(env.trust[0]["file"]).read_text()
    assert checked["range"] == {k: destroyed["destroyed"][k] for k in ("rows", "min_id", "max_id", "sha256")}
    assert before["range"]["sha256"] == destroyed["destroyed"]["sha256"]
    assert checked["figures"] == {k: before[k] for k in ("rows", "min_id", "max_id", "sha256", "checksum")}
    assert query(cluster, "SELECT version FROM articles WHERE id IN (11, 3005) ORDER BY id", CLONE_HOST) == [(2,), (1,)]
    assert done["lost_after"]["articles"]["named"] == "7, 3006-3008"
    assert done["lost_after"]["gameday_canary"]["records"] == ["run-1#3", "run-1#4"]
    assert done["rpo_rows"] == 6 and "point the site's database host" in done["next_step"]
    assert RESTORE in report["steps"]["restore-db-content"]["did"]
    [made] = sql.databases[PRIMARY].replayed  # the clone: the backup's dump, then the binlog up to the moment's second
    assert made["backup"] == "backup-1.sql" and made["stop_datetime"] == time.strftime(
        "%Y-%m-%d %H:%M:%S", time.gmtime(int(before["at"])))

    # queried here too, as the site's user: the clone holds the content as at the moment, the site is as it was
    assert query(cluster, "SELECT COUNT(*), MIN(id), MAX(id) FROM articles", CLONE_HOST)[0] == (3005, 1, 3005)
    assert query(cluster, "SELECT COUNT(*) FROM articles WHERE id BETWEEN 1001 AND 2000", CLONE_HOST)[0][0] == 1000
    assert query(cluster, "SELECT id, version FROM articles WHERE id IN (5, 7)", CLONE_HOST) == [(5, 2), (7, 1)]
    assert query(cluster, "SELECT seq FROM gameday_canary ORDER BY seq", CLONE_HOST) == [(1,), (2,)]
    assert query(cluster, "SELECT COUNT(*) FROM articles")[0][0] == 2008
    assert ledger.pending(env) == []


def test_a_clone_that_does_not_hold_the_content_as_it_was_fails_the_restore_and_keeps_the_record(cluster, sql):
    sql.databases[PRIMARY].clone_late_s = 5.0  # a faulty server: the clone is made after the DELETE
    config = chaos_config(cluster)
    env = from_mapping(environment(cluster), "test.yaml")
    actions.take_backup(configuration=config)
    actions.destroy_content(table="articles", how="delete", first_id=1001, last_id=2000, configuration=config)
    with pytest.raises(ActivityFailed) as err:
        actions.restore_content(configuration=config)
    text = str(err.value)
    assert "restore-db-content failed" in text and f"the clone {RESTORE} ({CLONE_HOST}:3306) does not hold articles" in text
    assert "destroyed range rows 0 (expected 1000)" in text and "Traceback" not in text, text
    assert len(ledger.matching(env, "restore_db_content")) == 1  # it stays for `gameday cleanup`

    # the undo again (as `gameday cleanup` runs it): the clone it made is queried again, not refused as taken
    with pytest.raises(ActivityFailed) as err:
        actions.restore_content(configuration=config)
    text = str(err.value)
    assert "destroyed range rows 0 (expected 1000)" in text and "already exists" not in text, text
    assert len(sql.calls("POST", f"/instances/{PRIMARY}/clone")) == 1
    assert len(ledger.matching(env, "restore_db_content")) == 1


def test_an_undo_that_crashed_after_sending_the_clone_is_completed_by_the_next_one(cluster, sql):
    config = chaos_config(cluster)
    env = from_mapping(environment(cluster), "test.yaml")
    actions.take_backup(configuration=config)
    actions.destroy_content(table="articles", how="delete", first_id=1001, last_id=2000, configuration=config)
    [record] = ledger.matching(env, "restore_db_content")
    before = record["kwargs"]["before"]
    # the crashed process: instances.clone sent at the recorded moment, nothing waited for, nothing recorded
    crashed = cloudsql.CloudSql(PROJECT, PRIMARY)
    body = {"cloneContext": {"kind": "sql#cloneContext", "destinationInstanceName": RESTORE,
                             "pointInTime": cloudsql.rfc3339(before["at"])}}
    sent = crashed.service.instances().clone(project=PROJECT, instance=PRIMARY, body=body).execute()
    assert sent["status"] == "PENDING" and crashed.exists(RESTORE)

    restored = actions.restore_content(configuration=config)  # a fresh undo: only the ledger's record to go on
    [report] = restored["restored"]
    assert report["outcome"] == "restored", report
    assert report["restore"]["resumed"] == sent["name"] and report["restore"]["verification"]["matches"] is True
    assert len(sql.calls("POST", f"/instances/{PRIMARY}/clone")) == 1  # that clone, waited for: not a second one
    assert query(cluster, "SELECT COUNT(*) FROM articles WHERE id BETWEEN 1001 AND 2000", CLONE_HOST)[0][0] == 1000
    assert ledger.pending(env) == []


def test_an_undo_refuses_a_restore_instance_no_clone_of_ours_made(cluster, sql):
    config = chaos_config(cluster)
    env = from_mapping(environment(cluster), "test.yaml")
    actions.take_backup(configuration=config)
    actions.destroy_content(table="articles", how="delete", first_id=1001, last_id=2000, configuration=config)
    sql.add_instance(RESTORE, availability="ZONAL")  # someone else's instance of that name, made after the fault
    with pytest.raises(ActivityFailed, match=f"{RESTORE}.*already exists and no clone of {PRIMARY}.*nothing was touched"):
        actions.restore_content(configuration=config)
    assert [c["path"].rsplit("/", 1)[-1] for c in sql.changes()] == ["backupRuns"]
    assert len(ledger.matching(env, "restore_db_content")) == 1


def test_a_fault_the_restore_could_not_undo_is_refused_before_anything_is_touched(cluster, sql):
    sql.add_instance(RESTORE, availability="ZONAL")  # an old restore still there: the clone could not be made
    env = from_mapping(environment(cluster), "test.yaml")
    actions.take_backup(configuration=chaos_config(cluster))
    with pytest.raises(InterruptExecution, match=f"{RESTORE}.*already exists.*nothing was touched"):
        actions.destroy_content(table="articles", how="delete", first_id=1001, last_id=2000,
                                configuration=chaos_config(cluster))
    assert [c["path"].rsplit("/", 1)[-1] for c in sql.changes()] == ["backupRuns"] and ledger.pending(env) == []
    assert query(cluster, "SELECT COUNT(*) FROM articles")[0][0] == SEEDED


def test_production_without_consent_touches_nothing(cluster, sql):
    env = from_mapping(environment(cluster, production=True), "test.yaml")
    with pytest.raises(InterruptExecution, match="production"):
        actions.destroy_content(table="articles", how="delete", first_id=1001, last_id=2000,
                                configuration=chaos_config(cluster, production=True))
    assert sql.requests == [] and ledger.pending(env) == []
    assert query(cluster, "SELECT COUNT(*) FROM articles")[0][0] == SEEDED
