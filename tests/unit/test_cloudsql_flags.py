"""Whether a Cloud SQL flag change restarts the instance, confirmed instead of assumed: gameday reads the
Cloud SQL Admin API's ``flags.list`` (each flag's ``requiresRestart``) through the official client
(google-api-python-client, sqladmin v1) before it patches ``settings.databaseFlags``, says what it found,
and, when the change restarts the primary, waits until its replicas are RUNNABLE again. Against the
local server speaking the API's REST protocol (tests/support/cloudsql.py), whose flag catalog each test
sets: the requests sent and the outcome are asserted."""

from __future__ import annotations

import pytest

from gameday.errors import DeadlineExceeded, UsageError
from gameday.gcp import cloudsql
from gameday.recovery.layers.region import _restart_words
from tests.support.cloudsql import CloudSqlServer

PROJECT = "sps-production"
PRIMARY, REPLICA = "sps-production-db", "sps-production-db-ew1"


@pytest.fixture
def sql():
    server = CloudSqlServer(project=PROJECT).start()
    server.add_instance(PRIMARY, flags={"max_connections": "500"})
    server.add_instance(REPLICA, availability="ZONAL", region="europe-west1", replica_of=PRIMARY)
    yield server
    server.stop()


def client(server: CloudSqlServer, **kw) -> cloudsql.CloudSql:
    return cloudsql.CloudSql(PROJECT, PRIMARY, service=cloudsql.sqladmin(server.endpoint), poll_s=0.02, **kw)


def test_the_flag_list_is_read_through_the_official_client_once_per_version(sql):
    db = client(sql)
    catalog = db.flag_catalog("MYSQL_8_0")
    assert catalog["read_only"]["requiresRestart"] is False and catalog["performance_schema"]["requiresRestart"] is True
    assert catalog["read_only"]["kind"] == "sql#flag" and catalog["max_connections"]["type"] == "INTEGER"
    db.flag_catalog("MYSQL_8_0")
    (listed,) = sql.calls("GET", "/v1/flags")
    assert listed["query"]["databaseVersion"] == "MYSQL_8_0"
    assert db.flag_restarts({"read_only": "on", "performance_schema": "on"}, "MYSQL_8_0") == {
        "required": True, "flags": {"read_only": False, "performance_schema": True}, "source": "flags.list (MYSQL_8_0)"}


def test_a_flag_that_needs_no_restart_is_set_and_said_so_without_waiting_for_replicas(sql):
    done = client(sql).set_flags({"read_only": "on"})
    assert done["changed"] and done["flags"] == {"max_connections": "500", "read_only": "on"}
    assert done["restart"] == {"required": False, "flags": {"read_only": False}, "source": "flags.list (MYSQL_8_0)"}
    assert not sql.restarts and not sql.calls("GET", f"/instances/{REPLICA}")  # nothing to wait for
    assert _restart_words({"restart": done["restart"]}) == "; no restart (flags.list (MYSQL_8_0))"


def test_a_flag_that_restarts_the_primary_waits_until_its_replicas_are_runnable_again(sql):
    sql.flag_catalog["read_only"]["requiresRestart"] = True  # what flags.list says, this time
    sql.restart_gets = 3
    done = client(sql).set_flags({"read_only": "on"})
    restart = done["restart"]
    assert restart["required"] and restart["flags"] == {"read_only": True} and restart["replicas"] == [REPLICA]
    assert sql.restarts == {PRIMARY: 1} and sql.instances[REPLICA]["state"] == "RUNNABLE"
    # the replica answered MAINTENANCE three times after its primary restarted, then RUNNABLE: all read
    assert len(sql.calls("GET", f"/instances/{REPLICA}")) == 4
    (patch,) = sql.changes()
    assert sql.requests.index(sql.calls("GET", "/v1/flags")[0]) < sql.requests.index(patch)  # read before
    words = _restart_words({"restart": restart})
    assert words.startswith("; the flag change restarted the database (flags.list (MYSQL_8_0) says read_only "
                            "requires it); its replicas sps-production-db-ew1 RUNNABLE again after ")


