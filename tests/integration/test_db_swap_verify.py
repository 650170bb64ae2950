"""The RENAME swap's verification (issue 15), on a MariaDB primary and its replica of their own
(db-1 and db-2 of twin ``dbswap``, 127.47.x.y; nothing else of a twin): a physical backup's
``articles`` imported into ``gameday_pitr`` on both, then :func:`db_swap.rename_swap` with the tail
(the last events, replayed under the live table's lock) played by the test.

The copies are checksummed while held against every writer, before the live table's lock; under
the lock they are checksummed again only when the tail changes a swapped table. Shown here on real
servers: copies that differ before the lock fail the restore, and so do copies that a tail changes
differently under the lock; a tail that says it leaves a copy alone cannot write it (the copy is
held: the write times out), so what is swapped is what was checksummed; a tail that changes both
copies alike is checked again and swapped. Every failure leaves the live table as it was, on both
members. And ``restore_to`` end to end: 40 deleted articles back, on both members, and again across
a replayed statement larger than MariaDB's default ``max_allowed_packet`` (16 MB).

The destroy-content drill's own activities on the same pair (with toxiproxy, the database's stable
endpoint the drill reaches as the site's user, and a stand-in front door for the playbook's last
step): a site user without DROP (or DELETE) is refused before the undo record is written, the table
untouched; and ``how: drop`` end to end: the table dropped, the undo (the db playbook) finds the DROP
in the log, restores around it and swaps the table back, with the writes after the backup replayed
and the writes after the drop to other tables left as they were.

Small topology on its own network: ``nice -n 5 .venv/bin/pytest -q tests/integration/test_db_swap_verify.py``
(no twin lock needed); about 30 s.
"""

from __future__ import annotations

import json
import threading
import time

import pymysql
import pytest
from chaoslib.exceptions import InterruptExecution

from gameday.chaos import ledger
from gameday.chaos.db import actions
from gameday.chaos.lock import lock_for
from gameday.deadline import wait_until
from gameday.sandbox import db_backup, db_physical, db_roles, db_swap, lifecycle
from gameday.sandbox.db_backup import SCRATCH
from gameday.sandbox.members import db, toxiproxy
from gameday.sandbox.spec import Topology
from gameday.sandbox.twin import DB_NAME, DB_USER, Twin
from gameday.site import catalog
from gameday.site import db as site_db
from gameday.targets.environment import from_mapping
from tests.support.front_door import front_door

NAME, NET = "dbswap", 47
ARTICLES = 400


def q(member, sql: str, args: tuple = (), *, no_log: bool = False, lock_wait: int | None = None) -> list[tuple]:
    with member.connect() as conn, conn.cursor() as cur:
        if no_log:
            cur.execute("SET SESSION sql_log_bin = 0")
        if lock_wait:
            cur.execute(f"SET SESSION lock_wait_timeout = {int(lock_wait)}")
        cur.execute(sql, args)
        return list(cur.fetchall())


def live(member) -> tuple[int, int, int]:
    """(rows, CHECKSUM TABLE, InnoDB table id) of the live ``articles`` on ``member``."""
    with member.connect() as conn:
        rows = db_swap.table_stats(conn, DB_NAME, "articles")["rows"]
        return rows, db_swap.checksum(conn, DB_NAME, "articles"), db_swap.table_id(conn, DB_NAME, "articles")


def scratch_checksum(member) -> int:
    with member.connect() as conn:
        return db_swap.checksum(conn, SCRATCH, "articles")


@pytest.fixture(scope="module")
def pair():
    """db-1 (primary) and db-2 (its replica) with ``ARTICLES`` articles, and one physical backup;
    toxiproxy holds the database's stable endpoint (at db-1), as the site and the drill reach it."""
    twin = Twin.create(NAME, net=NET)
    lifecycle.down(twin.paths, wipe=True)
    topology = Topology(name=twin.name, sandbox_id=twin.paths.sandbox_id, backoff_base=0.5, backoff_cap=2.0,
                        workloads=[db.workload(twin), db.replica_workload(twin), toxiproxy.workload(twin)])

    def prepare():
        twin.paths.ensure()
        twin.db_password()
        twin.db_replication_password()
        db_roles.ensure(twin)
        db.prepare(twin)
        toxiproxy.prepare(twin)

    lifecycle.up(twin.paths, topology, prepare=prepare, timeout=180)
    try:
        host = db_backup.DbHost.of_twin(twin)
        replica = host.replicas[0]
        with host.connect() as conn, conn.cursor() as cur:
            cur.execute(f"USE `{DB_NAME}`")
            for ddl in site_db.SCHEMA:
                cur.execute(ddl)
            site_db.insert_articles(conn, list(catalog.generate(ARTICLES)))
        wait_until(lambda: q(replica, "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = %s "
                                      "AND table_name = 'articles'", (DB_NAME,))[0][0] == 1
                   and q(replica, f"SELECT COUNT(*) FROM `{DB_NAME}`.articles")[0][0] == ARTICLES,
                   timeout=60, interval=0.2, what="db-2 to replicate the articles")
        backup = db_backup.take(host, timeout=120)
        assert backup["kind"] == db_physical.KIND
        yield host, replica, backup
    finally:
        lifecycle.down(twin.paths, wipe=True)


