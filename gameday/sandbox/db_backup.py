"""The twin database's backups and point-in-time restore, with Debian's MariaDB tools.

A backup is physical where it can be (``mariadb-backup --backup``, prepared for export:
:mod:`gameday.sandbox.db_physical`), else a logical ``mariadb-dump --single-transaction
--master-data=2 --gtid`` (no ``mariadb-backup``, or a table that is not InnoDB), of the site's
database, taken from whichever member is the primary (:mod:`gameday.sandbox.db_roles`) and written
to the twin's one backup directory (``members.db.backup_dir``, outside every data directory, shared
by the members) with a manifest that names where it stands in the change log: the server's binlog
file and offset, and its GTID position. A restore never needs the twin re-created; the server keeps
running and the site keeps serving::

    host = DbHost.of_twin(twin)               # the current primary's socket and binary log, its replicas
    backup = take(host)                       # {"id", "at", "kind": "mariadb-backup", "binlog": {...}, ...}
    newest(host)                              # the newest complete backup, or None
    bad = find_incident(host, schema.base_table, since=backup["at"])   # the destructive transaction, from the log
    restore_to(host, bad.at, skip=[bad.gtid]) # the database as it would be without it

Backups are taken on a schedule by the twin's ``db-backup-1`` member
(:mod:`gameday.sandbox.db_backup_schedule`, which also prunes old ones); :func:`take` serves both.

A backup taken from one member serves a restore on another after a failover: GTIDs are the same on
every member, binlog offsets are not. :func:`log_start` uses the manifest's file and offset when
they are the restoring server's own (``BINLOG_GTID_POS`` there equals the backup's GTID position),
else finds the first transaction past the backup's GTID position in that server's log (from the
last file whose ``Gtid_list`` the backup covers).

How :func:`restore_to` works: the backup is put into a scratch database (:data:`SCRATCH`: a
physical backup's tables imported as transportable tablespaces, a dump loaded with the client), the
log is replayed into it from the backup's position to now, leaving out the skipped transactions,
and then every table those transactions touched is replaced by its restored copy
(:mod:`gameday.sandbox.db_swap`): from a physical backup, with every replica reachable here, each
replica builds the same copy, the copies' ``CHECKSUM TABLE`` must agree (taken while each copy is
held against every writer, before the live tables' writes wait; taken again under that wait only
when the last events change a swapped table), and one logged ``RENAME TABLE`` swaps the copies in
once the live tables' writes wait and the last events are replayed (no row copied; the RENAME names
what the copies left out, which a later replay across it leaves out too);
otherwise the live rows
are locked, the last events replayed and the rows swapped in one transaction, committed only when
the copy's ``CHECKSUM TABLE`` equals the live one. Tables the incident did not touch are left as
they are (their writes never stop). The scratch work is not written to the binary log; the swap
is, so a replica follows it. Every tool runs with a timeout, and dies with the thread that started
it (``children.die_with_parent``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymysql

from .. import children, gtid
from ..errors import DeadlineExceeded, GamedayError
from . import db_backup_lock, db_binlog, db_physical, db_swap
from .db_binlog import Transaction
from .db_swap import RestoreFailed, each, table_stats

SCRATCH = "gameday_pitr"  # where the point-in-time copy is built (and left, for inspection, until the next restore)
TOOL_TIMEOUT = 600.0
LOCK_WAIT_S = db_swap.LOCK_WAIT_S  # the swap waits this long for the site's transactions on the table
DUMP = "mariadb-dump"
_IDENT = re.compile(r"[A-Za-z0-9_]+")
_GTID = re.compile(r"\d+-\d+-\d+")


@dataclass(frozen=True)
class DbHost:
    """Where one MariaDB server keeps what a restore needs: its socket (root, no password), its
    binary log directory, the backup directory, and the site's database name; ``member`` names the
    server in messages."""

    socket: Path
    binlog_dir: Path
    backup_dir: Path
    database: str
    member: str = "the database server"
    replicas: tuple["DbHost", ...] = ()  # the members replicating from it (a physical restore builds a copy on each)

    @classmethod
    def of_twin(cls, twin) -> "DbHost":
        """The twin's current primary (``db_roles``: db-1, or db-2 after a failover) and the twin's
        backup directory, which every member shares. Build it again after a change of primary."""
        from . import db_roles
        from .members import db
        from .twin import DB_NAME
        roles = db_roles.load(twin)

        def member(name: str, replicas: tuple = ()) -> "DbHost":
            return cls(socket=db.socket_path(twin, name), binlog_dir=db.binlog_dir(twin, name),
                       backup_dir=db.backup_dir(twin), database=DB_NAME, member=name, replicas=replicas)
        followers = tuple(member(r) for r in roles.replicas if r not in roles.lost and r not in roles.fenced)
        return member(roles.primary, followers)

    def connect(self, *, timeout: float = 10.0, autocommit: bool = True) -> pymysql.connections.Connection:
        """A root connection over the socket, without TLS (:func:`.members.db.root_connect`)."""
        from .members import db
        try:
            return db.root_connect(self.socket, autocommit=autocommit, connect_timeout=timeout,
                                   read_timeout=TOOL_TIMEOUT, write_timeout=TOOL_TIMEOUT)
        except (pymysql.MySQLError, OSError) as err:
            raise GamedayError(f"the database server does not answer on {self.socket}: {err}",
                               hint=f"is {self.member} running? gameday sandbox status") from None

    def client_argv(self, *extra: str) -> list[str]:
        """The ``mariadb`` client as root over the socket; it takes statements up to 1 GB
        (``db_binlog.PACKET_ARGS``: a replayed bulk change is one ``BINLOG`` statement)."""
        return ["mariadb", "--no-defaults", f"--socket={self.socket}", "--user=root", "--default-character-set=utf8mb4",
                *db_binlog.PACKET_ARGS, *extra]


def _query(conn, sql: str, args: tuple = ()) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return list(cur.fetchall())


def _run(argv: list[str], *, what: str, stdin=None, stdout=None, timeout: float = TOOL_TIMEOUT) -> str:
    """Run one tool; a GamedayError naming ``what`` and the tool's last words when it fails or overruns."""
    try:
        proc = subprocess.run(argv, stdin=stdin, stdout=stdout if stdout is not None else subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=timeout, env={**os.environ, "TZ": "UTC"},
                              preexec_fn=children.die_with_parent)
    except subprocess.TimeoutExpired:
        raise DeadlineExceeded(f"{what}: {argv[0]} did not finish within {timeout:.0f} s") from None
    except FileNotFoundError:
        raise GamedayError(f"{what}: {argv[0]} is not installed", hint="gameday sandbox install") from None
    if proc.returncode != 0:
        raise GamedayError(f"{what}: {argv[0]} exited {proc.returncode}: {proc.stderr.decode(errors='replace')[-600:]}")
    return proc.stdout.decode(errors="replace") if stdout is None else ""


