"""Issue 15, drill 2: content destroyed by a bad deploy, and a point-in-time restore, on the real twin
(127.20.x.y).

Plain ``chaos run experiments/db/destroy-content.yaml``: the scheduled backup, editors publish, a bad
deploy deletes the articles with ids 1001-2000 as the site's user, editors publish again, and the db
playbook (the undo the fault recorded) imports the physical backup's tablespace into a scratch
database on db-1 and on its replica db-2, replays db-1's binary log into both except the DELETE's
transaction, and swaps the copies in by one logged RENAME TABLE while the site serves.

Checked here, independently of the playbook's own checks: the deleted rows are back with exactly
their count and a SHA-256 of (id, version) the action computed before deleting (recomputed by this
test), the updates published after the incident are there at their new versions (replayed, not
lost with the swap), every article the search canary published (acknowledged) is in the database,
and the RPO canaries lost no acknowledged record. Prints each phase's time.

The schedule (``db-backup-1``): a backup appears every interval, taken from the primary, pruned to
the newest N, and it is the one the game day's preflight reads the age of. After a switchover to
db-2, a backup taken from db-1 restores destroyed content on db-2 (its own binary log replayed from
the backup's GTID position), from a logical dump: the fallback path (the dump loaded, the
rows swapped in one transaction); the test switches back so later tests find db-1 primary. Run serialized
with other twins: ``flock /tmp/gameday-twin.lock .venv/bin/pytest -x -s tests/integration/test_db_restore.py``.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
from pathlib import Path

import pymysql
import pytest

import gameday.chaos.db.actions  # noqa: F401 - registers the undo the repair runs
from gameday.chaos import ledger
from gameday.chaos.site.actions import publish_updates
from gameday.deadline import wait_until
from gameday.measure import backup_age
from gameday.measure.canary import Canaries, CanaryEndpoints
from gameday.gtid import parse_gtids
from gameday.recovery import Context, targets_yaml
from gameday.sandbox import db_backup, db_replication
from gameday.targets import for_environment
from gameday.targets.environment import load as load_env
from tests.integration.test_chaos import ENV_FILE, chaos_run, outputs
from tests.integration.test_db_failover import restore_roles
from tests.support.undo import rerun

ROOT = Path(__file__).resolve().parents[2]
ENV = "sandbox-test"
CONF = {"gameday_environment": ENV}  # publish_updates as an experiment calls it (the site's editors)
EXPERIMENT = ROOT / "experiments" / "db" / "destroy-content.yaml"
DELETED = (1001, 2000)  # the experiment's destroy_content arguments
UPDATED_AFTER = range(66, 71)  # its second publish_updates (first_id 66, count 5)
SECOND = (1001, 1010)  # test 1's second bad deploy, among the rows the first restore brought back


@pytest.fixture
def target(steady_twin):
    return for_environment(load_env(ENV))


def versions_sql(twin) -> str:
    """``(id, version)`` of the published content with ids ``%s``..``%s``, in the twin's web tier's schema
    (:mod:`gameday.content`: the Python site's ``articles``, or WordPress's posts)."""
    schema = twin.content_schema()
    return schema.content_sql(schema.select_list("id", "version"), f"{schema.column('id')} BETWEEN %s AND %s")


def ids_in_sql(twin, n: int) -> str:
    """The ids of the published content among ``n`` ids (``%s`` each)."""
    schema = twin.content_schema()
    return schema.content_sql(schema.select_list("id"), f"{schema.column('id')} IN ({', '.join(['%s'] * n)})")


def query(twin, sql: str, args: tuple = ()) -> list[tuple]:
    conn = pymysql.connect(host=twin.address("db"), port=3306, user="sps", password=twin.db_password(),
                           database="sps", connect_timeout=3, read_timeout=30)
    with conn, conn.cursor() as cur:
        cur.execute(sql, args)
        return list(cur.fetchall())


def sha(rows) -> str:
    h = hashlib.sha256()
    for article_id, version in sorted((int(i), int(v)) for i, v in rows):
        h.update(f"{article_id}:{version}\n".encode())
    return h.hexdigest()


def repair(target) -> None:
    """After a failed test: the recorded restore (the db playbook) again."""
    rerun(target.env, "restore_db_content")


def test_chaos_run_destroys_articles_and_the_playbook_restores_them_to_the_moment_before(steady_twin, target, tmp_path):
    twin = steady_twin
    versions_before = dict(query(twin, versions_sql(twin),
                                 (UPDATED_AFTER[0], UPDATED_AFTER[-1])))
    ctx = Context.for_environment(target.env)
    settings = target.db_backup_schedule()
    target.set_db_backup_schedule(interval_s=3600)  # no backup after the swap: the second restore crosses it
    canaries = Canaries(CanaryEndpoints.from_context(ctx), interval=0.5).start()
    started = time.monotonic()
    try:
        proc, journal = chaos_run(EXPERIMENT, tmp_path, var_file=ENV_FILE, timeout=300)
        print(f"chaos run: {time.monotonic() - started:.1f}s")
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert journal["status"] == "completed" and journal["deviated"] is False, proc.stderr[-3000:]
        out = outputs(journal)
        backup = out["the-scheduled-backup"]
        fault = out["a-bad-deploy-deletes-articles"]
        assert fault["target"] == ENV and fault["backup"] == backup["id"]
        destroyed = fault["destroyed"]
        assert (destroyed["min_id"], destroyed["max_id"]) == DELETED and destroyed["rows"] == 1000, destroyed
        # the content was really gone, seen by the experiment's own probe
        during = out["articles-after-the-bad-deploy"]
        assert during["exists"] and during["rows"] <= backup["tables"][twin.content_schema().base_table]["rows"] - 1000 + 50, during

        restored = out["restore-to-the-moment-before-with-the-db-playbook"]["restored"]
        assert len(restored) == 1 and restored[0]["outcome"] == "restored", restored
        steps = restored[0]["steps"]
        assert all(s["status"] == "ok" for s in steps.values()), steps
        assert "db.content-lost" in restored[0]["findings"]
        pitr = restored[0]["restore"]
        # the playbook found, from the log, the very transaction the bad deploy committed, and skipped it
        assert [s["gtid"] for s in pitr["skipped"]] == [fault["gtid"]], pitr["skipped"]
        assert pitr["incident"]["what"] == "DELETE of 1000 rows"
        # the experiment's backup, or a scheduled one taken after it and before the fault (the newest before)
        assert pitr["backup"]["id"] == backup["id"] or backup["at"] <= pitr["backup"]["at"] < fault["fault_at"], \
            (pitr["backup"], backup)
        assert pitr["skipped"][0]["at"] >= int(fault["fault_at"]) - 1
        table = pitr["tables"][twin.content_schema().base_table]
        assert steps["verify-db-content"]["status"] == "ok" and ledger.pending(target.env) == []
        # the physical path: the backup's tablespace imported on db-1 and on its replica db-2, one logged
        # RENAME swapped both copies in (db-2 applied it: its articles table is its own imported copy)
        assert backup["kind"] == "mariadb-backup" and pitr["backup"]["kind"] == "mariadb-backup", pitr["backup"]
        assert pitr["how"] == {"load": "import", "swap": "rename", "why": None, "members": ["db-1", "db-2"]}, pitr["how"]
        assert table["replicas"] == {"db-2": "swapped"} and table["swapped_gtid"], table

        # exactly the rows destroyed are back: count and checksum of (id, version), recomputed here
        back = query(twin, versions_sql(twin), DELETED)
        assert (len(back), sha(back)) == (destroyed["rows"], destroyed["sha256"])
        # the updates published after the incident were replayed (version + 1), not lost with the swap
        after = dict(query(twin, versions_sql(twin),
                           (UPDATED_AFTER[0], UPDATED_AFTER[-1])))
        edits = out["editors-publish-after-the-incident"]
        assert edits["acknowledged"] + edits["pending"] == len(UPDATED_AFTER), edits
        assert after == {i: versions_before[i] + 1 for i in UPDATED_AFTER}, (versions_before, after)
        assert out["articles-after-the-restore"]["rows"] >= table["rows"]
        print(f"backup {backup['id']} ({backup['seconds']} s); {fault['statement']} (GTID {fault['gtid']}); "
              f"restored {table['rows']} rows, CHECKSUM TABLE {table['checksum']}; phases {pitr['seconds']}; "
              f"after the fault: {restored[0]['after_fault_s']}; steps: "
              + ", ".join(f"{name} {s['seconds']}s" for name, s in steps.items()))
    finally:
        if ledger.matching(target.env, "restore_db_content"):
            repair(target)
        target.set_db_backup_schedule(interval_s=settings["interval_s"])
    reports = canaries.verify(timeout=120)
    for layer, report in reports.items():
        assert report.acknowledged > 0, report.to_dict()
        assert report.lost == [], f"{layer}: lost acknowledged records {report.lost} ({report.to_dict()})"
    # every article the search canary published (acknowledged) is in the database too, after the swap
    search = next(w for w in canaries.writers if w.layer == "search")
    published = [search.keys[s] for s in search.acked]
    have = {int(r[0]) for r in query(twin, ids_in_sql(twin, len(published)), tuple(published))} if published else set()
    assert published and have == set(published), sorted(set(published) - have)[:10]
    print("canaries: " + ", ".join(f"{k} {r.acknowledged} acknowledged, 0 lost" for k, r in reports.items()))

    # A second bad deploy, restored from the same backup (none was taken since): the replay crosses the
    # first restore's RENAME, whose swapped-in rows are in no log; it leaves out what that restore left
    # out (named in the RENAME's comment), so the rows the first restore brought back stay.
    at = time.time()
    write(twin, (twin.content_schema().destroy_sql("delete", *SECOND), ()))
    incident = target.find_db_incident(twin.content_schema().base_table, since=at - 1)
    again = target.restore_db_to(incident["at"], skip=[incident["gtid"]])
    assert again["backup"]["at"] < fault["fault_at"] and again["how"]["swap"] == "rename", (again["backup"], again["how"])
    assert again["also_skipped"] == [fault["gtid"], table["swapped_gtid"]], again["also_skipped"]
    back = query(twin, versions_sql(twin), DELETED)
    assert (len(back), sha(back)) == (destroyed["rows"], destroyed["sha256"])
    print(f"second restore across the first swap: phases {again['seconds']}")


def write(twin, *statements: tuple[str, tuple]) -> list[tuple]:
    """As the site writes and reads: through the stable endpoint (at whichever member is the primary);
    the last statement's rows."""
    host, port = twin.db_addr().rsplit(":", 1)
    conn = pymysql.connect(host=host, port=int(port), user="sps", password=twin.db_password(), database="sps",
                           connect_timeout=3, read_timeout=30, autocommit=True)
    with conn, conn.cursor() as cur:
        for sql, args in statements:
            cur.execute(sql, args)
        return list(cur.fetchall())


