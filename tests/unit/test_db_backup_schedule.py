"""The twin's scheduled database backups without a server: which backup is the newest (never a
half-written one), pruning to the newest N and a crashed run's leftovers, the settings, and where a
backup's replay starts in another member's log (by GTID). Real files in a temporary directory."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from gameday.errors import UsageError
from gameday.recovery import targets_yaml
from gameday.sandbox import db_backup, db_backup_schedule
from gameday.sandbox.db_binlog import Transaction
from gameday.sandbox.paths import SandboxPaths
from gameday.sandbox.twin import Twin
from gameday.zones import REGIONAL


def host(tmp_path: Path) -> db_backup.DbHost:
    return db_backup.DbHost(socket=tmp_path / "no.sock", binlog_dir=tmp_path / "binlog", backup_dir=tmp_path / "backups",
                            database="sps", member="db-2")


def put(h: db_backup.DbHost, bid: str, at: float, *, dump: bool = True, manifest: bool = True) -> None:
    """A backup as take() leaves it: the dump, then (last) its manifest."""
    h.backup_dir.mkdir(exist_ok=True)
    if dump:
        (h.backup_dir / f"{bid}.sql").write_text("-- dump\n")
    if manifest:
        (h.backup_dir / f"{bid}.json").write_text(json.dumps(
            {"id": bid, "at": at, "path": str(h.backup_dir / f"{bid}.sql"),
             "binlog": {"file": "binlog.000001", "position": 4, "gtid": "0-1-10"}}))


def names(h: db_backup.DbHost) -> list[str]:
    return sorted(p.name for p in h.backup_dir.iterdir())


def test_the_newest_backup_is_a_complete_one_never_a_half_written_one(tmp_path):
    h = host(tmp_path)
    put(h, "db-a", 100.0)
    put(h, "db-b", 200.0)
    (h.backup_dir / ".db-c.sql.tmp").write_text("-- half a dump")  # a dump being written
    put(h, "db-d", 400.0, manifest=False)  # the dump renamed, its manifest not yet written
    (h.backup_dir / ".db-e.json.tmp").write_text('{"id": "db-e", "at": 500')  # a manifest being written
    put(h, "db-f", 600.0, dump=False)  # a manifest whose dump was pruned away
    (h.backup_dir / "notes.json").write_text("[1, 2]")  # not a manifest at all
    assert [m["id"] for m in db_backup.backups(h)] == ["db-a", "db-b"]
    assert db_backup.newest(h)["id"] == "db-b"


def test_a_moved_backup_directory_keeps_its_backups(tmp_path):
    old = host(tmp_path / "old")
    (tmp_path / "old").mkdir()
    put(old, "db-a", 100.0)
    (tmp_path / "old" / "backups").rename(tmp_path / "backups")
    moved = db_backup.newest(host(tmp_path))
    assert moved["id"] == "db-a" and moved["path"] == str(tmp_path / "backups" / "db-a.sql")


def test_prune_keeps_the_newest_n_and_removes_a_crashed_runs_leftovers(tmp_path):
    h = host(tmp_path)
    for i, at in enumerate((100.0, 200.0, 300.0, 400.0, 500.0)):
        put(h, f"db-{i}", at)
    old_tmp = h.backup_dir / ".db-x.sql.tmp"
    old_tmp.write_text("-- a crashed dump")
    orphan = h.backup_dir / "db-y.sql"  # renamed, the manifest never written
    orphan.write_text("-- dump")
    fresh_tmp = h.backup_dir / ".db-z.sql.tmp"  # a dump being written right now (by a drill's take)
    fresh_tmp.write_text("-- writing")
    now = 10_000.0
    for path in (old_tmp, orphan):
        os.utime(path, (now - db_backup_schedule.STALE_S - 1, now - db_backup_schedule.STALE_S - 1))
    os.utime(fresh_tmp, (now - 5, now - 5))

    removed = db_backup_schedule.prune(h, keep=3, now=now)
    assert sorted(removed) == [".db-x.sql.tmp", "db-0", "db-1", "db-y.sql"]
    assert [m["id"] for m in db_backup.backups(h)] == ["db-2", "db-3", "db-4"]
    assert names(h) == [".db-z.sql.tmp", "db-2.json", "db-2.sql", "db-3.json", "db-3.sql", "db-4.json", "db-4.sql"]
    assert db_backup_schedule.prune(h, keep=3, now=now) == []  # nothing more to do
    assert db_backup_schedule.prune(host(tmp_path / "none"), keep=3) == []  # no directory yet
    with pytest.raises(UsageError):
        db_backup_schedule.prune(h, keep=0)


def test_the_next_backup_is_due_an_interval_after_the_newest_whoever_took_it():
    assert db_backup_schedule.due_in(None, 300, now=1000.0) < 0  # none yet: at once
    assert db_backup_schedule.due_in({"at": 900.0}, 300, now=1000.0) == pytest.approx(200.0)
    assert db_backup_schedule.due_in({"at": 600.0}, 300, now=1000.0) < 0


def twin_at(tmp_path: Path) -> Twin:
    paths = SandboxPaths(name="schedule-test", home=tmp_path / "twin")
    return Twin(name="schedule-test", net=33, paths=paths, loc=None, python="/usr/bin/python3")


def test_settings_come_from_the_environment_at_up_and_change_at_run_time(tmp_path, monkeypatch):
    twin = twin_at(tmp_path)
    monkeypatch.delenv(db_backup_schedule.ENV_INTERVAL, raising=False)
    monkeypatch.delenv(db_backup_schedule.ENV_KEEP, raising=False)
    assert db_backup_schedule.ensure(twin) == db_backup_schedule.Settings(db_backup_schedule.default_interval_s(), 3)
    monkeypatch.setenv(db_backup_schedule.ENV_INTERVAL, "60")
    assert db_backup_schedule.ensure(twin).interval_s == 60.0
    monkeypatch.delenv(db_backup_schedule.ENV_INTERVAL)
    assert db_backup_schedule.ensure(twin).interval_s == 60.0  # kept from then on
    assert db_backup_schedule.configure(twin, keep=5) == db_backup_schedule.Settings(60.0, 5)
    assert db_backup_schedule.load(twin) == db_backup_schedule.Settings(60.0, 5)
    with pytest.raises(UsageError, match="interval_s"):
        db_backup_schedule.configure(twin, interval_s=1)
    monkeypatch.setenv(db_backup_schedule.ENV_KEEP, "three")
    with pytest.raises(UsageError, match=db_backup_schedule.ENV_KEEP):
        db_backup_schedule.ensure(twin)
    assert db_backup_schedule.load(twin) == db_backup_schedule.Settings(60.0, 5)  # a refused change changes nothing


def test_the_default_interval_follows_the_db_layers_rpo():
    """Half the db layer's rpo_s (the newest backup stays within it); when rpo_s is 0, as targets.yaml
    has it for the twin, no backup's age can meet it and the default applies."""
    rpo_s = targets_yaml.load().for_layer("db").rpo_s
    expected = max(db_backup_schedule.MIN_INTERVAL_S, rpo_s / 2) if rpo_s else db_backup_schedule.DEFAULT_INTERVAL_S
    assert db_backup_schedule.default_interval_s() == expected


