"""Pure helpers of the site indexer: batch decoding and offsets to commit (no servers)."""

import json

from confluent_kafka import Message

from gameday.site.events import article_event
from gameday.site.indexer import next_offsets, parse_batch, parse_events
from gameday.site.search import document


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


def _wordpress_event(post_id, version, **extra):
    """An event as WordPress's outbox.php writes it (the contract: gameday/site/events.py)."""
    event = {"event_id": f"0f8e7c1a-0000-4000-8000-{post_id:012d}", "type": "article.published",
             "action": "updated" if version > 1 else "published", "id": post_id, "version": version,
             "kind": "monograph", "slug": f"m-{post_id}", "title": "Apixaban", "category": "Anticoagulants",
             "summary": "", "body": "Plain text.", "permalink": f"/monographs/m-{post_id}/", "gameday_id": None,
             "updated_at": "2026-12-05T06:50:01Z", "occurred_at": "2026-12-05T06:50:01Z"}
    event.update(extra)
    return event


def test_wordpress_events_parse_with_their_extra_fields_and_dedupe_by_id_and_version():
    first, update = _wordpress_event(41, 1), _wordpress_event(41, 2, title="Apixaban (revised)")
    events, rejected = parse_batch([_msg(0, 0, first), _msg(0, 1, update), _msg(0, 2, update),  # a relay resend
                                    _msg(1, 0, _wordpress_event(42, 3, category=None, gameday_id=17))])
    assert rejected == []
    by_id = {e["id"]: e for e in events}
    assert (by_id[41]["version"], by_id[41]["title"]) == (2, "Apixaban (revised)")
    assert by_id[42]["category"] is None  # filed in no category: still indexed
    assert document(by_id[41]) == {"kind": "monograph", "slug": "m-41", "title": "Apixaban (revised)",
                                   "category": "Anticoagulants", "summary": "", "body": "Plain text.",
                                   "version": 2, "updated_at": "2026-12-05T06:50:01Z"}


def test_the_former_wordpress_shape_and_a_missing_category_key_are_dead_lettered():
    former = {"event_id": "e", "type": "content.published", "post_id": 41, "post_type": "post", "version": 1,
              "kind": "guidance", "slug": "s", "title": "T", "summary": "", "category": "switching"}
    no_category = _wordpress_event(43, 1)
    del no_category["category"]
    events, rejected = parse_batch([_msg(0, 0, former), _msg(0, 1, no_category),
                                    _msg(0, 2, _wordpress_event(44, 1, body=None))])
    assert events == []
    assert [why for _msg_, why in rejected] == [
        "ValueError: not an article.published event (nor an article.removed one)", "ValueError: article.published event without category",
        "ValueError: article.published event without body"]


def test_the_outbox_relay_switch_takes_only_0_or_1(monkeypatch, capsys):
    from gameday.site import indexer
    for key, value in {"GAMEDAY_DB_ADDR": "127.0.0.1:3306", "GAMEDAY_SEARCH_URLS": "http://127.0.0.1:9200",
                       "GAMEDAY_KAFKA_BOOTSTRAP": "127.0.0.1:9092", indexer.RELAY_ENV: "off"}.items():
        monkeypatch.setenv(key, value)
    assert indexer.main([]) == 2
    assert "GAMEDAY_INDEXER_OUTBOX_RELAY must be 1" in capsys.readouterr().err


def _removed(post_id, version, action="unpublished"):
    """A removal as WordPress's outbox.php writes it (the contract: gameday/site/events.py)."""
    return {"event_id": f"0f8e7c1a-0000-4000-8000-{post_id:012d}", "type": "article.removed", "action": action,
            "id": post_id, "version": version, "kind": "guidance", "slug": f"s-{post_id}",
            "permalink": f"/switching/s-{post_id}/", "gameday_id": None, "occurred_at": "2026-12-05T10:00:00Z"}


def test_a_removal_is_the_latest_event_of_its_id_only_by_version():
    events, rejected = parse_batch([
        _msg(0, 0, _wordpress_event(51, 1)), _msg(0, 1, _removed(51, 2)), _msg(0, 2, _wordpress_event(51, 1)),  # late
        _msg(1, 0, _removed(52, 4, "trashed")), _msg(1, 1, _wordpress_event(52, 5)),  # re-published after it
        _msg(2, 0, {"type": "article.removed", "id": 53, "version": 1}),  # id and version are all it needs
        _msg(2, 1, _removed(53, 1))])  # sent twice
    assert rejected == []
    assert sorted((e["id"], e["version"], e["type"]) for e in events) == [
        (51, 2, "article.removed"), (52, 5, "article.published"), (53, 1, "article.removed")]


def test_a_removal_without_a_version_is_dead_lettered():
    no_version = _removed(54, 1)
    del no_version["version"]
    events, rejected = parse_batch([_msg(0, 0, no_version), _msg(0, 1, _removed(55, "2"))])
    assert events == []
    assert [why for _msg_, why in rejected] == ["ValueError: article.removed event without version",
                                                "ValueError: version must be a positive integer, not '2'"]