def copies(host, replica, backup) -> None:
    """The backup's tables imported into ``gameday_pitr`` on both members (equal copies)."""
    db_swap.each([host, replica], lambda m: db_physical.import_tables(m, backup, SCRATCH))


def files_at(conn):
    return db_backup.binlog_files(conn), db_backup.current_position(conn)


def swap(host, replica, *, tail, touches):
    return db_swap.rename_swap(host, [host, replica], SCRATCH, ["articles"], files_at, tail, [],
                               tail_touches=touches, seconds={})


def caught_up(host, replica) -> None:
    gtid = q(host, "SELECT @@gtid_binlog_pos")[0][0]
    wait_until(lambda: q(replica, "SELECT MASTER_GTID_WAIT(%s, 1)", (gtid,))[0][0] == 0, timeout=30, interval=0.1,
               what="db-2 to catch up")


def test_copies_that_differ_before_the_lock_fail_and_leave_the_live_table(pair):
    host, replica, backup = pair
    copies(host, replica, backup)
    q(replica, f"UPDATE `{SCRATCH}`.articles SET version = version + 1 WHERE id = 5", no_log=True)
    before = (live(host), live(replica))
    tails = []
    with pytest.raises(db_swap.RestoreFailed, match="differ between members .checksummed before the lock"):
        swap(host, replica, tail=lambda at, skip: tails.append(at), touches=lambda at: set())
    assert tails == []  # it failed before the live table was locked
    assert (live(host), live(replica)) == before


def test_copies_a_tail_changes_differently_fail_under_the_lock(pair):
    host, replica, backup = pair
    copies(host, replica, backup)
    before = (live(host), live(replica))

    def diverging_tail(at, skip):  # the replica's copy gets a change the primary's does not
        q(replica, f"UPDATE `{SCRATCH}`.articles SET title = 'diverged' WHERE id = 7", no_log=True)
        return {"runs": 1}
    with pytest.raises(db_swap.RestoreFailed, match="differ between members after the last events were replayed"):
        swap(host, replica, tail=diverging_tail, touches=lambda at: {"articles"})
    assert (live(host), live(replica)) == before


def test_a_tail_that_leaves_the_copies_alone_cannot_write_them(pair):
    """The copies are held from their checksum to the RENAME: a write into one (a tail that said it
    changes no swapped table) waits and times out, and what is swapped in is what was checksummed."""
    host, replica, backup = pair
    copies(host, replica, backup)
    refused: list[int] = []

    def stray_tail(at, skip):
        try:
            q(replica, f"UPDATE `{SCRATCH}`.articles SET title = 'stray' WHERE id = 9", no_log=True, lock_wait=1)
        except pymysql.MySQLError as err:
            refused.append(err.args[0])
        return {"runs": 0}
    done = swap(host, replica, tail=stray_tail, touches=lambda at: set())["articles"]
    assert refused == [1205]  # ER_LOCK_WAIT_TIMEOUT: the copy was held
    assert done["checked"] == "held since before the lock" and done["replicas"] == {replica.member: "swapped"}
    caught_up(host, replica)
    rows_1, sum_1, _ = live(host)
    rows_2, sum_2, _ = live(replica)
    assert rows_1 == rows_2 == ARTICLES and sum_1 == sum_2 == done["checksum"]
    assert q(replica, f"SELECT COUNT(*) FROM `{DB_NAME}`.articles WHERE title = 'stray'")[0][0] == 0


def test_a_tail_that_changes_both_copies_alike_is_checked_again_and_swapped(pair):
    host, replica, backup = pair
    copies(host, replica, backup)
    held = scratch_checksum(host)
    ran = threading.Event()

    def tail(at, skip):
        for m in (host, replica):
            q(m, f"UPDATE `{SCRATCH}`.articles SET version = version + 1 WHERE id = 11", no_log=True)
        ran.set()
        return {"runs": 1}
    done = swap(host, replica, tail=tail, touches=lambda at: {"articles"})["articles"]
    assert ran.is_set() and done["checked"] == "under the lock, after the tail"
    assert done["checksum"] != held  # the sums compared are the ones after the tail
    caught_up(host, replica)
    assert live(host)[1] == live(replica)[1] == done["checksum"]


