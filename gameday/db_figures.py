"""Figures of the site's content that the destroy-content drill records before its fault and the
Cloud SQL restore compares a clone with: one digest, so both sides compute it the same way::

    digest([(1001, 1), (1002, 3)])                 # sha256 hex over "1001:1\n1002:3\n" (id order)
    range_figures(rows, 1001, 2000)                # {"rows", "min_id", "max_id", "sha256"} of that id range
    content_figures(cur, schema)                   # all content (gameday.content), through a pymysql cursor,
                                                   # + CHECKSUM TABLE of its base table

Neutral ground: used by ``gameday.chaos.db.actions`` (the fault) and ``gameday.targets.kubernetes_cloudsql``
(the clone queried), which do not import each other for it.
"""

from __future__ import annotations

import hashlib
from typing import Any, Iterable

from .content import ContentSchema


def digest(rows: Iterable[tuple]) -> str:
    """SHA-256 over ``id:version`` lines in id order."""
    h = hashlib.sha256()
    for article_id, version in sorted((int(i), int(v)) for i, v in rows):
        h.update(f"{article_id}:{version}\n".encode())
    return h.hexdigest()


def range_figures(rows: Iterable[tuple], first_id: int | None = None, last_id: int | None = None) -> dict[str, Any]:
    """``{"rows", "min_id", "max_id", "sha256"}`` of the ``(id, version)`` rows with ids in
    ``first_id``..``last_id`` (either bound None: open)."""
    kept = [(int(i), int(v)) for i, v in rows
            if (first_id is None or int(i) >= first_id) and (last_id is None or int(i) <= last_id)]
    ids = [i for i, _v in kept]
    return {"rows": len(kept), "min_id": min(ids) if ids else None, "max_id": max(ids) if ids else None,
            "sha256": digest(kept)}


def content_figures(cur: Any, schema: ContentSchema) -> dict[str, Any]:
    """What the content holds, read through ``cur`` (a pymysql cursor): :func:`range_figures` of every
    item's ``(id, version)`` and ``"checksum"`` (CHECKSUM TABLE of the schema's base table)."""
    cur.execute(schema.versions_sql())
    figures = range_figures(cur.fetchall())
    cur.execute(schema.checksum_sql())
    checksum = cur.fetchone()[1]
    return {**figures, "checksum": None if checksum is None else int(checksum)}
