"""Media faults: the site's uploaded files (WordPress uploads) lost. The undo, recorded before a file
is touched, is the restore from the newest media backup (any process can run it: ``gameday
cleanup``); the media playbook restores, proves each attachment's file back with the backup's
checksum, and counts and names the files uploaded after the backup, which no backup holds."""

import time
from typing import Any, Dict

from ...errors import UsageError
from .. import ledger, playbook_activity
from ..context import activity, target

__all__ = ["take_media_backup", "lose_media_uploads", "restore_media_uploads", "apply_media_playbook"]

LAYER = "media"


def _media_target(configuration, *, lock: bool):
    tgt = target(configuration, lock=lock)
    if not tgt.has_media():
        raise UsageError(f"{tgt.name}: no media store to back up or lose ({tgt.no_media_store()}); nothing was "
                         "touched", hint=tgt.MEDIA_HINT)
    return tgt


@activity
def take_media_backup(configuration: Dict[str, Any] = None, secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """Back the uploads up now, as the platform's schedule does (a copy with a manifest of paths,
    SHA-256 and sizes). From an experiment::

        provider: {type: python, module: gameday.chaos.media.actions, func: take_media_backup}

    Returns the backup: ``{"id", "at", "kind", "files", "bytes", "where"}``."""
    return _media_target(configuration, lock=True).take_media_backup()


@activity
def lose_media_uploads(fraction: float = 1.0, dry_run: bool = False, configuration: Dict[str, Any] = None,
                       secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """Delete ``fraction`` (above 0, at most 1) of the uploaded files, as a lost volume or bucket
    would. The undo (a restore from the newest media backup) is recorded first; a target with no
    media backup refuses, touching nothing (no undo could bring the files back). From an experiment::

        provider: {type: python, module: gameday.chaos.media.actions, func: lose_media_uploads,
                   arguments: {fraction: 1.0}}

    Returns ``{"target", "layer": "media", "lost": [paths], "files_before", "backup", "fault_at"}``.
    """
    try:
        fraction = float(fraction)
    except (TypeError, ValueError):
        raise UsageError(f"fraction must be a number above 0 and at most 1, not {fraction!r}") from None
    if not 0 < fraction <= 1:
        raise UsageError(f"fraction must be above 0 and at most 1, not {fraction!r}")
    tgt = _media_target(configuration, lock=not dry_run)
    backup = tgt.last_media_backup()
    if backup is None and dry_run:  # the guard's dry run comes before the method's backup step
        return {"target": tgt.name, "layer": LAYER, "would_lose": f"{fraction:.0%} of {len(tgt.media_files())} files",
                "backup": None, "refuses": "unless a media backup exists by then"}
    if backup is None:
        raise UsageError(f"{tgt.name}: no media backup, so nothing could restore the uploads; nothing was touched",
                         hint="take one first (gameday.chaos.media.actions.take_media_backup)")
    before = len(tgt.media_files())
    if dry_run:
        return {"target": tgt.name, "layer": LAYER, "would_lose": f"{fraction:.0%} of {before} files",
                "backup": backup["id"]}
    fault_at = time.time()
    with ledger.pending_undo(tgt.env, "restore_media", {"layer": LAYER},
                             reason=f"lost {fraction:.0%} of the media uploads ({before} files)"):
        lost = tgt.lose_media(fraction)
    return {"target": tgt.name, "layer": LAYER, "lost": lost, "files_before": before, "backup": backup["id"],
            "fault_at": fault_at}


@activity
def restore_media_uploads(configuration: Dict[str, Any] = None, secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """Rollback of :func:`lose_media_uploads`: run every recorded media undo (a restore from the newest
    backup; harmless when the files are back)."""
    tgt = target(configuration)
    restored = [ledger.run_record(r)["result"] for r in ledger.matching(tgt.env, "restore_media", layer=LAYER)]
    return {"target": tgt.name, "layer": LAYER, "restored": restored}


@activity
def apply_media_playbook(configuration: Dict[str, Any] = None, secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """The recovery, as ``gameday playbook media --apply`` does it, inside the experiment's method: the
    files restored from the newest backup, each attachment's file checked against the manifest's
    checksum, the lost files (uploaded after the backup) counted and named, readers served 200. A
    failed playbook fails the activity, naming its step."""
    return playbook_activity.apply(target(configuration), LAYER, failing="restore the media uploads",
                                   hint="`gameday playbook media --apply` shows each step; `gameday cleanup` "
                                        "restores from the newest backup")
