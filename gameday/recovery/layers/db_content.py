"""Database content destroyed (a bad deploy dropped the content table or deleted its rows): find the
destructive transaction in the change log, restore to the moment before it and replay what came after
except it, then verify the table against the last backup's row count and id range. The table is the
base table of the target's content schema (``Target.content_schema()``, :mod:`gameday.content`:
``articles`` for the Python site, ``wp_posts`` for WordPress).

Its findings and steps are part of the db playbook (``db.PART``)::

    content_findings(ctx)   # [Finding("db.content-lost", "articles has 1134 rows; 2134 at backup db-...", ...)]

The diagnosis compares the live table with the newest backup's figures (``Target.last_db_backup``):
the table missing, or fewer than :data:`LOSS_RATIO` of the rows it had then, is content lost. The
restore asks the target where the destruction is (``find_db_incident``: on the twin, the current primary's
binary log read from the backup's GTID position) and restores around it (``Target.restore_db_to``); the target
verifies the swapped table's ``CHECKSUM TABLE`` against its point-in-time copy before committing.

On Cloud SQL the change log is not read from here: the incident is the one the drill's undo record
names (:data:`RECORDED`: the moment just before the statement and the table's figures then, put
there by ``gameday.chaos.db.restore``). The restore clones the instance as it was at that moment
(``Target.restore_db_to``; after a crash or a failed check, the clone an earlier undo started is
waited for or taken as it is), then queries the clone as the site's user (``Target.verify_db_clone``):
the destroyed range's row count, id range and sha256 of ``id:version`` must equal what the fault
destroyed (row-locked from its reading to the fault); the whole table's figures against those read
just before the moment are reported, not judged (writes by others around the moment); what the live
database holds and the clone lacks (written after the moment: Cloud SQL replays nothing after it) is
named as the RPO. Pointing the site at the clone is the operator's step:
the loss is then settled as far as gameday goes (the diagnosis stops reporting it in this run).
"""

from __future__ import annotations

import time
from typing import Any

from ...errors import GamedayError
from ..context import Context, DatabaseDown
from ..engine import Check, Finding

CODE = "db.content-lost"
LOSS_RATIO = 0.9  # fewer rows than this share of the backup's count: content was destroyed, not edited away
MIN_ROWS = 10  # a backup of fewer rows proves nothing about a loss

# The last restore each environment's playbook did in this process, for the drill's report (its
# phases): {environment name: what Target.restore_db_to returned}. Read by gameday.chaos.db.
LAST_RESTORE: dict[str, dict[str, Any]] = {}
# The incident a drill's undo record names where the target cannot find it in a change log (Cloud SQL):
# {environment name: {"table", "at", "before": {"rows", "min_id", "max_id", "sha256", "checksum", "at"},
# "what", "restored_into"?}}. Set around one playbook run by gameday.chaos.db.restore.
RECORDED: dict[str, dict[str, Any]] = {}


def _table(ctx: Context) -> str:
    """The content's base table on this target."""
    return ctx.target.content_schema().base_table


def _recorded(ctx: Context) -> dict[str, Any] | None:
    found = RECORDED.get(ctx.env.name)
    return found if found and found.get("table") == _table(ctx) else None


def _backup(ctx: Context) -> dict[str, Any] | None:
    try:
        return ctx.target.last_db_backup()
    except GamedayError:
        return None  # a target that cannot tell: the loss is judged by the table alone


def _rows(ctx: Context) -> int | None:
    """Rows of the table now, or None when it does not exist; DatabaseDown when the server is down."""
    try:
        return int(ctx.db_query(ctx.target.content_schema().base_count_sql(), timeout=10)[0][0])
    except DatabaseDown as err:
        if "(1146)" in str(err):  # ER_NO_SUCH_TABLE
            return None
        raise


