"""Preflight's check of the backups themselves (issue 15, drill 6): how old are the last database
backup and the last search snapshot, against the age the layer allows in targets.yaml (its
``backup_age_s``, else its ``rpo_s``: :meth:`~gameday.recovery.targets_yaml.LayerTarget.backup_limit`)?

    objective, limit = targets.for_layer("db", environment=env).backup_limit()
    db = db_backup_age(target.last_db_backup, max_age_s=limit, objective=objective)
    search = search_snapshot_age(target.search_admin(timeout=5), max_age_s=..., objective=...)
    db.status            # "ok" | "stale" | "none" | "unknown"
    db.warning           # a sentence for the report and the progress output, or None when "ok"

Never raises for what it finds: no backup is ``none``, a target that cannot tell (a GamedayError)
is ``unknown`` with its reason, a malformed answer is ``unknown`` naming what is missing. An age
above ``max_age_s`` is ``stale``: losing the layer with its change log would lose up to that much.
(A fault that leaves the change log, a crash or a destroyed table, loses nothing that way: the binary
log replays from the backup, :mod:`gameday.recovery.layers`; hence ``backup_age_s`` beside ``rpo_s``.) The
game day warns; it does not fail (:mod:`gameday.runner.gameday`).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any, Callable

from ..errors import GamedayError
from ..search_admin import SearchAdmin

OK, STALE, NONE, UNKNOWN = "ok", "stale", "none", "unknown"
WHAT = {"db": "database backup", "search": "search snapshot", "media": "media backup"}


def age_text(seconds: float) -> str:
    """An age as people read it: ``45 s``, ``12 min``, ``3 h 05 min``, ``2 d 4 h``."""
    s = max(0, int(seconds))
    if s < 120:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


@dataclass(frozen=True)
class BackupAge:
    """The newest backup of one layer, judged against the age its layer allows (``max_age_s``, from targets.yaml ``objective``)."""

    layer: str  # "db" | "search" | "media"
    status: str  # OK | STALE | NONE | UNKNOWN
    max_age_s: float  # how old it may be
    id: str | None = None
    at: float | None = None  # when the backup completed (epoch seconds)
    age_s: float | None = None
    where: str = ""  # the repository or the target's own description
    reason: str = ""  # UNKNOWN / NONE: why
    objective: str = "rpo_s"  # the targets.yaml key max_age_s came from: "backup_age_s" or "rpo_s"

    @property
    def what(self) -> str:
        return WHAT.get(self.layer, f"{self.layer} backup")

    @property
    def warning(self) -> str | None:
        """One plain sentence about the RPO exposure, or None when the backup is recent enough."""
        name = "backup age target" if self.objective == "backup_age_s" else "RPO target"
        target = f"the {self.layer} layer's {name} of {age_text(self.max_age_s)} (targets.yaml {self.objective})"
        if self.status == STALE:
            age = age_text(self.age_s or 0)
            loss = (f"losing the uploads now would lose every file uploaded in the last {age}" if self.layer == "media"
                    else f"losing the {self.layer} layer with its change log now would lose up to {age} of writes")
            return (f"RPO exposure: the last {self.what} ({self.id}{', ' + self.where if self.where else ''}) is "
                    f"{age} old, older than {target}; {loss}.")
        if self.status == NONE:
            return f"RPO exposure: no {self.what} found ({self.reason}); {target} cannot be met from a backup."
        if self.status == UNKNOWN:
            return f"{self.what} age unknown: {self.reason}"
        return None

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "what": self.what, "warning": self.warning}


def judge(layer: str, max_age_s: float, *, id: str, at: float, where: str = "", now: float | None = None,
          objective: str = "rpo_s") -> BackupAge:
    """A backup that exists: ``ok`` when its age is within ``max_age_s``, else ``stale``."""
    age = max(0.0, (now if now is not None else time.time()) - at)
    return BackupAge(layer=layer, status=OK if age <= max_age_s else STALE, max_age_s=max_age_s, id=id, at=at,
                     age_s=round(age, 1), where=where, objective=objective)


def db_backup_age(last_backup: Callable[[], dict[str, Any] | None], *, max_age_s: float,
                  objective: str = "rpo_s", now: float | None = None) -> BackupAge:
    """The database's newest backup through ``last_backup`` (``Target.last_db_backup``: ``{"id",
    "at", ...}`` or None; a GamedayError when the target cannot tell)."""
    return _newest_backup_age("db", last_backup, max_age_s=max_age_s, objective=objective, now=now)


def media_backup_age(last_backup: Callable[[], dict[str, Any] | None], *, max_age_s: float,
                     objective: str = "rpo_s", now: float | None = None) -> BackupAge:
    """The site's newest media backup (``Target.last_media_backup``), judged as the database's: files
    uploaded since it are what losing the uploads now would lose."""
    return _newest_backup_age("media", last_backup, max_age_s=max_age_s, objective=objective, now=now)


def _newest_backup_age(layer: str, last_backup: Callable[[], dict[str, Any] | None], *, max_age_s: float,
                       objective: str, now: float | None) -> BackupAge:
    try:
        backup = last_backup()
    except GamedayError as err:
        return BackupAge(layer, UNKNOWN, max_age_s, objective=objective, reason=str(err))
    except OSError as err:  # a file or tool the target reads, not wrapped in its own error
        return BackupAge(layer, UNKNOWN, max_age_s, objective=objective, reason=f"{type(err).__name__}: {err}")
    if backup is None:
        return BackupAge(layer, NONE, max_age_s, objective=objective, reason="the target reports no complete backup")
    if not isinstance(backup, dict) or not isinstance(backup.get("at"), (int, float)) or isinstance(backup.get("at"), bool):
        got = sorted(backup) if isinstance(backup, dict) else type(backup).__name__
        return BackupAge(layer, UNKNOWN, max_age_s, objective=objective, reason=f"the target's answer has no numeric 'at' (got {got})")
    return judge(layer, max_age_s, id=str(backup.get("id", "?")), at=float(backup["at"]),
                 where=str(backup.get("kind", "")), now=now, objective=objective)


def _newest(api: SearchAdmin, repository: str) -> tuple[str, float] | None:
    """The newest successful snapshot of ``repository`` (``GET _snapshot/<repository>/_all``, the
    API meant for programs; ``_cat`` is for people): (name, end in epoch seconds)."""
    done = [(str(s["snapshot"]), s["end_time_in_millis"] / 1000.0) for s in api.snapshots(repository)
            if s.get("state") == "SUCCESS" and isinstance(s.get("end_time_in_millis"), (int, float))]
    return max(done, key=lambda x: x[1]) if done else None


def search_snapshot_age(api: SearchAdmin, *, max_age_s: float, objective: str = "rpo_s",
                        now: float | None = None) -> BackupAge:
    """The newest successful snapshot in any repository the search cluster has registered
    (``GET _snapshot``, then ``GET _snapshot/<repository>/_all``); a partial or failed snapshot is no backup."""
    try:
        repositories = sorted(api.request("GET", "/_snapshot") or {})
        if not repositories:
            return BackupAge("search", NONE, max_age_s, objective=objective,
                             reason="the search cluster has no snapshot repository registered")
        newest = {repo: snap for repo in repositories if (snap := _newest(api, repo)) is not None}
    except GamedayError as err:
        return BackupAge("search", UNKNOWN, max_age_s, objective=objective, reason=str(err))
    except (KeyError, TypeError, ValueError) as err:  # an answer not shaped as the API documents
        return BackupAge("search", UNKNOWN, max_age_s, objective=objective,
                         reason=f"unexpected snapshot listing: {type(err).__name__}: {err}")
    if not newest:
        return BackupAge("search", NONE, max_age_s, objective=objective, reason=f"no successful snapshot in {', '.join(repositories)}")
    repo, (sid, end) = max(newest.items(), key=lambda kv: kv[1][1])
    return judge("search", max_age_s, id=sid, at=end, where=f"repository {repo}", now=now, objective=objective)
