"""The Kubernetes target's database recovery when the database is Cloud SQL: backups, failover,
replica promotion and point-in-time restore through the Cloud SQL Admin API
(:mod:`gameday.gcp.cloudsql`), for the environment's ``kubernetes.db.cloud_sql``::

    db:
      host: 10.20.0.5            # where the site and the canaries reach it (private IP, or the Auth Proxy)
      port: 3306
      database: wordpress
      cloud_sql:
        project: sps-staging
        instance: sps-staging-db           # the primary
        failover: ha                       # ha: the REGIONAL instance's standby | replica: promote `replica`
        # replica: sps-staging-db-replica  # with failover: replica
        restore_instance: sps-staging-db-pitr   # what a point-in-time restore clones into

:class:`~gameday.targets.kubernetes.KubernetesTarget` answers the Target's four database calls with
this (``last_db_backup``, ``take_db_backup``, ``restore_db_to``, ``promote_db_replica``)::

    db = CloudSqlDatabase.of(env)      # None when the environment names no Cloud SQL instance
    db.last_backup()                   # {"id", "at", "kind": "cloud-sql", ...} or None: read-only, no consent
    db.promote_replica()               # production: only with consent (gameday.targets.consent)

The failover drill (``gameday.chaos.db.actions.lose_primary``, ``experiments/db/lose-primary.yaml``)
sees the instance through the Target's usual database calls, answered here::

    db.roles()          # {"primary": "sps-staging-db@europe-west2-a", "replicas": ["sps-staging-db@europe-west2-b"],
                        #  "fenced": [], "lost": [], "mode": "sync", "epoch": 0}   (failover: ha)
    db.replication()    # {"roles", "endpoint", "members": {name: {"answers", "read_only", "replicating", "state", ...}}}
    db.state()          # what the db playbook reports: state, zones, activation policy, operations in progress
    db.lose_primary()   # the fault: instances.failover (ha), or the primary stopped (replica)

With ``failover: ha`` the members are the instance in its zone and its standby in the other one
(``<instance>@<zone>``): the fault is a manual failover, as Google documents testing high
availability; the standby takes over under the same name and address, so nothing is lost and the
site's endpoint is unchanged. With ``failover: replica`` the members are the instance and its read
replica: the fault stops the primary (``settings.activationPolicy: NEVER``, Google's "stop an
instance"), it is then ``lost``, and the db playbook promotes the replica (:meth:`promote_replica`);
pointing the site at it is the operator's step (:meth:`repoint` says so).

The destroy-content drill (``gameday.chaos.db.actions.destroy_content``, the db playbook's
``restore-db-content``) restores by cloning::

    db.check_restore()                    # before the fault: consent, restore_instance, PITR on, the name free
    restored = db.restore_to(moment)      # instances.clone at the moment into restore_instance
    query_clone(restored, schema, before, credentials=..., live=(host, port), tls=target.db_tls())  # schema: gameday.content
        # the clone queried as the site's user: {"figures", "matches", "mismatches", "lost_after", ...}

Production consent: the calls that change the database refuse on a ``production: true`` environment
unless consent was given (:func:`gameday.targets.consent.given`: every command's
``--i-mean-production`` exports it), before any request. The lock and the undo record are the
callers' (a chaos action takes the lock through ``gameday.chaos.context.target``, ``gameday
playbook`` holds it); nothing here injects a fault: each call is a recovery step, and none has an
undo (a failover is undone by another failover, a clone by deleting it).
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import pymysql

from .. import db_client
from ..content import ContentSchema
from ..db_client import DbTls
from ..db_figures import content_figures, range_figures
from ..errors import DeadlineExceeded, GamedayError, UsageError
from ..gcp.cloudsql import CloudSql, addresses, epoch
from . import consent
from .environment import Environment

KIND = "cloud-sql"
MYSQL_PORT = 3306  # a Cloud SQL instance's address answers MySQL on 3306 (a clone's too)
CANARY_TABLE = "gameday_canary"  # the RPO canary's rows (gameday.measure.canary.DB_TABLE): named when a clone lacks them
NAMED = 20  # at most this many lost rows are named one by one; the rest are counted
FAILOVER_KINDS = ("ha", "replica")
CHANGING = ("FAILOVER", "PROMOTE_REPLICA", "UPDATE", "RESTART")  # operations that move or stop the primary


def member(instance: str, zone: str | None) -> str:
    """The name of one side of a highly available instance: ``sps-staging-db@europe-west2-a``."""
    return f"{instance}@{zone or 'unknown-zone'}"


def stopped(found: dict[str, Any]) -> bool:
    """An instance that serves no connections: stopped by its owner (``activationPolicy: NEVER``; the
    API still says RUNNABLE), or in any state but RUNNABLE."""
    return found.get("state") != "RUNNABLE" or (found.get("settings") or {}).get("activationPolicy") == "NEVER"


class CloudSqlDatabase:
    """The database of one environment as a Cloud SQL instance (``kubernetes.db.cloud_sql``)."""

    def __init__(self, env: Environment, config: dict[str, Any], *, service: Any = None):
        self.env = env
        self.config = dict(config)
        self._service = service
        self._sql: CloudSql | None = None

    @classmethod
    def of(cls, env: Environment) -> "CloudSqlDatabase | None":
        """The environment's Cloud SQL database, or None when it names none (checked already by the
        environment's schema, :class:`gameday.schema.environment.CloudSqlInstance`)."""
        config = ((env.kubernetes or {}).get("db") or {}).get("cloud_sql")
        return cls(env, config) if config else None

    @property
    def sql(self) -> CloudSql:
        """The instance's client, made at first use (credentials are looked for then, not before)."""
        if self._sql is None:
            self._sql = CloudSql(str(self.config["project"]), str(self.config["instance"]), service=self._service,
                                 timeout_s=float(self.config.get("operation_timeout_s", 3600)),
                                 poll_s=float(self.config.get("poll_s", 5)))
        return self._sql

    @property
    def instance(self) -> str:
        return str(self.config["instance"])

    def failover_kind(self) -> str:
        """``ha`` or ``replica`` (with the replica named); a UsageError, before anything is touched, for
        anything else (an environment built past its schema)."""
        kind = self.config.get("failover", "ha")
        where = f"kubernetes.db.cloud_sql in {self.env.source or 'the environment file'}"
        if kind not in FAILOVER_KINDS:
            raise UsageError(f"{self.env.name}: failover must be one of {', '.join(FAILOVER_KINDS)}, not {kind!r} "
                             f"({where}); nothing was touched",
                             hint="failover: ha (a REGIONAL instance's standby) or failover: replica with replica: NAME")
        if kind == "replica" and not self.config.get("replica"):
            raise UsageError(f"{self.env.name}: failover: replica names no replica ({where}); nothing was touched",
                             hint=f"add replica: the read replica of {self.instance} to promote")
        return str(kind)

    def _consent(self, what: str) -> None:
        """Refuse, before any request, to change a production database without consent."""
        if self.env.production and not consent.given():
            raise UsageError(f"{self.env.name!r} is a production target: {what} on Cloud SQL instance "
                             f"{self.instance} needs consent; nothing was touched", hint=consent.HINT_CLI)

    # ---- backups ---------------------------------------------------------------------------------
    def last_backup(self) -> dict[str, Any] | None:
        """The newest SUCCESSFUL backup run (by its end), described as the Target interface says,
        or None when there is none. Read-only: no consent needed."""
        run = self.sql.last_backup()
        return self._describe(run) if run else None

    def take_backup(self) -> dict[str, Any]:
        """An on-demand backup (``backupRuns.insert``), waited for; described as :meth:`last_backup`."""
        self._consent("an on-demand backup")
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        made = self.sql.take_backup(f"gameday on-demand backup {stamp} ({self.env.name})")
        return {**self._describe(made["run"]), "operation": made["operation"], "took_s": made["took_s"]}

    def _describe(self, run: dict[str, Any]) -> dict[str, Any]:
        return {"id": str(run.get("id")), "at": epoch(run.get("endTime")), "kind": KIND, "type": run.get("type"),
                "project": self.sql.project, "instance": self.instance, "started_at": epoch(run.get("startTime")),
                "location": run.get("location"), "description": run.get("description")}

    # ---- failover ----------------------------------------------------------------------------------
    def promote_replica(self) -> dict[str, Any]:
        """Replace the primary: ``failover: ha`` fails the REGIONAL instance over to its standby
        (same name and address: the site's endpoint is unchanged); ``failover: replica`` promotes the
        named read replica (a primary of its own with its own address: the site must be pointed at
        it, the operator's step, said in ``next_step``)."""
        self._consent("a failover")
        if self.config.get("failover", "ha") == "replica":
            replica = str(self.config["replica"])
            done = self.sql.promote_replica(replica)
            ips = ", ".join(a["ip"] for a in done["addresses"]) or "its address (gcloud sql instances describe)"
            return {"how": "promote-replica", "old_primary": self.instance, "new_primary": replica,
                    "operation": done["operation"], "took_s": done["took_s"], "addresses": done["addresses"],
                    "site_endpoint": "to repoint",
                    "next_step": f"point the site's database host (kubernetes.db.host and the site's own setting) at "
                                 f"{replica} ({ips}); {self.instance} is no longer its primary"}
        done = self.sql.failover()
        return {"how": "failover", "old_primary": f"{self.instance} in {done['zone_before']}",
                "new_primary": f"{self.instance} in {done['zone_after']}", "operation": done["operation"],
                "took_s": done["took_s"], "settings_version": done["settings_version"],
                "addresses": done["addresses"], "site_endpoint": "unchanged", "next_step": None}

    # ---- the failover drill: roles, replication, state, the fault ------------------------------------
    def members(self) -> list[dict[str, Any]]:
        """Each member as ``{"name", "role" ("primary"|"replica"), "instance", "zone", "ip", "ready" (it
        could serve or take over: a RUNNABLE instance its owner did not stop), "answers" (it takes
        connections: an HA standby does not), "read_only", "replicating", "state",
        "activation_policy"}``, read now (``instances.get``)."""
        kind = self.failover_kind()
        found = self.sql.get()
        ips = ", ".join(a["ip"] for a in addresses(found))
        serves = not stopped(found)
        policy = (found.get("settings") or {}).get("activationPolicy")
        if kind == "ha":
            both = [(found.get("gceZone"), "primary")] + (
                [(found.get("secondaryGceZone"), "replica")] if found.get("secondaryGceZone") else [])
            return [{"name": member(self.instance, zone), "role": role, "instance": self.instance, "zone": zone,
                     "ip": ips, "ready": serves, "answers": serves if role == "primary" else False,
                     "read_only": role != "primary",
                     "replicating": role == "replica" and serves, "state": found.get("state"),
                     "activation_policy": policy} for zone, role in both]
        replica = str(self.config["replica"])
        other = self.sql.get(replica)
        promoted = other.get("instanceType") != "READ_REPLICA_INSTANCE"
        other_serves = not stopped(other)
        return [{"name": self.instance, "role": "replica" if promoted else "primary", "instance": self.instance,
                 "zone": found.get("gceZone"), "ip": ips, "ready": serves, "answers": serves, "read_only": promoted,
                 "replicating": False, "state": found.get("state"), "activation_policy": policy},
                {"name": replica, "role": "primary" if promoted else "replica", "instance": replica,
                 "zone": other.get("gceZone"), "ip": ", ".join(a["ip"] for a in addresses(other)),
                 "ready": other_serves, "answers": other_serves, "read_only": not promoted,
                 "replicating": not promoted and other_serves and serves, "state": other.get("state"),
                 "activation_policy": (other.get("settings") or {}).get("activationPolicy")}]

    def roles(self, members: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """The Target's ``db_roles`` shape (see the module docstring). ``lost``: a primary that serves
        nothing (``failover: replica``'s fault stopped it); with ``failover: ha`` nothing is ever lost
        (Cloud SQL moves the primary itself: a failover in progress is :meth:`state`'s to report).
        After a promotion the old primary is ``lost`` while stopped, ``fenced`` once it runs again (a
        primary of its own, replicating from nowhere: the operator makes a new replica)."""
        members = self.members() if members is None else members
        primary = next(m for m in members if m["role"] == "primary")
        others = [m for m in members if m["role"] == "replica"]
        promoted = self.failover_kind() == "replica" and primary["name"] != self.instance
        old = [m for m in others if promoted]
        return {"primary": primary["name"], "replicas": [m["name"] for m in others if not promoted],
                "fenced": [m["name"] for m in old if m["answers"]],
                "lost": [m["name"] for m in [primary, *old] if not m["answers"]],
                "mode": "sync" if self.failover_kind() == "ha" else "async", "epoch": 0}

    def replication(self) -> dict[str, Any]:
        """The Target's ``db_replication`` shape: roles, the site's endpoint, and each member as the
        Admin API describes it (no GTID position: Cloud SQL does not give one here)."""
        members = self.members()
        db = (self.env.kubernetes or {}).get("db") or {}
        return {"roles": self.roles(members), "endpoint": f"{db.get('host')}:{db.get('port')}",
                "members": {m["name"]: {k: v for k, v in m.items() if k != "name"} for m in members}}

    def state(self) -> dict[str, Any]:
        """What the db playbook reports: ``{"instance", "failover", "state", "runnable",
        "activation_policy", "zone", "secondary_zone", "in_progress": [{"name", "type", "status"}],
        "replica"?: {...}}``; ``in_progress``: the instance's operations that move or stop its
        primary and are not DONE (``operations.list``)."""
        kind = self.failover_kind()
        found = self.sql.get()
        settings = found.get("settings") or {}
        names = [self.instance] + ([str(self.config["replica"])] if kind == "replica" else [])
        running = [{"name": op.get("name"), "type": op.get("operationType"), "status": op.get("status"),
                    "instance": op.get("targetId")}
                   for name in names for op in self.sql.operations_in_progress(name)
                   if op.get("operationType") in CHANGING]
        out = {"instance": self.instance, "failover": kind, "state": found.get("state"),
               "runnable": not stopped(found), "activation_policy": settings.get("activationPolicy"),
               "availability": settings.get("availabilityType"), "zone": found.get("gceZone"),
               "secondary_zone": found.get("secondaryGceZone"), "in_progress": running}
        if kind == "replica":
            other = self.sql.get(names[1])
            out["replica"] = {"instance": names[1], "state": other.get("state"), "runnable": not stopped(other),
                              "promoted": other.get("instanceType") != "READ_REPLICA_INSTANCE"}
        return out

    def wait_settled(self, timeout_s: float) -> dict[str, Any]:
        """Wait (``timeout_s``, at most ``operation_timeout_s``; DeadlineExceeded naming what is left)
        until no operation of :meth:`state` is in progress and, with ``failover: ha``, the instance
        serves again (``failover: replica``: its promotion is the playbook's next step); the last state."""
        from ..deadline import wait_until

        last: dict[str, Any] = {}

        def settled() -> bool:
            last.update(self.state())
            return not last["in_progress"] and (last["failover"] != "ha" or last["runnable"])

        try:
            wait_until(settled, timeout=min(float(timeout_s), self.sql.timeout_s), interval=self.sql.poll_s,
                       what=f"Cloud SQL {self.instance}'s failover to finish and its primary to serve")
        except DeadlineExceeded as err:
            ops = ", ".join(f"{o['type']} {o['name']} {o['status']}" for o in last.get("in_progress") or [])
            raise DeadlineExceeded(f"{err.message} (state {last.get('state')}; in progress: {ops or 'nothing'})",
                                   hint=f"gcloud sql operations list --instance {self.instance} --project "
                                        f"{self.sql.project}") from None
        return dict(last)

    def lose_primary(self) -> dict[str, Any]:
        """The failover drill's fault, after the caller recorded its undo. ``failover: ha``: a manual
        failover (``instances.failover``, waited for): the standby takes over. ``failover: replica``:
        the primary stopped (``instances.patch`` of ``settings.activationPolicy: NEVER``, waited for),
        after checking its replica is a RUNNABLE read replica of it. Production: only with consent.
        Returns ``{"member", "how", "operation", "took_s", "mode", "semisync_active", "gtid", ...}``."""
        kind = self.failover_kind()
        self._consent("losing the primary (the failover drill)")
        if kind == "ha":
            done = self.sql.failover()
            return {"member": member(self.instance, done["zone_before"]), "how": "Cloud SQL failover to the standby "
                    "(instances.failover)", "new_primary": member(self.instance, done["zone_after"]),
                    "operation": done["operation"], "took_s": done["took_s"], "mode": "sync",
                    "semisync_active": None, "gtid": None}
        replica = str(self.config["replica"])
        found = self.sql.get(replica)
        if found.get("instanceType") != "READ_REPLICA_INSTANCE" or stopped(found):
            raise UsageError(f"{self.env.name}: {replica} must be a running read replica of {self.instance} to lose "
                             f"the primary (instanceType {found.get('instanceType')}, state {found.get('state')}); "
                             "nothing was touched", hint=f"gcloud sql instances describe {replica}")
        done = self.sql.set_activation_policy("NEVER")
        return {"member": self.instance, "how": "Cloud SQL primary stopped (activationPolicy NEVER)",
                "operation": done["operation"], "took_s": done["took_s"], "mode": "async", "semisync_active": None,
                "gtid": None}

    def repoint(self) -> dict[str, Any]:
        """The db playbook's repoint step. ``failover: ha``: nothing to do (same name and address).
        ``failover: replica``: the site must be pointed at the promoted replica, which gameday does not
        do for you: a GamedayError naming the step."""
        db = (self.env.kubernetes or {}).get("db") or {}
        endpoint = f"{db.get('host')}:{db.get('port')}"
        roles = self.roles()
        if self.failover_kind() == "ha":
            return {"endpoint": endpoint, "primary": roles["primary"],
                    "upstream": "unchanged (Cloud SQL high availability keeps the name and address)"}
        ips = ", ".join(a["ip"] for a in addresses(self.sql.get(roles["primary"]))) or "its address"
        raise GamedayError(f"{self.env.name}: the site's database endpoint {endpoint} must be pointed at "
                           f"{roles['primary']} ({ips}), the promoted replica; gameday does not repoint Cloud SQL",
                           hint="set kubernetes.db.host and the site's own database host to it, then run the "
                                "playbook again to verify")

    # ---- point-in-time restore ---------------------------------------------------------------------
    def restore_destination(self) -> str:
        """``restore_instance``, or a UsageError naming the setting (nothing touched)."""
        destination = self.config.get("restore_instance")
        if not destination:
            raise UsageError(f"{self.env.name}: a point-in-time restore needs the name of the instance to clone into; "
                             "nothing was touched",
                             hint=f"add kubernetes.db.cloud_sql.restore_instance (e.g. {self.instance}-pitr) to "
                                  f"{self.env.source or 'the environment file'}")
        return str(destination)

    def check_restore(self) -> None:
        """Before the destroy-content drill touches anything: production consent (before any request),
        ``restore_instance`` named, and what the clone would check (point-in-time recovery on, the
        destination not there yet: reads only), so that a fault is never made that the playbook could
        not restore."""
        self._consent("the destroy-content drill (a point-in-time restore)")
        self.sql.check_clone(self.restore_destination(), time.time())

    def restore_to(self, moment: float, skip: list[str] | None = None) -> dict[str, Any]:
        """Clone the instance as it was at ``moment`` into ``restore_instance`` (a new instance; the
        source is left as it is). ``skip`` cannot be honoured: Cloud SQL restores up to a moment and
        replays nothing after it, so it is refused rather than ignored. Repointing the site at the
        clone is the operator's step (``next_step``). When ``restore_instance`` exists already, a clone
        of this instance into it started since ``moment`` (a crashed or failed earlier undo's) is waited
        for or taken as it is (``resumed``: its operation), not cloned again; any other instance of that
        name is refused, nothing touched (:meth:`CloudSql.clone_at` with ``resume``)."""
        if skip:
            raise UsageError(f"{self.env.name}: Cloud SQL restores to a moment and replays nothing after it, so it "
                             f"cannot skip {', '.join(map(str, skip))} and keep what came later; nothing was touched",
                             hint="restore to the moment before the incident without skip; the writes after it are "
                                  "the RPO (replay them by hand from the source's binary log if they matter)")
        destination = self.restore_destination()
        self._consent("a point-in-time restore")
        started = time.monotonic()
        done = self.sql.clone_at(str(destination), float(moment), resume=True)  # after a crash: that clone
        ips = ", ".join(a["ip"] for a in done["addresses"]) or "its address (gcloud sql instances describe)"
        return {"kind": "clone", "how": "clone", "source": self.instance, "restored_instance": destination,
                "moment": float(moment),
                "point_in_time": done["point_in_time"], "operation": done["operation"],
                "addresses": done["addresses"], "server_ca": done.get("server_ca"),
                "timings": {"clone_s": done["took_s"]}, "resumed": done.get("resumed"),
                "took_s": round(time.monotonic() - started, 3), "site_endpoint": "to repoint",
                "next_step": f"verify {destination} ({ips}), then point the site's database host (kubernetes.db.host "
                             f"and the site's own setting) at it; {self.instance} is left as it was"}


# ---- a point-in-time clone queried: the content as at the moment, and what came after -------------

def id_ranges(ids: list[int]) -> str:
    """``1001-2000, 3006`` for sorted ids (at most :data:`NAMED` ranges, then how many more)."""
    ranges: list[list[int]] = []
    for i in ids:
        if ranges and i == ranges[-1][1] + 1:
            ranges[-1][1] = i
        else:
            ranges.append([i, i])
    text = ", ".join(f"{a}-{b}" if a != b else str(a) for a, b in ranges[:NAMED])
    return text + (f" and {len(ranges) - NAMED} more ranges" if len(ranges) > NAMED else "")


def clone_ips(found: list[dict[str, str]]) -> list[str]:
    """An instance's addresses (:func:`gameday.gcp.cloudsql.addresses`), its PRIVATE ones first (the
    runner reaches a clone inside the VPC, as the site reaches its database)."""
    ips = [a for a in found if a.get("ip")]
    return [a["ip"] for a in sorted(ips, key=lambda a: a.get("type") != "PRIVATE")]


def _connect(host: str, port: int, credentials: tuple[str, str, str], tls: DbTls, what: str) -> Any:
    user = credentials[0]
    try:
        return db_client.connect((host, port), credentials, tls, timeout=10, read_timeout=60, write_timeout=60)
    except (pymysql.MySQLError, OSError) as err:
        raise GamedayError(f"{what} {host}:{port} refused the site's database user {user}: {err}",
                           hint="the runner must reach the instance's address (private IP: run it inside the VPC, "
                                "e.g. from the cluster) and the site's user must exist on it") from None


def _rows_of(cur: Any, sql: str) -> set[tuple] | None:
    """Every row ``sql`` selects; None when its table does not exist (1146)."""
    try:
        cur.execute(sql)
    except pymysql.MySQLError as err:
        if err.args and err.args[0] == 1146:
            return None
        raise
    return {tuple(r) for r in cur.fetchall()}


def _read(host: str, port: int, credentials: tuple[str, str, str], tls: DbTls, schema: ContentSchema, what: str,
          where: str, tail: str, *, figures: bool) -> tuple[dict[str, Any] | None, set[tuple], set[tuple] | None]:
    """One database read as the site's user: the content's figures (with ``figures``: CHECKSUM TABLE
    locks the table, so never on the live database), its ``(id, version)`` rows, and the RPO canary's
    ``(run, seq)`` records (None without that table); a GamedayError naming ``where``."""
    conn = _connect(host, port, credentials, tls, what)
    try:
        with conn.cursor() as cur:
            found = content_figures(cur, schema) if figures else None
            rows = _rows_of(cur, schema.versions_sql()) or set()
            canary = _rows_of(cur, f"SELECT run, seq FROM {CANARY_TABLE}")
    except pymysql.MySQLError as err:
        raise GamedayError(f"{where} failed a query of {schema.base_table}: {err}{tail}") from None
    finally:
        conn.close()
    return found, rows, canary


def query_clone(restored: dict[str, Any], schema: ContentSchema, before: dict[str, Any] | None, *,
                credentials: tuple[str, str, str], live: tuple[str, int], tls: DbTls) -> dict[str, Any]:
    """Query a point-in-time clone (what :meth:`CloudSqlDatabase.restore_to` returned) as the site's
    own database user, at its address (PRIVATE first), port 3306: the content's figures
    (:func:`content_figures` of ``schema``, the target's content schema; ``table`` below is its base table)
    compared with ``before`` (the same figures read just before the incident: rows, id range, sha256,
    CHECKSUM TABLE), and what the clone lacks that the live database (``live``: the site's endpoint)
    holds: the writes after the moment, which Cloud SQL does not replay (the RPO): ``table``'s rows
    added or changed since (by id and version), and the RPO canary's records. Returns ``{"instance",
    "address", "figures", "expected", "mismatches": [...], "matches", "lost_after": {table: {"rows",
    "ids", "named"}, "gameday_canary": {...}?}, "lost_rows"}``; a GamedayError when the clone cannot
    be reached or queried. Both are reached over TLS as ``tls`` (``Target.db_tls``) says; the clone's
    certificate is verified also against its own server CA (``restored["server_ca"]``: a new instance
    has its own)."""
    ips = clone_ips(restored.get("addresses") or [])
    name = restored.get("restored_instance")
    if not ips:
        raise GamedayError(f"the clone {name} has no address to query it at; it was not verified",
                           hint=f"gcloud sql instances describe {name}")
    table = schema.base_table
    clone_tls = replace(tls, ca_data=restored.get("server_ca") or tls.ca_data)
    figures, clone_rows, clone_canary = _read(ips[0], MYSQL_PORT, credentials, clone_tls, schema, f"the clone {name}",
                                              f"the clone {name} ({ips[0]})", "; it was not verified", figures=True)
    expected = {k: (before or {}).get(k) for k in ("rows", "min_id", "max_id", "sha256", "checksum")}
    differences = [f"{k} {figures[k]} (expected {v})" for k, v in expected.items() if v is not None and figures[k] != v]
    destroyed = (before or {}).get("range")
    in_range: dict[str, Any] | None = None
    if before is None:
        mismatches = ["no figures of the table before the incident to compare with"]
    elif destroyed is None:  # a record without the destroyed range's figures: the whole table decides
        mismatches = differences
    else:  # the range the fault destroyed (row-locked from its reading to the fault) decides; the rest is the RPO side
        in_range = range_figures(clone_rows, destroyed.get("first_id"), destroyed.get("last_id"))
        mismatches = [f"destroyed range {k} {in_range[k]} (expected {destroyed.get(k)})"
                      for k in ("rows", "min_id", "max_id", "sha256") if in_range[k] != destroyed.get(k)]
    _none, live_rows, live_canary = _read(live[0], live[1], credentials, tls, schema, "the site's database",
                                          f"the site's database {live[0]}:{live[1]}", "", figures=False)
    lost_ids = sorted({int(i) for i, _v in live_rows - clone_rows})
    lost = {table: {"rows": len(lost_ids), "ids": lost_ids[:NAMED], "named": id_ranges(lost_ids)}}
    if live_canary is not None:
        missing = sorted(live_canary - (clone_canary or set()))
        lost[CANARY_TABLE] = {"rows": len(missing), "records": [f"{r}#{s}" for r, s in missing[:NAMED]],
                              "named": ", ".join(f"{r}#{s}" for r, s in missing[:NAMED])
                              + (f" and {len(missing) - NAMED} more" if len(missing) > NAMED else "")}
    return {"instance": name, "address": f"{ips[0]}:{MYSQL_PORT}", "figures": figures, "expected": expected,
            "range": in_range, "table_differences": differences if in_range is not None else [],
            "mismatches": mismatches, "matches": not mismatches, "lost_after": lost,
            "lost_rows": sum(v["rows"] for v in lost.values())}


def not_built(env: Environment) -> GamedayError:
    """The refusal of a Kubernetes target whose database is not Cloud SQL (the in-cluster MariaDB's
    backups and failover are not built on Kubernetes)."""
    return GamedayError(f"{env.name}: database backups, point-in-time restore and failover are built on Kubernetes "
                        "for Cloud SQL only, and this environment names no Cloud SQL instance; nothing was touched",
                        hint=f"name it in kubernetes.db.cloud_sql ({{project, instance}}) in "
                             f"{env.source or 'the environment file'}, or run the database drills on the sandbox twin")