def test_restore_to_brings_deleted_articles_back_on_both_members(pair):
    host, replica, _ = pair
    backup = db_backup.take(host, timeout=120)  # the earlier tests swapped other copies in
    expect = live(host)[:2]
    time.sleep(1.1)  # the log keeps whole seconds: the deletion lies after the backup's second
    q(host, f"DELETE FROM `{DB_NAME}`.articles WHERE id BETWEEN 101 AND 140")
    bad = db_backup.find_incident(host, "articles", since=backup["at"])
    assert bad is not None and bad.destroys(DB_NAME, "articles") == "DELETE of 40 rows"
    result = db_backup.restore_to(host, bad.at, skip=[bad.gtid], timeout=120)
    table = result["tables"]["articles"]
    assert result["how"]["swap"] == "rename" and table["checked"] == "held since before the lock"
    assert {"swap_checksum", "swap_locked", "swap_tail", "swap_recheck", "swap_after"} <= set(result["seconds"])
    caught_up(host, replica)
    assert live(host)[:2] == live(replica)[:2] == expect
    assert table["checksum"] == expect[1]


def test_restore_to_replays_one_statement_larger_than_the_default_packet(pair):
    """One statement whose row images exceed MariaDB's default ``max_allowed_packet`` (16 MB), after
    the backup and before the incident: ``mariadb-binlog`` prints its row events as one ``BINLOG``
    statement (base64, 4/3 of the raw events), which the replay must apply on both members. With
    16 MB on the servers or the client it failed ("Server has gone away")."""
    host, replica, _ = pair
    backup = db_backup.take(host, timeout=120)
    with host.connect() as conn:
        file_0, pos_0 = db_backup.current_position(conn)
    # every article's body about 50 KB: ~20 MB of after-images (and the before-images) in one statement
    q(host, f"UPDATE `{DB_NAME}`.articles SET body = REPEAT(CONCAT('bulk change ', id, '. '), 3000), "
            "version = version + 1")
    with host.connect() as conn:
        file_1, pos_1 = db_backup.current_position(conn)
    assert file_1 == file_0 and pos_1 - pos_0 > 16 * 2**20  # the statement's events alone exceed 16 MB
    expect = live(host)[:2]
    time.sleep(1.1)  # the log keeps whole seconds: the deletion lies after the backup's second
    q(host, f"DELETE FROM `{DB_NAME}`.articles WHERE id BETWEEN 201 AND 240")
    bad = db_backup.find_incident(host, "articles", since=backup["at"])
    assert bad is not None and bad.destroys(DB_NAME, "articles") == "DELETE of 40 rows"
    result = db_backup.restore_to(host, bad.at, skip=[bad.gtid], timeout=120)
    assert result["how"]["swap"] == "rename"
    caught_up(host, replica)
    assert live(host)[:2] == live(replica)[:2] == expect
    assert q(replica, f"SELECT COUNT(*) FROM `{DB_NAME}`.articles WHERE body LIKE 'bulk change %%'")[0][0] == ARTICLES
    for member in (host, replica):  # the members' own limit, as each session reads it when it connects
        assert q(member, "SELECT @@global.max_allowed_packet, @@session.max_allowed_packet, "
                         "@@slave_max_allowed_packet")[0] == (2**30,) * 3


# ---- the destroy-content drill's own activities (gameday.chaos.db.actions) ----------------------------
FRONT_DOOR = (f"127.{NET}.0.250", 8080)


@pytest.fixture
def drill(pair, monkeypatch, tmp_path):
    """The drill's configuration for this pair (an environment of kind sandbox, its site a front door
    answering 200), and this process's account of what it injected (``GAMEDAY_RUN_LOG``). Afterwards:
    the site user's grants as the twin makes them, no record left, the target's lock released."""
    run_log = tmp_path / "run.jsonl"
    monkeypatch.setenv(ledger.RUN_LOG_ENV, str(run_log))
    with front_door(*FRONT_DOOR) as url:
        mapping = {"name": f"{NAME}-drill", "kind": "sandbox", "allowed": True, "production": False, "sandbox": NAME,
                   "net": NET, "site_url": url}
        env = from_mapping(mapping, "test_db_swap_verify")
        try:
            yield {"gameday_environment": mapping}, env, run_log
        finally:
            host = pair[0]
            q(host, f"GRANT ALL PRIVILEGES ON `{DB_NAME}`.* TO '{DB_USER}'@'%%'", no_log=True)
            for record in ledger.pending(env):  # a failed test's record goes with it
                ledger.done(env, record["id"])
            lock_for(env).release()  # the action took the target's lock for this process


