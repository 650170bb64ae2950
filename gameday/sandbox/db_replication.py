"""The twin database's replication controls: promote a replica, rebuild a member as a replica.

Every control runs as root over the members' Unix sockets (``unix_socket`` authentication: no
password anywhere) and records the outcome in the roles file (:mod:`gameday.sandbox.db_roles`),
rewriting the members' init files so that a restarted member keeps its role::

    promote(twin)                # db-2 writable, the stable endpoint at it; db-1 fenced
    rebuild(twin, "db-1")        # db-1 replicates from db-2 (GTID), re-seeded if its history diverged
    status(twin)                 # roles, and per member: read_only, GTID positions, replication threads

A promotion whose old primary still answers is a switchover: the old primary is made read-only and
the replica waits until it has applied everything the old one logged (nothing lost). When it does not
answer (a failover), the replica applies what it received (its relay log) and takes over: with
semi-synchronous replication that is every acknowledged commit; with asynchronous replication the
old primary may have acknowledged commits the replica never received. :func:`rebuild` finds those
(the old primary's GTIDs past the point of promotion), reports them, and re-seeds the member from
the new primary instead of replicating on top of a diverged history.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import threading
import time
from typing import Any, Iterator

import pymysql

from ..deadline import Deadline, wait_until
from ..errors import DeadlineExceeded, GamedayError, UsageError
from ..gtid import beyond, merge
from . import db_backup_lock, db_roles
from .db_binlog import PACKET_ARGS
from .members import db, toxiproxy

CATCH_UP_TIMEOUT = 60.0
BACKUP_LOCK_WAIT_S = 120.0  # a replication position set waits this long for a backup in progress (db_backup_lock)
LOST_CONNECTION = (2006, 2013)  # CR_SERVER_GONE_ERROR, CR_SERVER_LOST: no answer within the read timeout, or the server went


def connect(twin, name: str, *, timeout: float = 5.0) -> pymysql.connections.Connection:
    """A root connection to member ``name`` over its socket; a GamedayError when it does not answer."""
    try:
        return db.root_connect(db.socket_path(twin, name), connect_timeout=timeout,
                               read_timeout=max(timeout, CATCH_UP_TIMEOUT + 10), write_timeout=30)
    except (pymysql.MySQLError, OSError) as err:
        raise GamedayError(f"{name} does not answer on {db.socket_path(twin, name)}: {err}",
                           hint=f"is it running? gameday sandbox --name {twin.name} status") from None


def _head(sql: str | None) -> str:
    """A statement's first three words, never its values (CHANGE MASTER carries the replication password)."""
    return " ".join((sql or "").split()[:3])


def _running(socket: str | None) -> str:
    """What the server at ``socket`` is running besides idle connections, read on a fresh connection."""
    if not socket:
        return "not read (the connection has no socket)"
    try:
        with db.root_connect(socket, connect_timeout=2, read_timeout=5, write_timeout=5) as c, c.cursor() as cur:
            cur.execute("SELECT USER, COMMAND, TIME, STATE, INFO FROM information_schema.PROCESSLIST "
                        "WHERE COMMAND <> 'Sleep' AND ID <> CONNECTION_ID()")
            return "; ".join(f"{user} {command} {t}s '{state or ''}' {_head(info)}".rstrip()
                             for user, command, t, state, info in cur.fetchall()) or "nothing"
    except (pymysql.MySQLError, OSError) as again:
        return f"not read ({again})"


def _unanswered(conn, sql: str, err: pymysql.OperationalError, seen: str | None) -> GamedayError:
    """A statement that got no answer within the connection's read timeout (or lost its server), as an
    error naming it and what the server was doing then (``seen``, read just before the timeout, or now):
    a rebuild that hung 70 s under make test's load said only "Lost connection to MySQL server during query"."""
    socket = getattr(conn, "unix_socket", None)
    seen = seen if seen is not None else _running(socket)
    return GamedayError(f"{_head(sql)} on {socket} got no answer ({err.args[-1]}); the server was running: {seen}")


