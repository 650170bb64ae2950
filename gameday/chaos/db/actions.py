"""Database faults: kill the server; lose the primary (the db playbook fails over to the replica);
take the scheduled backup; destroy content as a bad deploy does (rows deleted or the table
dropped), restored by the db playbook (point-in-time restore around it)."""

import re
import time
from typing import Any, Dict

import pymysql

from ... import db_grants
from ...content import DRILL_HOWS, DRILL_PRIVILEGES, ContentSchema
from ...errors import GamedayError, UsageError
from ...db_figures import content_figures, range_figures
from .. import caps, ledger
from ..context import activity, ignored, target
from ..lock import lock_for
from .failover import FAILOVER_MILESTONES
from .restore import MILESTONES, milestones

__all__ = ["kill_database", "lose_primary", "recover_primary", "switch_primary_back", "take_backup", "destroy_content",
           "restore_content"]

_TABLE = re.compile(r"[A-Za-z0-9_]+")
UNKNOWN_SYSTEM_VARIABLE = 1193  # ER_UNKNOWN_SYSTEM_VARIABLE: MySQL has no @@last_gtid


@activity
def kill_database(dry_run: bool = False, configuration: Dict[str, Any] = None,
                  secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """Kill the database server abruptly (SIGKILL / pod delete); it restarts and recovers its log.
    With a replica, the primary only (it restarts as the primary). Refused while it is already down
    (not ready, held, or stopped by any run)."""
    tgt = target(configuration, lock=not dry_run)
    roles = tgt.db_roles()
    nodes = [n for n in caps.up(tgt, "db") if roles is None or n.name == roles["primary"]]  # the primary only
    if not nodes:
        raise UsageError(f"no database server is up; already down: {caps.describe(caps.down(tgt, 'db'))}; "
                         "nothing was touched", hint="wait until it is back")
    caps.check(tgt, "db", [n.name for n in nodes])
    if dry_run:
        return {"target": tgt.name, "layer": "db", "would_touch": [n.name for n in nodes]}
    fault_at = time.time()
    for node in nodes:
        tgt.kill(node)
    return {"target": tgt.name, "layer": "db", "touched": [n.name for n in nodes], "fault_at": fault_at,
            "how": "killed (SIGKILL / pod delete, grace 0)"}


@activity
def lose_primary(dry_run: bool = False, configuration: Dict[str, Any] = None,
                 secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """The database's primary server is lost: killed and kept down (nothing restarts it), as when
    its machine dies. The undo, recorded first, is the db playbook applied (:func:`recover_primary`,
    ``gameday playbook db --apply`` or ``gameday cleanup``): promote the replica, repoint the site's
    one database endpoint, rebuild the old primary as the new replica. Refused before anything is
    touched on a target without a replica to fail over to. On Cloud SQL (``kubernetes.db.cloud_sql``)
    the fault is Google's own: a manual failover to the standby (``failover: ha``), or the primary
    stopped for its replica to be promoted (``failover: replica``)::

        provider: {type: python, module: gameday.chaos.db.actions, func: lose_primary}

    Returns ``{"target", "layer", "touched", "fault_at", "mode" ("async"|"semisync"),
    "semisync_active", "gtid"}`` (the primary's GTID position just before)."""
    tgt = target(configuration, lock=not dry_run)
    roles = tgt.db_roles()
    if roles is None:
        raise GamedayError(f"{tgt.name}: the database failover drill needs a primary with a replica (or a standby) to "
                           f"fail over to, and this {tgt.env.kind} target's database has none; nothing was touched",
                           hint="on Kubernetes, name the Cloud SQL instance in kubernetes.db.cloud_sql (failover: ha "
                                "or replica); on the twin, the replica comes with the database")
    primary = roles["primary"]
    up = [n.name for n in caps.up(tgt, "db")]
    standby = [r for r in roles["replicas"] if r in up and r not in roles["lost"]]
    if primary not in up or not standby:
        raise UsageError(f"the database primary {primary} and a replica must be up to lose the primary (up: "
                         f"{', '.join(up) or 'none'}; replicas {', '.join(roles['replicas']) or 'none'}); nothing was touched",
                         hint="wait until they are back, or gameday playbook db --apply")
    caps.check(tgt, "db", [primary])
    if dry_run:
        return {"target": tgt.name, "layer": "db", "would_touch": [primary]}
    with ledger.pending_undo(tgt.env, "recover_db_primary", {"member": primary},
                             reason=f"the database primary {primary} was lost"):
        fault_at = time.time()
        lost = tgt.lose_db_primary()
    return {"target": tgt.name, "layer": "db", "touched": [lost["member"]], "fault_at": fault_at,
            "mode": lost["mode"], "semisync_active": lost["semisync_active"], "gtid": lost["gtid"],
            "how": lost.get("how", "killed and kept down (SIGKILL, held)")}


@activity
def recover_primary(configuration: Dict[str, Any] = None, secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """Undo of :func:`lose_primary` (method step and rollback): for every recorded loss, the db
    playbook applied. Returns ``{"target", "layer", "recovered": [{"outcome", "findings", "steps":
    {name: {"status", "seconds", "did", "ended_at"}}, "promotion", "rebuild", "after_fault_s"}]}``
    (``after_fault_s``: seconds from the fault to each milestone of ``milestones``)."""
    tgt = target(configuration)
    recovered = []
    for record in ledger.matching(tgt.env, "recover_db_primary"):
        result = ledger.run_record(record)["result"]
        result["after_fault_s"] = milestones(result.get("steps", {}), float(record["created_at"]),
                                             FAILOVER_MILESTONES)
        recovered.append(result)
    return {"target": tgt.name, "layer": "db", "recovered": recovered, "milestones": list(FAILOVER_MILESTONES)}


@activity
def switch_primary_back(member: str = "db-1", configuration: Dict[str, Any] = None,
                        secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """Rollback of the failover drill, after :func:`recover_primary`: a planned switchover back to
    ``member`` (the primary the drill started from), so that every game day starts from the same roles
    and the point-in-time restore drill (``member``'s backups and binary log) can follow this one::

        provider: {type: python, module: gameday.chaos.db.actions, func: switch_primary_back}

    The current primary is fenced, ``member`` applies everything it had, takes the endpoint, and the
    old primary is rebuilt as its replica (``Target.promote_db_replica`` then ``rebuild_db_replica``):
    writes pause for about a second, nothing acknowledged is lost. Nothing is done when ``member`` is
    the primary already, the database has no replicas, or ``member`` is none of its members (Cloud
    SQL's are ``<instance>@<zone>``: a failover back would be a second outage; its primary stays).
    Returns ``{"target", "layer", "switched", "primary", "promotion"?, "rebuild"?, "why"?}``."""
    tgt = target(configuration)
    roles = tgt.db_roles()
    if roles is None or roles["primary"] == member:
        return {"target": tgt.name, "layer": "db", "switched": False, "primary": roles and roles["primary"]}
    known = [roles["primary"], *roles["replicas"], *roles["fenced"], *roles["lost"]]
    if member not in known:  # e.g. db-1 on Cloud SQL, whose members are <instance>@<zone>: its primary stays put
        return {"target": tgt.name, "layer": "db", "switched": False, "primary": roles["primary"],
                "why": f"{member} is not a member of this database ({', '.join(dict.fromkeys(known))}): "
                       "nothing to switch back to"}
    promotion = tgt.promote_db_replica(member)
    rebuild = tgt.rebuild_db_replica(promotion["old_primary"])
    return {"target": tgt.name, "layer": "db", "switched": True, "primary": member, "promotion": promotion,
            "rebuild": rebuild}


@activity
def take_backup(configuration: Dict[str, Any] = None, secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """Take a full database backup now, as the platform's schedule does (``Target.take_db_backup``):
    the backup a point-in-time restore starts from::

        provider: {type: python, module: gameday.chaos.db.actions, func: take_backup}

    Returns ``{"target", "id", "at", "kind", "binlog", "tables", "seconds"}``."""
    tgt = target(configuration, lock=False)
    backup = tgt.take_db_backup()
    return {"target": tgt.name, **{k: backup.get(k) for k in ("id", "at", "kind", "binlog", "tables", "seconds")}}


def _sleep_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.time()))


def _next_second() -> int:
    """Sleep to the next whole second (at most 1 s) and return it."""
    second = int(time.time()) + 1
    _sleep_until(second)
    return second


def _last_gtid(cur) -> Any:
    """The GTID of the session's last transaction (MariaDB's ``@@last_gtid``), or None where the server
    has no such variable (MySQL, as Cloud SQL runs it)."""
    try:
        cur.execute("SELECT @@last_gtid")
    except pymysql.MySQLError as err:
        if err.args and err.args[0] == UNKNOWN_SYSTEM_VARIABLE:
            return None
        raise
    return str(cur.fetchone()[0])


def _check_arguments(table: str | None, how: str, first_id, last_id) -> None:
    """Every problem of the arguments that needs no target, at once (a UsageError)."""
    problems = []
    if table is not None and not _TABLE.fullmatch(str(table)):
        problems.append(f"table must be a table name (letters, digits, _), not {table!r}")
    if how not in DRILL_HOWS:
        problems.append(f"how must be 'delete' or 'drop', not {how!r}")
    for name, value in (("first_id", first_id), ("last_id", last_id)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            problems.append(f"{name} must be a positive integer, not {value!r}")
    if not problems and first_id is not None and last_id is not None and first_id > last_id:
        problems.append(f"first_id {first_id} is above last_id {last_id}")
    if problems:
        raise UsageError("; ".join(problems) + "; nothing was touched",
                         hint="e.g. {how: delete, first_id: 1001, last_id: 2000}")
    if how == "drop":
        ignored(first_id=(first_id, "how: delete"), last_id=(last_id, "how: delete"))


def _content_table(tgt, table: str | None) -> ContentSchema:
    """The target's content schema, when ``table`` (if given) is its base table: the db playbook
    finds content lost in that table only, so its undo could restore nothing else."""
    schema = tgt.content_schema()
    if table is not None and table != schema.base_table:
        raise UsageError(f"table must be {schema.base_table!r} (the table the db playbook checks and restores), "
                         f"not {table!r}; nothing was touched",
                         hint=f"e.g. {{table: {schema.base_table}, how: delete, first_id: 1001, last_id: 2000}}")
    return schema


def _check_privilege(cur, how: str, database: str, table: str) -> None:
    """A UsageError, before the undo record and the fault, when the session's own grants show its
    user cannot run the statement (``DROP`` for ``how: drop``, ``DELETE`` for ``how: delete``): the
    statement would fail after the record, whose undo would then restore nothing useful. Grants
    that cannot say (:func:`gameday.db_grants.holds`: None) leave the last word to the server."""
    privilege = DRILL_PRIVILEGES[how]
    held, user = db_grants.session_holds(cur, privilege, database, table)
    if held is False:
        raise UsageError(f"the database user {user} lacks the {privilege} privilege on {database}.{table}, so the "
                         f"bad deploy's {privilege} would fail after its undo was recorded; nothing was touched",
                         hint=f"grant it for the drill (GRANT {privilege} ON `{database}`.`{table}` TO {user}), or "
                              f"run the drill as a user that holds it"
                              + (", or use how: delete" if how == "drop" else ""))


@activity
def destroy_content(table: str = None, how: str = "delete", first_id: int = None, last_id: int = None,
                    dry_run: bool = False, configuration: Dict[str, Any] = None,
                    secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """A bad deploy destroys content, as the site's own database user: ``how: delete`` deletes the
    rows of ``table`` with ids ``first_id``..``last_id`` (either bound may be left out; both out:
    every row; on WordPress only the content post types), ``how: drop`` drops the table. ``table``
    is the base table of the target's content schema (``Target.content_schema()``: ``articles``, or
    ``wp_posts`` on WordPress); left out, that table. The undo, recorded first, is the db playbook applied
    (:func:`restore_content`, ``gameday playbook db --apply`` or ``gameday cleanup``): a
    point-in-time restore to the moment before the statement, replaying what came after except it.
    Needs a backup to restore from (:func:`take_backup`); refused before anything is touched on a
    target that cannot restore it (Kubernetes: only where the database is Cloud SQL with a
    ``restore_instance``), and before the undo record when the database user's own grants (``SHOW
    GRANTS``) lack the statement's privilege (``DROP``, ``DELETE``). On Cloud SQL the undo record
    also holds the moment and the figures then (``before``: the table's, and the destroyed range's
    under ``range``): with the range row-locked, the moment is the middle of the next whole second
    and the statement runs from the second after (the locks held at most about 2 s), so binary-log
    seconds cannot put the fault before the moment.
    The playbook clones the instance as it was then and queries the clone's destroyed range against
    the record (Cloud SQL replays nothing after the moment)::

        provider: {type: python, module: gameday.chaos.db.actions, func: destroy_content,
                   arguments: {table: articles, how: delete, first_id: 1001, last_id: 2000}}

    Returns ``{"target", "layer", "table", "how", "statement", "fault_at", "gtid", "backup",
    "destroyed": {"rows", "min_id", "max_id", "sha256"}}`` (sha256 over ``id:version`` lines)."""
    _check_arguments(table, how, first_id, last_id)
    tgt = target(configuration, lock=False)
    schema = _content_table(tgt, table)
    table = schema.base_table
    check = getattr(tgt, "check_db_restore_drill", None)
    if check is None:
        raise GamedayError(f"{tgt.name}: the backup and point-in-time restore drill is not built for targets of kind "
                           f"{tgt.env.kind!r} (restoring around one statement needs the database's change log); "
                           "nothing was touched")
    drill = check() or {}  # Cloud SQL: {"restore": "clone"}: the table's figures go into the undo record
    statement = schema.destroy_sql(how, first_id, last_id)
    if dry_run:  # the guard's pre-flight, before the method's own backup is taken
        return {"target": tgt.name, "layer": "db", "would_touch": [table], "statement": statement}
    backup = tgt.last_db_backup()
    if backup is None:
        raise UsageError(f"{tgt.name}: there is no database backup to restore from; nothing was touched",
                         hint="take one first: the take_backup action (gameday.chaos.db.actions)")
    lock_for(tgt.env).acquire(purpose="chaos experiment")
    host, port = tgt.db_address()
    database = tgt.db_credentials()[2]
    try:
        conn = tgt.db_connect(timeout=5, read_timeout=60, write_timeout=60, autocommit=False)
    except (pymysql.MySQLError, OSError) as err:
        raise GamedayError(f"the database {host}:{port} refused a connection: {err}; nothing was touched") from None
    with conn, conn.cursor() as cur:
        _check_privilege(cur, how, database, table)
        try:
            cur.execute(schema.lock_range_sql(first_id, last_id))
            rows = cur.fetchall()
        except pymysql.MySQLError as err:
            conn.rollback()
            raise UsageError(f"cannot read {schema.label}: {err}; nothing was touched") from None
        if not rows:
            conn.rollback()
            raise UsageError(f"{schema.label} has no content with ids {first_id or 'any'} to {last_id or 'any'}; "
                             "nothing to destroy, nothing was touched")
        destroyed = range_figures(rows)  # {"rows", "min_id", "max_id", "sha256"}
        undo: Dict[str, Any] = {"table": table}
        if drill.get("restore") == "clone":  # a clone at the moment is compared with the table as it was then
            # The row locks keep the destroyed range as read. Binary log times are whole seconds: the
            # moment is the middle of the next whole second B, the statement runs from B + 1 on, so the
            # moment and the fault fall in different seconds under any rounding (the locks held <= ~2 s).
            second = _next_second()
            try:
                figures = content_figures(cur, schema)
            except pymysql.MySQLError as err:
                conn.rollback()
                raise UsageError(f"cannot read {table}'s figures before the fault: {err}; nothing was touched") from None
            undo["before"] = {**figures, "at": second + 0.5, "statement": statement,
                              "range": {"first_id": first_id, "last_id": last_id, **destroyed}}
            _sleep_until(second + 1)
        with ledger.pending_undo(tgt.env, "restore_db_content", undo,
                                 reason=f"a bad deploy destroyed content ({statement})"):
            fault_at = time.time()
            if how == "drop":
                conn.rollback()  # the row locks go; DROP commits on its own
            cur.execute(statement)
            conn.commit()
            gtid = _last_gtid(cur)
    return {"target": tgt.name, "layer": "db", "table": table, "how": how, "statement": statement, "fault_at": fault_at,
            "gtid": gtid, "backup": backup["id"], "destroyed": destroyed}


@activity
def restore_content(configuration: Dict[str, Any] = None, secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """Undo of :func:`destroy_content` (method step and rollback): for every recorded destruction,
    the db playbook applied. Returns ``{"target", "layer", "restored": [{"outcome", "steps": {name:
    {"status", "seconds", "did", "detail", "ended_at"}}, "restore": {"backup", "incident", "skipped",
    "tables", "seconds": {"load_backup", "replay", "swap", "total"}}, "after_fault_s": {...}}]}``
    (``after_fault_s``: seconds from the fault to the milestones in :data:`MILESTONES`); a playbook
    that fails is an ActivityFailed naming the step (the record stays for ``gameday cleanup``)."""
    tgt = target(configuration)
    restored = []
    for record in ledger.matching(tgt.env, "restore_db_content"):
        result = ledger.run_record(record)["result"]
        result["after_fault_s"] = milestones(result.get("steps", {}), float(record["created_at"]))
        restored.append(result)
    return {"target": tgt.name, "layer": "db", "restored": restored, "milestones": list(MILESTONES)}