def test_the_replicas_are_waited_for_only_once_the_patch_operation_is_done(sql):
    # the server restarts the primary while the patch's operation runs and its replicas only after it is
    # DONE: a replica read before then answers RUNNABLE, and a wait that did not follow the operation passes
    sql.flag_catalog["read_only"]["requiresRestart"] = True
    sql.polls_to_done = 4
    done = client(sql).set_flags({"read_only": "on"})
    (patch,) = sql.changes()
    polls = [i for i, r in enumerate(sql.requests) if "/operations/" in r["path"]]
    replica_reads = [i for i, r in enumerate(sql.requests) if r["path"].endswith(f"/instances/{REPLICA}")]
    assert len(polls) == 4 and sql.requests.index(patch) < polls[0]  # operations.get until DONE
    assert sql.operations[sql.requests[polls[-1]]["path"].rsplit("/", 1)[1]]["status"] == "DONE"
    assert polls[-1] < replica_reads[0] and len(replica_reads) == 3  # MAINTENANCE twice, then RUNNABLE
    assert sql.restarts == {PRIMARY: 1} and done["restart"]["replicas"] == [REPLICA]
    assert {sql.instances[n]["state"] for n in (PRIMARY, REPLICA)} == {"RUNNABLE"}


def test_a_patch_operation_that_fails_is_named_and_no_replica_is_waited_for(sql):
    sql.flag_catalog["read_only"]["requiresRestart"] = True
    sql.script("patch", errors=[{"code": "INTERNAL_ERROR", "message": "the instance failed to restart"}])
    with pytest.raises(cloudsql.OperationFailed, match=r"operation op-patch-\d+ \(set database flags read_only=on\) "
                                                       "on project sps-production, instance sps-production-db "
                                                       "failed: INTERNAL_ERROR: the instance failed to restart"):
        client(sql).set_flags({"read_only": "on"})
    assert not sql.calls("GET", f"/instances/{REPLICA}") and not sql.restarts
    assert "read_only" not in {f["name"] for f in sql.instances[PRIMARY]["settings"]["databaseFlags"]}


def test_a_patch_operation_still_running_at_the_deadline_is_named_before_any_replica_wait(sql):
    sql.flag_catalog["read_only"]["requiresRestart"] = True
    sql.script("patch", never=True)
    with pytest.raises(DeadlineExceeded, match=r"Cloud SQL operation op-patch-\d+ \(set database flags read_only=on\) "
                                               r".* \(last status RUNNING\)"):
        client(sql, timeout_s=0.5).set_flags({"read_only": "on"})
    assert not sql.calls("GET", f"/instances/{REPLICA}") and sql.instances[PRIMARY]["state"] == "MAINTENANCE"


def test_a_replica_that_never_comes_back_stops_the_wait_at_the_deadline(sql):
    sql.flag_catalog["read_only"]["requiresRestart"] = True
    sql.restart_gets = 10_000
    with pytest.raises(DeadlineExceeded, match=f"RUNNABLE again after set database flags read_only=on .still not "
                                               f"RUNNABLE: {REPLICA}"):
        client(sql, timeout_s=1.5).set_flags({"read_only": "on"})  # room for the patch itself on a loaded machine


def test_a_flag_not_offered_for_the_database_version_is_refused_before_any_change(sql):
    sql.add_instance("sps-pg", database_version="POSTGRES_15")
    pg = cloudsql.CloudSql(PROJECT, "sps-pg", service=cloudsql.sqladmin(sql.endpoint), poll_s=0.02)
    with pytest.raises(UsageError, match=r"offers no database flag read_only for POSTGRES_15 \(flags.list\); "
                                         "nothing was touched"):
        pg.set_flags({"read_only": "on"})
    assert sql.calls("GET", "/v1/flags")[0]["query"]["databaseVersion"] == "POSTGRES_15" and not sql.changes()


def test_only_the_flags_that_change_are_looked_up_and_nothing_is_read_when_none_does(sql):
    db = client(sql)
    done = db.set_flags({"max_connections": "500"})  # already its value
    assert not done["changed"] and done["restart"]["required"] is False and not sql.calls("GET", "/v1/flags")
    sql.flag_catalog["max_connections"]["requiresRestart"] = True  # would restart, were it changed
    done = db.set_flags({"max_connections": "500", "read_only": "on"})
    assert done["restart"]["flags"] == {"read_only": False} and not sql.restarts


def test_an_unreadable_flag_list_changes_nothing(sql):
    sql.fail("GET", "/v1/flags", 403, "The client is not authorized to make this request.")
    with pytest.raises(cloudsql.CloudSqlError, match="denied permission to list the database flags of MYSQL_8_0"):
        client(sql).set_flags({"read_only": "on"})
    assert not sql.changes()
