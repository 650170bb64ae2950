"""The Kubernetes target's database recovery on Cloud SQL: the official Cloud SQL Admin client
(google-api-python-client, sqladmin v1) against a local server speaking its REST protocol
(tests/support/cloudsql.py). Each test asserts the exact requests the client sent and the outcome."""

from __future__ import annotations

import copy
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from gameday.errors import DeadlineExceeded, GamedayError, UsageError
from gameday.gcp import cloudsql
from gameday.targets.environment import from_mapping
from gameday.targets.kubernetes import KubernetesTarget
from tests.support.cloudsql import CloudSqlServer

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "sps-staging"
BASE = f"/v1/projects/{PROJECT}/instances"


def environment(*, production: bool = False, **cloud_sql) -> dict:
    data = yaml.safe_load((ROOT / "environments" / "gke-staging.example.yaml").read_text())
    env = copy.deepcopy(data["configuration"]["gameday_environment"])
    env["production"] = production
    env["kubernetes"]["db"] = {"host": "10.20.0.5", "port": 3306, "database": "wordpress",
                               "cloud_sql": {"project": PROJECT, "instance": "sps-db", "poll_s": 0.05,
                                             "operation_timeout_s": 10, **cloud_sql}}
    return env


def target(data: dict) -> KubernetesTarget:
    return KubernetesTarget(from_mapping(data, "test.yaml"))


@pytest.fixture
def sql(monkeypatch):
    server = CloudSqlServer(project=PROJECT).start()
    monkeypatch.setenv(cloudsql.ENDPOINT_ENV, server.endpoint)
    monkeypatch.delenv("GAMEDAY_I_MEAN_PRODUCTION", raising=False)
    yield server
    server.stop()


def ago(hours: float) -> datetime:
    return datetime.now(timezone.utc) - timedelta(hours=hours)


# ---- backups ---------------------------------------------------------------------------------------

def test_the_last_backup_is_the_newest_successful_run_by_its_end_across_pages(sql):
    sql.page_size = 2
    sql.add_instance("sps-db")
    sql.add_backup_run("sps-db", run_id="5", status="RUNNING", enqueued=ago(0.1))
    sql.add_backup_run("sps-db", run_id="4", status="FAILED", enqueued=ago(1))
    sql.add_backup_run("sps-db", run_id="3", status="SUCCESSFUL", enqueued=ago(5), took_s=60)
    sql.add_backup_run("sps-db", run_id="2", status="SUCCESSFUL", enqueued=ago(6), took_s=3 * 3600)  # ends last
    sql.add_backup_run("sps-db", run_id="1", status="SUCCESSFUL", enqueued=ago(30))
    backup = target(environment(production=True)).last_db_backup()  # read-only: no consent needed
    assert backup["id"] == "2" and backup["kind"] == "cloud-sql" and backup["type"] == "AUTOMATED"
    assert backup["at"] == pytest.approx((ago(6) + timedelta(seconds=1 + 3 * 3600)).timestamp(), abs=5)
    assert (backup["project"], backup["instance"]) == (PROJECT, "sps-db")
    lists = sql.calls("GET", "/backupRuns")
    assert [r["path"] for r in lists] == [f"{BASE}/sps-db/backupRuns"] * 2  # the second page held the answer
    assert lists[0]["query"]["maxResults"] == "100" and "pageToken" not in lists[0]["query"]
    assert lists[1]["query"]["pageToken"] == "2" and not sql.changes()


def test_no_backup_is_none_and_an_unknown_instance_is_a_usage_error(sql):
    sql.add_instance("sps-db")
    assert target(environment()).last_db_backup() is None
    with pytest.raises(UsageError, match=r"has no such instance.*gcloud sql instances list"):
        target(environment(instance="sps-db-typo")).last_db_backup()


