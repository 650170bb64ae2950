"""WordPress's media, judged by data: the attachment rows in the database against the files in the
uploads store and the newest backup's manifest (the media-lost drill and its playbook,
:mod:`gameday.recovery.layers.media`)::

    rows = attachments(target.db_connect)
    # [{"id": 2001, "file": "2026/12/leaflet-1.png", "title": "leaflet-1"}, ...]
    account(rows, target.media_files(), target.media_backup_manifest(backup_id))
    # {"attachments": 12, "present": 12, "matching": 8, "missing": [], "changed": [],
    #  "lost": [{"id": 2011, "file": "2026/12/late-1.png", "title": "late-1"}], ...}

An attachment row's file is its ``_wp_attached_file`` (relative to the uploads directory), as WordPress stores
it (the SQL: :data:`gameday.content.WP_ATTACHMENTS_SQL`). ``lost``: rows whose file is gone and that no backup
holds (uploaded after the backup: the RPO, in files), counted and named, never assumed none. ``missing``: gone
but the backup holds them (a restore brings them back). ``changed``: present, in the backup, but not its
checksum. Reached through the target, never by address alone.
"""

from __future__ import annotations

from typing import Any, Callable

import pymysql

from .content import WP_ATTACHMENTS_SQL
from .errors import GamedayError

TIMEOUT = 5.0


def attachments(connect: Callable[..., Any], *, where: str = "the site's database") -> list[dict[str, Any]]:
    """Every attachment row of the site's WordPress database with its file: ``[{"id", "file", "title"}]``,
    read through ``connect`` (``Target.db_connect``: the site's user, over TLS as the target says)."""
    try:
        conn = connect(timeout=TIMEOUT)
    except (pymysql.MySQLError, OSError) as err:
        raise GamedayError(f"{where} refused a connection: {type(err).__name__}",
                           hint="is the database up? `gameday playbook db` diagnoses it") from None
    try:
        with conn.cursor() as cur:
            cur.execute(WP_ATTACHMENTS_SQL)
            rows = cur.fetchall()
    except (pymysql.MySQLError, OSError) as err:
        raise GamedayError(f"{where}: reading the attachment rows failed: {type(err).__name__}") from None
    finally:
        conn.close()
    return [{"id": int(pid), "file": str(path), "title": str(title)} for pid, title, path in rows]


def account(rows: list[dict[str, Any]], present: dict[str, dict[str, Any]],
            backup: dict[str, dict[str, Any]] | None) -> dict[str, Any]:
    """Each attachment row's file against the store now (``present``) and a backup's manifest
    (``backup``, None when there is no backup): see the module's docstring for the lists."""
    backup = backup or {}
    missing, lost, changed, matching, newer = [], [], [], 0, 0
    for row in rows:
        now, saved = present.get(row["file"]), backup.get(row["file"])
        if now is None:
            (missing if saved is not None else lost).append(row)
        elif saved is None:
            newer += 1  # uploaded after the backup and still here: nothing to restore
        elif now["sha256"] == saved["sha256"] and int(now["size"]) == int(saved["size"]):
            matching += 1
        else:
            changed.append(row)
    return {"attachments": len(rows), "present": len(rows) - len(missing) - len(lost), "matching": matching,
            "not_in_backup_but_present": newer, "missing": missing, "changed": changed, "lost": lost}


def names(rows: list[dict[str, Any]], most: int = 20) -> str:
    """``2026/12/a.png (#2011), ...`` for people, at most ``most`` named, then how many more."""
    shown = ", ".join(f"{r['file']} (#{r['id']})" for r in rows[:most])
    return shown + (f" and {len(rows) - most} more" if len(rows) > most else "")
