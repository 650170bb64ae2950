"""The last step of a point-in-time restore (:func:`gameday.sandbox.db_backup.restore_to`): the
restored copy of a table, built in the scratch database, becomes the live table while the site
keeps serving. Two ways::

    how = rename_possible(host)          # None, or why the copy must be swapped row by row
    rename_swap(host, members, tables, files_at, replay_tail)   # atomic RENAME TABLE, every member built
    rows_swap(host, table, files_at, replay_tail)               # delete + insert in one transaction

**rename_swap** (a physical restore, every member that follows the primary's log reachable here):
every member's copies are held ``LOCK TABLES ... READ`` (no session writes them) and their ``CHECKSUM
TABLE`` taken there, on every member at once, before anything live waits: equal on every member or
the restore fails. Then the live tables are locked ``READ`` (the site reads on; its writes wait) and
the last events are replayed into every member's copy; only when those events change a swapped
table are the holds released for them and the copies checksummed again, under the lock (equal, or
the restore fails); otherwise the copies, still held, are what was checksummed. Then one ``RENAME
TABLE live TO scratch.<t>_replaced, scratch.<t> TO live`` (written to the binary log: each replica
swaps its own copy, built the same way from the same backup and log). The RENAME
is queued behind the lock before the lock is released, so MariaDB's metadata locks grant it before
the writes that waited (a pending exclusive lock goes first): no write lands in the replaced table.
The copy is the table afterwards (its InnoDB table id is checked, on the primary and on each replica
once it has applied the RENAME); no row is copied. The RENAME's comment names the transactions the
copies leave out (:data:`MARK`): a later restore from a backup taken before the swap replays the
log across it leaving them out too (``db_backup.earlier_swaps``).

**rows_swap** (a logical restore, or a replica this machine cannot reach: a standby region's, or
one that is down): every live row and gap locked (``SELECT ... FOR UPDATE``), the last events
replayed, the live rows deleted and the copy's inserted in one transaction, committed only when
``CHECKSUM TABLE`` of both is equal; replicas follow it as ordinary row changes.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import pymysql

from ..deadline import wait_until
from ..errors import DeadlineExceeded, GamedayError

MARK = "gameday-pitr skipped"  # the RENAME's comment: ``/* gameday-pitr skipped 0-1-78,0-1-80 */``
LOCK_WAIT_S = 10  # the swap waits this long for the site's transactions on the table
REPLICA_WAIT_S = 60.0  # for each replica to apply the RENAME


class RestoreFailed(GamedayError):
    """A point-in-time restore could not finish; the live tables were left as they were."""


def _query(conn, sql: str, args: tuple = ()) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return list(cur.fetchall())


def table_stats(conn, database: str, table: str) -> dict[str, Any]:
    """``{"rows", "min_id", "max_id"}`` of one table now (ids None when it has no ``id`` column, in
    any case: MariaDB's column names are case-insensitive, and WordPress's ``wp_posts`` has ``ID``)."""
    columns = {r[0].lower() for r in _query(conn, "SELECT column_name FROM information_schema.columns "
                                                  "WHERE table_schema = %s AND table_name = %s", (database, table))}
    if "id" in columns:
        rows, lo, hi = _query(conn, f"SELECT COUNT(*), MIN(id), MAX(id) FROM `{database}`.`{table}`")[0]
    else:
        (rows,), lo, hi = _query(conn, f"SELECT COUNT(*) FROM `{database}`.`{table}`")[0], None, None
    return {"rows": int(rows), "min_id": None if lo is None else int(lo), "max_id": None if hi is None else int(hi)}


def each(members: list, work) -> list:
    """``work(member)`` for every member at once (one thread each: the members are separate servers),
    results in ``members``' order; the first failure is raised once all have finished."""
    if len(members) == 1:
        return [work(members[0])]
    with ThreadPoolExecutor(max_workers=len(members), thread_name_prefix="db-restore") as pool:
        futures = [pool.submit(work, m) for m in members]
        return [f.result() for f in futures]


def checksum(conn, database: str, table: str) -> int | None:
    return _query(conn, f"CHECKSUM TABLE `{database}`.`{table}`")[0][1]


def table_id(conn, database: str, table: str) -> int | None:
    """InnoDB's id of the table (it follows the table through a RENAME), or None when there is none."""
    row = _query(conn, "SELECT table_id FROM information_schema.innodb_sys_tables WHERE name = %s",
                 (f"{database}/{table}",))
    return int(row[0][0]) if row else None