def test_taking_a_backup_inserts_one_run_and_follows_its_operation_to_the_end(sql):
    sql.add_instance("sps-db")
    made = target(environment()).take_db_backup()
    (insert,) = sql.changes()
    assert insert["path"] == f"{BASE}/sps-db/backupRuns" and insert["body"]["description"].startswith("gameday on-demand")
    polls = sql.calls("GET", f"/operations/{made['operation']}")
    assert len(polls) == sql.polls_to_done and made["operation"].startswith("op-backup-")
    assert made["type"] == "ON_DEMAND" and made["kind"] == "cloud-sql" and made["at"] == pytest.approx(time.time(), abs=30)
    assert sql.calls("GET", f"/backupRuns/{made['id']}")  # the run the operation names, read back


def test_a_backup_whose_operation_fails_names_each_error(sql):
    sql.add_instance("sps-db")
    sql.script("backup", errors=[{"code": "INTERNAL_ERROR", "message": "backup volume unavailable"},
                                 {"code": "BACKUP_FAILED", "message": "try again later"}])
    with pytest.raises(cloudsql.OperationFailed) as err:
        target(environment()).take_db_backup()
    text = str(err.value)
    assert "take an on-demand backup" in text and "INTERNAL_ERROR: backup volume unavailable" in text
    assert "BACKUP_FAILED: try again later" in text and "gcloud sql operations describe op-backup-" in text


# ---- failover --------------------------------------------------------------------------------------

def test_ha_failover_sends_the_current_settings_version_and_the_standby_takes_over(sql):
    sql.add_instance("sps-db", settings_version="42", zone="europe-west2-a", secondary="europe-west2-b")
    done = target(environment()).promote_db_replica()
    (failover,) = sql.changes()
    assert failover["path"] == f"{BASE}/sps-db/failover"
    assert failover["body"] == {"failoverContext": {"kind": "sql#failoverContext", "settingsVersion": "42"}}
    assert sql.calls("GET", f"{BASE}/sps-db")[0] is sql.requests[0]  # read before the change
    assert done["how"] == "failover" and done["site_endpoint"] == "unchanged" and done["next_step"] is None
    assert done["old_primary"] == "sps-db in europe-west2-a" and done["new_primary"] == "sps-db in europe-west2-b"
    assert sql.instances["sps-db"]["gceZone"] == "europe-west2-b" and done["addresses"] == [
        {"type": "PRIVATE", "ip": "10.20.0.5"}]


def test_a_zonal_instance_or_one_not_runnable_is_refused_before_any_change(sql):
    sql.add_instance("sps-db", availability="ZONAL")
    with pytest.raises(UsageError, match=r"not highly available \(availabilityType ZONAL\).*nothing was touched"):
        target(environment()).promote_db_replica()
    sql.add_instance("sps-db2", state="MAINTENANCE")
    with pytest.raises(GamedayError, match="is MAINTENANCE, not RUNNABLE; nothing was touched"):
        target(environment(instance="sps-db2")).promote_db_replica()
    assert not sql.changes()


def test_a_failover_that_fails_or_never_finishes_is_named_with_its_operation(sql):
    sql.add_instance("sps-db")
    sql.script("failover", errors=[{"code": "FAILOVER_FAILED", "message": "standby not in sync"}])
    with pytest.raises(cloudsql.OperationFailed, match="fail over to the standby.*FAILOVER_FAILED: standby not in sync"):
        target(environment()).promote_db_replica()
    sql.script("failover", never=True)
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded) as err:
        target(environment(operation_timeout_s=1)).promote_db_replica()
    took = time.monotonic() - started
    assert 1 <= took < 8, took
    text = str(err.value)
    assert "timed out after 1s waiting for Cloud SQL operation op-failover-2" in text and "last status RUNNING" in text
    assert "gcloud sql operations describe op-failover-2 --project sps-staging" in text
    assert len(sql.calls("GET", "/operations/op-failover-2")) >= 5  # polled every poll_s until the deadline


def test_a_refused_failover_is_one_line_naming_the_role(sql):
    sql.add_instance("sps-db")
    sql.fail("POST", "/failover", 403, "The client is not authorized to make this request.")
    with pytest.raises(cloudsql.CloudSqlError) as err:
        target(environment()).promote_db_replica()
    text = str(err.value)
    assert "denied permission to fail over to the standby (The client is not authorized" in text
    assert "roles/cloudsql.admin" in text and "\n" not in text
    assert len(sql.changes()) == 1  # a change is sent once, never retried


