"""Database probes."""

import re
import socket
import time
from typing import Any, Dict

from ...deadline import wait_until
import pymysql

from ...errors import GamedayError, UsageError
from ..context import activity, target

__all__ = ["database_reachable", "wait_for_database", "table_rows", "replication_healthy", "replication_status"]


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0) as sock:
            sock.settimeout(1.0)
            return len(sock.recv(1)) == 1  # MariaDB greets first: a handshake means it serves
    except OSError:
        return False


@activity
def database_reachable(configuration: Dict[str, Any] = None, secrets: Dict[str, Any] = None) -> bool:
    """True when the database accepts a connection and sends its handshake."""
    return _accepts(*target(configuration, lock=False).db_address())


@activity
def wait_for_database(timeout: float = 120, configuration: Dict[str, Any] = None,
                      secrets: Dict[str, Any] = None) -> float:
    """Block until the database serves again; returns seconds waited."""
    started = time.monotonic()
    address = target(configuration, lock=False).db_address()
    wait_until(lambda: _accepts(*address), timeout=timeout, what="the database to accept connections")
    return round(time.monotonic() - started, 3)


@activity
def table_rows(table: str = None, configuration: Dict[str, Any] = None,
               secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """How many rows ``table`` of the site's database holds, as the site's user; left out, the base
    table of the target's content schema (``Target.content_schema()``: ``articles``, or ``wp_posts``)::

        provider: {type: python, module: gameday.chaos.db.probes, func: table_rows, arguments: {table: articles}}

    Returns ``{"table", "exists", "rows", "min_id", "max_id"}`` (rows None when it does not exist)."""
    if table is not None and not re.fullmatch(r"[A-Za-z0-9_]+", str(table)):
        raise UsageError(f"table must be a table name (letters, digits, _), not {table!r}")
    tgt = target(configuration, lock=False)
    schema = tgt.content_schema()
    table = schema.base_table if table is None else table
    sql = schema.base_stats_sql() if table == schema.base_table else f"SELECT COUNT(*), MIN(id), MAX(id) FROM {table}"
    host, port = tgt.db_address()
    try:
        conn = tgt.db_connect(timeout=5, read_timeout=30, write_timeout=30, autocommit=False)
        with conn, conn.cursor() as cur:
            cur.execute(sql)
            rows, lo, hi = cur.fetchone()
    except pymysql.MySQLError as err:
        if err.args and err.args[0] == 1146:  # no such table
            return {"table": table, "exists": False, "rows": None, "min_id": None, "max_id": None}
        raise GamedayError(f"counting {table} failed: {err}") from None
    except OSError as err:
        raise GamedayError(f"the database {host}:{port} does not answer: {err}") from None
    return {"table": table, "exists": True, "rows": int(rows), "min_id": lo, "max_id": hi}


@activity
def replication_status(configuration: Dict[str, Any] = None, secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """The database's roles and each server's replication state (``Target.db_replication``)::

        provider: {type: python, module: gameday.chaos.db.probes, func: replication_status}

    Returns ``{"roles": {"primary", "replicas", "fenced", "lost", "mode"}, "endpoint", "members": {name:
    {"answers", "read_only", "replicating", "gtid_current_pos", "semisync": {...}, ...}}}``, or
    ``{"roles": None}`` for a database without replicas."""
    tgt = target(configuration, lock=False)
    if tgt.db_roles() is None:
        return {"roles": None}
    return tgt.db_replication()


@activity
def replication_healthy(configuration: Dict[str, Any] = None, secrets: Dict[str, Any] = None) -> bool:
    """True when the primary takes writes and every replica replicates from it (True for a database
    without replicas); with semi-synchronous replication, when the primary also waits for a replica."""
    status = replication_status(configuration=configuration, secrets=secrets)
    roles = status["roles"]
    if roles is None:
        return True
    members = status["members"]
    primary = members.get(roles["primary"], {})
    ok = primary.get("answers") and not primary.get("read_only") and not roles["fenced"] and not roles["lost"]
    ok = ok and all(members.get(r, {}).get("replicating") for r in roles["replicas"])
    if roles["mode"] == "semisync":
        ok = ok and primary.get("semisync", {}).get("primary") and primary["semisync"]["clients"] >= 1
    return bool(ok)
