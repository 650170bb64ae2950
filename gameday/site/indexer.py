"""The indexer: Kafka content events -> OpenSearch, plus the outbox relay.

Run one or more per environment (they share the consumer group ``indexer``)::

    GAMEDAY_DB_ADDR=... GAMEDAY_SEARCH_URLS=... GAMEDAY_KAFKA_BOOTSTRAP=... python -m gameday.site.indexer

* Consumer: group ``indexer`` on ``GAMEDAY_CONTENT_TOPIC`` and its copies from other regions
  (:func:`content_pattern`: ``content-events`` and ``r1.content-events``, ``r2.content-events``...
  mirrored by MirrorMaker 2 into a standby region, :mod:`gameday.sandbox.members.mirror`; a new one
  is picked up within 5 s), ``enable.auto.commit=false``,
  ``auto.offset.reset=earliest``. Reads batches of up to 500 events or 1 s, bulk-indexes them
  (doc id = article id, external version = article version; an ``article.removed`` event deletes the
  document with its version, so a duplicate or late event neither fails nor brings it back: see
  :mod:`.events`) and commits the offsets only after
  the bulk request succeeded: at-least-once delivery, made idempotent by id + version. While
  OpenSearch is down it keeps the batch, pauses its partitions (still polling, so it stays in the
  group) and retries with capped exponential back-off (0.5 s .. 5 s); nothing is committed.
  If a rebalance takes the partitions away meanwhile, the batch is dropped: the new owner
  re-reads it from the last committed offset.
* Outbox relay (a thread): every 2 s, re-publishes outbox rows still unsent after 3 s (the web app
  could not get a Kafka ack) and marks the acknowledged ones sent. Off with
  ``GAMEDAY_INDEXER_OUTBOX_RELAY=0``: when WordPress is the web tier, the Java event relay sends its
  outbox (``wp_gameday_outbox``) and the Python site's ``outbox`` table does not exist.
* Logs one line per batch to stdout. SIGTERM / SIGINT: finish the current step, close the
  consumer (leaving the group), flush the producer, exit 0.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from . import db
from .config import SiteConfig
from .dead_letter import DeadLetters
from .events import EVENT_TYPE, REMOVED_TYPE, EventPublisher
from .search import SearchClient, SearchError, SearchRejected, SearchUnavailable

log = logging.getLogger("gameday.site.indexer")

BATCH_MAX = 500
BATCH_WAIT = 1.0
BACKOFF_MIN = 0.5
BACKOFF_MAX = 5.0
RELAY_EVERY = 2.0
RELAY_AFTER = 3.0
RELAY_ENV = "GAMEDAY_INDEXER_OUTBOX_RELAY"  # "0": no outbox relay thread (see the module docstring)

CONSUMER_CONFIG = {
    "group.id": "indexer",
    "enable.auto.commit": False,
    "auto.offset.reset": "earliest",
    "session.timeout.ms": 10000,
    "heartbeat.interval.ms": 2000,
    "socket.connection.setup.timeout.ms": 1000,
    "reconnect.backoff.max.ms": 1000,
    "topic.metadata.refresh.interval.ms": 5000,
}

# the content event's fields (the contract: gameday/site/events.py): required and not null, or
# required and nullable (WordPress content may be filed in no category); a removal needs id and version
_EVENT_FIELDS = ("id", "version", "kind", "slug", "title", "summary", "body")
_NULLABLE_FIELDS = ("category",)
_REMOVED_FIELDS = ("id", "version")


def content_pattern(content_topic: str) -> str:
    """The subscription of the indexer: ``content_topic`` itself and its MirrorMaker copies, named
    ``<region>.<topic>`` (``r1.content-events``); not the dead-letter topic ``content-events.dlq``.
    A standby region's index is fed from the mirrored topic before it is promoted, and from its own
    topic after. A ``^`` pattern is a regular expression to Kafka clients (librdkafka)."""
    return "^(r[0-9]+\\.)?" + content_topic.replace(".", "\\.") + "$"


def parse_batch(messages: list[Message]) -> tuple[list[dict], list[tuple[Message, str]]]:
    """Decode a batch: the latest event per article id (an ``article.published`` or an
    ``article.removed`` one, whichever has the higher version), and the messages that are not a
    complete event of either type (not JSON, a field missing, an id or version not an integer), each
    with why: the caller dead-letters those (:mod:`.dead_letter`) instead of blocking on them. The
    fields: :mod:`.events`' docstring (the Python site's and WordPress's events alike)."""
    latest: dict[int, dict] = {}
    rejected: list[tuple[Message, str]] = []
    for msg in messages:
        try:
            event = json.loads(msg.value())
            kind = event.get("type") if isinstance(event, dict) else None
            if kind not in (EVENT_TYPE, REMOVED_TYPE):
                raise ValueError(f"not an {EVENT_TYPE} event (nor an {REMOVED_TYPE} one)")
            if kind == EVENT_TYPE:
                missing = [f for f in _EVENT_FIELDS if event.get(f) is None] + [f for f in _NULLABLE_FIELDS if f not in event]
            else:
                missing = [f for f in _REMOVED_FIELDS if event.get(f) is None]
            if missing:
                raise ValueError(f"{kind} event without {', '.join(missing)}")
            article_id, version = _whole(event["id"], "id"), _whole(event["version"], "version")
        except (ValueError, TypeError) as err:  # json.JSONDecodeError and UnicodeDecodeError are ValueErrors
            log.warning("rejecting message %s[%s]@%s: %s", msg.topic(), msg.partition(), msg.offset(), err)
            rejected.append((msg, f"{type(err).__name__}: {err}"))
            continue
        known = latest.get(article_id)
        if known is None or version > int(known["version"]):
            latest[article_id] = event
    return list(latest.values()), rejected


