"""Database content destroyed (a bad deploy dropped the articles table or deleted its rows): find the
destructive transaction in the change log, restore to the moment before it and replay what came after
except it, then verify the table against the last backup's row count and id range.

Its findings and steps are part of the db playbook (``db.PART``)::

    content_findings(ctx)   # [Finding("db.content-lost", "articles has 1134 rows; 2134 at backup db-...", ...)]

The diagnosis compares the live table with the newest backup's figures (``Target.last_db_backup``):
the table missing, or fewer than :data:`LOSS_RATIO` of the rows it had then, is content lost. The
restore asks the target where the destruction is (``find_db_incident``: on the twin, the current primary's
binary log read from the backup's GTID position) and restores around it (``Target.restore_db_to``); the target
verifies the swapped table's ``CHECKSUM TABLE`` against its point-in-time copy before committing.
"""

from __future__ import annotations

import time
from typing import Any

from ...errors import GamedayError
from ..context import Context, DatabaseDown
from ..engine import Check, Finding

CODE = "db.content-lost"
TABLE = "articles"
LOSS_RATIO = 0.9  # fewer rows than this share of the backup's count: content was destroyed, not edited away
MIN_ROWS = 10  # a backup of fewer rows proves nothing about a loss

# The last restore each environment's playbook did in this process, for the drill's report (its
# phases): {environment name: what Target.restore_db_to returned}. Read by gameday.chaos.db.
LAST_RESTORE: dict[str, dict[str, Any]] = {}


def _backup(ctx: Context) -> dict[str, Any] | None:
    try:
        return ctx.target.last_db_backup()
    except GamedayError:
        return None  # a target that cannot tell: the loss is judged by the table alone


def _rows(ctx: Context) -> int | None:
    """Rows of the table now, or None when it does not exist; DatabaseDown when the server is down."""
    try:
        return int(ctx.db_query(f"SELECT COUNT(*) FROM {TABLE}", timeout=10)[0][0])
    except DatabaseDown as err:
        if "(1146)" in str(err):  # ER_NO_SUCH_TABLE
            return None
        raise


def content_findings(ctx: Context) -> list[Finding]:
    """``db.content-lost`` when the articles table is missing, or holds fewer than
    :data:`LOSS_RATIO` of the rows the newest backup saw. Nothing when the database does not answer
    (the member findings say why)."""
    try:
        rows = _rows(ctx)
    except DatabaseDown:
        return []
    backup = _backup(ctx)
    known = ((backup or {}).get("tables") or {}).get(TABLE, {}).get("rows")
    data = {"table": TABLE, "rows": rows, "rows_at_backup": known, "backup": (backup or {}).get("id")}
    if rows is None:
        return [Finding(CODE, f"table {TABLE} does not exist" + (f" ({known} rows at backup {backup['id']})" if known else ""),
                        data)]
    if known is not None and known >= MIN_ROWS and rows < LOSS_RATIO * known:
        return [Finding(CODE, f"{TABLE} has {rows} rows; {known} at backup {backup['id']}: content was destroyed", data)]
    return []


def restore_content(ctx: Context) -> str:
    """Find the transaction that destroyed the table since the newest backup, and restore the
    database to the moment before it, replaying everything after except it."""
    backup = ctx.target.last_db_backup()
    if backup is None:
        raise GamedayError("there is no database backup to restore from", hint="take backups on a schedule")
    find = getattr(ctx.target, "find_db_incident", None)
    if find is None:
        raise GamedayError(f"{ctx.target.name}: finding the destructive statement in the change log is not built for "
                           f"targets of kind {ctx.env.kind!r}",
                           hint="restore to a point in time by hand (the moment before the incident)")
    incident = find(TABLE, since=float(backup["at"]))
    if incident is None:
        raise GamedayError(f"no transaction destroying {TABLE} in the change log since backup {backup['id']}",
                           hint="the content may have been lost another way: restore the backup by hand")
    result = ctx.target.restore_db_to(float(incident["at"]), skip=[incident["gtid"]])
    result["incident"] = incident
    LAST_RESTORE[ctx.env.name] = result
    table = result["tables"].get(TABLE, {})
    when = time.strftime("%H:%M:%S", time.gmtime(float(incident["at"])))
    phases = ", ".join(f"{k} {v} s" for k, v in result["seconds"].items())
    return (f"restored from backup {result['backup']['id']} to {when} UTC, the moment before {incident['what']} "
            f"(GTID {incident['gtid']} at {incident['file']}:{incident['start']}), and replayed the log to "
            f"{result['replayed_to']} except it: {TABLE} {table.get('rows')} rows, ids {table.get('min_id')}-"
            f"{table.get('max_id')}, CHECKSUM TABLE {table.get('checksum')} equal to its point-in-time copy ({phases})")


def content_restored(ctx: Context) -> Check:
    """The loss the diagnosis saw is gone: the table exists and holds at least the share of the
    backup's rows it should."""
    found = content_findings(ctx)
    if found:
        return Check(False, found[0].message)
    return Check(True, f"{TABLE} holds {_rows(ctx)} rows")


def matches_backup(ctx: Context) -> Check:
    """Per-table row count and id range against the newest backup: every id the backup had is in the
    live table (the site never deletes articles; a missing one is content still lost)."""
    try:
        rows = _rows(ctx)
    except DatabaseDown as err:
        return Check(False, str(err))
    if rows is None:
        return Check(False, f"table {TABLE} does not exist")
    stats = ((_backup(ctx) or {}).get("tables") or {}).get(TABLE)
    if not stats or stats.get("max_id") is None:
        return Check(True, f"{TABLE}: {rows} rows (no backup figures to compare with)")
    lo, hi, want = stats["min_id"], stats["max_id"], stats["rows"]
    have, have_lo, have_hi = ctx.db_query(f"SELECT COUNT(*), MIN(id), MAX(id) FROM {TABLE} WHERE id BETWEEN %s AND %s",
                                          (lo, hi), timeout=10)[0]
    ok = int(have) >= int(want) and have_lo == lo and have_hi == hi
    return Check(ok, f"{TABLE}: {have} rows with ids {lo}-{hi} (the backup had {want}, ids {lo}-{hi}; now "
                     f"{have_lo}-{have_hi}), {rows} rows in all")