def _exists(conn, database: str, table: str) -> bool:
    return bool(_query(conn, "SELECT 1 FROM information_schema.tables WHERE table_schema = %s AND table_name = %s",
                       (database, table)))


def rename_possible(host) -> str | None:
    """None when every server that replicates from ``host`` is one of ``host.replicas`` and each of
    those answers here (each can then build its own copy); else why not."""
    with host.connect() as conn:
        following = {int(r[0]) for r in _query(conn, "SHOW SLAVE HOSTS")}
    known = set()
    for replica in host.replicas:
        try:
            with replica.connect(timeout=3) as conn:
                known.add(int(_query(conn, "SELECT @@server_id")[0][0]))
        except GamedayError as err:
            return f"replica {replica.member} does not answer ({err})"
    unknown = following - known
    return f"server id(s) {sorted(unknown)} replicate from {host.member} and are not reachable here" if unknown else None


def _compare(seen: dict[str, dict[str, tuple[int | None, int | None]]], scratch: str, tables: list[str],
             when: str) -> None:
    """A RestoreFailed when a table's CHECKSUM TABLE differs between members (``seen``: ``{member:
    {table: (checksum, table id)}}``)."""
    for table in tables:
        sums = {name: got[table][0] for name, got in seen.items()}
        if len(set(sums.values())) != 1:
            raise RestoreFailed(f"{scratch}.{table}: the restored copies differ between members {when}: CHECKSUM TABLE "
                                + ", ".join(f"{k} {v}" for k, v in sums.items()))


def _figures(conn, scratch: str, tables: list[str]) -> dict[str, tuple[int | None, int | None]]:
    return {t: (checksum(conn, scratch, t), table_id(conn, scratch, t)) for t in tables}


def _hold(member, scratch: str, tables: list[str]):
    """A connection to ``member`` holding its copies ``LOCK TABLES ... READ``: no other session can
    write them (our own replay neither) until it is released."""
    conn = member.connect()
    try:
        _query(conn, f"SET SESSION lock_wait_timeout = {LOCK_WAIT_S}")
        _query(conn, "LOCK TABLES " + ", ".join(f"`{scratch}`.`{t}` READ" for t in tables))
    except pymysql.MySQLError as err:
        conn.close()
        raise RestoreFailed(f"{member.member}: the restored copies in {scratch} were held by another session for over "
                            f"{LOCK_WAIT_S} s: {err}", hint="is another restore running? run it again") from None
    except BaseException:
        conn.close()
        raise
    return conn


def _release(holds: dict) -> None:
    while holds:
        _name, conn = holds.popitem()
        try:
            _query(conn, "UNLOCK TABLES")
        except pymysql.MySQLError:
            pass  # closing the connection releases its locks as well
        finally:
            conn.close()


