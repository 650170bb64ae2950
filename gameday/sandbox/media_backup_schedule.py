"""The twin's media backups on a schedule: one supervised member, ``media-backup-1``, on a twin whose
web tier is WordPress (issue 17, "media uploads lost and restored from backup").

Every ``interval_s`` it takes a backup of the uploads (:func:`gameday.sandbox.media.take`: a copy with
a SHA-256 manifest, renamed into place when whole) and keeps the newest ``keep``. The interval counts
from the newest complete backup, whoever took it (a drill's own ``take_media_backup`` too), so the
first one is taken as soon as the member starts on a twin that has none (before ``sandbox up``
returns: a game day's preflight then finds a backup) and a restart does not pile backups up. A
SIGTERM mid-copy ends the member and leaves only a ``.partial`` directory, which is no backup::

    topology.workloads.append(workload(twin))
    SCHEDULE.ensure(twin)                   # at up: the settings file from the environment or the defaults
    SCHEDULE.configure(twin, interval_s=10)  # at run time; applies within schedule.POLL_S
    status(twin)                            # {"interval_s", "keep", "count", "newest": {...} | None, "last"}

Settings (``<state>/data/media-backup-schedule.json``, no secrets): ``GAMEDAY_MEDIA_BACKUP_INTERVAL_S``
and ``GAMEDAY_MEDIA_BACKUP_KEEP`` when the twin is brought up (kept from then on), else half the web
layer's ``backup_age_s`` in targets.yaml (86400 s: every 12 h) and :data:`gameday.sandbox.media.KEEP`.
Its loop and files are :mod:`gameday.sandbox.schedule`'s, shared with ``db-backup-1`` and
``search-snapshot-1``. On GKE the platform keeps the uploads (a GCS bucket with object versioning, or
Filestore backups); the Kubernetes twin runs no such member.
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict
from typing import Any

from ..errors import GamedayError
from . import media, schedule
from .schedule import Settings
from .spec import Workload

NAME = "media-backup-1"
WORKLOAD = "media-backup"
ENV_INTERVAL = "GAMEDAY_MEDIA_BACKUP_INTERVAL_S"
ENV_KEEP = "GAMEDAY_MEDIA_BACKUP_KEEP"
DEFAULT_INTERVAL_S = 3600.0  # when the web layer's backup age limit is 0 or targets.yaml is unreadable
SCHEDULE = schedule.Schedule(layer="web", stem="media-backup", env_interval=ENV_INTERVAL, env_keep=ENV_KEEP,
                             fallback_interval_s=DEFAULT_INTERVAL_S, default_keep=media.KEEP)


def status(twin) -> dict[str, Any]:
    """``{"interval_s", "keep", "count" (complete backups), "newest": {"id", "at", "files", "bytes",
    "age_s", ...} | None, "last": the member's last attempt | None}``."""
    found = media.newest(twin)
    if found is not None:
        found["age_s"] = round(time.time() - found["at"], 1)
    return {**asdict(SCHEDULE.load(twin)), "last": SCHEDULE.last(twin), "count": len(media.backups(twin)), "newest": found}


def summary(twin) -> str:
    """One line for ``gameday sandbox status``."""
    s = status(twin)
    newest = s["newest"]
    return schedule.summary_line("media backups", s, newest and
                                 f"{newest['id']} ({newest['files']} files), {newest['age_s']:.0f} s old")


class _Member(schedule.Loop):
    """The loop of ``media-backup-1`` (:class:`gameday.sandbox.schedule.Loop`)."""

    errors = (GamedayError, OSError)

    def __init__(self, twin):
        super().__init__(twin, SCHEDULE)

    def newest(self) -> dict[str, Any] | None:
        return media.newest(self.twin)

    def attempt(self, settings: Settings) -> None:
        started = time.time()
        done, failed = self.guarded(lambda: media.take(self.twin, keep=settings.keep))
        if failed is not None:
            self.failed({"at": started}, failed, "media backup failed")
            return
        seconds = round(time.time() - started, 2)
        self.succeeded({"at": started, "id": done["id"], "files": done["files"], "bytes": done["bytes"],
                        "seconds": seconds},
                       f"media backup {done['id']}: {done['files']} files, {done['bytes']} bytes in {seconds} s")


def workload(twin, *, after: tuple[str, ...] = ("bootstrap",)) -> Workload:
    """``media-backup-1`` (workload ``media-backup``, layer ``jobs``, zone regional like a cloud
    scheduler), started once the workloads ``after`` are ready (the twin's bootstrap job: after
    WordPress's install on a region's active twin, so its uploads directory exists)."""
    return schedule.workload(twin, name=NAME, workload=WORKLOAD, module="gameday.sandbox.media_backup_schedule",
                             after=list(after), ready=SCHEDULE.ready_path(twin))


def main(argv: list[str] | None = None) -> int:
    return schedule.main(argv, module="gameday.sandbox.media_backup_schedule",
                         description="The twin's scheduled media backups (a supervised member).", make_loop=_Member)


if __name__ == "__main__":
    sys.exit(main())
