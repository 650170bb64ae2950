"""Content events: build them and publish them to Kafka with acks=all, waiting for the ack.

Used by the web app (after the article transaction commits) and the indexer's outbox relay::

    publisher = EventPublisher(cfg)
    event = article_event(article_row)          # the JSON the indexer consumes
    publisher.publish(event, timeout=5)         # raises EventNotAcknowledged if not acked in time
    publisher.close()

The content event (the contract between every producer and the indexer, one JSON object per Kafka
record on ``content-events``, keyed by ``id``). Two producers write it: this module's
:func:`article_event` (the Python sample site) and WordPress's must-use plugin
(``gameday/sandbox/wordpress/mu-plugins/gameday/outbox.php``, relayed by the Java event relay,
``services/event-relay``). One consumer reads it: :func:`gameday.site.indexer.parse_batch`.

=============  ========  ===========================================================================
field          required  meaning
=============  ========  ===========================================================================
type           yes       ``article.published`` for a first publish and an update alike;
                         ``article.removed`` when the item stops being public (WordPress: unpublished
                         to a draft, pending, private or scheduled status, trashed, or deleted; which
                         one is ``action``): the indexer deletes the document
id             yes       positive integer, the search document id (the site's article id;
                         WordPress's post id)
version        yes       positive integer, one more per change of that id, removals included (the
                         indexer keeps the highest: OpenSearch external versions, so a record sent
                         twice or late is harmless: a removal of version N is not undone by a
                         published event below N, nor a published event of N by a removal below N)
kind           pub       ``guidance`` or ``monograph`` (WordPress: a post, or the ``monograph`` type)
slug           pub       string
title          pub       string
category       pub key   the category's name, or null (WordPress content filed in none)
summary        pub       string, may be empty (WordPress: the excerpt)
body           pub       plain text (WordPress: the content without markup)
updated_at     no        ISO 8601, UTC when it carries no offset
event_id       no        UUID of this event (WordPress: also the outbox row's and the Kafka header's)
action         no        ``published`` or ``updated`` (WordPress's ``article.published``);
                         ``unpublished``, ``trashed`` or ``deleted`` (``article.removed``)
permalink      no        the item's path, ``/switching/<slug>/`` or ``/monographs/<slug>/`` (WordPress)
gameday_id     no        the catalogue id of a seeded WordPress item, else null
occurred_at    no        when the change was committed (WordPress, UTC)
=============  ========  ===========================================================================

"yes" fields must be present and not null in every event; "pub" fields likewise in an
``article.published`` event ("pub key": present, null allowed), and are carried, not required, in an
``article.removed`` one (WordPress sends kind and slug); any other field is carried and ignored (the
index keeps :data:`gameday.site.search._DOC_FIELDS`). A record that breaks this goes to the
dead-letter topic (:mod:`.dead_letter`). Consumers dedupe by ``id`` + ``version``: the relay and the
site's own outbox relay are at-least-once. The index keeps a removal's version for
``index.gc_deletes`` (:data:`gameday.site.search.INDEX_SETTINGS`: a day), so within that a stale
published event cannot bring a removed item back.

The producer is idempotent (``enable.idempotence=true``, ``acks=all``), gives up on a message after
``delivery.timeout.ms=5000``, and is created lazily on first use, so it is safe to build the
publisher before gunicorn forks. It is thread-safe: each caller waits for its own delivery report
while serving everyone's callbacks. The message key is the article id, so all versions of an
article land on one partition, in order.
"""

from __future__ import annotations

import json
import logging
import threading
import time

from confluent_kafka import KafkaError, KafkaException, Producer

from ..errors import GamedayError
from .config import SiteConfig
from .search import REMOVED_TYPE  # the item is no longer public: the indexer deletes its document

__all__ = ["EventPublisher", "EventNotAcknowledged", "article_event", "EVENT_TYPE", "REMOVED_TYPE",
           "PRODUCER_CONFIG"]

log = logging.getLogger(__name__)

EVENT_TYPE = "article.published"

PRODUCER_CONFIG = {
    "acks": "all",
    "enable.idempotence": True,
    "delivery.timeout.ms": 5000,
    "request.timeout.ms": 3000,
    "socket.connection.setup.timeout.ms": 1000,
    "linger.ms": 5,
    "reconnect.backoff.max.ms": 1000,
}


class EventNotAcknowledged(GamedayError):
    """Kafka did not acknowledge (acks=all) the event within the timeout."""