def require_binlog(conn) -> None:
    """Raise a GamedayError saying what to do when the server keeps no binary log."""
    if str(_query(conn, "SELECT @@log_bin")[0][0]) != "1":
        raise GamedayError("binary logging is off on the database server: a backup cannot be rolled forward",
                           hint="restart the twin (gameday sandbox down, then up): its members run with --log-bin")


# ---- backups ------------------------------------------------------------------------------------

def backups(host: DbHost) -> list[dict[str, Any]]:
    """Every complete backup's manifest, oldest first: a manifest (written last, by a rename) whose
    dump exists. A half-written backup (``.<id>.sql.tmp``, ``.<id>.json.tmp``) or a dump without its
    manifest is never listed. Each ``path`` is the dump's in this directory (a moved directory
    keeps its backups)."""
    found = []
    for path in sorted(host.backup_dir.glob("*.json")) if host.backup_dir.is_dir() else []:
        try:
            manifest = json.loads(path.read_text())
            manifest["path"] = str(host.backup_dir / Path(manifest["path"]).name)
            float(manifest["at"])
        except (ValueError, TypeError, KeyError, FileNotFoundError):
            continue  # not a manifest, or removed by a prune meanwhile (it is written whole, by a rename)
        found.append(manifest)
    return sorted((m for m in found if Path(m["path"]).exists()), key=lambda m: float(m["at"]))


def newest(host: DbHost) -> dict[str, Any] | None:
    """The newest complete backup's manifest, or None when there is none."""
    found = backups(host)
    return found[-1] if found else None