def _whole(value: object, name: str) -> int:
    """A positive integer field of an event (a bool, a float or a string is not one)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, not {value!r}")
    return value


def _event_key(msg: Message) -> tuple[str, int] | None:
    """``(article id, version)`` of a message :func:`parse_batch` accepted (None for any other)."""
    try:
        event = json.loads(msg.value())
        return str(event["id"]), int(event["version"])
    except (ValueError, TypeError, KeyError):
        return None


def parse_events(messages: list[Message]) -> tuple[list[dict], int]:
    """Decode a batch: latest version per article id, plus how many messages were rejected."""
    events, rejected = parse_batch(messages)
    return events, len(rejected)


def next_offsets(messages: list[Message]) -> list[TopicPartition]:
    """The offsets to commit after ``messages``: last offset + 1 per partition."""
    ends: dict[tuple[str, int], int] = {}
    for msg in messages:
        key = (msg.topic(), msg.partition())
        ends[key] = max(ends.get(key, -1), msg.offset() + 1)
    return [TopicPartition(topic, partition, offset) for (topic, partition), offset in ends.items()]


class Indexer:
    """The consumer loop; ``run()`` returns when ``stop`` is set."""

    def __init__(self, cfg: SiteConfig, stop: threading.Event):
        self.cfg = cfg
        self.stop = stop
        self.search = SearchClient(cfg.search_urls, index=cfg.content_index, auth=cfg.search_auth,
                                   verify=cfg.search_verify)
        self.consumer = Consumer({
            "bootstrap.servers": cfg.kafka_bootstrap_servers,
            "client.id": f"gameday-indexer-{cfg.member}",
            **CONSUMER_CONFIG,
            "error_cb": self._on_error,  # rate-limited; librdkafka's own log only for critical
            "logger": log,
            "log_level": 2,
        })
        self._revoked = threading.Event()
        self._last_error_log = 0.0
        self._carry: list[Message] = []  # received while a batch was being retried: the next batch
        self.dead_letters = DeadLetters(cfg)

    def _on_error(self, err: KafkaError) -> None:
        now = time.monotonic()
        if now - self._last_error_log >= 10.0:
            self._last_error_log = now
            log.warning("kafka: %s", err.str())

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        log.info("assigned %s", ", ".join(f"{p.topic}[{p.partition}]" for p in partitions) or "nothing")

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._revoked.set()
        log.info("revoked %s", ", ".join(f"{p.topic}[{p.partition}]" for p in partitions) or "nothing")

    def run(self) -> None:
        self.consumer.subscribe([content_pattern(self.cfg.content_topic)], on_assign=self._on_assign,
                                on_revoke=self._on_revoke)
        try:
            while not self.stop.is_set():
                carried, self._carry = self._carry, []
                messages = carried + self.consumer.consume(num_messages=BATCH_MAX - len(carried),
                                                           timeout=0 if carried else BATCH_WAIT)
                good = []
                for msg in messages:
                    if msg.error():
                        self._on_error(msg.error())
                    else:
                        good.append(msg)
                if good:
                    self._revoked.clear()
                    self._handle(good)
        finally:
            self.consumer.close()  # leaves the group promptly; nothing is auto-committed
            self.dead_letters.close()

    def _lag(self, offsets: list[TopicPartition]) -> int | None:
        total = 0
        for tp in offsets:
            try:
                _low, high = self.consumer.get_watermark_offsets(tp, cached=True)
            except KafkaException:
                return None
            if high is None or high < 0:
                return None
            total += max(0, high - tp.offset)
        return total

    def _rewind(self, messages: list[Message]) -> None:
        """Seek each partition of ``messages`` back to its first offset: the batch is read again."""
        first: dict[tuple[str, int], int] = {}
        for msg in messages:
            key = (msg.topic(), msg.partition())
            first[key] = min(first.get(key, msg.offset()), msg.offset())
        for (topic, partition), offset in first.items():
            try:
                self.consumer.seek(TopicPartition(topic, partition, offset))
            except KafkaException as err:  # e.g. the partition was revoked meanwhile: its new owner re-reads
                log.warning("could not seek %s[%s] back to %s: %s", topic, partition, offset, err.args[0].str())

    def _handle(self, messages: list[Message]) -> None:
        started = time.monotonic()
        events, rejected = parse_batch(messages)
        offsets = next_offsets(messages)
        result = self._index_with_retry(events, offsets)
        if result is None:
            return  # stopping, or the partitions moved to another consumer: do not commit
        rejected += [(msg, f"refused by search: {result['refused'][key]}") for msg in messages
                     if (key := _event_key(msg)) in result["refused"]]
        failed = [why for why in self.dead_letters.send(rejected) if why is not None]
        if failed:  # never commit past an event that is neither indexed nor set aside
            log.warning("could not dead-letter %d of %d rejected events (%s): reading the batch again",
                        len(failed), len(rejected), failed[0])
            self._rewind(messages)
            return
        try:
            self.consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as err:
            log.warning("indexed %d events but could not commit offsets (they will be re-read): %s",
                        len(messages), err.args[0].str())
            return
        lag = self._lag(offsets)
        dead = "".join(f" dead-lettered={m.topic()}[{m.partition()}]@{m.offset()}" for m, _ in rejected[:5])
        print(f"batch: {len(messages)} events, {len(events)} articles: indexed={result['indexed']}"
              f" removed={result['removed']} stale={result['stale']} rejected={len(rejected)}{dead}"
              f" lag={'?' if lag is None else lag}"
              f" in {1000 * (time.monotonic() - started):.0f} ms", flush=True)

    def _index_with_retry(self, events: list[dict], offsets: list[TopicPartition]) -> dict | None:
        """Bulk-index ``events`` until it succeeds (pausing the partitions while search is down);
        returns the bulk result plus ``"refused"``: ``{(article id, version): why}`` of the events
        search refused for what they are, or None when stopping or the partitions moved."""
        backoff = BACKOFF_MIN
        paused: list[TopicPartition] = []
        refused: dict[tuple[str, int], str] = {}
        try:
            while not self.stop.is_set():
                try:
                    return {**self.search.bulk_index(events), "refused": refused}
                except SearchRejected as err:  # never indexable: set aside, index the rest at once
                    log.warning("search refused %d of %d articles (dead-lettering them): %s",
                                len(err.rejected), len(events), err)
                    refused.update({(str(e["id"]), int(e["version"])): err.rejected[str(e["id"])]
                                    for e in events if str(e["id"]) in err.rejected})
                    events = [e for e in events if str(e["id"]) not in err.rejected]
                    continue
                except (SearchUnavailable, SearchError) as err:
                    log.warning("bulk index of %d articles failed, retrying in %.1fs: %s", len(events), backoff, err)
                if not paused:
                    paused = list(self.consumer.assignment())
                    self.consumer.pause(paused)
                # Keep polling while paused, so we stay in the group. Anything already fetched
                # still arrives: keep it (uncommitted) as the start of the next batch.
                waited_until = time.monotonic() + backoff
                while not self.stop.is_set() and time.monotonic() < waited_until:
                    for msg in self.consumer.consume(num_messages=BATCH_MAX, timeout=min(0.5, backoff)):
                        if msg.error():
                            self._on_error(msg.error())
                        else:
                            self._carry.append(msg)
                    if self._revoked.is_set():
                        log.warning("partitions revoked while retrying: dropping the batch of %d (re-read by their new owner)",
                                    len(events))
                        self._carry = []
                        return None
                backoff = min(BACKOFF_MAX, backoff * 2)
            return None
        finally:
            if paused and not self._revoked.is_set():
                try:
                    self.consumer.resume(paused)
                except KafkaException as err:
                    log.warning("could not resume partitions: %s", err.args[0].str())


class OutboxRelay(threading.Thread):
    """Every 2 s, re-publish outbox rows unsent for over 3 s and mark the acknowledged ones sent."""

    def __init__(self, cfg: SiteConfig, stop: threading.Event):
        super().__init__(name="outbox-relay", daemon=True)
        self.stop = stop
        self.db = db.Database(cfg)
        self.publisher = EventPublisher(cfg)

    def relay_once(self) -> tuple[int, int]:
        """One pass; returns (pending rows found, rows sent)."""
        rows = self.db.read(lambda conn: db.pending_outbox(conn, older_than=RELAY_AFTER, limit=BATCH_MAX))
        if not rows:
            return 0, 0
        errors = self.publisher.publish_many([row["payload"] for row in rows], timeout=5.0)
        sent = [row["id"] for row, error in zip(rows, errors, strict=True) if error is None]
        if sent:
            self.db.read(lambda conn: db.mark_sent(conn, sent))
        failed = [error for error in errors if error is not None]
        if failed:
            log.warning("outbox relay: %d of %d events not acknowledged, e.g. %s", len(failed), len(rows), failed[0])
        return len(rows), len(sent)

    def run(self) -> None:
        while not self.stop.wait(RELAY_EVERY):
            try:
                found, sent = self.relay_once()
            except db.DatabaseUnavailable as err:
                log.warning("outbox relay: %s", err)
                continue
            if found:
                print(f"outbox relay: {sent} of {found} pending events re-published", flush=True)
        self.publisher.close(timeout=2.0)
        self.db.close()


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        cfg = SiteConfig.from_env()
    except ValueError as err:
        print(f"indexer failed: {err}", file=sys.stderr)
        return 2
    relay_setting = os.environ.get(RELAY_ENV, "1").strip()
    if relay_setting not in ("0", "1"):
        print(f"indexer failed: {RELAY_ENV} must be 1 (relay the site's outbox, the default) or 0, "
              f"not {relay_setting!r}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def on_signal(signum, frame) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    relay = OutboxRelay(cfg, stop) if relay_setting == "1" else None
    if relay is not None:
        relay.start()
    print(f"indexer: group {CONSUMER_CONFIG['group.id']} on topics {content_pattern(cfg.content_topic)}"
          f" at {cfg.kafka_bootstrap_servers}"
          f" -> index {cfg.content_index} at {', '.join(cfg.search_urls)}"
          f"; the site's outbox relay {'on' if relay is not None else 'off'}", flush=True)
    try:
        Indexer(cfg, stop).run()
    except KafkaException as err:
        print(f"indexer failed: {err.args[0].str()}", file=sys.stderr)
        stop.set()
        return 1
    finally:
        stop.set()
        if relay is not None:
            relay.join(timeout=8.0)
    print("indexer: stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
