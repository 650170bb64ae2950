"""Does the search index match the database (the source of truth)? Count and checksum of
(article id, version) on both sides, as of one cut-off instant.

Editors and canaries publish all the time, and the indexer is about a second behind, so two reads
taken "now" never settle. Both sides are compared as of a cut ``T`` instead: the articles last
updated before ``T`` (the database's ``updated_at``, which each document carries too). An article
updated after ``T`` leaves the set on both sides once the indexer has caught up, so the comparison
is exact and converges. ``T`` is cut to whole milliseconds, the precision OpenSearch keeps::

    cut = cut_ms(db_now)                                      # the database's now (schema.now_sql)
    db = db_versions(ctx.db_query, cut, schema)               # {id: version}
    index = index_versions(ctx.search(30), "content", cut)    # {id: version}
    match = compare(db, index)                                # match.ok, match.describe()

Used by the search playbook's ``wait-index-matches-database`` step; the pure parts (:func:`digest`,
:func:`compare`, :func:`cut_ms`) are unit-tested.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import Callable

from .content import ContentSchema
from .errors import GamedayError

PAGE = 5000  # documents per scroll page
SCROLL = "1m"


def cut_ms(moment: dt.datetime) -> dt.datetime:
    """``moment`` truncated to whole milliseconds (OpenSearch's ``date`` keeps milliseconds)."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def digest(versions: dict[int, int]) -> str:
    """SHA-256 over ``id:version`` lines in id order: equal exactly when both sides hold the same
    articles at the same versions. The first 16 hex digits are shown in reports."""
    h = hashlib.sha256()
    for article_id in sorted(versions):
        h.update(f"{article_id}:{versions[article_id]}\n".encode())
    return h.hexdigest()


@dataclass(frozen=True)
class Comparison:
    """Both sides as of one cut: counts, checksums and, when they differ, which ids."""

    cut: str
    db_count: int
    index_count: int
    db_digest: str
    index_digest: str
    missing: list[int] = field(default_factory=list)  # in the database, not in the index
    extra: list[int] = field(default_factory=list)  # in the index, not in the database
    stale: list[int] = field(default_factory=list)  # in both, at another version

    @property
    def ok(self) -> bool:
        return self.db_count == self.index_count and self.db_digest == self.index_digest

    def describe(self) -> str:
        """One line for a step's detail: counts and checksums, and the first ids that differ."""
        head = (f"articles updated before {self.cut}: database {self.db_count} (sha256 {self.db_digest[:16]}), "
                f"index {self.index_count} (sha256 {self.index_digest[:16]})")
        if self.ok:
            return head + ": equal"
        parts = [f"{name} {len(ids)} (e.g. {', '.join(map(str, ids[:5]))})"
                 for name, ids in (("missing", self.missing), ("extra", self.extra), ("stale", self.stale)) if ids]
        return head + ": " + "; ".join(parts)

    def to_dict(self) -> dict:
        return {"cut": self.cut, "ok": self.ok, "db_count": self.db_count, "index_count": self.index_count,
                "db_sha256": self.db_digest, "index_sha256": self.index_digest, "missing": self.missing[:20],
                "extra": self.extra[:20], "stale": self.stale[:20]}


def compare(db: dict[int, int], index: dict[int, int], *, cut: str = "") -> Comparison:
    """Compare ``{id: version}`` of the database with the index's."""
    return Comparison(cut=cut, db_count=len(db), index_count=len(index), db_digest=digest(db),
                      index_digest=digest(index), missing=sorted(set(db) - set(index)),
                      extra=sorted(set(index) - set(db)),
                      stale=sorted(i for i in set(db) & set(index) if db[i] != index[i]))


def db_versions(query: Callable[..., list[tuple]], cut: dt.datetime, schema: ContentSchema) -> dict[int, int]:
    """``{id: version}`` of the articles last updated before ``cut`` (``query`` as
    :meth:`gameday.recovery.context.Context.db_query`; ``schema``: the target's content schema)."""
    rows = query(schema.versions_before_sql(), (cut,), timeout=30)
    return {int(i): int(v) for i, v in rows}


def index_versions(admin, index: str, cut: dt.datetime) -> dict[int, int]:
    """``{id: version}`` of the documents of ``index`` whose ``updated_at`` is before ``cut``,
    scrolled in pages of :data:`PAGE` (``admin``: a :class:`gameday.search_admin.SearchAdmin`).
    Bounded: no more pages than the first answer's total allows."""
    body = {"size": PAGE, "_source": False, "docvalue_fields": ["version"], "sort": ["_doc"], "track_total_hits": True,
            "query": {"range": {"updated_at": {"lt": cut.isoformat(timespec="milliseconds"),
                                               "format": "strict_date_optional_time"}}}}
    page = admin.request("POST", f"/{index}/_search", params={"scroll": SCROLL}, json=body)
    total = int(page["hits"]["total"]["value"])
    found: dict[int, int] = {}
    scroll_id = page.get("_scroll_id")
    try:
        for _ in range(total // PAGE + 2):
            hits = page["hits"]["hits"]
            if not hits:
                break
            for hit in hits:
                found[int(hit["_id"])] = int(hit["fields"]["version"][0])
            page = admin.request("POST", "/_search/scroll", json={"scroll": SCROLL, "scroll_id": scroll_id})
            scroll_id = page.get("_scroll_id", scroll_id)
    finally:
        if scroll_id:
            admin.request("DELETE", "/_search/scroll", ok=(200, 404), json={"scroll_id": scroll_id})
    if len(found) != total:
        raise GamedayError(f"index {index!r}: scrolled {len(found)} of {total} documents updated before {cut}")
    return found