def article_event(article: dict) -> dict:
    """The ``article.published`` event for an article row (``updated_at`` as ISO 8601)."""
    updated = article.get("updated_at")
    return {
        "type": EVENT_TYPE,
        "id": int(article["id"]),
        "version": int(article["version"]),
        "kind": article["kind"],
        "slug": article["slug"],
        "title": article["title"],
        "category": article["category"],
        "summary": article["summary"],
        "body": article["body"],
        "updated_at": updated if isinstance(updated, str) or updated is None else updated.isoformat(),
    }


class _RateLimitedLog:
    """Log a librdkafka error at most once per ``every`` seconds per error code."""

    def __init__(self, every: float = 10.0):
        self.every = every
        self._last: dict[int, float] = {}
        self._lock = threading.Lock()

    def __call__(self, err: KafkaError) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._last.get(err.code(), -self.every) < self.every:
                return
            self._last[err.code()] = now
        log.warning("kafka: %s", err.str())


class EventPublisher:
    """Publish content events to ``cfg.content_topic`` on ``cfg.kafka_bootstrap``."""

    def __init__(self, cfg: SiteConfig, *, extra_config: dict | None = None):
        self.topic = cfg.content_topic
        self._config = {
            "bootstrap.servers": cfg.kafka_bootstrap_servers,
            "client.id": f"gameday-site-{cfg.member}",
            **PRODUCER_CONFIG,
            "error_cb": self._on_error,
            "logger": log,
            "log_level": 2,  # connection failures reach error_cb (rate-limited), not the log
            **(extra_config or {}),
        }
        self._producer: Producer | None = None
        self._lock = threading.Lock()
        self._log_error = _RateLimitedLog()
        self._fatal = False

    def _on_error(self, err: KafkaError) -> None:
        if err.fatal():  # e.g. the idempotence sequence broke after a broker lost data
            self._fatal = True
            log.error("kafka producer hit a fatal error, it will be recreated: %s", err.str())
        else:
            self._log_error(err)

    def _get(self) -> Producer:
        with self._lock:
            if self._fatal:
                self._producer, self._fatal = None, False  # unusable: drop it and start afresh
            if self._producer is None:
                self._producer = Producer(self._config)
            return self._producer

    def publish(self, event: dict, timeout: float = 5.0) -> None:
        """Send ``event`` keyed by its id; return once Kafka acknowledged it (acks=all).

        Raises :class:`EventNotAcknowledged` on a delivery error or after ``timeout`` seconds
        (the message may still be delivered later: consumers must be idempotent).
        """
        errors = self.publish_many([event], timeout=timeout)
        if errors[0] is not None:
            raise EventNotAcknowledged(errors[0])

    def publish_many(self, events: list[dict], timeout: float = 5.0) -> list[str | None]:
        """Send several events at once; per event ``None`` if acknowledged, else why not."""
        producer = self._get()
        outcome: list[str | None] = ["not acknowledged"] * len(events)
        pending = [0]
        lock = threading.Lock()
        all_done = threading.Event()

        def reporter(i: int, event: dict):
            def on_delivery(err: KafkaError | None, msg) -> None:
                outcome[i] = None if err is None else f"Kafka rejected event {event['id']}v{event['version']}: {err.str()}"
                with lock:
                    pending[0] -= 1
                    if pending[0] == 0:
                        all_done.set()
            return on_delivery

        for i, event in enumerate(events):
            try:
                producer.produce(self.topic, key=str(event["id"]).encode(), value=json.dumps(event).encode(),
                                 on_delivery=reporter(i, event))
            except BufferError:
                outcome[i] = "the Kafka producer queue is full (brokers unreachable?)"
                continue
            except KafkaException as err:
                outcome[i] = f"Kafka refused the event: {err.args[0].str()}"
                continue
            with lock:
                pending[0] += 1
        with lock:
            if pending[0] == 0:
                all_done.set()
        deadline = time.monotonic() + timeout
        while not all_done.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            producer.poll(min(0.05, remaining))
        return [
            ("Kafka did not acknowledge event {}v{} within {:g}s".format(e["id"], e["version"], timeout)
             if why == "not acknowledged" else why)
            for e, why in zip(events, outcome, strict=True)
        ]

    def close(self, timeout: float = 2.0) -> int:
        """Flush pending messages for up to ``timeout`` seconds; returns how many were left."""
        with self._lock:
            producer, self._producer = self._producer, None
        if producer is None:
            return 0
        return producer.flush(timeout)
