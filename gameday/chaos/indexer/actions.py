"""Indexer faults: poison events on the content topic (events it cannot process)."""

import json
import time
import uuid
from typing import Any, Dict

from ...errors import UsageError
from .. import ledger
from ..context import activity, target

__all__ = ["publish_poison_events", "skip_poison_events"]

MAX_POISON = 100

# What a broken producer sends: not JSON, JSON without the event's fields, fields of the wrong type.
POISON = (
    b'{"type": "article.published", "id": ',  # cut short
    json.dumps({"type": "article.published", "id": 990001}).encode(),  # no version, kind, slug, ...
    json.dumps({"type": "article.published", "id": "nine", "version": 1, "kind": "guidance", "slug": "x",
                "title": "x", "category": "x", "summary": "x", "body": "x"}).encode(),  # id not an integer
    json.dumps({"type": "article.published", "id": 990002, "version": 1, "kind": "guidance", "slug": "x",
                "title": "x", "category": "x", "summary": "x", "body": "x",
                "updated_at": "yesterday"}).encode(),  # complete, but search's mapping refuses the date
)


@activity
def publish_poison_events(count: int = 4, dry_run: bool = False, configuration: Dict[str, Any] = None,
                          secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """Publish ``count`` events the indexer cannot process (cut-short JSON, missing fields, an id
    that is not an integer, a complete event whose date search refuses, in turn) straight to the
    content topic, as a broken producer would.
    The indexer must set them aside on its dead-letter topic and keep indexing. The undo (get the
    indexer past them, moving its group's offsets if it is blocked) is recorded first. From an
    experiment::

        provider: {type: python, module: gameday.chaos.indexer.actions, func: publish_poison_events, arguments: {count: 4}}

    Returns ``{"target", "layer": "indexer", "published": [{"partition", "offset"}], "key", "fault_at"}``.
    """
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_POISON:
        raise UsageError(f"count must be a whole number from 1 to {MAX_POISON}, not {count!r}")
    tgt = target(configuration, lock=not dry_run)
    values = [POISON[i % len(POISON)] for i in range(count)]
    if dry_run:
        return {"target": tgt.name, "layer": "indexer", "would_publish": count, "topic": tgt.CONTENT_TOPIC}
    key = f"gameday-poison-{uuid.uuid4().hex[:12]}"
    since = {str(p): o for p, o in tgt.content_offsets().items()}
    fault_at = time.time()
    with ledger.pending_undo(tgt.env, "skip_poison_events", {"topic": tgt.CONTENT_TOPIC, "since": since, "key": key},
                             reason=f"{count} poison events on {tgt.CONTENT_TOPIC}"):
        published = tgt.publish_raw_events(values, key=key.encode())
    return {"target": tgt.name, "layer": "indexer", "topic": tgt.CONTENT_TOPIC, "published": published,
            "key": key, "fault_at": fault_at, "how": "published unprocessable events (acks=all)"}


@activity
def skip_poison_events(configuration: Dict[str, Any] = None, secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """Rollback of :func:`publish_poison_events`: for every recorded batch of poison events, make sure
    the indexer is past them (nothing to do when it dead-lettered them)."""
    tgt = target(configuration)
    done = [ledger.run_record(record)["result"] for record in ledger.matching(tgt.env, "skip_poison_events")]
    return {"target": tgt.name, "layer": "indexer", "undone": done}