@contextlib.contextmanager
def _answered(conn, sql: str) -> Iterator[None]:
    """Run ``sql`` inside: a lost connection or a read timeout becomes :func:`_unanswered`'s error.

    What the server was running is read shortly before the connection's read timeout, while the statement
    still waits: PyMySQL closes the socket when the timeout passes, and the server may then end the
    statement before a read after the error would see it (a ``GET_LOCK`` wait was gone from the process
    list that way, CI at c86ff47)."""
    socket, timeout = getattr(conn, "unix_socket", None), getattr(conn, "_read_timeout", None)
    seen: list[str] = []
    watch = None
    if socket and timeout:
        watch = threading.Timer(timeout - min(1.0, timeout / 2), lambda: seen.append(_running(socket)))
        watch.daemon = True
        watch.start()
    try:
        yield
    except pymysql.OperationalError as err:
        if err.args and err.args[0] in LOST_CONNECTION:
            _stop(watch)
            raise _unanswered(conn, sql, err, seen[0] if seen else None) from None
        raise
    finally:
        _stop(watch)


def _stop(watch: threading.Timer | None) -> None:
    """Cancel a watch that has not read yet, or wait (its reads are bounded: 2 s + 5 s) for one that is reading."""
    if watch is not None:
        watch.cancel()
        watch.join(timeout=10)


def _one(conn, sql: str, args: tuple = ()):
    with _answered(conn, sql), conn.cursor() as cur:
        cur.execute(sql, args)
        row = cur.fetchone()
    return None if row is None else row[0]


def _exec(conn, *statements: str) -> None:
    with conn.cursor() as cur:
        for sql in statements:
            with _answered(conn, sql):
                cur.execute(sql)


def _slave_status(conn) -> dict[str, Any] | None:
    with conn.cursor(pymysql.cursors.DictCursor) as cur:
        cur.execute("SHOW SLAVE STATUS")
        return cur.fetchone()


def member_state(twin, name: str) -> dict[str, Any]:
    """What one member says about itself: ``{"member", "answers", "read_only", "gtid_binlog_pos",
    "gtid_slave_pos", "gtid_current_pos", "replicating", "io", "sql", "last_error", "semisync"}``."""
    try:
        conn = connect(twin, name, timeout=2)
    except GamedayError as err:
        return {"member": name, "answers": False, "error": str(err)}
    with conn:
        slave = _slave_status(conn)
        with conn.cursor() as cur:
            cur.execute("SELECT @@read_only, @@gtid_binlog_pos, @@gtid_slave_pos, @@gtid_current_pos")
            ro, binlog_pos, slave_pos, current = cur.fetchone()
            cur.execute("SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_%_status'")
            semi = {k: v for k, v in cur.fetchall()}
            cur.execute("SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_master_clients'")
            semi.update({k: v for k, v in cur.fetchall()})
    io = slave.get("Slave_IO_Running") if slave else None
    sql = slave.get("Slave_SQL_Running") if slave else None
    return {"member": name, "answers": True, "read_only": bool(int(ro)), "gtid_binlog_pos": binlog_pos,
            "gtid_slave_pos": slave_pos, "gtid_current_pos": current, "io": io, "sql": sql,
            "replicating": io == "Yes" and sql == "Yes",
            "master": f"{slave['Master_Host']}:{slave['Master_Port']}" if slave else None,
            "last_error": (slave.get("Last_IO_Error") or slave.get("Last_SQL_Error")) if slave else None,
            "semisync": {"primary": semi.get("Rpl_semi_sync_master_status") == "ON",
                         "replica": semi.get("Rpl_semi_sync_slave_status") == "ON",
                         "clients": int(semi.get("Rpl_semi_sync_master_clients") or 0)}}


def status(twin) -> dict[str, Any]:
    """``{"roles": {...}, "endpoint": "host:port", "members": {name: member_state}}``."""
    return {"roles": db_roles.load(twin).to_dict(), "endpoint": twin.db_addr(),
            "members": {name: member_state(twin, name) for name in db.MEMBERS}}


def _rewrite_init_files(twin) -> None:
    for name in db.MEMBERS:
        if (twin.paths.data / name).is_dir():
            db.write_init_file(twin, name)


def _save(twin, roles: db_roles.Roles) -> None:
    db_roles.save(twin, roles)
    _rewrite_init_files(twin)


def mark_lost(twin, name: str) -> db_roles.Roles:
    """Record that the twin lost ``name`` (a fault: it is held stopped, nothing will start it)."""
    roles = db_roles.load(twin)
    if name not in roles.lost:
        roles.lost.append(name)
    _save(twin, roles)
    return roles


def _gtid_wait(conn, pos: str, timeout: float, *, what: str) -> float:
    started = time.monotonic()
    got = _one(conn, "SELECT MASTER_GTID_WAIT(%s, %s)", (pos, float(timeout)))
    if got is None or int(got) != 0:
        raise DeadlineExceeded(f"{what}: not at GTID {pos} within {timeout:.0f} s")
    return round(time.monotonic() - started, 3)