def content_findings(ctx: Context) -> list[Finding]:
    """``db.content-lost`` when the content table is missing, or holds fewer than
    :data:`LOSS_RATIO` of the rows the newest backup saw. Nothing when the database does not answer
    (the member findings say why)."""
    table_name = _table(ctx)
    try:
        rows = _rows(ctx)
    except DatabaseDown:
        return []
    recorded = _recorded(ctx)
    if recorded is not None and recorded.get("restored_into"):
        return []  # restored into a verified clone in this run: pointing the site at it is the operator's step
    backup = _backup(ctx)
    known = ((backup or {}).get("tables") or {}).get(table_name, {}).get("rows")
    when = f"at backup {(backup or {}).get('id')}"
    if known is None and recorded is not None:
        known, when = recorded["before"].get("rows"), f"just before {recorded['what']}"
    data = {"table": table_name, "rows": rows, "rows_at_backup": known, "backup": (backup or {}).get("id")}
    if rows is None:
        return [Finding(CODE, f"table {table_name} does not exist" + (f" ({known} rows {when})" if known else ""), data)]
    if known is not None and known >= MIN_ROWS and rows < LOSS_RATIO * known:
        return [Finding(CODE, f"{table_name} has {rows} rows; {known} {when}: content was destroyed", data)]
    return []


def restore_content(ctx: Context) -> str:
    """Find the transaction that destroyed the table since the newest backup, and restore the
    database to the moment before it, replaying everything after except it."""
    table_name = _table(ctx)
    backup = ctx.target.last_db_backup()
    if backup is None:
        raise GamedayError("there is no database backup to restore from", hint="take backups on a schedule")
    recorded = _recorded(ctx)
    if recorded is not None:
        return _restore_clone(ctx, recorded)
    find = getattr(ctx.target, "find_db_incident", None)
    if find is None:
        raise GamedayError(f"{ctx.target.name}: finding the destructive statement in the change log is not built for "
                           f"targets of kind {ctx.env.kind!r}",
                           hint="restore to a point in time by hand (the moment before the incident)")
    incident = find(table_name, since=float(backup["at"]))
    if incident is None:
        raise GamedayError(f"no transaction destroying {table_name} in the change log since backup {backup['id']}",
                           hint="the content may have been lost another way: restore the backup by hand")
    result = ctx.target.restore_db_to(float(incident["at"]), skip=[incident["gtid"]])
    result["incident"] = incident
    LAST_RESTORE[ctx.env.name] = result
    table = result["tables"].get(table_name, {})
    when = time.strftime("%H:%M:%S", time.gmtime(float(incident["at"])))
    phases = ", ".join(f"{k} {v} s" for k, v in result["seconds"].items())
    return (f"restored from backup {result['backup']['id']} to {when} UTC, the moment before {incident['what']} "
            f"(GTID {incident['gtid']} at {incident['file']}:{incident['start']}), and replayed the log to "
            f"{result['replayed_to']} except it: {table_name} {table.get('rows')} rows, ids {table.get('min_id')}-"
            f"{table.get('max_id')}, CHECKSUM TABLE {table.get('checksum')} equal to its point-in-time copy ({phases})")


def _lost_text(verification: dict[str, Any]) -> str:
    parts = [f"{table} {v['rows']} ({v['named']})" for table, v in verification["lost_after"].items() if v["rows"]]
    return "; ".join(parts) or "nothing"


def _restore_clone(ctx: Context, recorded: dict[str, Any]) -> str:
    """Cloud SQL: clone the instance as it was at the recorded moment, then query the clone."""
    table_name = _table(ctx)
    started = time.monotonic()
    result = ctx.target.restore_db_to(float(recorded["at"]))
    cloned_s = time.monotonic() - started
    result["incident"] = {k: recorded[k] for k in ("at", "what", "before")}
    LAST_RESTORE[ctx.env.name] = result
    checked = ctx.target.verify_db_clone(result, recorded["before"])
    result.update(verification=checked, lost_after=checked["lost_after"], rpo_rows=checked["lost_rows"],
                  seconds={"clone": round(cloned_s, 2), "verify": round(time.monotonic() - started - cloned_s, 2),
                           "total": round(time.monotonic() - started, 2)})
    name = result["restored_instance"]
    if not checked["matches"]:
        raise GamedayError(f"the clone {name} ({checked['address']}) does not hold {table_name} as it was just before "
                           f"{recorded['what']}: {'; '.join(checked['mismatches'])}",
                           hint=f"inspect it as the site's user; delete it (gcloud sql instances delete {name}) "
                                "before the next restore into that name")
    recorded["restored_into"] = name
    result["next_step"] = (f"point the site's database host (kubernetes.db.host and the site's own setting) at {name} "
                           f"({checked['address']}), the clone gameday queried; {result['source']} is left as it was, "
                           "holding the writes after the moment (copy them over by hand if they matter)")
    return (f"cloned {result['source']} as it was at {result['point_in_time']}, the moment before "
            f"{recorded['what']}, into {name} ({result['seconds']['clone']} s); queried it as the site's user at "
            f"{checked['address']}: {_held_text(checked, table_name)}. Written after the "
            f"moment and not in the clone (Cloud SQL replays nothing after it; the RPO): {_lost_text(checked)}. "
            f"Next, the operator's step: {result['next_step']}")


