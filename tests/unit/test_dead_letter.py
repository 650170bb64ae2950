"""The indexer's dead letters without servers: which events are rejected and why, and the headers a
dead-lettered copy carries."""

import json

from confluent_kafka import Message

from gameday.site.dead_letter import HEADERS, dlq_topic, headers_of
from gameday.site.indexer import parse_batch


def _msg(offset, raw):
    return Message(topic="content-events", partition=2, offset=offset, value=raw)


GOOD = {"type": "article.published", "id": 7, "version": 3, "kind": "guidance", "slug": "s", "title": "t",
        "category": "c", "summary": "s", "body": "b"}


def test_each_unprocessable_event_is_rejected_with_its_reason_and_the_good_one_kept():
    bad = [b'{"type": "article.published", "id": ', json.dumps({"type": "article.published", "id": 1}).encode(),
           json.dumps({**GOOD, "id": "nine"}).encode(), json.dumps({**GOOD, "version": True}).encode(),
           json.dumps({**GOOD, "id": -4}).encode(), b"[]", b"\xff\xfe"]
    events, rejected = parse_batch([_msg(i, raw) for i, raw in enumerate(bad)] + [_msg(99, json.dumps(GOOD).encode())])
    assert [e["id"] for e in events] == [7]
    assert [m.offset() for m, _ in rejected] == list(range(len(bad)))
    reasons = [why for _, why in rejected]
    assert "without version, kind, slug" in reasons[1]
    assert "id must be a positive integer, not 'nine'" in reasons[2]
    assert "version must be a positive integer, not True" in reasons[3]
    assert "not an article.published event" in reasons[5]


def test_a_dead_lettered_copy_names_its_error_and_source():
    headers = dict(headers_of(_msg(41, b"x"), "ValueError: broken", now=1700000000.5))
    assert list(headers) == list(HEADERS)
    assert headers["gameday.error"] == b"ValueError: broken"
    assert (headers["gameday.source.topic"], headers["gameday.source.partition"], headers["gameday.source.offset"]) == (
        b"content-events", b"2", b"41")
    assert dlq_topic("content-events") == "content-events.dlq"