def before(host: DbHost, moment: float) -> dict[str, Any]:
    """The newest backup taken before ``moment`` (epoch seconds); a GamedayError when there is none."""
    found = [m for m in backups(host) if float(m["at"]) < moment]
    if not found:
        raise RestoreFailed(f"no database backup was taken before {time.strftime('%H:%M:%S', time.gmtime(moment))} UTC "
                            f"({len(backups(host))} backup(s) in {host.backup_dir})",
                            hint="a point-in-time restore starts from an older backup: take them on a schedule")
    return found[-1]


def take(host: DbHost, *, timeout: float = TOOL_TIMEOUT, kind: str | None = None) -> dict[str, Any]:
    """Take a full backup now and return its manifest ``{"id", "at", "kind", "database", "path",
    "bytes", "seconds", "binlog": {"file", "position", "gtid"}, "tables": {name: {"rows", "min_id",
    "max_id"}}}`` (the table figures are read just after the backup: the diagnosis's "last known"
    counts), written as ``<id>.json`` once the backup is complete. ``kind``:

    - ``"mariadb-backup"`` (the default where :func:`db_physical.physical_possible`): a physical
      backup, ``<id>.phys/`` (0700), prepared for export; the manifest adds ``"ddl"`` (each table's
      definition) and ``"prepare_s"``. :func:`restore_to` imports its tables (transportable tablespaces).
    - ``"mariadb-dump"`` (the fallback: no ``mariadb-backup``, or a table that is not InnoDB): a
      logical dump, ``<id>.sql`` (0600), loaded by :func:`restore_to`.
    """
    if kind not in (None, DUMP, db_physical.KIND):
        raise GamedayError(f"a backup's kind is {DUMP!r} or {db_physical.KIND!r}, not {kind!r}")
    conn = host.connect()
    with conn:
        require_binlog(conn)
        host.backup_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        why_not = db_physical.physical_possible(conn, host.database)
        if kind == db_physical.KIND and why_not:
            raise GamedayError(f"a physical backup of {host.database} cannot be taken: {why_not}",
                               hint=f"take a logical one (kind={DUMP!r})")
        kind = kind or (DUMP if why_not else db_physical.KIND)
        started = time.time()
        # milliseconds and the pid: two backups in one second never share a name (the newer would
        # overwrite the older's dump under the older's binlog position)
        bid = (time.strftime("db-%Y%m%dT%H%M%S", time.gmtime(started)) + f".{int(started * 1000) % 1000:03d}Z"
               f"-{os.getpid() % 100000:05d}")
        with db_backup_lock.exclusive(host.backup_dir, f"backing up {host.member} ({kind})", timeout=timeout):
            final, extra = (_dump if kind == DUMP else _physical)(host, bid, timeout)
        tables = [r[0] for r in _query(conn, "SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
                                             "AND table_type = 'BASE TABLE' ORDER BY table_name", (host.database,))]
        size = sum(p.stat().st_size for p in final.rglob("*") if p.is_file()) if final.is_dir() else final.stat().st_size
        manifest = {"id": bid, "at": started, "kind": kind, "database": host.database, "path": str(final),
                    "bytes": size, "seconds": round(time.time() - started, 3), **extra,
                    "member": host.member, "server_id": int(_query(conn, "SELECT @@server_id")[0][0]),
                    "tables": {t: table_stats(conn, host.database, t) for t in tables}}
    tmp_manifest = host.backup_dir / f".{bid}.json.tmp"
    fd = os.open(tmp_manifest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(json.dumps(manifest, indent=1))
            out.flush()
            os.fsync(out.fileno())
        tmp_manifest.replace(host.backup_dir / f"{bid}.json")  # the backup exists from this instant
    finally:
        tmp_manifest.unlink(missing_ok=True)
    return manifest


def _dump(host: DbHost, bid: str, timeout: float) -> tuple[Path, dict[str, Any]]:
    """``mariadb-dump --single-transaction --master-data=2 --gtid`` into ``<bid>.sql``; its coordinates."""
    final = host.backup_dir / f"{bid}.sql"
    tmp = host.backup_dir / f".{bid}.sql.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            _run([DUMP, "--no-defaults", f"--socket={host.socket}", "--user=root", *db_binlog.PACKET_ARGS,
                  "--single-transaction", "--master-data=2", "--gtid", "--hex-blob", "--default-character-set=utf8mb4",
                  "--routines", "--triggers", host.database], what=f"backing up {host.database}", stdout=out, timeout=timeout)
            out.flush()
            os.fsync(out.fileno())  # on disk before its name says it is complete
        with open(tmp, "rb") as fh:
            head = fh.read(8192).decode(errors="replace")
            fh.seek(max(0, tmp.stat().st_size - 8192))
            tail = fh.read().decode(errors="replace")
        coordinates = db_binlog.dump_coordinates(head, tail)
        tmp.replace(final)
    finally:
        tmp.unlink(missing_ok=True)
    return final, {"binlog": coordinates}


