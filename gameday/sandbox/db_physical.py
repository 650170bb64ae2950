"""Physical backups of the site's database (``mariadb-backup``) and its tables put back into a
scratch database by transportable tablespaces (MariaDB's "partial restore"). Used by
:mod:`gameday.sandbox.db_backup` (``take`` and ``restore_to``)::

    physical_possible(conn, "sps")            # None, or why a logical dump must be taken instead
    coords = backup(host, tmp_dir)            # {"file", "position", "gtid"}; tmp_dir holds <db>/*.ibd, *.cfg
    import_tables(member, manifest, "gameday_pitr")  # {table: seconds}: CREATE, DISCARD, copy, IMPORT

:func:`backup` runs ``mariadb-backup --backup --databases=<db>`` (the binary log position and GTID
at its consistent point: ``mariadb_backup_binlog_info``, or ``xtrabackup_binlog_info`` on older
tools), then ``--prepare --export`` at once (each table's ``.cfg``: the backup is stored ready to
import, so a restore starts with a copy, not a crash recovery), and keeps only the database's own
files and the tool's position files (the system tablespace and redo log are not needed to import a
table). :func:`import_tables` creates each table in the scratch database from the definition the
manifest recorded (``SHOW CREATE TABLE``, read before and after the backup: equal, or the backup is
refused), ``ALTER TABLE ... DISCARD TABLESPACE``, copies ``<table>.ibd`` and ``.cfg`` into the
member's data directory, ``ALTER TABLE ... IMPORT TABLESPACE`` (the ``.cfg`` makes the server refuse
a table whose definition differs). None of it is written to the binary log.

Where it cannot be used (``db_backup.take`` then writes a ``mariadb-dump``, restored logically):
``mariadb-backup`` is not installed, or a table of the database is not InnoDB (only InnoDB tables
are transportable). The member a table is imported into must run on this machine (its data
directory is written to): the twin's members do.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

import pymysql

from ..errors import GamedayError

KIND = "mariadb-backup"
TOOL = "mariadb-backup"
_AUTO_INC = re.compile(r" AUTO_INCREMENT=\d+ ")
KEEP = ("mariadb_backup_binlog_info", "xtrabackup_binlog_info", "xtrabackup_info", "xtrabackup_checkpoints")


class NotImportable(GamedayError):
    """A table of a physical backup cannot be imported into this server; nothing live was touched."""


def _query(conn, sql: str, args: tuple = ()) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return list(cur.fetchall())


def physical_possible(conn, database: str) -> str | None:
    """None when a physical backup of ``database`` can be taken and imported table by table, else
    why not (the tool is missing, or which tables are not InnoDB)."""
    if shutil.which(TOOL) is None:
        return f"{TOOL} is not installed"
    other = [f"{t} ({e})" for t, e in _query(conn, "SELECT table_name, engine FROM information_schema.tables "
                                                   "WHERE table_schema = %s AND table_type = 'BASE TABLE'", (database,))
             if str(e).lower() != "innodb"]
    return f"not InnoDB: {', '.join(other)}" if other else None


def definitions(conn, database: str) -> dict[str, str]:
    """``{table: SHOW CREATE TABLE}`` of every base table of ``database``, without the table option
    ``AUTO_INCREMENT=<n>`` (the site's inserts move it; an import takes it from the tablespace)."""
    tables = [r[0] for r in _query(conn, "SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
                                         "AND table_type = 'BASE TABLE' ORDER BY table_name", (database,))]
    return {t: _AUTO_INC.sub(" ", _query(conn, f"SHOW CREATE TABLE `{database}`.`{t}`")[0][1]) for t in tables}


def binlog_info(target_dir: Path) -> dict[str, Any]:
    """``{"file", "position", "gtid"}`` the backup stands at, from the tool's position file."""
    for name in ("mariadb_backup_binlog_info", "xtrabackup_binlog_info"):
        path = target_dir / name
        if path.is_file():
            parts = path.read_text().split()
            if len(parts) >= 2 and parts[1].isdigit():
                return {"file": Path(parts[0]).name, "position": int(parts[1]),
                        "gtid": parts[2] if len(parts) > 2 else None}
    raise GamedayError(f"{TOOL} wrote no binary log position in {target_dir}",
                       hint="the server must keep a binary log (the twin's members run with --log-bin)")


def backup(host, target_dir: Path, *, run, timeout: float) -> dict[str, Any]:
    """An InnoDB :func:`checkpoint`, ``mariadb-backup --backup`` of ``host.database`` into
    ``target_dir`` (which must not exist), ``--prepare --export``, then trimmed to the database's files; returns ``{"binlog", "ddl",
    "prepare_s"}``. ``run`` is :func:`gameday.sandbox.db_backup._run` (a tool with a timeout).
    A GamedayError when a table's definition changed while the backup ran (take it again)."""
    with host.connect() as conn:
        ddl = definitions(conn, host.database)
        # The tool reads the redo log from the last checkpoint and takes a tablespace it sees discarded
        # there (the first step of an IMPORT: a restore's, or a TRUNCATE's) for dropped, silently:
        # a checkpoint first puts any such record behind it.
        checkpoint(conn, timeout=min(timeout, 300.0))
        run([TOOL, "--no-defaults", "--backup", f"--target-dir={target_dir}", f"--socket={host.socket}",
             "--user=root", f"--databases={host.database}"], what=f"backing up {host.database} ({TOOL})", timeout=timeout)
        skipped = [t for t in ddl if not (target_dir / host.database / f"{t}.ibd").is_file()]
        if skipped:
            raise GamedayError(f"{TOOL} left out {', '.join(skipped)} of {host.database} (it took them for dropped)",
                               hint="take the backup again, or a logical one (kind='mariadb-dump')")
        if definitions(conn, host.database) != ddl:
            raise GamedayError(f"a table of {host.database} was altered during the backup", hint="take it again")
    t0 = time.monotonic()
    run([TOOL, "--no-defaults", "--prepare", "--export", f"--target-dir={target_dir}"],
        what=f"preparing the backup of {host.database} for export", timeout=timeout)
    prepare_s = round(time.monotonic() - t0, 3)
    coords = binlog_info(target_dir)
    for path in target_dir.iterdir():
        if path.name == host.database or path.name in KEEP:
            continue
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    missing = [t for t in ddl if not (target_dir / host.database / f"{t}.cfg").is_file()]
    if missing:
        raise GamedayError(f"{TOOL} --export wrote no .cfg for {', '.join(missing)}")
    return {"binlog": coords, "ddl": ddl, "prepare_s": prepare_s}


def _status(conn, name: str) -> int:
    return int(_query(conn, "SHOW GLOBAL STATUS LIKE %s", (name,))[0][1])


def _checkpointed(conn, lsn: int) -> bool:
    """The last checkpoint is at or past ``lsn``, or nothing but the checkpoint's own record (16
    bytes, ``FILE_CHECKPOINT``) follows it: an idle server writes no new checkpoint."""
    last, now = _status(conn, "Innodb_lsn_last_checkpoint"), _status(conn, "Innodb_lsn_current")
    return last >= lsn or now - last <= CHECKPOINT_RECORD


CHECKPOINT_RECORD = 16  # bytes of redo a checkpoint writes (seen: Innodb_lsn_current - _last_checkpoint on an idle 10.11)
FLUSH_IO_CAPACITY = (20_000, 50_000)  # innodb_io_capacity, _max while a checkpoint is forced
DEFAULT_IO_CAPACITY = (200, 2000)  # MariaDB's defaults: put back when the values read are a checkpoint's own


def checkpoint(conn, *, timeout: float = 300.0) -> float:
    """An InnoDB checkpoint at least at the current log sequence number: every dirty page flushed
    (``innodb_max_dirty_pages_pct`` 0 and ``innodb_io_capacity``/``_max`` raised to
    :data:`FLUSH_IO_CAPACITY` for that while, then put back; at the default 200 pages/s the 2,500
    dirty pages of a 150,000-row load took 20 s, raised 1.4 s). Afterwards a backup no longer reads
    the redo of what came before (an IMPORT's discard, which ``mariadb-backup`` mistakes for a drop).
    Returns the seconds it took."""
    from ..deadline import wait_until
    t0 = time.monotonic()
    lsn = _status(conn, "Innodb_lsn_current")
    pct, cap, cap_max = _query(conn, "SELECT @@GLOBAL.innodb_max_dirty_pages_pct, @@GLOBAL.innodb_io_capacity, "
                                     "@@GLOBAL.innodb_io_capacity_max")[0]
    if (int(cap), int(cap_max)) == FLUSH_IO_CAPACITY:  # another checkpoint's: never keep them
        cap, cap_max = DEFAULT_IO_CAPACITY
    _query(conn, f"SET GLOBAL innodb_io_capacity_max = {FLUSH_IO_CAPACITY[1]}")
    _query(conn, f"SET GLOBAL innodb_io_capacity = {FLUSH_IO_CAPACITY[0]}")
    _query(conn, "SET GLOBAL innodb_max_dirty_pages_pct = 0")
    try:
        wait_until(lambda: _checkpointed(conn, lsn), timeout=timeout, interval=0.1, what="an InnoDB checkpoint")
    finally:
        _query(conn, f"SET GLOBAL innodb_max_dirty_pages_pct = {float(pct) or 90.0}")
        _query(conn, f"SET GLOBAL innodb_io_capacity = {int(cap)}")
        _query(conn, f"SET GLOBAL innodb_io_capacity_max = {int(cap_max)}")
    return round(time.monotonic() - t0, 3)


def import_tables(member, manifest: dict[str, Any], scratch: str) -> dict[str, float]:
    """(Re)create database ``scratch`` on ``member`` (a DbHost on this machine) holding every table
    of the physical backup ``manifest``, imported from its files; nothing is written to the binary
    log. Returns the seconds each table took. A NotImportable naming the table and the server's
    words when the server refuses it."""
    source = Path(manifest["path"]) / manifest["database"]
    taken: dict[str, float] = {}
    conn = member.connect()
    with conn:
        _query(conn, "SET SESSION sql_log_bin = 0, foreign_key_checks = 0")
        datadir = Path(_query(conn, "SELECT @@datadir")[0][0])
        for stray in (datadir / scratch).glob("*.cfg") if (datadir / scratch).is_dir() else []:
            stray.unlink()  # an import's leftover: DROP DATABASE refuses a directory with files it does not know
        _query(conn, f"DROP DATABASE IF EXISTS `{scratch}`")
        _query(conn, f"CREATE DATABASE `{scratch}` CHARACTER SET utf8mb4")
        _query(conn, f"USE `{scratch}`")
        into = datadir / scratch
        if not into.is_dir():
            raise NotImportable(f"{member.member}'s data directory {datadir} is not on this machine",
                                hint="restore from a logical backup (db_backup.take(host, kind='mariadb-dump'))")
        owner = into.stat()
        for table, ddl in manifest["ddl"].items():
            t0 = time.monotonic()
            try:
                _query(conn, ddl)
                _query(conn, f"ALTER TABLE `{table}` DISCARD TABLESPACE")
                for suffix in (".ibd", ".cfg"):
                    dest = into / f"{table}{suffix}"
                    shutil.copyfile(source / f"{table}{suffix}", dest)
                    os.chown(dest, owner.st_uid, owner.st_gid)
                _query(conn, f"ALTER TABLE `{table}` IMPORT TABLESPACE")
                (into / f"{table}.cfg").unlink(missing_ok=True)
            except pymysql.MySQLError as err:
                raise NotImportable(f"importing {table} of backup {manifest['id']} into {member.member}: {err}",
                                    hint="a table altered since the backup, or another server version: "
                                         "take a new backup") from None
            except OSError as err:
                raise NotImportable(f"copying {table} of backup {manifest['id']} into {into}: {err}") from None
            taken[table] = round(time.monotonic() - t0, 3)
    return taken