def edit_through_site(ids) -> None:
    """Publish an update of each article through the site, as an editor does, asking again (within a
    minute) while the site cannot write yet: just after a switchover its connections to the old primary
    are refused until they are made again."""
    for aid in ids:
        wait_until(lambda aid=aid: publish_updates(count=1, first_id=aid, configuration=CONF)["failed"] == 0,
                   timeout=60, interval=1, what=f"the site to publish an update of article {aid}")


def rotate_ahead(twin) -> None:
    """Rotate db-1's binary log (FLUSH BINARY LOGS: never replicated) until its current file's number is
    past every file db-2 has, as restarts of one member do: the members' offsets then differ."""
    def files(name: str) -> list[int]:
        with db_replication.connect(twin, name) as conn, conn.cursor() as cur:
            cur.execute("SHOW BINARY LOGS")
            return [int(r[0].rsplit(".", 1)[1]) for r in cur.fetchall()]
    behind = max(files("db-2")) - max(files("db-1")) + 1
    with db_replication.connect(twin, "db-1") as conn, conn.cursor() as cur:
        for _ in range(max(0, behind)):
            cur.execute("FLUSH BINARY LOGS")
    assert max(files("db-1")) > max(files("db-2"))


def test_the_schedule_backs_up_the_primary_prunes_and_is_what_preflight_reads(steady_twin, target):
    started = time.monotonic()
    before = target.last_db_backup()
    settings = target.db_backup_schedule()
    assert settings["interval_s"] >= 5 and settings["keep"] >= 1, settings
    try:
        target.set_db_backup_schedule(interval_s=5)

        def scheduled():
            newest, last = target.last_db_backup(), target.db_backup_schedule()["last"]
            fresh = newest and (before is None or newest["at"] > before["at"])
            return newest if fresh and last and last.get("ok") and last.get("id") == newest["id"] else None
        backup = wait_until(scheduled, timeout=30, what="a backup taken by db-backup-1", interval=0.5)
    finally:
        target.set_db_backup_schedule(interval_s=settings["interval_s"])
    assert backup["member"] == "db-1" and backup["kind"] == "mariadb-backup" and backup["binlog"]["gtid"], backup
    assert backup["tables"][steady_twin.content_schema().base_table]["rows"] > 0
    now = target.db_backup_schedule()
    assert now["count"] <= settings["keep"], now  # pruned to the newest N
    # the preflight's backup age is the scheduled backup's (the newest: the interval is long again)
    objective, max_age_s = targets_yaml.load().for_layer("db", environment=ENV).backup_limit()
    age = backup_age.db_backup_age(target.last_db_backup, max_age_s=max_age_s, objective=objective)
    assert age.id == now["last"]["id"] and age.age_s < 60, age
    assert (objective, age.status, age.warning) == ("backup_age_s", backup_age.OK, None), age  # a fresh dump: no warning
    # `gameday sandbox status` shows the member and the schedule
    out = subprocess.run([sys.executable, "-m", "gameday", "sandbox", "--name", steady_twin.name, "status"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "db-backup-1" in out.stdout and "db backups: every" in out.stdout, out.stdout[-2000:]
    print(f"scheduled backup {backup['id']} ({backup['seconds']} s); preflight: {age.status}, {age.age_s} s old; "
          f"{time.monotonic() - started:.1f} s")


def test_a_backup_from_db1_restores_destroyed_content_on_db2_after_a_switchover(steady_twin, target):
    twin = steady_twin
    started = time.monotonic()
    settings = target.db_backup_schedule()
    deleted, before_ids, after_ids = (1001, 1100), (61, 65), UPDATED_AFTER
    try:
        target.set_db_backup_schedule(interval_s=3600)  # the restore's backup is db-1's, none taken from db-2
        rotate_ahead(twin)  # db-1's offsets then name a file db-2 does not have: found by GTID, not by offset
        # a logical backup: the fallback path (the dump loaded, the rows swapped in one transaction)
        backup = db_backup.take(db_backup.DbHost.of_twin(twin), kind="mariadb-dump")
        assert backup["member"] == "db-1", backup
        print("switchover:", target.promote_db_replica("db-2")["seconds"])
        print("db-1 follows db-2:", target.rebuild_db_replica("db-1")["how"])
        assert target.db_roles()["primary"] == "db-2"
        # Editors' updates go through the site (its outbox and Kafka: the index follows them); only the
        # destruction is a bare statement, as a bad deploy's is. An update made with SQL would leave the
        # index behind the database for every later test (the search playbook's index check then fails).
        edit_through_site(range(before_ids[0], before_ids[1] + 1))
        doomed = write(twin, (versions_sql(twin), deleted))
        assert len(doomed) == deleted[1] - deleted[0] + 1
        incident_at = time.time()
        write(twin, (twin.content_schema().destroy_sql("delete", *deleted), ()))
        edit_through_site(after_ids)
        versions = dict(write(twin, (versions_sql(twin),
                                     (before_ids[0], after_ids[-1]))))  # every edit, before and after the incident
        incident = target.find_db_incident(twin.content_schema().base_table, since=incident_at - 1)
        assert incident and incident["what"] == f"DELETE of {len(doomed)} rows", incident
        assert incident["gtid"].split("-")[1] == "2", incident  # committed on db-2 (server id 2)
        pitr = target.restore_db_to(incident["at"], skip=[incident["gtid"]])
        assert pitr["backup"]["id"] == backup["id"] and [t["gtid"] for t in pitr["skipped"]] == [incident["gtid"]]
        assert (pitr["how"]["load"], pitr["how"]["swap"]) == ("dump", "rows"), pitr["how"]
        back = write(twin, (versions_sql(twin), deleted))
        assert (len(back), sha(back)) == (len(doomed), sha(doomed))
        now = dict(write(twin, (versions_sql(twin),
                                (before_ids[0], after_ids[-1]))))
        assert now == versions, (versions, now)  # the edits made before and after the incident survive the restore
        # the replay began in db-2's own log exactly where the backup stands (its GTID position), not at
        # the db-1 offset the manifest names (a file db-2 does not have)
        on_db2 = db_backup.DbHost.of_twin(twin)
        file, offset = pitr["replayed_from"].rsplit(":", 1)
        with on_db2.connect() as conn, conn.cursor() as cur:
            cur.execute("SHOW BINARY LOGS")
            assert backup["binlog"]["file"] not in [r[0] for r in cur.fetchall()]
            cur.execute("SELECT BINLOG_GTID_POS(%s, %s)", (file, int(offset)))
            at = cur.fetchone()[0]
        assert on_db2.member == "db-2" and parse_gtids(at) == parse_gtids(backup["binlog"]["gtid"]), (at, backup["binlog"])
        print(f"restored on db-2 from {backup['id']} (db-1 at {backup['binlog']['file']}:{backup['binlog']['position']}, "
              f"GTID {backup['binlog']['gtid']}): replayed db-2's {pitr['replayed_from']} to {pitr['replayed_to']}; "
              f"phases {pitr['seconds']}")
    finally:
        target.set_db_backup_schedule(interval_s=settings["interval_s"])
        restore_roles(target)
    roles = target.db_roles()
    assert (roles["primary"], roles["replicas"], roles["fenced"], roles["lost"]) == ("db-1", ["db-2"], [], []), roles
    wait_until(lambda: target.db_replication()["members"]["db-2"]["replicating"], timeout=60,
               what="db-2 to replicate from db-1 again")
    # the restored rows reached the replica too (the swap is in the log db-1 replicated, then served)
    wait_until(lambda: len(query(twin, versions_sql(twin), deleted)) == len(doomed),
               timeout=30, what="the restored rows on db-1")
    print(f"switchover, restore and switch back: {time.monotonic() - started:.1f} s")
