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

Production consent: the calls that change the database refuse on a ``production: true`` environment
unless consent was given (:func:`gameday.targets.consent.given`: every command's
``--i-mean-production`` exports it), before any request. The lock and the undo record are the
callers' (a chaos action takes the lock through ``gameday.chaos.context.target``, ``gameday
playbook`` holds it); nothing here injects a fault: each call is a recovery step, and none has an
undo (a failover is undone by another failover, a clone by deleting it).
"""

from __future__ import annotations

import time
from typing import Any

from ..errors import GamedayError, UsageError
from ..gcp.cloudsql import CloudSql, epoch
from . import consent
from .environment import Environment

KIND = "cloud-sql"


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

    # ---- point-in-time restore ---------------------------------------------------------------------
    def restore_to(self, moment: float, skip: list[str] | None = None) -> dict[str, Any]:
        """Clone the instance as it was at ``moment`` into ``restore_instance`` (a new instance; the
        source is left as it is). ``skip`` cannot be honoured: Cloud SQL restores up to a moment and
        replays nothing after it, so it is refused rather than ignored. Repointing the site at the
        clone is the operator's step (``next_step``)."""
        if skip:
            raise UsageError(f"{self.env.name}: Cloud SQL restores to a moment and replays nothing after it, so it "
                             f"cannot skip {', '.join(map(str, skip))} and keep what came later; nothing was touched",
                             hint="restore to the moment before the incident without skip; the writes after it are "
                                  "the RPO (replay them by hand from the source's binary log if they matter)")
        destination = self.config.get("restore_instance")
        if not destination:
            raise UsageError(f"{self.env.name}: a point-in-time restore needs the name of the instance to clone into; "
                             "nothing was touched",
                             hint=f"add kubernetes.db.cloud_sql.restore_instance (e.g. {self.instance}-pitr) to "
                                  f"{self.env.source or 'the environment file'}")
        self._consent("a point-in-time restore")
        started = time.monotonic()
        done = self.sql.clone_at(str(destination), float(moment))
        ips = ", ".join(a["ip"] for a in done["addresses"]) or "its address (gcloud sql instances describe)"
        return {"how": "clone", "source": self.instance, "restored_instance": destination, "moment": float(moment),
                "point_in_time": done["point_in_time"], "operation": done["operation"],
                "addresses": done["addresses"], "timings": {"clone_s": done["took_s"]},
                "took_s": round(time.monotonic() - started, 3), "site_endpoint": "to repoint",
                "next_step": f"verify {destination} ({ips}), then point the site's database host (kubernetes.db.host "
                             f"and the site's own setting) at it; {self.instance} is left as it was"}


def not_built(env: Environment) -> GamedayError:
    """The refusal of a Kubernetes target whose database is not Cloud SQL (the in-cluster MariaDB's
    backups and failover are not built on Kubernetes)."""
    return GamedayError(f"{env.name}: database backups, point-in-time restore and failover are built on Kubernetes "
                        "for Cloud SQL only, and this environment names no Cloud SQL instance; nothing was touched",
                        hint=f"name it in kubernetes.db.cloud_sql ({{project, instance}}) in "
                             f"{env.source or 'the environment file'}, or run the database drills on the sandbox twin")