def promote(twin, new: str | None = None, *, timeout: float = CATCH_UP_TIMEOUT) -> dict[str, Any]:
    """Make ``new`` (default: the first recorded replica not lost) the primary and point the stable
    endpoint at it; the old primary is fenced (read-only, not replicating) until :func:`rebuild`.

    Returns ``{"old_primary", "new_primary", "switchover", "mode", "old_gtid", "promoted_at_gtid",
    "seconds": {"fence_old", "catch_up", "writable", "repoint", "total"}}``."""
    if twin.shape.standby:
        up = twin.shape.upstream
        raise UsageError(f"{twin.name} is the standby region {twin.shape.region}: its database replicates from "
                         f"{up.twin} (region {up.region}); a replica promoted inside it would make a second "
                         "writable region", hint="promote a standby region with `gameday playbook region` "
                         "(a failover, or --switchover when the active region answers)")
    started = time.monotonic()
    roles = db_roles.load(twin)
    old = roles.primary
    candidates = [r for r in roles.replicas if r not in roles.lost and r != old]
    new = new or (candidates[0] if candidates else None)
    if new is None or new == old or new not in db.MEMBERS:
        raise GamedayError(f"no replica to promote: the primary is {old}, replicas "
                           f"{', '.join(roles.replicas) or 'none'}, lost {', '.join(roles.lost) or 'none'}"
                           + (f" (asked for {new})" if new else ""))
    seconds: dict[str, float] = {}
    old_gtid = None
    if old not in roles.lost:
        try:
            fenced = connect(twin, old, timeout=2)
        except GamedayError:
            fenced = None  # gone: a failover
        if fenced is not None:  # a switchover: the old primary answers; no write may land on it from here on
            with fenced as conn:
                _exec(conn, "SET GLOBAL read_only = 1", "FLUSH TABLES WITH READ LOCK", "UNLOCK TABLES")
                old_gtid = _one(conn, "SELECT @@gtid_binlog_pos")
    seconds["fence_old"] = round(time.monotonic() - started, 3)
    with connect(twin, new) as conn:
        taken = take_over(conn, old_gtid, timeout, who=new, upstream=old)
    promoted_at = taken["promoted_at_gtid"]
    seconds.update(taken["seconds"])
    roles.primary = new
    roles.replicas = [r for r in roles.replicas if r != new]
    if old not in roles.fenced:
        roles.fenced.append(old)
    roles.epoch += 1
    roles.promoted_at_gtid = promoted_at
    _save(twin, roles)
    t = time.monotonic()
    toxiproxy.repoint_primary(twin, new)
    seconds["repoint"] = round(time.monotonic() - t, 3)
    seconds["total"] = round(time.monotonic() - started, 3)
    return {"old_primary": old, "new_primary": new, "switchover": old_gtid is not None, "mode": roles.mode,
            "old_gtid": old_gtid, "promoted_at_gtid": promoted_at, "endpoint": twin.db_addr(), "seconds": seconds}


def take_over(conn, caught_up_to: str | None, timeout: float, *, who: str, upstream: str) -> dict[str, Any]:
    """The promotion itself, on ``conn`` (the server taking writes): wait until it has applied
    ``caught_up_to`` (the fenced old primary's GTID position; None when that one is gone), stop its
    replication once it has applied everything it received (its relay log), make it writable.
    Used by :func:`promote` (within a region) and ``db_region.promote`` (across regions).

    Returns ``{"received_gtid", "promoted_at_gtid", "seconds": {"catch_up", "writable"}}``."""
    t = time.monotonic()
    if caught_up_to:
        _gtid_wait(conn, caught_up_to, timeout, what=f"{who} catching up with {upstream}")
    received = None
    if _slave_status(conn):
        _exec(conn, "STOP SLAVE IO_THREAD")
        received = (_slave_status(conn) or {}).get("Gtid_IO_Pos")
        if received:  # apply everything it received before it takes writes
            _gtid_wait(conn, received, timeout, what=f"{who} applying its relay log")
        _exec(conn, "STOP SLAVE", "RESET SLAVE ALL")
    catch_up = round(time.monotonic() - t, 3)
    t = time.monotonic()
    _exec(conn, "SET GLOBAL read_only = 0")
    promoted_at = _one(conn, "SELECT @@gtid_current_pos")
    return {"received_gtid": received, "promoted_at_gtid": promoted_at,
            "seconds": {"catch_up": catch_up, "writable": round(time.monotonic() - t, 3)}}


