"""The twin's database backups on a schedule: one supervised member, ``db-backup-1``.

It takes a backup (:func:`gameday.sandbox.db_backup.take`) from whichever member is the primary
(``db_roles``, read again for every backup) every ``interval_s``, keeps the newest ``keep`` and
prunes the older ones. The supervisor restarts it when it dies and stops it at ``sandbox down``; a
SIGTERM during a dump kills the dump (no child outlives it) and leaves no half-written backup (a
backup exists only once its manifest is renamed into place). The interval counts from the newest
backup, whoever took it (a drill's own ``take`` too), so a restart does not pile backups up::

    topology.workloads.append(workload(twin))
    ensure(twin)                      # at up: the settings file from the environment or the defaults
    configure(twin, interval_s=10)    # at run time (SandboxTarget.set_db_backup_schedule); applies within POLL_S
    status(twin)                      # {"interval_s", "keep", "newest": {...} | None, "last": {...} | None}
    prune(host, keep=3)               # what the member runs after each backup

Its settings, state file and loop are :mod:`gameday.sandbox.schedule`'s, shared with ``search-snapshot-1``.
Settings (``<state>/data/db-backup-schedule.json``, no secrets): ``GAMEDAY_DB_BACKUP_INTERVAL_S``
and ``GAMEDAY_DB_BACKUP_KEEP`` when the twin is brought up (kept from then on, as
``GAMEDAY_DB_REPLICATION`` is), else :func:`default_interval_s` (half the db layer's ``backup_age_s``, else ``rpo_s``, in
targets.yaml) and :data:`DEFAULT_KEEP`. Each attempt's outcome is in ``db-backup-state.json`` and
the member's log. On a Kubernetes target the platform's own schedule applies (Cloud SQL's automated
backups, or the operator's); the twin's Kubernetes mode runs no such member.
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pymysql

from ..errors import GamedayError, UsageError
from . import db_backup, schedule
from .schedule import DEFAULT_KEEP, MIN_INTERVAL_S, POLL_S, RETRY_S, Settings, due_in  # noqa: F401 - this module's API
from .spec import Workload

NAME = "db-backup-1"
WORKLOAD = "db-backup"
ENV_INTERVAL = "GAMEDAY_DB_BACKUP_INTERVAL_S"
ENV_KEEP = "GAMEDAY_DB_BACKUP_KEEP"
DEFAULT_INTERVAL_S = 300.0  # when the db layer's backup age limit is 0 (no backup's age can meet it) or unreadable
STALE_S = 3600.0  # a temporary file or a dump without manifest older than this is a crashed run's leftover
SCHEDULE = schedule.Schedule(layer="db", stem="db-backup", env_interval=ENV_INTERVAL, env_keep=ENV_KEEP,
                             fallback_interval_s=DEFAULT_INTERVAL_S, default_keep=DEFAULT_KEEP)


def default_interval_s() -> float:
    """Half the age the db layer allows its newest backup in targets.yaml (defaults: ``backup_age_s``,
    else ``rpo_s``), so the newest backup stays within it (a dump takes seconds), at least
    :data:`MIN_INTERVAL_S`; :data:`DEFAULT_INTERVAL_S` when that is 0 (no backup's age meets 0: the
    binary log keeps those writes, and the game day's preflight says so) or targets.yaml cannot be read."""
    return SCHEDULE.default_interval_s()


def load(twin) -> Settings:
    """The recorded settings, or the defaults when none are recorded."""
    return SCHEDULE.load(twin)


def ensure(twin) -> Settings:
    """At ``up``: the settings file exists, with the environment's values where they are set."""
    return SCHEDULE.ensure(twin)


def configure(twin, *, interval_s: float | None = None, keep: int | None = None) -> Settings:
    """Change the schedule at run time; the member applies it within :data:`POLL_S`."""
    return SCHEDULE.configure(twin, interval_s=interval_s, keep=keep)


# ---- pruning ----------------------------------------------------------------------------------------

def prune(host: db_backup.DbHost, *, keep: int, now: float | None = None, stale_s: float = STALE_S) -> list[str]:
    """Remove every complete backup but the newest ``keep`` (its manifest first, so it is never
    listed without its dump), and what crashed runs left: temporary files and dumps without a
    manifest older than ``stale_s``. Returns the names removed."""
    if keep < 1:
        raise UsageError(f"keep must be >= 1, not {keep}")
    if not host.backup_dir.is_dir():
        return []
    removed = []
    for manifest in db_backup.backups(host)[:-keep]:
        (host.backup_dir / f"{manifest['id']}.json").unlink(missing_ok=True)
        db_backup.remove_files(Path(manifest["path"]))
        removed.append(str(manifest["id"]))
    now = time.time() if now is None else now
    named = {p.stem for p in host.backup_dir.glob("*.json")}
    for path in sorted(host.backup_dir.iterdir()):
        leftover = path.name.endswith(".tmp") or (path.suffix in (".sql", ".phys") and path.stem not in named)
        try:
            if leftover and now - path.stat().st_mtime > stale_s:
                db_backup.remove_files(path)
                removed.append(path.name)
        except FileNotFoundError:
            continue  # removed meanwhile (a take renamed its temporary file)
    return removed


# ---- what the member runs ------------------------------------------------------------------------------

def status(twin) -> dict[str, Any]:
    """``{"interval_s", "keep", "newest": {"id", "at", "member", "age_s"} | None, "count", "last":
    the member's last attempt {"at", "ok", "id" | "error", "pruned"} | None}``."""
    settings = load(twin)
    host = db_backup.DbHost.of_twin(twin)
    found = db_backup.backups(host)
    newest = found[-1] if found else None
    return {**asdict(settings), "count": len(found), "last": SCHEDULE.last(twin),
            "newest": None if newest is None else {"id": newest["id"], "at": newest["at"], "member": newest.get("member"),
                                                   "age_s": round(time.time() - float(newest["at"]), 1)}}


def summary(twin) -> str:
    """One line for ``gameday sandbox status``."""
    s = status(twin)
    newest = s["newest"]
    return schedule.summary_line("db backups", s, newest and
                                 f"{newest['id']} from {newest['member'] or '?'}, {newest['age_s']:.0f} s old")


class _Member(schedule.Loop):
    """The loop of ``db-backup-1``: when a backup is due, takes it from the current primary, prunes,
    records the outcome; stops at SIGTERM (:class:`gameday.sandbox.schedule.Loop`)."""

    errors = (GamedayError, pymysql.MySQLError, OSError)

    def __init__(self, twin):
        super().__init__(twin, SCHEDULE)

    def newest(self) -> dict[str, Any] | None:
        found = db_backup.backups(db_backup.DbHost.of_twin(self.twin))
        return found[-1] if found else None

    def attempt(self, settings: Settings) -> None:
        started = time.time()
        host = db_backup.DbHost.of_twin(self.twin)  # the primary now (db-2 after a failover)

        def backup_and_prune() -> tuple[dict[str, Any], list[str]]:  # a SIGTERM kills the dump; take() removes its temporary file
            taken = db_backup.take(host, timeout=max(60.0, min(db_backup.TOOL_TIMEOUT, settings.interval_s * 4)))
            return taken, prune(host, keep=settings.keep)
        done, failed = self.guarded(backup_and_prune)
        if failed is not None:
            self.failed({"at": started, "member": host.member}, failed, f"backup from {host.member} failed")
            return
        manifest, pruned = done
        self.succeeded({"at": started, "id": manifest["id"], "member": host.member,
                        "seconds": manifest["seconds"], "pruned": pruned},
                       f"backup {manifest['id']} from {host.member} in {manifest['seconds']} s "
                       f"({manifest['bytes']} bytes); pruned {', '.join(pruned) or 'nothing'}")


def workload(twin) -> Workload:
    """``db-backup-1`` (workload ``db-backup``, layer ``jobs``, zone regional like a cloud scheduler),
    started once the bootstrap job has seeded the database."""
    return schedule.workload(twin, name=NAME, workload=WORKLOAD, module="gameday.sandbox.db_backup_schedule",
                             after=["bootstrap"], ready=SCHEDULE.ready_path(twin))


def main(argv: list[str] | None = None) -> int:
    return schedule.main(argv, module="gameday.sandbox.db_backup_schedule",
                         description="The twin's scheduled database backups (a supervised member).", make_loop=_Member)


if __name__ == "__main__":
    sys.exit(main())
