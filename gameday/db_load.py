"""The database's load, from its own counters: ``SHOW GLOBAL STATUS`` read twice, a rate per second.

What the object-cache-lost drill measures (the queries WordPress sends to the database once its cache
is gone)::

    before = read_counters(target.db_connect, ("Questions", "Com_select"), where="db.sps.internal:3306")
    ...
    after = read_counters(...)
    rates(before, after)           # {"seconds": 5.0, "Questions": 412.6, "Com_select": 301.2}  (per second)
    spike(baseline, during)        # {"Questions": 8.4, ...}: during / baseline, per counter

Reached through the target (:meth:`gameday.targets.base.Target.db_counters`), never by address alone.
The counters are the server's, cumulative since it started: a restart in between makes a rate
meaningless, and :func:`rates` says so (``restarted``) rather than report a negative load.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import pymysql

from .errors import GamedayError

TIMEOUT = 5.0


def read_counters(connect: Callable[..., Any], names: tuple[str, ...], *, where: str) -> dict[str, Any]:
    """``{"at": time.time(), name: int, ...}`` for each of ``names`` (``SHOW GLOBAL STATUS``), read
    through ``connect`` (``Target.db_connect``: the site's user, over TLS as the target says) from the
    database ``where`` names."""
    if not names or not all(isinstance(n, str) and n.replace("_", "").isalnum() for n in names):
        raise GamedayError(f"counter names must be SHOW GLOBAL STATUS variable names, not {names!r}")
    try:
        conn = connect(timeout=TIMEOUT)
    except (pymysql.MySQLError, OSError) as err:
        raise GamedayError(f"database {where} refused a connection: {type(err).__name__}",
                           hint="is the database up? `gameday playbook db` diagnoses it") from None
    try:
        with conn.cursor() as cur:
            placeholders = ", ".join(["%s"] * len(names))
            cur.execute(f"SHOW GLOBAL STATUS WHERE Variable_name IN ({placeholders})", tuple(names))
            got = {str(k): int(v) for k, v in cur.fetchall()}
    except (pymysql.MySQLError, OSError, ValueError) as err:
        raise GamedayError(f"database {where}: SHOW GLOBAL STATUS failed: {type(err).__name__}") from None
    finally:
        conn.close()
    at = time.time()
    missing = [n for n in names if n not in got]
    if missing:
        raise GamedayError(f"database {where} has no status counter {', '.join(missing)}")
    return {"at": at, **{n: got[n] for n in names}}


def rates(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Per-second rates between two readings of the same counters: ``{"seconds", name: rate, ...}``;
    ``{"seconds", "restarted": True}`` when a counter went back (the server restarted)."""
    seconds = float(after["at"]) - float(before["at"])
    if seconds <= 0:
        raise GamedayError(f"the second reading is not later than the first ({seconds:.3f} s)")
    names = [k for k in before if k != "at" and k in after]
    if any(after[n] < before[n] for n in names):
        return {"seconds": round(seconds, 3), "restarted": True}
    return {"seconds": round(seconds, 3), **{n: round((after[n] - before[n]) / seconds, 2) for n in names}}


def spike(baseline: dict[str, Any], during: dict[str, Any]) -> dict[str, float | None]:
    """``during / baseline`` per counter present in both rate dicts (None where the baseline was 0)."""
    out: dict[str, float | None] = {}
    for name, value in during.items():
        if name in ("seconds", "restarted") or name not in baseline:
            continue
        base = float(baseline[name])
        out[name] = round(float(value) / base, 2) if base > 0 else None
    return out