def repoint(twin) -> dict[str, Any]:
    """Point the stable endpoint at the recorded primary (idempotent)."""
    roles = db_roles.load(twin)
    proxy = toxiproxy.repoint_primary(twin, roles.primary)
    return {"primary": roles.primary, "endpoint": twin.db_addr(), "upstream": proxy.get("upstream")}


def endpoint_upstream(twin) -> str | None:
    """Where the stable endpoint forwards to now (toxiproxy's answer), or None when it does not answer."""
    import requests
    try:
        r = requests.get(f"{twin.toxiproxy_api}/proxies/{toxiproxy.PRIMARY_PROXY}", timeout=3)
    except requests.RequestException:
        return None
    return r.json().get("upstream") if r.status_code == 200 else None


def reseed_member(twin, name: str, primary: str, timeout: float, *, source_twin=None) -> dict[str, Any]:
    """Replace ``name``'s copy of the site's database with a consistent dump of ``primary``'s (a member
    of ``source_twin``, default ``twin``: another region's for a cross-region standby; nothing of it
    goes into ``name``'s binary log), then start ``name``'s binary log afresh at the dump's GTID (its
    old files held the diverged history; the point-in-time drill takes a new backup anyway). The
    caller then sets ``gtid_slave_pos`` to the returned ``gtid`` and starts replication."""
    from .db_binlog import dump_coordinates
    from .twin import DB_NAME
    source_twin = source_twin or twin
    source_socket = db.socket_path(source_twin, primary)
    if source_twin.name != twin.name:
        primary = f"{source_twin.name}/{primary}"  # named with its twin in the messages and the result
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="gameday-reseed-") as tmp:  # 0700, root's
        path = os.path.join(tmp, "dump.sql")
        with open(path, "wb") as out:
            proc = subprocess.run(
                ["mariadb-dump", "--no-defaults", f"--socket={source_socket}", "--user=root", *PACKET_ARGS,
                 "--single-transaction", "--master-data=2", "--gtid", "--hex-blob", "--routines", "--triggers",
                 "--default-character-set=utf8mb4", "--add-drop-database", "--databases", DB_NAME],
                stdout=out, stderr=subprocess.PIPE, timeout=timeout)
        if proc.returncode != 0:
            raise GamedayError(f"re-seeding {name}: mariadb-dump of {primary} failed: "
                               f"{proc.stderr.decode(errors='replace')[-400:]}")
        with open(path, "rb") as fh:
            head = fh.read(8192).decode(errors="replace")
            fh.seek(max(0, os.path.getsize(path) - 8192))
            tail = fh.read().decode(errors="replace")
        gtid = dump_coordinates(head, tail)["gtid"]
        with open(path, "rb") as fh:
            proc = subprocess.run(
                ["mariadb", "--no-defaults", f"--socket={db.socket_path(twin, name)}", "--user=root", *PACKET_ARGS,
                 "--default-character-set=utf8mb4", "--init-command=SET sql_log_bin = 0"],
                stdin=fh, capture_output=True, timeout=timeout)
        if proc.returncode != 0:
            raise GamedayError(f"re-seeding {name}: loading {primary}'s dump failed: "
                               f"{proc.stderr.decode(errors='replace')[-400:]}")
    if not gtid:
        raise GamedayError(f"re-seeding {name}: {primary}'s dump names no GTID position")
    # its own change log holds the diverged history: start a new one at the dump's position, so that
    # a replica of it (after a later promotion) finds every GTID it asks for
    with connect(twin, name) as conn:
        _exec(conn, "RESET MASTER", f"SET GLOBAL gtid_binlog_state = '{gtid}'")
    return {"from": primary, "gtid": gtid, "seconds": round(time.monotonic() - started, 3)}