def _held_text(checked: dict[str, Any], table_name: str) -> str:
    """What the clone holds: the destroyed range as before (what decides), and the whole table."""
    fig, held = checked["figures"], checked.get("range")
    table = f"{table_name} {fig['rows']} rows, ids {fig['min_id']}-{fig['max_id']}, CHECKSUM TABLE {fig['checksum']}"
    if held is None:
        return f"{table}, sha256 of id:version and CHECKSUM TABLE equal to the figures before the incident"
    differs = checked.get("table_differences") or []
    return (f"the destroyed range holds {held['rows']} rows, ids {held['min_id']}-{held['max_id']}, sha256 of id:version "
            f"equal to the rows the fault destroyed; the whole table: {table}"
            + (f" (differs from its figures read just before the moment, written around it by others: "
               f"{'; '.join(differs)})" if differs else " (as read just before the moment)"))


def _clone_checked(ctx: Context) -> Check | None:
    """On Cloud SQL, after this run's clone: the clone queried again against the figures before."""
    last = LAST_RESTORE.get(ctx.env.name)
    if not last or last.get("kind") != "clone":
        return None
    table_name = _table(ctx)
    again = ctx.target.verify_db_clone(last, last["incident"]["before"])
    if not again["matches"]:
        return Check(False, f"the clone {again['instance']} differs from {table_name} before the incident: "
                            + "; ".join(again["mismatches"]))
    return Check(True, f"the clone {again['instance']} ({again['address']}) holds {table_name} as before the incident: "
                       f"{_held_text(again, table_name)}; the site reads the live instance until the operator points it at the clone")


def content_restored(ctx: Context) -> Check:
    """The loss the diagnosis saw is gone: the table exists and holds at least the share of the
    backup's rows it should. On Cloud SQL: the clone, queried again, holds the table as before."""
    cloned = _clone_checked(ctx)
    if cloned is not None:
        return cloned
    found = content_findings(ctx)
    if found:
        return Check(False, found[0].message)
    return Check(True, f"{_table(ctx)} holds {_rows(ctx)} rows")


def matches_backup(ctx: Context) -> Check:
    """Per-table row count and id range against the newest backup: every id the backup had is in the
    live table (the Python site never deletes articles, WordPress nothing in ``wp_posts`` while
    revisions and cron are off; a missing one is content still lost)."""
    last = LAST_RESTORE.get(ctx.env.name)
    if last and last.get("kind") == "clone":
        return Check(True, f"a Cloud SQL restore leaves the site's database as it is: the clone "
                           f"{last['restored_instance']} was queried in restore-db-content; the operator points the "
                           "site at it")
    schema = ctx.target.content_schema()
    table_name = schema.base_table
    try:
        rows = _rows(ctx)
    except DatabaseDown as err:
        return Check(False, str(err))
    if rows is None:
        return Check(False, f"table {table_name} does not exist")
    stats = ((_backup(ctx) or {}).get("tables") or {}).get(table_name)
    if not stats or stats.get("max_id") is None:
        return Check(True, f"{table_name}: {rows} rows (no backup figures to compare with)")
    lo, hi, want = stats["min_id"], stats["max_id"], stats["rows"]
    have, have_lo, have_hi = ctx.db_query(schema.base_stats_sql(between=True), (lo, hi), timeout=10)[0]
    ok = int(have) >= int(want) and have_lo == lo and have_hi == hi
    return Check(ok, f"{table_name}: {have} rows with ids {lo}-{hi} (the backup had {want}, ids {lo}-{hi}; now "
                     f"{have_lo}-{have_hi}), {rows} rows in all")