def test_promoting_the_named_read_replica_says_the_site_must_be_repointed(sql):
    sql.add_instance("sps-db")
    sql.add_instance("sps-db-replica", availability="ZONAL", ip="10.20.0.9", replica_of="sps-db")
    done = target(environment(failover="replica", replica="sps-db-replica")).promote_db_replica()
    (promote,) = sql.changes()
    assert promote["path"] == f"{BASE}/sps-db-replica/promoteReplica" and promote["body"] is None
    assert "failover" not in promote["query"]  # the old primary stays independent
    assert (done["how"], done["old_primary"], done["new_primary"]) == ("promote-replica", "sps-db", "sps-db-replica")
    assert done["site_endpoint"] == "to repoint" and "10.20.0.9" in done["next_step"]
    assert sql.instances["sps-db-replica"]["instanceType"] == "CLOUD_SQL_INSTANCE"


def test_a_replica_of_another_primary_is_refused_before_any_change(sql):
    sql.add_instance("sps-db")
    sql.add_instance("other-db")
    sql.add_instance("other-replica", replica_of="other-db")
    with pytest.raises(UsageError, match="is not a read replica of sps-db .*primary other-db.*nothing was touched"):
        target(environment(failover="replica", replica="other-replica")).promote_db_replica()
    assert not sql.changes()


# ---- point-in-time restore ---------------------------------------------------------------------------

