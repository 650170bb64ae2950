"""The physical restore's pure parts, on real output of Debian's MariaDB 10.11 tools
(tests/unit/data/): an earlier restore's RENAME swap found in ``mariadb-binlog`` output with the
transactions it left out (a later replay across it leaves them out too), the position file
``mariadb-backup`` writes, and the table definitions compared without their AUTO_INCREMENT counter.
A physical backup directory and its leftovers pruned. The restore itself runs in
tests/integration/test_db_restore.py."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from gameday.errors import GamedayError
from gameday.sandbox import db_backup, db_backup_schedule, db_binlog, db_physical, db_swap
from gameday.sandbox.db_binlog import Transaction

DATA = Path(__file__).resolve().parent / "data"


def test_an_earlier_restores_rename_swap_names_what_it_left_out():
    txns = {t.gtid: t for t in db_binlog.parse((DATA / "binlog-swap-decoded.txt").read_text(), "binlog.000001")}
    assert list(txns) == ["0-1-20", "0-1-21", "0-1-22", "0-1-23"]
    found = [(swap.gtid, left_out) for swap, left_out in db_backup.earlier_swaps(txns)]
    assert found == [("0-1-21", ["0-1-20"]), ("0-1-23", ["0-1-22"])]
    assert txns["0-1-20"].rows == {("sps", "articles"): {"delete": 490}}
    assert txns["0-1-21"].destroys("sps", "articles") is None  # a swap is not an incident


def test_a_rename_without_the_mark_is_not_a_swap():
    plain = Transaction(gtid="0-1-5", file="binlog.000001", start=4,
                        statements=[("sps", "RENAME TABLE articles TO a2, a2 TO articles")])
    other = Transaction(gtid="0-1-6", file="binlog.000001", start=9,
                        statements=[("", f"RENAME TABLE x TO y /* {db_swap.MARK} */")])  # none left out
    assert [(t.gtid, g) for t, g in db_backup.earlier_swaps({"0-1-5": plain, "0-1-6": other})] == [("0-1-6", [])]


def test_the_backups_position_is_read_from_the_tools_file(tmp_path):
    (tmp_path / "xtrabackup_binlog_info").write_text("binlog.000001\t121107097\t0-1-19\n")  # as 10.11 writes it
    assert db_physical.binlog_info(tmp_path) == {"file": "binlog.000001", "position": 121107097, "gtid": "0-1-19"}
    (tmp_path / "mariadb_backup_binlog_info").write_text("/var/lib/x/binlog.000003\t379\t0-1-151,1-2-7\n")  # newer name first
    assert db_physical.binlog_info(tmp_path) == {"file": "binlog.000003", "position": 379, "gtid": "0-1-151,1-2-7"}
    with pytest.raises(GamedayError, match="wrote no binary log position"):
        db_physical.binlog_info(tmp_path / "none")


def test_a_definition_is_compared_without_its_auto_increment_counter():
    ddl = ("CREATE TABLE `articles` (\n  `id` int(11) NOT NULL AUTO_INCREMENT,\n  PRIMARY KEY (`id`)\n"
           ") ENGINE=InnoDB AUTO_INCREMENT=1003 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci")
    stripped = db_physical._AUTO_INC.sub(" ", ddl)
    assert "AUTO_INCREMENT=" not in stripped and "NOT NULL AUTO_INCREMENT," in stripped
    assert stripped == db_physical._AUTO_INC.sub(" ", ddl.replace("1003", "2044"))


def test_prune_removes_a_physical_backups_directory_and_a_crashed_ones(tmp_path):
    h = db_backup.DbHost(socket=tmp_path / "no.sock", binlog_dir=tmp_path / "binlog", backup_dir=tmp_path / "b",
                         database="sps")
    for bid, at in (("db-a", 100.0), ("db-b", 200.0)):
        (h.backup_dir / f"{bid}.phys" / "sps").mkdir(parents=True)
        (h.backup_dir / f"{bid}.phys" / "sps" / "articles.ibd").write_bytes(b"\0" * 16)
        (h.backup_dir / f"{bid}.json").write_text(json.dumps({"id": bid, "at": at, "kind": "mariadb-backup",
                                                              "path": str(h.backup_dir / f"{bid}.phys")}))
    crashed = h.backup_dir / ".db-c.phys.tmp"
    (crashed / "sps").mkdir(parents=True)
    os.utime(crashed, (1.0, 1.0))
    assert [m["id"] for m in db_backup.backups(h)] == ["db-a", "db-b"]  # a directory is a backup too
    removed = db_backup_schedule.prune(h, keep=1, now=10_000.0)
    assert sorted(removed) == [".db-c.phys.tmp", "db-a"]
    assert sorted(p.name for p in h.backup_dir.iterdir()) == ["db-b.json", "db-b.phys"]


def test_the_tables_a_swaps_tail_changes_are_read_from_its_row_events():
    """What decides whether the copies are checksummed again under the lock (db_swap.rename_swap's
    ``tail_touches``): the tables whose rows the tail's transactions change, up to the position the
    tail is replayed to; a statement (DDL) or a row event of an unnamed table: cannot say (None)."""
    txns = db_binlog.parse((DATA / "binlog-decoded.txt").read_text(), "binlog.000002")
    files = ["binlog.000001", "binlog.000002", "binlog.000003"]
    assert [t.gtid for t in db_backup.until(txns, files, ("binlog.000002", 2087))] == ["0-1-5", "0-1-6"]
    assert db_backup.until(txns, files, ("binlog.000002", 1594)) == []
    assert len(db_backup.until(txns, files, ("binlog.000003", 4))) == len(txns)  # a later file: all of them
    canary_only = [t for t in txns if t.gtid == "0-1-6"]
    assert db_backup.tables_changed(canary_only, "sps") == {"canary"}  # the articles copy is left alone
    assert db_backup.tables_changed(db_backup.until(txns, files, ("binlog.000002", 2353)), "sps") == {"articles", "canary"}
    assert db_backup.tables_changed(canary_only, "other") == set()
    assert db_backup.tables_changed(txns, "sps") is None  # the DROP TABLE and TRUNCATE: statements
    unnamed = Transaction(gtid="0-1-30", file="binlog.000002", start=9, rows={("?", "table id 70"): {"update": 1}})
    assert db_backup.tables_changed([unnamed], "sps") is None
    assert db_backup.tables_changed([], "sps") == set()
