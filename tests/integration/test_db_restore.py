"""Issue 15, drill 2: content destroyed by a bad deploy, and a point-in-time restore, on the real twin
(127.20.x.y).

Plain ``chaos run experiments/db/destroy-content.yaml``: the scheduled backup, editors publish, a bad
deploy deletes the articles with ids 1001-2000 as the site's user, editors publish again, and the db
playbook (the undo the fault recorded) restores the backup into a scratch database, replays db-1's
binary log except the DELETE's transaction, and swaps the table in while the site serves.

Checked here, independently of the playbook's own checks: the deleted rows are back with exactly
their count and a SHA-256 of (id, version) the action computed before deleting (recomputed by this
test), the updates published after the incident are there at their new versions (replayed, not
lost with the swap), every article the search canary published (acknowledged) is in the database,
and the RPO canaries lost no acknowledged record. Prints each phase's time. Run serialized with
other twins: ``flock /tmp/gameday-twin.lock .venv/bin/pytest -x -s tests/integration/test_db_restore.py``.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pymysql
import pytest

import gameday.chaos.db.actions  # noqa: F401 - registers the undo the repair runs
from gameday.chaos import ledger
from gameday.measure.canary import Canaries, CanaryEndpoints
from gameday.recovery import Context
from gameday.targets import for_environment
from gameday.targets.environment import load as load_env
from tests.integration.test_chaos import ENV_FILE, chaos_run, outputs
from tests.support.undo import rerun

ROOT = Path(__file__).resolve().parents[2]
ENV = "sandbox-test"
EXPERIMENT = ROOT / "experiments" / "db" / "destroy-content.yaml"
DELETED = (1001, 2000)  # the experiment's destroy_content arguments
UPDATED_AFTER = range(66, 71)  # its second publish_updates (first_id 66, count 5)


@pytest.fixture
def target(steady_twin):
    return for_environment(load_env(ENV))


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
    versions_before = dict(query(twin, "SELECT id, version FROM articles WHERE id BETWEEN %s AND %s",
                                 (UPDATED_AFTER[0], UPDATED_AFTER[-1])))
    ctx = Context.for_environment(target.env)
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
        assert during["exists"] and during["rows"] <= backup["tables"]["articles"]["rows"] - 1000 + 50, during

        restored = out["restore-to-the-moment-before-with-the-db-playbook"]["restored"]
        assert len(restored) == 1 and restored[0]["outcome"] == "restored", restored
        steps = restored[0]["steps"]
        assert all(s["status"] == "ok" for s in steps.values()), steps
        assert "db.content-lost" in restored[0]["findings"]
        pitr = restored[0]["restore"]
        # the playbook found, from the log, the very transaction the bad deploy committed, and skipped it
        assert [s["gtid"] for s in pitr["skipped"]] == [fault["gtid"]], pitr["skipped"]
        assert pitr["incident"]["what"] == "DELETE of 1000 rows" and pitr["backup"]["id"] == backup["id"]
        assert pitr["skipped"][0]["at"] >= int(fault["fault_at"]) - 1
        table = pitr["tables"]["articles"]
        assert steps["verify-db-content"]["status"] == "ok" and ledger.pending(target.env) == []

        # exactly the rows destroyed are back: count and checksum of (id, version), recomputed here
        back = query(twin, "SELECT id, version FROM articles WHERE id BETWEEN %s AND %s", DELETED)
        assert (len(back), sha(back)) == (destroyed["rows"], destroyed["sha256"])
        # the updates published after the incident were replayed (version + 1), not lost with the swap
        after = dict(query(twin, "SELECT id, version FROM articles WHERE id BETWEEN %s AND %s",
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
    reports = canaries.verify(timeout=120)
    for layer, report in reports.items():
        assert report.acknowledged > 0, report.to_dict()
        assert report.lost == [], f"{layer}: lost acknowledged records {report.lost} ({report.to_dict()})"
    # every article the search canary published (acknowledged) is in the database too, after the swap
    search = next(w for w in canaries.writers if w.layer == "search")
    published = [search.keys[s] for s in search.acked]
    have = {int(r[0]) for r in query(twin, f"SELECT id FROM articles WHERE id IN ({', '.join(['%s'] * len(published))})",
                                     tuple(published))} if published else set()
    assert published and have == set(published), sorted(set(published) - have)[:10]
    print("canaries: " + ", ".join(f"{k} {r.acknowledged} acknowledged, 0 lost" for k, r in reports.items()))
