"""The database across regions: a warm standby region's primary replicating from the active region.

A standby twin (its shape names an ``upstream``, :mod:`gameday.sandbox.shape`) keeps its own members
and stable endpoint; its primary (``db-1``) is read-only and replicates from the upstream region's
stable endpoint (:meth:`Twin.db_addr`, so an in-region failover there does not break the link):
asynchronous, GTID (``MASTER_USE_GTID=slave_pos``), with the replication user and password the
upstream has (:func:`share_credentials`). The roles record (:mod:`gameday.sandbox.db_roles`,
``upstream``) and the members' init files keep this across restarts. Every control runs as root over
the members' Unix sockets, in both regions (one machine)::

    share_credentials(standby)        # at prepare: the upstream's database secrets, before any are made
    link(standby)                     # replicating and caught up (re-seeded from a dump when it cannot)
    lag(standby)                      # seconds and transactions behind, GTID positions, threads
    wait_caught_up(standby, 30)
    fence(active)                     # a switchover's first step: the active region's writes stop
    promote(standby, planned=True)    # switchover: upstream fenced, everything applied, then writable
    promote(standby, planned=False)   # failover: upstream gone, the relay log applied, then writable
    fence_on_start(old)               # a lost region comes back read-only (before its members start)
    demote(old, new)                  # failback's first step: the old region a standby of the new one

With asynchronous replication a failover loses what the old region acknowledged but never sent;
:func:`demote` finds those transactions (GTIDs past the point of promotion), reports them and
re-seeds rather than replicate on top of a diverged history.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import time
from typing import Any

from ..deadline import Deadline, wait_until
from ..errors import DeadlineExceeded, GamedayError
from ..gtid import beyond, merge
from . import db_backup_lock, db_roles
from .db_replication import (BACKUP_LOCK_WAIT_S, _exec, _gtid_wait, _one, _slave_status, connect, member_state, rebuild,
                             reseed_member, take_over)
from .members import db
from .shape import Shape, Upstream

CATCH_UP_TIMEOUT = 120.0
START_TIMEOUT = 20.0  # for a replication just (re)started to connect, or to fail naming why


class ReplicationStopped(GamedayError):
    """The standby's replication stopped on an error (history the upstream does not have, binlogs
    purged, a row conflict): :func:`link` re-seeds on this, never on a mere timeout."""


# ---- who replicates from whom -------------------------------------------------------------------
def upstream_twin(standby):
    """The twin ``standby`` replicates from, as its shape says now (read again from its home: the
    ``standby`` object's shape may predate a promotion); a GamedayError when it has none."""
    from .twin import Twin
    up = Shape.load(standby.paths).upstream
    if up is None:
        raise GamedayError(f"twin {standby.name} is not a standby region: its shape names no upstream",
                           hint="regions.up() makes NAME-r2 a standby of NAME; demote() makes an old region one")
    return Twin.create(up.twin, up.net)


def _save_roles(twin, roles: db_roles.Roles) -> None:
    """Record ``roles`` and rewrite every member's init file, so a restarted member keeps its role."""
    db_roles.save(twin, roles)
    for name in db.MEMBERS:
        if (twin.paths.data / name).is_dir():
            db.write_init_file(twin, name)


def _primary_pos(twin) -> str:
    """``twin``'s primary's ``gtid_binlog_pos`` (a GamedayError naming it when it does not answer)."""
    with connect(twin, db_roles.load(twin).primary, timeout=3) as conn:
        return _one(conn, "SELECT @@gtid_binlog_pos") or ""


# ---- credentials ----------------------------------------------------------------------------------
def _shared_files(up, standby) -> list[tuple]:
    """``[(upstream's file, standby's file)]`` that :func:`share_credentials` copies."""
    pairs = [(up.db_env_file, standby.db_env_file), (up.db_replication_env_file, standby.db_replication_env_file)]
    if standby.shape.wordpress:  # their hashes live in the replicated wp_users / usermeta
        from .members import wordpress
        pairs += [(f(up), f(standby)) for f in (wordpress.admin_env_file, wordpress.publisher_env_file)]
    return pairs


def share_credentials(standby) -> list[str]:
    """Copy the upstream's ``db.env`` and ``db-replication.env`` into ``standby``'s secrets (0600 from
    the first byte, moved into place whole; the values are never printed), so its users and
    passwords are the upstream's: its data is a copy of the upstream's, and its primary logs in there
    with the replication user. On a WordPress twin the WordPress ``admin`` password and the
    ``publisher``'s application password (``wordpress-admin.env``, ``wordpress-publisher.env``) too:
    WordPress keeps their hashes in its tables, which the standby receives by replication, so after a
    promotion the canary's and the editors' publishes are accepted there with the same credentials.
    Call it before anything makes the standby's own (topology.prepare does). Returns the names of the
    files it wrote (none when they already match)."""
    up = upstream_twin(standby)
    written = []
    for src, dst in _shared_files(up, standby):
        if not src.exists():
            raise GamedayError(f"the upstream {up.name} has no {src.name} yet: its standby cannot share its passwords",
                               hint=f"bring {up.name} up first (regions.up starts the active region first)")
        text = src.read_text()
        if dst.exists() and dst.read_text() == text:
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_name(f".{dst.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(text)
            os.replace(tmp, dst)
        finally:
            tmp.unlink(missing_ok=True)
        written.append(dst.name)
    return written


# ---- replication state ----------------------------------------------------------------------------
def lag(standby) -> dict[str, Any]:
    """How far the standby's primary is behind its upstream: ``{"member", "upstream", "replicating",
    "caught_up" (replicating, nothing behind), "io", "sql", "seconds_behind", "transactions_behind", "upstream_gtid", "gtid_slave_pos",
    "gtid_io_pos", "last_error"}``. ``upstream_gtid`` and ``transactions_behind`` are None when the
    upstream's primary does not answer (a lost region)."""
    up = upstream_twin(standby)
    member = db_roles.load(standby).primary
    state = member_state(standby, member)
    try:
        up_pos = _primary_pos(up)
    except GamedayError:
        up_pos = None
    slave_pos = state.get("gtid_slave_pos")
    io_pos = None
    if state.get("answers"):
        with connect(standby, member, timeout=2) as conn:
            slave = _slave_status(conn) or {}
        io_pos = slave.get("Gtid_IO_Pos")
        seconds = slave.get("Seconds_Behind_Master")
    else:
        seconds = None
    behind = None if up_pos is None or not state.get("answers") else \
        sum(b - a + 1 for a, b in beyond(up_pos, slave_pos).values())
    return {"member": member, "upstream": f"{up.name} {up.db_addr()}", "answers": bool(state.get("answers")),
            "replicating": bool(state.get("replicating")), "caught_up": bool(state.get("replicating")) and behind == 0,
            "io": state.get("io"), "sql": state.get("sql"),
            "seconds_behind": seconds, "transactions_behind": behind, "upstream_gtid": up_pos,
            "gtid_slave_pos": slave_pos, "gtid_io_pos": io_pos, "last_error": state.get("last_error")}


def _wait_replicating(standby, member: str, timeout: float) -> None:
    """Until both replication threads run; :class:`ReplicationStopped` naming the error when either
    stopped on one, DeadlineExceeded when they keep trying (the upstream unreachable)."""
    def running():
        state = member_state(standby, member)
        if state.get("answers") and "No" in (state["io"], state["sql"]) and state["last_error"]:
            raise ReplicationStopped(f"{standby.name}/{member} stopped replicating from its upstream: "
                                     f"{state['last_error']}")
        return state.get("replicating")
    wait_until(running, timeout=timeout, what=f"{standby.name}/{member} to replicate from its upstream")


def wait_caught_up(standby, timeout: float = CATCH_UP_TIMEOUT) -> float:
    """Wait until the standby's primary replicates and has applied everything its upstream's primary
    had logged when the wait began; returns the seconds waited. :class:`ReplicationStopped` when its
    replication stopped on an error, DeadlineExceeded (naming the lag) when it did not catch up."""
    started = time.monotonic()
    deadline = Deadline(timeout)
    member = db_roles.load(standby).primary
    target = _primary_pos(upstream_twin(standby))
    _wait_replicating(standby, member, max(1.0, deadline.remaining()))
    if target:
        with connect(standby, member) as conn:
            try:
                _gtid_wait(conn, target, max(1.0, deadline.remaining()), what=f"{standby.name}/{member} catching up")
            except DeadlineExceeded as err:
                raise DeadlineExceeded(f"{err}; lag: {lag(standby)}") from None
    return round(time.monotonic() - started, 3)


def _start(standby, member: str, upstream: str, position: str) -> None:
    repl = db._literal(standby.db_replication_password())
    host, _, port = upstream.rpartition(":")
    with db_backup_lock.exclusive(db.backup_dir(standby), f"pointing {standby.name}/{member} at {upstream}",
                                  timeout=BACKUP_LOCK_WAIT_S), connect(standby, member) as conn:
        _exec(conn, "STOP SLAVE", "RESET SLAVE ALL", f"SET GLOBAL gtid_slave_pos = '{position}'",
              db.change_master_to_sql(host, int(port), repl), "START SLAVE")


def _record_upstream(standby, up) -> db_roles.Roles:
    roles = db_roles.load(standby)
    if roles.upstream != up.db_addr() or roles.region_fenced:
        roles.upstream, roles.region_fenced = up.db_addr(), False
        _save_roles(standby, roles)
    return roles


def link(standby, *, timeout: float = CATCH_UP_TIMEOUT) -> dict[str, Any]:
    """Make sure the standby's primary replicates from its upstream and has caught up: left alone when
    it already does; else restarted by GTID from where its own history stops; re-seeded from a dump
    of the upstream's primary when that cannot work (its history has transactions the upstream never
    had, the upstream's binlogs no longer hold what it needs, an empty standby that cannot start from
    GTID ''). Idempotent; regions.up calls it as soon as the standby's database answers.

    Returns ``{"member", "upstream", "how": "replicating"|"gtid"|"reseeded", "why", "reseed",
    "caught_up_s", "seconds"}``."""
    started = time.monotonic()
    up = upstream_twin(standby)
    roles = _record_upstream(standby, up)
    member = roles.primary
    out: dict[str, Any] = {"member": member, "upstream": f"{up.name} {up.db_addr()}", "how": "replicating",
                           "why": None, "reseed": None}
    state = member_state(standby, member)
    if not state.get("answers"):
        raise GamedayError(f"{standby.name}/{member} does not answer: {state.get('error')}",
                           hint=f"gameday sandbox --name {standby.name} status")
    if state.get("master") == up.db_addr() and state["io"] in ("Yes", "Connecting") and state["sql"] == "Yes":
        try:
            out["caught_up_s"] = wait_caught_up(standby, timeout)
            out["seconds"] = round(time.monotonic() - started, 3)
            return out
        except ReplicationStopped as err:
            out["why"] = str(err)
    with connect(standby, member) as conn:
        _exec(conn, "SET GLOBAL read_only = 1")
        own = merge(_one(conn, "SELECT @@gtid_binlog_pos"), _one(conn, "SELECT @@gtid_slave_pos"))
    diverged = beyond(own, _primary_pos(up))
    if not diverged:
        _start(standby, member, up.db_addr(), own)
        try:
            out["caught_up_s"] = wait_caught_up(standby, timeout)
            out["how"] = "gtid"
            out["seconds"] = round(time.monotonic() - started, 3)
            return out
        except ReplicationStopped as err:
            out["why"] = str(err)
    else:
        out["why"] = f"{standby.name}/{member} has transactions its upstream never had: {own}"
    with connect(standby, member) as conn:
        _exec(conn, "STOP SLAVE", "RESET SLAVE ALL")
    out["reseed"] = reseed_member(standby, member, db_roles.load(up).primary, timeout, source_twin=up)
    _start(standby, member, up.db_addr(), out["reseed"]["gtid"])
    out["caught_up_s"] = wait_caught_up(standby, timeout)
    out["how"] = "reseeded"
    out["seconds"] = round(time.monotonic() - started, 3)
    return out


# ---- promotion and demotion -----------------------------------------------------------------------
def fence(region_twin) -> dict[str, Any]:
    """Stop writes in a region (a switchover's first step): its primary read-only, in-flight commits
    finished first (FLUSH TABLES WITH READ LOCK), recorded (``region_fenced``) so that a restart
    keeps it read-only until :func:`demote`. Idempotent. Returns ``{"twin", "member", "gtid" (its
    final ``gtid_binlog_pos``), "already" (it was fenced before), "seconds"}``."""
    started = time.monotonic()
    roles = db_roles.load(region_twin)
    with connect(region_twin, roles.primary, timeout=3) as conn:
        already = roles.region_fenced and bool(int(_one(conn, "SELECT @@read_only")))
        _exec(conn, "SET GLOBAL read_only = 1", "FLUSH TABLES WITH READ LOCK", "UNLOCK TABLES")
        pos = _one(conn, "SELECT @@gtid_binlog_pos") or ""
    if not roles.region_fenced:
        roles.region_fenced = True
        _save_roles(region_twin, roles)
    return {"twin": region_twin.name, "member": roles.primary, "gtid": pos, "already": already,
            "seconds": round(time.monotonic() - started, 3)}


def fence_on_start(region_twin) -> dict[str, Any]:
    """Record that ``region_twin``'s primary must come back read-only and not replicating (a region
    lost while the other took over: never a second writable primary), rewriting its members' init
    files; call it before its members start again. Touches no server. Returns the roles."""
    roles = db_roles.load(region_twin)
    roles.region_fenced = True
    roles.upstream = None
    _save_roles(region_twin, roles)
    return roles.to_dict()


def _fence_upstream(up) -> tuple[str, str]:
    """:func:`fence` for a planned promotion: ``(final GTID, "caller" | "promote")``."""
    try:
        done = fence(up)
    except GamedayError as err:
        raise GamedayError(f"a planned promotion needs the upstream region's database: {err}",
                           hint="the upstream is lost: promote with planned=False (a failover)") from None
    return done["gtid"], "caller" if done["already"] else "promote"


def promote(standby, *, planned: bool, timeout: float = CATCH_UP_TIMEOUT) -> dict[str, Any]:
    """Make the standby region's primary writable, replicating from nowhere.

    ``planned`` (a switchover): the upstream region's primary is fenced (:func:`fence`: read-only,
    in-flight commits finished, recorded in its roles) by the caller before (``upstream_fenced_by:
    "caller"``) or else here (``"promote"``); then the standby waits
    until the standby has applied everything the upstream logged (RPO 0), then takes over.
    Not planned (a failover, the upstream lost): the upstream is not touched; the standby applies
    what it received (its relay log) and takes over; whatever the upstream acknowledged and never
    sent is lost (:func:`demote` names it later). Either way the roles and the standby's shape no
    longer name an upstream (its region and size are kept) and the promotion's GTID position is
    recorded (``promoted_at_gtid``: what demote compares the old region's history with).

    Returns ``{"region", "twin", "member", "planned", "upstream", "upstream_fenced_by",
    "upstream_gtid", "received_gtid", "promoted_at_gtid", "seconds": {"fence_upstream", "catch_up",
    "writable", "total"}}``."""
    started = time.monotonic()
    up = upstream_twin(standby)
    roles = db_roles.load(standby)
    member = roles.primary
    seconds: dict[str, float] = {}
    up_pos, fenced_by = _fence_upstream(up) if planned else (None, None)
    seconds["fence_upstream"] = round(time.monotonic() - started, 3)
    with connect(standby, member) as conn:
        taken = take_over(conn, up_pos, timeout, who=f"{standby.name}/{member}", upstream=up.name)
    received, promoted_at = taken["received_gtid"], taken["promoted_at_gtid"]
    seconds.update(taken["seconds"])
    roles = db_roles.load(standby)
    roles.upstream, roles.region_fenced = None, False
    roles.epoch += 1
    roles.promoted_at_gtid = promoted_at
    _save_roles(standby, roles)
    shape = Shape.load(standby.paths)
    dataclasses.replace(shape, upstream=None).save(standby.paths)
    seconds["total"] = round(time.monotonic() - started, 3)
    return {"region": shape.region, "twin": standby.name, "member": member, "planned": planned,
            "upstream": f"{up.name} {up.db_addr()}", "upstream_fenced_by": fenced_by,
            "upstream_gtid": up_pos, "received_gtid": received, "promoted_at_gtid": promoted_at,
            "endpoint": standby.db_addr(), "seconds": seconds}


def demote(old, new_upstream, *, timeout: float = CATCH_UP_TIMEOUT) -> dict[str, Any]:
    """Rebuild the old active region ``old`` as a standby of ``new_upstream`` (promoted before): its
    primary replicates from the new region's stable endpoint, by GTID when its history is a prefix of
    the new region's, else re-seeded from a dump. ``lost`` names the transactions it holds past the
    point of promotion (acknowledged by the old region, never replicated: an asynchronous failover's
    RPO), which the re-seed throws away. Its in-region replicas follow it (re-seeded too when it was).
    Its shape becomes a standby of ``new_upstream`` but keeps its size. Waits until it caught up.

    Returns ``{"twin", "member", "upstream", "how": "gtid"|"reseeded", "lost_gtids": ["0-?-99..100"],
    "lost": {"gtids", "transactions"}, "own_gtid", "promoted_at_gtid", "reseed", "replicas", "caught_up_s", "seconds"}``."""
    started = time.monotonic()
    old_roles = db_roles.load(old)
    member = old_roles.primary
    base = db_roles.load(new_upstream).promoted_at_gtid
    with connect(old, member) as conn:
        _exec(conn, "SET GLOBAL read_only = 1")
        if _slave_status(conn):
            _exec(conn, "STOP SLAVE")
        own = merge(_one(conn, "SELECT @@gtid_binlog_pos"), _one(conn, "SELECT @@gtid_slave_pos"))
    diverged = beyond(own, base or _primary_pos(new_upstream))
    shape = Shape.load(old.paths)
    dataclasses.replace(shape, upstream=Upstream(twin=new_upstream.name, net=new_upstream.net,
                                                 region=Shape.load(new_upstream.paths).region)).save(old.paths)
    _record_upstream(old, new_upstream)
    seeded = None
    if diverged:
        with connect(old, member) as conn:
            _exec(conn, "RESET SLAVE ALL")
        seeded = reseed_member(old, member, db_roles.load(new_upstream).primary, timeout, source_twin=new_upstream)
        position = seeded["gtid"]
    else:
        position = own
    _start(old, member, new_upstream.db_addr(), position)
    replicas = {}  # its own replicas replicate from it: re-seeded too when it was, restarted when stopped
    for name in old_roles.replicas:
        state = member_state(old, name)
        if state.get("answers") and (seeded or not state.get("replicating")):
            replicas[name] = rebuild(old, name, reseed=bool(seeded))["how"]
    caught_up = wait_caught_up(old, timeout)
    lost = [f"{d}-?-{a}..{b}" for d, (a, b) in sorted(diverged.items())]
    return {"twin": old.name, "member": member, "upstream": f"{new_upstream.name} {new_upstream.db_addr()}",
            "how": "reseeded" if seeded else "gtid", "lost_gtids": lost,
            "lost": {"gtids": dict(zip((str(d) for d in sorted(diverged)), lost, strict=True)),
                     "transactions": sum(b - a + 1 for a, b in diverged.values())},
            "own_gtid": own, "promoted_at_gtid": base, "reseed": seeded, "replicas": replicas,
            "caught_up_s": caught_up, "seconds": round(time.monotonic() - started, 3)}


__all__ = ["ReplicationStopped", "demote", "fence", "fence_on_start", "lag", "link", "promote", "share_credentials",
           "upstream_twin", "wait_caught_up"]