def rename_swap(host, members: list, scratch: str, tables: list[str], files_at: Callable,
                replay_tail: Callable, skipped: list[str], *, tail_touches: Callable | None = None,
                seconds: dict[str, float] | None = None) -> dict[str, dict[str, Any]]:
    """Swap each restored copy in by RENAME TABLE (see the module docstring); ``members`` are the
    primary (``host``) and its replicas, each holding its copy in ``scratch``. ``files_at(conn)``
    gives the log files and position now, ``replay_tail(at, also_skip)`` replays the log up to it
    into every member's copy, ``tail_touches(at)`` names the tables of ``host.database`` those
    events change (None: it cannot say; no ``tail_touches``: every table, always re-checked);
    ``skipped`` (the GTIDs the copies leave out) is written into the
    RENAME's comment (:data:`MARK`), so that a later restore replaying the log across this swap
    leaves them out too (the swapped-in rows are in no log).

    The verification, before anything live is touched: every member's copies are held ``LOCK TABLES
    ... READ`` (no session can write them) and checksummed there at once, before the live tables are
    locked; the sums must be equal on every member. Under the live lock the last events are
    replayed; when they change a swapped table (or ``tail_touches`` cannot say), the holds are
    released first and every copy is checksummed again under the lock (equal on every member, or the
    restore fails); when they do not, the copies are still held, so they are what was checksummed.
    The holds end just before the RENAME. ``seconds`` (when given) gains ``checksum`` (before the
    lock), ``locked`` (the site's writes to the tables waited), ``tail``, ``recheck`` (0 when none),
    ``after`` (the primary's table ids and figures) and ``replicas`` (until each replica applied the
    RENAME: it applies everything logged before it first, the incident included). Returns ``{table: {"checksum", "checked",
    "created", "swapped_gtid", "tail", "replicas": {member: "swapped"}, ...}}``; ``checked`` says
    when the sums compared were taken (``"held since before the lock"`` or ``"under the lock, after
    the tail"``)."""
    db = host.database
    seconds = {} if seconds is None else seconds
    result: dict[str, dict[str, Any]] = {}
    t0 = time.monotonic()
    holds: dict[str, Any] = {}
    try:
        def held_figures(m) -> dict[str, tuple[int | None, int | None]]:
            conn = _hold(m, scratch, tables)
            holds[m.member] = conn
            return _figures(conn, scratch, tables)
        seen = dict(zip([m.member for m in members], each(members, held_figures), strict=True))
        _compare(seen, scratch, tables, "(checksummed before the lock; nothing live was changed)")
        seconds["checksum"] = round(time.monotonic() - t0, 3)
        checked = "held since before the lock"
        lock = host.connect()
        with lock:
            _query(lock, f"SET SESSION lock_wait_timeout = {LOCK_WAIT_S}")
            live = [t for t in tables if _exists(lock, db, t)]
            locked_at = None
            try:
                if live:
                    try:
                        _query(lock, "LOCK TABLES " + ", ".join(f"`{db}`.`{t}` READ" for t in live))
                    except pymysql.MySQLError as err:
                        raise RestoreFailed(f"the site's transactions held {', '.join(live)} for over {LOCK_WAIT_S} s: {err}",
                                            hint="run the restore again (nothing live was changed)") from None
                    locked_at = time.monotonic()
                t1 = time.monotonic()
                with host.connect() as other:
                    at = files_at(other)
                touched = tail_touches(at) if tail_touches is not None else None
                again = touched is None or any(t in touched for t in tables)
                if again:
                    _release(holds)  # the tail writes a swapped copy: it must be checksummed again
                tail = replay_tail(at, [])
                seconds["tail"] = round(time.monotonic() - t1, 3)
                t1 = time.monotonic()
                if again:
                    seen = dict(zip([m.member for m in members],
                                    each(members, lambda m: _with(m, lambda c: _figures(c, scratch, tables))), strict=True))
                    _compare(seen, scratch, tables, "after the last events were replayed under the lock; nothing "
                                                   "live was changed")
                    checked = "under the lock, after the tail"
                seconds["recheck"] = round(time.monotonic() - t1, 3)
                for table in tables:
                    result[table] = {"checksum": seen[host.member][table][0], "checked": checked, "tail": tail,
                                     "created": None}
                _release(holds)  # the RENAME takes each copy: from here it is not ours to hold
                gtid = _rename(host, lock if locked_at is not None else None, scratch, tables, live, skipped)
            finally:
                if locked_at is not None:
                    _query(lock, "UNLOCK TABLES")
                    seconds["locked"] = round(time.monotonic() - locked_at, 3)
    finally:
        _release(holds)
    t1 = time.monotonic()
    ids = {name: {t: got[t][1] for t in tables} for name, got in seen.items()}
    with host.connect() as conn:
        for table in tables:
            if table_id(conn, db, table) != ids[host.member][table]:
                raise RestoreFailed(f"{db}.{table} is not the restored copy after the RENAME")
            result[table].update(_stats(conn, db, table), swapped_gtid=gtid,
                                 created=gtid if table not in live else None)
    seconds["after"] = round(time.monotonic() - t1, 3)
    t1 = time.monotonic()
    for m in members:
        if m is host:
            continue
        for table in tables:
            _wait_replica(m, db, table, ids[m.member][table])
            result[table].setdefault("replicas", {})[m.member] = "swapped"
    seconds["replicas"] = round(time.monotonic() - t1, 3)
    return result


def _with(member, work):
    with member.connect() as conn:
        return work(conn)


def _stats(conn, database: str, table: str) -> dict[str, Any]:
    return table_stats(conn, database, table)