def _physical(host: DbHost, bid: str, timeout: float) -> tuple[Path, dict[str, Any]]:
    """``mariadb-backup`` into ``<bid>.phys/``, prepared for export (:func:`db_physical.backup`)."""
    final = host.backup_dir / f"{bid}.phys"
    tmp = host.backup_dir / f".{bid}.phys.tmp"
    try:
        extra = db_physical.backup(host, tmp, run=_run, timeout=timeout)
        os.chmod(tmp, 0o700)
        tmp.replace(final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final, extra


def remove_files(path: Path) -> None:
    """Remove a backup's dump or physical directory (absent: nothing to do); the schedule's prune."""
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


# ---- the change log -----------------------------------------------------------------------------

def binlog_files(conn) -> list[str]:
    """The server's binary log files, oldest first (``SHOW BINARY LOGS``)."""
    return [r[0] for r in _query(conn, "SHOW BINARY LOGS")]


def current_position(conn) -> tuple[str, int]:
    """(file, offset) the next transaction will be written at (``SHOW MASTER STATUS``)."""
    row = _query(conn, "SHOW MASTER STATUS")
    if not row:
        raise GamedayError("the database server has no binary log position (binary logging is off)")
    return str(row[0][0]), int(row[0][1])


def transactions(host: DbHost, start: tuple[str, int], *, timeout: float = TOOL_TIMEOUT) -> list[Transaction]:
    """Every transaction in the log from ``start`` (file, offset) to now, parsed
    (:func:`gameday.sandbox.db_binlog.parse`)."""
    with host.connect() as conn:
        files = binlog_files(conn)
    if start[0] not in files:
        raise GamedayError(f"binlog file {start[0]!r} is gone (the server has {', '.join(files) or 'none'})",
                           hint="take a new backup: the log since the old one was purged")
    found: list[Transaction] = []
    for name in files[files.index(start[0]):]:
        argv = ["mariadb-binlog", "--no-defaults", "--base64-output=decode-rows"]
        if name == start[0]:
            argv.append(f"--start-position={start[1]}")
        text = _run(argv + [str(host.binlog_dir / name)], what=f"reading {name}", timeout=timeout)
        found += db_binlog.parse(text, name)
    return found


def covers(backup_gtid: str | None, file_state: str | None) -> bool:
    """True when a log file whose ``Gtid_list`` (the GTID state at its start) is ``file_state``
    begins at or before the point ``backup_gtid`` (a GTID position) stands at: no domain of the
    file's state is past the backup's."""
    have = gtid.parse_gtids(backup_gtid)
    return all(n <= have.get(d, (0, 0))[1] for d, (_s, n) in gtid.parse_gtids(file_state).items())


def first_after(txns: list[Transaction], backup_gtid: str | None) -> Transaction | None:
    """The first of ``txns`` (in log order) that the backup at GTID position ``backup_gtid`` does
    not hold: its sequence number is past the backup's in its domain."""
    have = gtid.parse_gtids(backup_gtid)
    for txn in txns:
        ((domain, (_server, seq)),) = gtid.parse_gtids(txn.gtid).items()
        if seq > have.get(domain, (0, 0))[1]:
            return txn
    return None


def _gtid_list(conn, name: str) -> str | None:
    """The GTID state at the start of binlog file ``name`` (its ``Gtid_list`` event: ``"0-1-42"``,
    ``""`` for an empty one), or None when the file has none."""
    for row in _query(conn, "SHOW BINLOG EVENTS IN %s LIMIT 4", (name,)):
        if row[2] == "Gtid_list":
            return ",".join(_GTID.findall(str(row[5])))
    return None


def log_start(host: DbHost, backup: dict[str, Any], *, timeout: float = TOOL_TIMEOUT) -> tuple[str, int]:
    """Where the log of ``host``'s server continues ``backup``: (file, offset) of the first
    transaction the backup does not hold, or the end of the log when there is none yet. The
    manifest's own file and offset when they are this server's (``BINLOG_GTID_POS`` there is the
    backup's GTID position); else found by GTID (a backup taken from another member, before a
    failover). A RestoreFailed when this server's log starts after the backup."""
    coords = backup["binlog"]
    file, pos, at = coords["file"], int(coords["position"]), coords.get("gtid")
    with host.connect() as conn:
        files = binlog_files(conn)
        if file in files and at is not None:
            try:
                here = _query(conn, "SELECT BINLOG_GTID_POS(%s, %s)", (file, pos))[0][0]
            except pymysql.MySQLError:
                here = None  # not an event boundary of this server's file: another server's offset
            if here is not None and gtid.parse_gtids(here) == gtid.parse_gtids(at):
                return (file, pos)
        if at is None:  # a backup from before GTID positions were recorded: its own server's offsets only
            if file in files:
                return (file, pos)
            raise RestoreFailed(f"backup {backup.get('id')} names no GTID position and {file} is not in "
                                f"{host.member}'s binary log", hint="take a new backup (gameday's take records both)")
        states = {name: _gtid_list(conn, name) for name in files}
        upto = current_position(conn)  # read first: whatever commits later lies past it
    starts = [name for name in files if states[name] is not None and covers(at, states[name])]
    if not starts:
        raise RestoreFailed(f"{host.member}'s binary log starts after backup {backup.get('id')} (GTID {at}; "
                            f"its oldest file {files[0] if files else 'none'} begins at "
                            f"{states.get(files[0]) if files else None})",
                            hint="restore from a backup taken since (the schedule takes one every interval), "
                                 "or take one now: SandboxTarget.take_db_backup()")
    for name in files[files.index(starts[-1]):]:
        following = first_after(_transactions_past(host, name, at, timeout=timeout), at)
        if following:
            return (following.file, following.start)
    return upto


def _transactions_past(host: DbHost, name: str, at: str, *, timeout: float) -> list[Transaction]:
    """The transactions of log file ``name`` past GTID position ``at``: ``mariadb-binlog
    --start-position=<GTID list>`` prints only those (reading, not printing, the rest); the whole
    file when the tool refuses the position."""
    argv = ["mariadb-binlog", "--no-defaults", "--base64-output=decode-rows"]
    if at:
        try:
            return db_binlog.parse(_run(argv + [f"--start-position={at}", str(host.binlog_dir / name)],
                                        what=f"reading {name} past {at}", timeout=timeout), name)
        except DeadlineExceeded:
            raise
        except GamedayError:
            pass  # e.g. a GTID strict-mode complaint: read it all, first_after filters
    return db_binlog.parse(_run(argv + [str(host.binlog_dir / name)], what=f"reading {name}", timeout=timeout), name)


def find_incident(host: DbHost, table: str, *, since: float) -> Transaction | None:
    """The first transaction at or after ``since`` that destroys ``table`` of the site's database
    (a DELETE of its rows, a DROP or TRUNCATE), read from the server's log since the newest backup
    taken at or before ``since`` (:func:`log_start`: whichever member took it), or from the oldest
    log file when there is none or the log does not reach back to it."""
    _check_name(table)
    taken = [m for m in backups(host) if float(m["at"]) <= since]
    start = None
    if taken:
        try:
            start = log_start(host, taken[-1])
        except RestoreFailed:
            start = None  # the log starts after that backup: read all of it
    if start is None:
        with host.connect() as conn:
            files = binlog_files(conn)
        if not files:
            return None
        start = (files[0], 4)
    return db_binlog.find_incident(transactions(host, start), host.database, table, since=since)


def _check_name(name: str) -> None:
    if not _IDENT.fullmatch(name or ""):
        raise GamedayError(f"{name!r} is not a table name (letters, digits and _ only)")


# ---- point-in-time restore ------------------------------------------------------------------------

def _replay(host: DbHost, files: list[str], start: tuple[str, int], stop: tuple[str, int] | None,
            skip: list[tuple[str, int, int]], *, timeout: float, into: DbHost | None = None,
            lock_wait: int | None = None) -> int:
    """Replay ``host``'s log from ``start`` to ``stop`` into :data:`SCRATCH` on ``into`` (default
    ``host``; a replica builds its own copy from the primary's log), leaving out ``skip``; the session
    writes nothing to the binary log, and waits at most ``lock_wait`` seconds for a table's metadata
    lock when given (the swap's tail: a copy held by the swap is never written). Returns the number of
    mariadb-binlog runs."""
    into = into or host
    init = "--init-command=SET SESSION sql_log_bin=0" + (f", lock_wait_timeout={int(lock_wait)}" if lock_wait else "")
    segments = db_binlog.plan_segments(files, start, stop, skip)
    for seg in segments:
        reader = subprocess.Popen(
            ["mariadb-binlog", "--no-defaults", *seg.argv(), f"--database={host.database}",
             f"--rewrite-db={host.database}->{SCRATCH}", *[str(host.binlog_dir / f) for f in seg.files]],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=children.die_with_parent)
        try:
            _run(into.client_argv(init), stdin=reader.stdout,
                 what=f"replaying {seg.files[0]}:{seg.start} to {seg.files[-1]}:{seg.stop or 'end'} on {into.member}",
                 timeout=timeout)
        finally:
            reader.stdout.close()
            try:
                rc = reader.wait(timeout=30)
            except subprocess.TimeoutExpired:
                reader.kill()
                reader.wait(timeout=10)
                rc = -9
        if rc != 0:
            raise RestoreFailed(f"mariadb-binlog exited {rc} reading {', '.join(seg.files)}: "
                                f"{reader.stderr.read().decode(errors='replace')[-600:]}")
    return len(segments)


def until(txns: list[Transaction], files: list[str], stop: tuple[str, int]) -> list[Transaction]:
    """The transactions of ``txns`` that start before ``stop`` (file, offset; ``files``: the log's
    files in order): what a replay up to ``stop`` applies."""
    order = {name: i for i, name in enumerate(files)}
    end = (order.get(stop[0], len(files)), stop[1])
    return [t for t in txns if (order.get(t.file, len(files)), t.start) < end]


def tables_changed(txns: list[Transaction], database: str) -> set[str] | None:
    """The tables of ``database`` whose rows ``txns`` change, or None when that cannot be told from
    their row events: a transaction with a statement (DDL, or a statement-logged change) or a row
    event whose table was not named. A replay of them may change only those tables' copies."""
    changed: set[str] = set()
    for txn in txns:
        if txn.statements:
            return None
        for db_name, table in txn.rows:
            if db_name == "?":
                return None
            if db_name == database:
                changed.add(table)
    return changed


_SWAP_MARK = re.compile(r"^RENAME TABLE .*/\*\s*" + re.escape(db_swap.MARK) + r"\s+([0-9,-]*)\s*\*/", re.I | re.S)


def earlier_swaps(txns: dict[str, Transaction]) -> list[tuple[Transaction, list[str]]]:
    """Earlier restores' RENAME swaps among ``txns``, each with the GTIDs its copies left out (named
    in its comment, :data:`db_swap.MARK`): a replay across one must leave those out too, since the
    rows it swapped in are in no log."""
    found = []
    for txn in txns.values():
        for _db, sql in txn.statements:
            if m := _SWAP_MARK.match(sql.strip()):
                found.append((txn, [g for g in m.group(1).split(",") if g]))
    return found


def _starting_backup(host: DbHost, moment: float, skip: list[str], *, timeout: float):
    """The newest backup taken before ``moment`` whose log position precedes every skipped
    transaction, with that position, the transactions since, and what else the replay must leave
    out: ``(manifest, (file, offset), {gtid: Transaction}, [gtid])``: every earlier restore's RENAME
    swap since the backup, and the transactions that restore left out (a backup taken after one of
    those but before its swap is passed over: it holds the damage that swap repaired). The log keeps
    whole seconds, so a backup taken in the incident's second counts when the incident lies after
    its position."""
    candidates = [m for m in backups(host) if float(m["at"]) < int(moment) + 1]
    if not candidates:
        before(host, int(moment) + 1)  # raises, naming the backups there are
    missing: list[str] = []
    for backup in reversed(candidates):
        start = log_start(host, backup, timeout=timeout)
        txns = {t.gtid: t for t in transactions(host, start, timeout=timeout)}
        missing = [g for g in skip if g not in txns]
        inherited: list[str] = []
        for swap, left_out in earlier_swaps(txns):
            if any(g not in txns for g in left_out):
                missing = missing or [f"{g} (left out by the restore that swapped at {swap.gtid})" for g in left_out]
                break
            inherited += [*left_out, swap.gtid]
        else:
            if not missing:
                return backup, start, txns, inherited
    raise RestoreFailed(f"GTID {', '.join(missing)} is not in the log since any backup taken before the moment "
                        f"restored to (the oldest: {candidates[0]['id']})",
                        hint="name the destructive transaction's GTID (find it with the db playbook's diagnosis)")


def restore_to(host: DbHost, moment: float, *, skip: list[str] | None = None,
               timeout: float = TOOL_TIMEOUT) -> dict[str, Any]:
    """Point-in-time restore of the site's database (see the module docstring): the newest backup
    before ``moment``, the log replayed from it to now except the transactions whose GTIDs are in
    ``skip`` (they must lie after ``moment``), and the tables those transactions touched swapped in.

    A physical backup (``kind`` ``mariadb-backup``) is imported into the scratch database
    (:func:`db_physical.import_tables`) and, when every replica is reachable here
    (:func:`db_swap.rename_possible`), on each replica too, then swapped in by RENAME TABLE
    (:func:`db_swap.rename_swap`; a later restore replaying across it leaves out what this one left
    out: :func:`earlier_swaps`). A logical dump, or a replica that cannot build its own
    copy, takes the row swap (:func:`db_swap.rows_swap`); a dump is loaded with the ``mariadb`` client.

    Returns ``{"backup", "moment", "skipped": [{"gtid", "file", "start", "end", "at", ...}],
    "tables": {name: {"rows", "min_id", "max_id", "checksum", "created"}}, "replayed_from",
    "replayed_to", "also_skipped": [gtid], "how": {"load", "swap", "why", "members"}, "seconds":
    {"find_backup", "load_backup", "replay", "swap", "total"}}`` (``also_skipped``: earlier restores'
    swaps and what they left out, replayed across; ``find_backup``, reading the log since the backup,
    runs while the newest backup before the moment loads; a RENAME swap adds its parts,
    ``swap_checksum``, ``swap_locked``, ``swap_tail``, ``swap_recheck``, ``swap_after``,
    ``swap_replicas``:
    :func:`db_swap.rename_swap`).
    Nothing live is changed when it fails before the swap, and a failed swap leaves the live tables
    as they were."""
    began = time.monotonic()
    skip = list(skip or [])
    bad = [g for g in skip if not _GTID.fullmatch(g)]
    if bad:
        raise GamedayError(f"not a GTID (domain-server-sequence, e.g. 0-1-42): {', '.join(map(repr, bad))}")
    with host.connect() as conn:
        require_binlog(conn)
    # The newest backup before the moment is almost always the one the restore starts from: its
    # tables are loaded while the log since it is read and checked (:func:`_starting_backup`, about
    # a second at 200,000 deleted rows), and loaded again only when an older backup must serve.
    guess = next(iter(reversed([m for m in backups(host) if float(m["at"]) < int(moment) + 1])), None)
    seconds: dict[str, float] = {}
    loaded = None

    def read_log():
        t = time.monotonic()
        try:
            return _starting_backup(host, moment, skip, timeout=timeout)
        finally:
            seconds["find_backup"] = round(time.monotonic() - t, 3)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="db-restore-log") as pool:
        reading = pool.submit(read_log)
        if guess is not None:
            loaded = _load_backup(host, guess, seconds, timeout=timeout)
        backup, start, txns, inherited = reading.result()
    if loaded is None or loaded[0] != backup["id"]:
        loaded = _load_backup(host, backup, seconds, timeout=timeout)
    _, physical, why, members = loaded
    skipped = [txns[g] for g in skip]
    early = [t.gtid for t in skipped if t.at < int(moment)]
    if early:
        raise GamedayError(f"GTID {', '.join(early)} lies before the moment restored to; a restore skips only later events")
    tables = sorted({t for txn in skipped for t in txn.touched(host.database)})
    if skip and not tables:
        raise RestoreFailed(f"the skipped transactions ({', '.join(skip)}) touch no table of {host.database}")
    spans = [t.span for t in skipped] + [txns[g].span for g in inherited]
    t0 = time.monotonic()
    with host.connect() as conn:
        files = binlog_files(conn)
        upto = current_position(conn)
    runs = sum(each(members, lambda m: _replay(host, files, start, upto, spans, timeout=timeout, into=m)))
    seconds["replay"] = round(time.monotonic() - t0, 3)

    t0 = time.monotonic()
    position = {"to": upto}
    swap_seconds: dict[str, float] = {}

    def files_at(lock_conn) -> tuple[list[str], tuple[str, int]]:
        return binlog_files(lock_conn), current_position(lock_conn)

    read: dict[tuple, list[Transaction]] = {}

    def pending(at: tuple[list[str], tuple[str, int]]) -> list[Transaction]:
        """The transactions logged since the last replay, up to ``at`` (read once per position)."""
        names, now = at
        if now == position["to"]:
            return []
        key = (position["to"], now)
        if key not in read:
            read[key] = until(transactions(host, position["to"], timeout=timeout), names, now)
        return read[key]

    def tail(at: tuple[list[str], tuple[str, int]], also_skip: list[str]) -> dict[str, Any]:
        """The events logged since the last replay, into every copy (the live table's writes wait)."""
        names, now = at
        extra = [t.span for t in pending(at) if t.gtid in also_skip] if also_skip else []
        n = sum(each(members, lambda m: _replay(host, names, position["to"], now, spans + extra, timeout=timeout,
                                                into=m, lock_wait=LOCK_WAIT_S))) if now != position["to"] else 0
        position["to"] = now
        return {"to": f"{now[0]}:{now[1]}", "runs": n}

    if physical and why is None:
        done = db_swap.rename_swap(host, members, SCRATCH, tables, files_at, tail, skip,
                                   tail_touches=lambda at: tables_changed(pending(at), host.database),
                                   seconds=swap_seconds)
    else:
        done = {table: db_swap.rows_swap(host, SCRATCH, table, files_at, tail) for table in tables}
    seconds["swap"] = round(time.monotonic() - t0, 3)
    seconds.update({f"swap_{k}": v for k, v in swap_seconds.items()})
    seconds["total"] = round(time.monotonic() - began, 3)
    return {"backup": {k: backup[k] for k in ("id", "at", "kind", "binlog")}, "moment": moment,
            "skipped": [t.to_dict() for t in skipped], "tables": done, "replay_runs": runs,
            "replayed_from": f"{start[0]}:{start[1]}", "replayed_to": f"{position['to'][0]}:{position['to'][1]}",
            "how": {"load": "import" if physical else "dump", "swap": "rename" if physical and why is None else "rows",
                    "why": why, "members": [m.member for m in members]},
            "also_skipped": inherited, "seconds": seconds}