def test_the_schedule_is_a_supervised_regional_member_started_after_the_seed(tmp_path):
    w = db_backup_schedule.workload(twin_at(tmp_path))
    (m,) = w.members
    assert (w.name, w.kind, w.replicas, w.after, m.name) == ("db-backup", "service", 1, ["bootstrap"], "db-backup-1")
    assert m.labels["zone"] == REGIONAL and m.address is None
    assert m.argv[1:3] == ["-m", "gameday.sandbox.db_backup_schedule"] and str(tmp_path / "twin") in m.argv


# ---- a backup's place in another member's log --------------------------------------------------------

def test_a_log_file_is_a_starting_point_when_the_backup_covers_its_gtid_list():
    assert db_backup.covers("0-1-42", "0-1-40")
    assert db_backup.covers("0-1-42", "0-1-42")
    assert db_backup.covers("0-1-42", "")  # a new server's first file
    assert not db_backup.covers("0-1-42", "0-2-43")  # the file begins after the backup
    assert db_backup.covers("0-2-50,1-1-3", "0-1-42")
    assert not db_backup.covers("0-1-42", "0-1-40,1-1-1")  # a domain the backup never saw


def test_the_replay_starts_at_the_first_transaction_the_backup_does_not_hold():
    txns = [Transaction(gtid=g, file=f, start=s, end=s + 100) for g, f, s in
            [("0-1-41", "binlog.000001", 400), ("0-1-42", "binlog.000001", 500), ("0-2-43", "binlog.000002", 256),
             ("0-2-44", "binlog.000002", 356)]]
    assert db_backup.first_after(txns, "0-1-42").gtid == "0-2-43"  # promoted db-2's own first transaction
    assert db_backup.first_after(txns, "0-1-40").gtid == "0-1-41"
    assert db_backup.first_after(txns, "0-2-44") is None  # nothing since: the end of the log
    assert db_backup.first_after(txns, "").gtid == "0-1-41"
