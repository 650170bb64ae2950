"""Pure helpers of the site indexer: batch decoding and offsets to commit (no servers)."""

import json

from confluent_kafka import Message

from gameday.site.events import article_event
from gameday.site.indexer import next_offsets, parse_events


def _event(article_id, version, **extra):
    row = {"id": article_id, "version": version, "kind": "guidance", "slug": f"s-{article_id}",
           "title": "T", "category": "Safety", "summary": "S", "body": "B", "updated_at": None}
    row.update(extra)
    return article_event(row)


def _msg(partition, offset, value):
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return Message(topic="content-events", partition=partition, offset=offset, value=raw)


def test_keeps_latest_version_per_article():
    events, skipped = parse_events([
        _msg(0, 1, _event(7, 2)), _msg(0, 2, _event(7, 3)), _msg(1, 0, _event(8, 1)), _msg(0, 3, _event(7, 1)),
    ])
    assert skipped == 0
    assert sorted((e["id"], e["version"]) for e in events) == [(7, 3), (8, 1)]


def test_skips_malformed_messages():
    bad = [b"not json", json.dumps({"type": "other", "id": 1, "version": 1}).encode(),
           json.dumps({"type": "article.published", "id": 1}).encode(), b"[]"]
    events, skipped = parse_events([_msg(0, i, v) for i, v in enumerate(bad)] + [_msg(0, 9, _event(1, 1))])
    assert skipped == 4
    assert [e["id"] for e in events] == [1]


def test_next_offsets_is_last_plus_one_per_partition():
    msgs = [_msg(0, 5, _event(1, 1)), _msg(0, 9, _event(2, 1)), _msg(2, 0, _event(3, 1)), _msg(0, 7, _event(4, 1))]
    got = sorted((tp.topic, tp.partition, tp.offset) for tp in next_offsets(msgs))
    assert got == [("content-events", 0, 10), ("content-events", 2, 1)]


def test_article_event_shape():
    event = _event(5, 2)
    assert event["type"] == "article.published"
    assert set(event) == {"type", "id", "version", "kind", "slug", "title", "category", "summary", "body",
                          "updated_at"}


def test_subscription_is_the_content_topic_and_its_region_mirrors_not_the_dead_letters():
    import re

    from gameday.site.indexer import content_pattern
    pattern = content_pattern("content-events")
    assert pattern.startswith("^")  # a regular expression to librdkafka
    matches = {t for t in ("content-events", "r1.content-events", "r2.content-events", "r12.content-events",
                           "content-events.dlq", "r1.content-events.dlq", "r1.gameday-canary", "xcontent-events",
                           "mm2-offsets.r1.internal", "r1.checkpoints.internal") if re.search(pattern, t)}
    assert matches == {"content-events", "r1.content-events", "r2.content-events", "r12.content-events"}
    assert re.search(content_pattern("a.b"), "r1.a.b") and not re.search(content_pattern("a.b"), "axb")