def _rename(host, lock, scratch: str, tables: list[str], live: list[str], skipped: list[str]) -> str:
    """Run the RENAME on its own connection; with the live tables locked by ``lock``, wait until it
    queues behind that lock, then release it (the RENAME is granted before the waiting writes).
    Returns the RENAME's GTID."""
    db = host.database
    pairs = [f"`{db}`.`{t}` TO `{scratch}`.`{t}_replaced`" for t in live] + \
            [f"`{scratch}`.`{t}` TO `{db}`.`{t}`" for t in tables]
    conn = host.connect()
    outcome: dict[str, Any] = {}
    with conn:
        _query(conn, f"SET SESSION lock_wait_timeout = {LOCK_WAIT_S}")
        cid = int(_query(conn, "SELECT CONNECTION_ID()")[0][0])

        def run() -> None:
            try:
                _query(conn, "RENAME TABLE " + ", ".join(pairs) + f" /* {MARK} {','.join(skipped)} */")
                outcome["gtid"] = str(_query(conn, "SELECT @@last_gtid")[0][0])
            except pymysql.MySQLError as err:
                outcome["error"] = err
        worker = threading.Thread(target=run, name="db-swap-rename", daemon=True)
        worker.start()
        if lock is not None:
            def queued() -> bool:
                with host.connect() as watch:
                    state = _query(watch, "SELECT state FROM information_schema.processlist WHERE id = %s", (cid,))
                return not worker.is_alive() or bool(state and "metadata lock" in str(state[0][0]))
            try:
                wait_until(queued, timeout=LOCK_WAIT_S, interval=0.02, what="the RENAME to queue behind the lock")
            except DeadlineExceeded:
                with host.connect() as killer:  # never let it run once the lock is released
                    _query(killer, f"KILL QUERY {cid}")
                worker.join(timeout=30)
                raise RestoreFailed("the RENAME of the restored copies never queued behind the lock; it was "
                                    "stopped and the live tables are as they were") from None
            _query(lock, "UNLOCK TABLES")
        worker.join(timeout=LOCK_WAIT_S + 30)
        if worker.is_alive():
            raise DeadlineExceeded(f"RENAME TABLE did not finish within {LOCK_WAIT_S + 30} s")
    if "error" in outcome:
        raise RestoreFailed(f"RENAME TABLE of the restored copies failed: {outcome['error']}; the live tables are as they were")
    return outcome["gtid"]


def _wait_replica(member, database: str, table: str, expected: int | None) -> None:
    def swapped() -> bool:
        with member.connect(timeout=3) as conn:
            return table_id(conn, database, table) == expected
    wait_until(swapped, timeout=REPLICA_WAIT_S, interval=0.05,
               what=f"{member.member} to apply the RENAME of {database}.{table} (its own restored copy)",
               hint="is it replicating? gameday sandbox status")


def rows_swap(host, scratch: str, table: str, files_at: Callable, replay_tail: Callable) -> dict[str, Any]:
    """Replace the live ``table`` with its restored copy in one transaction: create it (from the
    copy's definition) if it was dropped, lock every row and the gaps (``SELECT ... FOR UPDATE``
    over the primary key: the site's writes to it wait), replay the last events (``replay_tail``),
    then delete the live rows and insert the copy's; commit only when ``CHECKSUM TABLE`` of both is
    equal. Returns the table's figures, the copy's checksum and ``created``: the GTID of the CREATE
    TABLE that gave a dropped table back (None when it existed)."""
    db = host.database
    conn = host.connect(autocommit=False)
    with conn:
        _query(conn, f"SET SESSION innodb_lock_wait_timeout = {LOCK_WAIT_S}, lock_wait_timeout = {LOCK_WAIT_S}")
        created = None
        if not _exists(conn, db, table):
            ddl = _query(conn, f"SHOW CREATE TABLE `{scratch}`.`{table}`")[0][1]
            _query(conn, f"USE `{db}`")
            _query(conn, ddl)  # the copy's own definition (logged as a plain CREATE TABLE)
            created = str(_query(conn, "SELECT @@last_gtid")[0][0])  # not replayed into the copy, which has it
        conn.begin()
        try:
            _query(conn, f"SELECT 1 FROM `{db}`.`{table}` FORCE INDEX (PRIMARY) FOR UPDATE")
            tail = replay_tail(files_at(conn), [created] if created else [])
            _query(conn, f"DELETE FROM `{db}`.`{table}`")
            _query(conn, f"INSERT INTO `{db}`.`{table}` SELECT * FROM `{scratch}`.`{table}`")
            restored, live = checksum(conn, scratch, table), checksum(conn, db, table)
            if restored != live:
                raise RestoreFailed(f"{db}.{table}: CHECKSUM TABLE {live} after the swap, the restored copy's {restored}; "
                                 "rolled back")
            stats = _stats(conn, db, table)
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
    return {**stats, "checksum": restored, "created": created, "tail": tail}