def injected(run_log) -> list[dict]:
    lines = run_log.read_text().splitlines() if run_log.exists() else []
    return [e for e in map(json.loads, lines) if e["event"] == "injected"]


@pytest.mark.parametrize("how, privilege", [("drop", "DROP"), ("delete", "DELETE")])
def test_a_site_user_without_the_privilege_is_refused_before_the_undo_record(pair, drill, how, privilege):
    """Without the check, the statement failed after the record (and its undo, the playbook, ran at once)."""
    host, replica, _ = pair
    conf, env, run_log = drill
    before = (live(host), live(replica))
    q(host, f"REVOKE {privilege} ON `{DB_NAME}`.* FROM '{DB_USER}'@'%%'", no_log=True)
    with pytest.raises(InterruptExecution) as err:
        actions.destroy_content(how=how, configuration=conf)
    message = str(err.value)
    assert f"the database user '{DB_USER}'@'%' lacks the {privilege} privilege on {DB_NAME}.articles" in message
    assert f"GRANT {privilege} ON `{DB_NAME}`.`articles` TO '{DB_USER}'@'%'" in message
    assert "nothing was touched" in message
    assert injected(run_log) == [] and ledger.pending(env) == []  # no undo record was ever written
    caught_up(host, replica)
    assert (live(host), live(replica)) == before


def test_the_drill_drops_the_table_and_its_undo_restores_it_with_what_came_after(pair, drill):
    host, replica, _ = pair
    conf, env, run_log = drill
    backup = actions.take_backup(configuration=conf)
    earlier = dict(q(host, f"SELECT id, version FROM `{DB_NAME}`.articles WHERE id BETWEEN 61 AND 65"))
    time.sleep(1.1)  # the log keeps whole seconds: the writes and the drop lie after the backup's second
    # acknowledged after the backup and before the drop: the restore must replay them
    q(host, f"UPDATE `{DB_NAME}`.articles SET version = version + 1 WHERE id BETWEEN 61 AND 65")
    q(host, f"INSERT INTO `{DB_NAME}`.outbox (article_id, version, payload) VALUES (61, 2, '{{}}')")
    versions = dict(q(host, f"SELECT id, version FROM `{DB_NAME}`.articles WHERE id BETWEEN 61 AND 65"))
    assert versions == {i: v + 1 for i, v in earlier.items()}
    expect = live(host)[:2]
    fault = actions.destroy_content(how="drop", configuration=conf)
    assert fault["statement"] == "DROP TABLE articles" and fault["backup"] == backup["id"], fault
    assert [e["reason"] for e in injected(run_log)] == ["a bad deploy destroyed content (DROP TABLE articles)"]
    caught_up(host, replica)
    for member in (host, replica):
        assert q(member, "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = %s AND table_name = "
                         "'articles'", (DB_NAME,)) == [(0,)]
    # acknowledged after the drop, in another table: the restore leaves it alone
    q(host, f"INSERT INTO `{DB_NAME}`.outbox (article_id, version, payload) VALUES (62, 2, '{{}}')")
    outbox = q(host, f"SELECT id, article_id, version FROM `{DB_NAME}`.outbox ORDER BY id")

    done = actions.restore_content(configuration=conf)["restored"]
    assert len(done) == 1 and done[0]["outcome"] == "restored", done
    steps = done[0]["steps"]
    assert all(s["status"] == "ok" for s in steps.values()), steps
    assert "db.content-lost" in done[0]["findings"]
    pitr = done[0]["restore"]
    assert pitr["incident"]["what"] == "DROP TABLE" and pitr["incident"]["gtid"] == fault["gtid"], pitr["incident"]
    assert [t["gtid"] for t in pitr["skipped"]] == [fault["gtid"]] and pitr["backup"]["id"] == backup["id"]
    table = pitr["tables"]["articles"]
    assert pitr["how"]["swap"] == "rename" and table["created"] == table["swapped_gtid"], table  # no live table
    assert table["replicas"] == {replica.member: "swapped"}
    assert ledger.pending(env) == []
    caught_up(host, replica)
    assert live(host)[:2] == live(replica)[:2] == expect and table["checksum"] == expect[1]
    for member in (host, replica):
        assert dict(q(member, f"SELECT id, version FROM `{DB_NAME}`.articles WHERE id BETWEEN 61 AND 65")) == versions
        assert q(member, f"SELECT id, article_id, version FROM `{DB_NAME}`.outbox ORDER BY id") == outbox
