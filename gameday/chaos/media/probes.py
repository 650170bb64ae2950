"""Media probes: the site's attachments against the uploads store and the newest backup, and that
backup's age (the RPO exposure: what losing the uploads now would lose)."""

from typing import Any, Dict

from ... import media
from ...errors import UsageError
from ...measure import backup_age
from ..context import activity, target

__all__ = ["media_status", "media_backup_age"]


@activity
def media_status(configuration: Dict[str, Any] = None, secrets: Dict[str, Any] = None) -> Dict[str, Any] | None:
    """The attachment rows against the files now and the newest backup's manifest
    (:func:`gameday.media.account`, plus ``"backup"``); None where the site keeps no media::

        provider: {type: python, module: gameday.chaos.media.probes, func: media_status}
    """
    tgt = target(configuration, lock=False)
    if not tgt.has_media():
        return None
    backup = tgt.last_media_backup()
    manifest = tgt.media_backup_manifest(backup["id"]) if backup else None
    return {"backup": backup, **media.account(tgt.media_attachments(), tgt.media_files(), manifest)}


@activity
def media_backup_age(max_age_s: float = 86400.0, configuration: Dict[str, Any] = None,
                     secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """The newest media backup's age against ``max_age_s`` (:func:`gameday.measure.backup_age.media_backup_age`):
    ``{"status": "ok"|"stale"|"none"|"unknown", "age_s", "id", "warning", ...}``."""
    if not 0 < float(max_age_s) <= 365 * 86400:
        raise UsageError(f"max_age_s must be between 0 and a year in seconds, not {max_age_s!r}")
    tgt = target(configuration, lock=False)
    return backup_age.media_backup_age(tgt.last_media_backup, max_age_s=float(max_age_s)).as_dict()