def test_point_in_time_restore_clones_at_the_moment_into_the_named_instance(sql):
    sql.add_instance("sps-db")
    moment = int(time.time()) - 3600 + 0.25
    done = target(environment(restore_instance="sps-db-pitr")).restore_db_to(moment)
    (clone,) = sql.changes()
    point = datetime.fromtimestamp(moment, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    assert clone["path"] == f"{BASE}/sps-db/clone"
    assert clone["body"] == {"cloneContext": {"kind": "sql#cloneContext", "destinationInstanceName": "sps-db-pitr",
                                              "pointInTime": point}}
    assert point.endswith(".250Z")
    assert done["how"] == "clone" and done["restored_instance"] == "sps-db-pitr" and done["point_in_time"] == point
    assert done["site_endpoint"] == "to repoint" and "sps-db-pitr" in done["next_step"]
    assert done["timings"]["clone_s"] >= 0 and "sps-db-pitr" in sql.instances
    assert any(r["path"] == f"{BASE}/sps-db-pitr" for r in sql.calls("GET"))  # checked free first, read after


def test_a_restore_is_refused_before_any_change_when_it_cannot_be_done(sql):
    sql.add_instance("sps-db")
    sql.add_instance("sps-db-pitr")
    sql.add_instance("nolog-db", bin_log=False)
    env = environment(restore_instance="sps-db-pitr")
    hour_ago = time.time() - 3600
    with pytest.raises(UsageError, match="already exists.*gcloud sql instances delete sps-db-pitr"):
        target(env).restore_db_to(hour_ago)
    with pytest.raises(UsageError, match="in the future"):
        target(environment(restore_instance="sps-db-new")).restore_db_to(time.time() + 600)
    with pytest.raises(UsageError, match=r"logs are kept 7 days"):
        target(environment(restore_instance="sps-db-new")).restore_db_to(time.time() - 8 * 86400)
    with pytest.raises(UsageError, match="point-in-time recovery off"):
        target(environment(instance="nolog-db", restore_instance="sps-db-new")).restore_db_to(hour_ago)
    asked = len(sql.requests)
    with pytest.raises(UsageError, match="cannot skip gtid 0-1-42 .*nothing was touched"):
        target(env).restore_db_to(hour_ago, skip=["gtid 0-1-42"])
    with pytest.raises(UsageError, match="restore_instance"):
        target(environment()).restore_db_to(hour_ago)
    assert len(sql.requests) == asked and not sql.changes()  # skip and a missing name: no request at all


def test_a_clone_that_never_finishes_stops_at_the_deadline(sql):
    sql.add_instance("sps-db")
    sql.script("clone", never=True)
    with pytest.raises(DeadlineExceeded, match="clone to sps-db-pitr at"):
        target(environment(restore_instance="sps-db-pitr", operation_timeout_s=1)).restore_db_to(time.time() - 60)
    assert len(sql.changes()) == 1


# ---- consent, configuration, reachability ------------------------------------------------------------

def test_changes_to_a_production_database_need_consent_and_reads_do_not(sql, monkeypatch):
    sql.add_instance("sps-db")
    prod = target(environment(production=True, restore_instance="sps-db-pitr"))
    for call in (prod.take_db_backup, prod.promote_db_replica, lambda: prod.restore_db_to(time.time() - 60)):
        with pytest.raises(UsageError, match="is a production target.*needs consent; nothing was touched"):
            call()
    assert not sql.requests
    assert prod.last_db_backup() is None and not sql.changes()
    monkeypatch.setenv("GAMEDAY_I_MEAN_PRODUCTION", "1")
    assert prod.promote_db_replica()["how"] == "failover" and len(sql.changes()) == 1


def test_a_kubernetes_target_without_cloud_sql_refuses_clearly(sql):
    data = environment()
    del data["kubernetes"]["db"]["cloud_sql"]
    for call in ("last_db_backup", "take_db_backup", "promote_db_replica"):
        with pytest.raises(GamedayError, match="for Cloud SQL only.*kubernetes.db.cloud_sql"):
            getattr(target(data), call)()
    assert not sql.requests


def test_an_unreachable_api_is_one_line_and_a_plaintext_endpoint_must_be_loopback(monkeypatch):
    monkeypatch.setenv(cloudsql.ENDPOINT_ENV, "http://127.0.0.1:9/")  # discard: nothing listens
    with pytest.raises(cloudsql.CloudSqlError, match="did not answer while trying to list the backup runs"):
        target(environment()).last_db_backup()
    for bad in ("http://sqladmin.example.com:80/", "https://127.0.0.1:8443/", "http://127.0.0.1:port/", "127.0.0.1:80"):
        monkeypatch.setenv(cloudsql.ENDPOINT_ENV, bad)
        with pytest.raises(UsageError, match="must be http://<loopback address>:PORT/"):
            target(environment()).last_db_backup()


def test_without_credentials_the_message_says_how_to_provide_them(monkeypatch, tmp_path):
    monkeypatch.delenv(cloudsql.ENDPOINT_ENV, raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    with pytest.raises(UsageError, match="no usable Google credentials for Cloud SQL.*Workload Identity"):
        target(environment()).last_db_backup()


def test_an_operation_that_does_not_name_its_backup_is_matched_by_its_description(monkeypatch):
    server = CloudSqlServer(project=PROJECT, backup_context=False).start()
    try:
        monkeypatch.setenv(cloudsql.ENDPOINT_ENV, server.endpoint)
        server.add_instance("sps-db")
        server.add_backup_run("sps-db", run_id="1", status="SUCCESSFUL", enqueued=ago(2), type_="ON_DEMAND")
        made = target(environment()).take_db_backup()
        (insert,) = server.changes()
        assert made["id"] != "1" and made["description"] == insert["body"]["description"]
        assert not server.calls("GET", f"/backupRuns/{made['id']}")  # listed, not read by an id it never got
    finally:
        server.stop()


def test_a_token_google_refuses_is_one_line_saying_how_to_fix_the_credentials(sql):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from google.oauth2 import service_account

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    account = service_account.Credentials.from_service_account_info(
        {"type": "service_account", "project_id": PROJECT, "private_key_id": "test", "private_key": key,
         "client_email": f"gameday@{PROJECT}.iam.gserviceaccount.com", "client_id": "1",
         "token_uri": sql.endpoint + "token"}, scopes=cloudsql.SCOPES)
    sql.add_instance("sps-db")
    db = cloudsql.CloudSql(PROJECT, "sps-db", service=cloudsql.sqladmin(sql.endpoint, credentials=account))
    with pytest.raises(UsageError) as err:
        db.last_backup()
    text = str(err.value)
    assert "Google refused a token for Cloud SQL while trying to list the backup runs" in text
    assert "invalid_grant" in text and "Workload Identity" in text and key not in text
    assert [r["path"] for r in sql.requests] == ["/token"]  # the API itself was never asked