def _load_backup(host: DbHost, backup: dict[str, Any], seconds: dict[str, float], *,
                 timeout: float) -> tuple[str, bool, str | None, list[DbHost]]:
    """``backup`` put into :data:`SCRATCH`: a physical one imported on the primary and, when
    :func:`db_swap.rename_possible`, on every replica at once; a dump loaded on the primary. Records
    ``seconds["load_backup"]``; returns ``(backup id, physical, why not rename (or None), members)``."""
    physical = backup.get("kind") == db_physical.KIND
    why = db_swap.rename_possible(host) if physical else "a logical backup"
    members = [host, *host.replicas] if physical and why is None else [host]
    t0 = time.monotonic()
    if physical:
        each(members, lambda m: db_physical.import_tables(m, backup, SCRATCH))
    else:
        _load_dump(host, backup, timeout=timeout)
    seconds["load_backup"] = round(time.monotonic() - t0, 3)
    return backup["id"], physical, why, members


def _load_dump(host: DbHost, backup: dict[str, Any], *, timeout: float) -> None:
    """A logical backup loaded into a new :data:`SCRATCH` with the ``mariadb`` client (not logged)."""
    with host.connect() as conn:
        _query(conn, "SET SESSION sql_log_bin = 0")  # the scratch copy is nobody's business but ours
        _query(conn, f"DROP DATABASE IF EXISTS `{SCRATCH}`")
        _query(conn, f"CREATE DATABASE `{SCRATCH}` CHARACTER SET utf8mb4")
    with open(backup["path"], "rb") as dump:
        _run(host.client_argv("--init-command=SET SESSION sql_log_bin=0", SCRATCH), stdin=dump,
             what=f"loading backup {backup['id']}", timeout=timeout)
