"""Issue 15, drill 1: the database primary lost, the replica promoted, on the real twin (127.20.x.y).

- Replication works: a row written through the stable endpoint reaches db-2; the GTID positions meet;
  the replica refuses the site's writes (read-only).
- Semi-synchronous: plain ``chaos run experiments/db/lose-primary.yaml``: db-1 is killed and kept
  down, the db playbook (the undo the fault recorded) promotes db-2, repoints the endpoint, starts
  db-1 fenced and rebuilds it as db-2's replica by GTID; the rollback switches back (planned: db-1
  primary again, db-2 its replica). The RPO canary writing through the endpoint the whole time, both
  switches included, loses nothing.
- Asynchronous: the replica falls behind (its IO thread stopped, as a slow link does), the primary
  is lost: the canary's rows written meanwhile are lost and named, and the old primary, holding
  them, is re-seeded rather than replicated on top of a diverged history.

Each test switches back afterwards (db-1 primary, db-2 its replica, asynchronous), checked by the
fixture, so later tests find the twin as it was. Run serialized with other twins:
``flock /tmp/gameday-twin.lock .venv/bin/pytest -x -s tests/integration/test_db_failover.py``.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from pathlib import Path

import pymysql
import pytest

import gameday.chaos.db.actions  # noqa: F401 - registers the undo the repair runs
from gameday.chaos import ledger
from gameday.deadline import wait_until
from gameday.errors import GamedayError
from gameday.measure.canary import Canaries, CanaryEndpoints
from gameday.recovery import FAILED, Context, load_playbook, run
from gameday.sandbox import db_replication
from gameday.sandbox.members import db
from gameday.targets import for_environment
from gameday.targets.environment import load as load_env
from tests.integration.test_chaos import ENV_FILE, chaos_run, outputs
from tests.support.undo import rerun

ROOT = Path(__file__).resolve().parents[2]
ENV = "sandbox-test"
EXPERIMENT = ROOT / "experiments" / "db" / "lose-primary.yaml"


def site_conn(twin, host: str):
    return pymysql.connect(host=host, port=3306, user="sps", password=twin.db_password(), database="sps",
                           connect_timeout=3, read_timeout=30, autocommit=True)


def restore_roles(target) -> None:
    """db-1 primary, db-2 its replica, asynchronous: as the twin starts (switch back if needed)."""
    rerun(target.env, "recover_db_primary")
    roles = target.db_roles()
    if roles["primary"] != "db-1":
        print("switching back:", target.promote_db_replica("db-1")["seconds"])
    roles = target.db_roles()
    for member in roles["fenced"] + [r for r in roles["replicas"]
                                     if not target.db_replication()["members"][r].get("replicating")]:
        print("rebuilding:", target.rebuild_db_replica(member)["how"])
    target.set_db_replication("async")


@pytest.fixture
def target(steady_twin):
    tgt = for_environment(load_env(ENV))
    yield tgt
    restore_roles(tgt)
    roles = tgt.db_roles()
    assert (roles["primary"], roles["replicas"], roles["fenced"], roles["lost"], roles["mode"]) == \
        ("db-1", ["db-2"], [], [], "async"), roles
    wait_until(lambda: tgt.db_replication()["members"]["db-2"]["replicating"], timeout=60,
               what="db-2 to replicate from db-1 again")


def wait_replicated(tgt, timeout: float = 30) -> dict:
    def same():
        members = tgt.db_replication()["members"]
        primary = tgt.db_roles()["primary"]
        return all(m.get("replicating") and m["gtid_current_pos"] == members[primary]["gtid_binlog_pos"]
                   for name, m in members.items() if name != primary) and members
    return wait_until(same, timeout=timeout, what="every replica at the primary's GTID position")


def test_a_row_written_through_the_endpoint_reaches_the_replica_which_refuses_writes(target):
    twin = target._twin()
    status = target.db_replication()
    assert status["roles"]["primary"] == "db-1" and status["roles"]["replicas"] == ["db-2"]
    assert status["endpoint"] == "127.20.30.100:3306" and target.db_address() == ("127.20.30.100", 3306)
    assert db_replication.endpoint_upstream(twin) == "127.20.30.1:3306"
    db1, db2 = status["members"]["db-1"], status["members"]["db-2"]
    assert not db1["read_only"] and db2["read_only"] and db2["replicating"], status
    marker = uuid.uuid4().hex
    with site_conn(twin, "127.20.30.100") as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS failover_check (marker CHAR(32) PRIMARY KEY, at DOUBLE NOT NULL)")
        cur.execute("INSERT INTO failover_check VALUES (%s, %s)", (marker, time.time()))
        cur.execute("SELECT @@server_id")
        assert cur.fetchone()[0] == 1  # the endpoint is db-1

    def on_replica():
        with site_conn(twin, "127.20.30.2") as conn, conn.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM failover_check WHERE marker = %s", (marker,))
            return cur.fetchone()[0] == 1
    wait_until(on_replica, timeout=30, what="the row on db-2")
    members = wait_replicated(target)
    print(f"GTID: db-1 {members['db-1']['gtid_binlog_pos']}, db-2 {members['db-2']['gtid_current_pos']}")
    with site_conn(twin, "127.20.30.2") as conn, conn.cursor() as cur:
        with pytest.raises(pymysql.MySQLError) as err:
            cur.execute("INSERT INTO failover_check VALUES (%s, %s)", (uuid.uuid4().hex, time.time()))
        assert err.value.args[0] == 1290  # --read-only
    # the replica killed (the supervisor restarts it): it comes back read-only and replicating again
    client = target.client
    pid = client.member("db-2")["pid"]
    client.kill("db-2", "KILL")
    wait_until(lambda: client.member("db-2")["pid"] not in (None, pid) and client.member("db-2")["ready"],
               timeout=90, what="db-2 restarted by the supervisor")
    wait_replicated(target, timeout=60)
    assert target.db_replication()["members"]["db-2"]["read_only"]
    # no secret in what the roles record or the status says, in either member's binary log or log
    text = (twin.paths.data / "db-roles.json").read_text() + repr(status)
    for name in ("db-1", "db-2"):
        logs = sorted(p for p in db.binlog_dir(twin, name).glob("binlog.[0-9]*"))
        assert logs, f"{name} keeps a binary log"
        text += "".join(subprocess.run(["mariadb-binlog", "--no-defaults", "--verbose", str(p)], capture_output=True,
                                       text=True, timeout=60, check=True).stdout for p in logs)
        text += twin.paths.member_log(name).read_text(errors="replace")
    for secret in (twin.db_replication_password(), twin.db_password()):
        assert secret not in text
    assert "IDENTIFIED BY" not in text.upper() and "MASTER_PASSWORD" not in text.upper()


def test_semisync_primary_lost_the_playbook_promotes_the_replica_and_no_acknowledged_row_is_lost(target, tmp_path):
    twin = target._twin()
    assert target.set_db_replication("semisync")["applied"] == ["db-1", "db-2"]
    wait_until(lambda: target.db_replication()["members"]["db-1"]["semisync"]["clients"] >= 1, timeout=30,
               what="db-1 to wait for a semi-synchronous replica")
    ctx = Context.for_environment(target.env)
    canaries = Canaries(CanaryEndpoints.from_context(ctx), layers=("db",), interval=0.2).start()
    wait_until(lambda: canaries.acknowledged()["db"] >= 5, timeout=30, what="five canary rows")
    started = time.monotonic()
    proc, journal = chaos_run(EXPERIMENT, tmp_path, var_file=ENV_FILE, timeout=400)
    print(f"chaos run: {time.monotonic() - started:.1f}s")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert journal["status"] == "completed" and journal["deviated"] is False, proc.stderr[-3000:]
    out = outputs(journal)
    fault = out["the-primary-is-lost"]
    assert fault["touched"] == ["db-1"] and fault["mode"] == "semisync" and fault["semisync_active"], fault
    assert out["replication-before"]["roles"]["primary"] == "db-1"
    recovered = out["fail-over-with-the-db-playbook"]["recovered"]
    assert len(recovered) == 1 and ledger.pending(target.env) == []
    result = recovered[0]
    assert "db.primary-lost" in result["findings"], result
    steps = result["steps"]
    assert all(s["status"] == "ok" for s in steps.values()), steps
    names = list(steps)
    assert names.index("promote-db-replica") < names.index("repoint-db-endpoint") < names.index("start-db") \
        < names.index("rebuild-old-db-primary")
    promotion, rebuild = result["promotion"], result["rebuild"]
    assert (promotion["old_primary"], promotion["new_primary"], promotion["switchover"]) == ("db-1", "db-2", False)
    assert rebuild[0]["member"] == "db-1" and rebuild[0]["how"] == "gtid" and rebuild[0]["diverged"]["transactions"] == 0
    after = out["replication-after"]
    assert after["roles"]["primary"] == "db-2" and after["roles"]["replicas"] == ["db-1"], after["roles"]
    assert after["members"]["db-1"]["replicating"] and after["members"]["db-1"]["read_only"]
    assert not after["members"]["db-2"]["read_only"]
    # the rollback switched back as planned (db-2 fenced, db-1 caught up and promoted, db-2 its replica):
    # the next scenario starts from the roles this one did
    back = {r["activity"]["name"]: r.get("output") for r in journal.get("rollbacks", [])}
    switched = back["switch-back-to-the-original-primary"]
    assert switched["switched"] and switched["promotion"]["switchover"], switched
    assert (switched["promotion"]["old_primary"], switched["promotion"]["new_primary"]) == ("db-2", "db-1")
    roles = target.db_roles()
    assert (roles["primary"], roles["replicas"], roles["fenced"], roles["lost"]) == ("db-1", ["db-2"], [], []), roles
    assert db_replication.endpoint_upstream(twin) == "127.20.30.1:3306"
    # writes through the endpoint land on db-1 and flow to db-2
    wait_replicated(target)
    report = canaries.verify(timeout=60)["db"]
    assert report.acknowledged > 5 and report.lost == [], report.to_dict()
    print(f"promotion {promotion['seconds']}; rebuild {rebuild[0]['seconds']}s; after the fault: "
          f"{result['after_fault_s']}; canary: {report.acknowledged} acknowledged, {report.failed_writes} refused, 0 lost")


def test_async_failover_loses_what_the_replica_never_received_names_it_and_reseeds_the_old_primary(target):
    twin = target._twin()
    assert target.db_roles()["mode"] == "async"
    ctx = Context.for_environment(target.env)
    canaries = Canaries(CanaryEndpoints.from_context(ctx), layers=("db",), interval=0.2).start()
    try:
        wait_until(lambda: canaries.acknowledged()["db"] >= 3, timeout=30, what="three canary rows")
        wait_replicated(target)
        with db_replication.connect(twin, "db-2") as conn, conn.cursor() as cur:
            cur.execute("STOP SLAVE IO_THREAD")  # the replica falls behind: nothing more reaches it
        behind_from = canaries.acknowledged()["db"]
        wait_until(lambda: canaries.acknowledged()["db"] >= behind_from + 5, timeout=30, what="five more rows")
        lost = target.lose_db_primary()
        assert lost["member"] == "db-1" and lost["mode"] == "async"
        result = run(load_playbook("db"), Context(target=target), apply=True)
        assert result.outcome != FAILED, result.error
        assert "db.primary-lost" in [f.code for f in result.findings]
        ran = {s.name: s for s in result.steps}
        assert "reseeded" in ran["rebuild-old-db-primary"].did and "discarded" in ran["rebuild-old-db-primary"].did, \
            ran["rebuild-old-db-primary"].did
        roles = target.db_roles()
        assert roles["primary"] == "db-2" and roles["replicas"] == ["db-1"], roles
        wait_replicated(target)
    finally:
        canaries.stop()
    report = canaries.verify(timeout=60)["db"]
    # the rows acknowledged by db-1 after db-2 stopped receiving are gone, and named
    assert report.lost and not report.ok, report.to_dict()
    assert report.to_dict()["rpo_records"] == len(report.lost) > 0
    print(f"async failover: lost {len(report.lost)} acknowledged rows {report.lost} over {report.lost_span_s}s; "
          f"{ran['rebuild-old-db-primary'].did}")


def test_a_replica_whose_replication_broke_is_reseeded_by_the_playbook(target):
    """db-2 loses a table behind replication's back (its copy is no longer the primary's); the next
    write to it stops db-2's applier: finding db.replica-broken, step rebuild-old-db-primary re-seeds."""
    twin = target._twin()
    with site_conn(twin, "127.20.30.100") as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS failover_check (marker CHAR(32) PRIMARY KEY, at DOUBLE NOT NULL)")
    wait_replicated(target)
    with db_replication.connect(twin, "db-2") as conn, conn.cursor() as cur:
        cur.execute("SET sql_log_bin = 0")
        cur.execute("DROP TABLE sps.failover_check")
    marker = uuid.uuid4().hex
    with site_conn(twin, "127.20.30.100") as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO failover_check VALUES (%s, %s)", (marker, time.time()))
    wait_until(lambda: target.db_replication()["members"]["db-2"]["sql"] == "No", timeout=30,
               what="db-2's applier to stop on the missing table")
    result = run(load_playbook("db"), Context(target=target), apply=True)
    assert result.outcome != FAILED, result.error
    assert "db.replica-broken" in [f.code for f in result.findings]
    did = {s.name: s for s in result.steps}["rebuild-old-db-primary"].did
    assert "db-2 replicates from db-1 (reseeded" in did, did
    wait_replicated(target)
    with site_conn(twin, "127.20.30.2") as conn, conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM failover_check WHERE marker = %s", (marker,))
        assert cur.fetchone()[0] == 1
    print(did)


def test_a_replication_statement_that_gets_no_answer_names_itself_and_what_the_server_was_doing(twin):
    """A control's statement that outlives its read timeout (a rebuild hung 70 s under make test's load,
    said only "Lost connection to MySQL server during query") is an error naming the statement's first
    words and what the server was running then, read on a fresh connection."""
    socket = str(db.socket_path(twin, "db-2"))
    holder = pymysql.connect(unix_socket=socket, user="root", autocommit=True)
    waiter = pymysql.connect(unix_socket=socket, user="root", autocommit=True, read_timeout=2)
    try:
        assert db_replication._one(holder, "SELECT GET_LOCK('gameday-test-hold', 0)") == 1
        with pytest.raises(GamedayError) as err:
            db_replication._exec(waiter, "SELECT GET_LOCK('gameday-test-hold', 20)")
    finally:
        holder.close()
        waiter.close()
    said = str(err.value)
    assert said.startswith(f"SELECT GET_LOCK('gameday-test-hold', 20) on {socket} got no answer"), said
    assert "the server was running: root Query" in said and "'User lock' SELECT GET_LOCK('gameday-test-hold', 20)" in said