def rebuild(twin, name: str, *, reseed: bool = False, timeout: float = CATCH_UP_TIMEOUT) -> dict[str, Any]:
    """Make the running member ``name`` a replica of the recorded primary: by GTID from where its own
    history stops when that history is a prefix of the primary's, else (it holds transactions the
    primary never got: acknowledged commits lost by an asynchronous failover) re-seeded from a dump;
    ``reseed`` re-seeds in any case (a replica whose applier stopped on an error: its copy is not the
    primary's). Waits until it has caught up. Returns ``{"member", "primary", "how": "gtid"|"reseeded",
    "diverged": {"gtids", "transactions"}, "reseed", "seconds"}``."""
    started = time.monotonic()
    roles = db_roles.load(twin)
    if name == roles.primary:
        raise GamedayError(f"{name} is the primary: it cannot be rebuilt as a replica of itself")
    with connect(twin, name) as conn:
        _exec(conn, "SET GLOBAL read_only = 1")
        if _slave_status(conn):
            _exec(conn, "STOP SLAVE")
        # its whole history: what it logged itself (or replicated, log_slave_updates) and what it applied
        own = merge(_one(conn, "SELECT @@gtid_binlog_pos"), _one(conn, "SELECT @@gtid_slave_pos"))
    base = roles.promoted_at_gtid
    with connect(twin, roles.primary) as pconn:
        primary_pos = _one(pconn, "SELECT @@gtid_binlog_pos")
    diverged = beyond(own, base or primary_pos)
    how, seeded = "gtid", None
    with connect(twin, name) as conn:
        _exec(conn, "RESET SLAVE ALL")
    if diverged or reseed:
        seeded = reseed_member(twin, name, roles.primary, timeout=max(60.0, timeout))
        position, how = seeded["gtid"], "reseeded"
    else:
        position = own or ""
    repl = db._literal(twin.db_replication_password())
    with db_backup_lock.exclusive(db.backup_dir(twin), f"rebuilding {name} as a replica of {roles.primary}",
                                  timeout=BACKUP_LOCK_WAIT_S), connect(twin, name) as conn:
        _exec(conn, f"SET GLOBAL gtid_slave_pos = '{position}'",
              db.change_master_sql(twin, roles.primary, repl), "START SLAVE")
    roles.replicas = [r for r in roles.replicas if r != name] + [name]
    roles.fenced = [r for r in roles.fenced if r != name]
    roles.lost = [r for r in roles.lost if r != name]
    _save(twin, roles)
    caught_up = wait_caught_up(twin, name, timeout=timeout)
    return {"member": name, "primary": roles.primary, "how": how,
            "diverged": {"gtids": {str(d): f"{d}-?-{a}..{b}" for d, (a, b) in diverged.items()},
                         "transactions": sum(b - a + 1 for a, b in diverged.values())},
            "reseed": seeded, "caught_up_s": caught_up, "seconds": round(time.monotonic() - started, 3)}


def wait_caught_up(twin, name: str, *, timeout: float = CATCH_UP_TIMEOUT) -> float:
    """Wait until replica ``name`` replicates (both threads) and has applied everything the primary
    had logged when the wait began; a GamedayError naming its replication error when it stops."""
    started = time.monotonic()
    deadline = Deadline(timeout)
    roles = db_roles.load(twin)
    with connect(twin, roles.primary) as pconn:
        target_pos = _one(pconn, "SELECT @@gtid_binlog_pos")

    def replicating():
        state = member_state(twin, name)
        if state.get("answers") and "No" in (state["io"], state["sql"]) and state["last_error"]:
            raise GamedayError(f"{name} stopped replicating from {roles.primary}: {state['last_error']}")
        return state.get("replicating")
    wait_until(replicating, timeout=max(1.0, deadline.remaining()), what=f"{name} to replicate from {roles.primary}")
    if target_pos:
        with connect(twin, name) as conn:
            _gtid_wait(conn, target_pos, max(1.0, deadline.remaining()), what=f"{name} catching up")
    return round(time.monotonic() - started, 3)


def set_mode(twin, mode: str) -> dict[str, Any]:
    """Switch the replication mode at run time (and for every later start): the members running now
    get it at once, replicas reconnect so that the primary sees them as semi-synchronous."""
    db_roles.check_mode(mode)
    roles = db_roles.load(twin)
    roles.mode = mode
    _save(twin, roles)
    applied = []
    for name in db.MEMBERS:
        try:
            conn = connect(twin, name, timeout=2)
        except GamedayError:
            continue  # it reads the mode from its init file when it starts
        with conn:
            _exec(conn, *[s for s in db_roles.mode_sql(mode).splitlines() if s])
            if name in roles.replicas and _slave_status(conn):
                _exec(conn, "STOP SLAVE IO_THREAD", "START SLAVE IO_THREAD")
        applied.append(name)
    return {"mode": mode, "applied": applied}
