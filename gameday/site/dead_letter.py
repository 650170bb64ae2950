"""The indexer's dead-letter topic: events it cannot process are set aside, not retried forever.

An event that is not JSON, or is JSON without the fields of an ``article.published`` event (or with
fields of the wrong type), would otherwise block its partition: the indexer cannot index it and
must not commit past it unseen. It goes to ``<content topic>.dlq`` (``content-events.dlq``, created
by the twin's bootstrap with the other topics) unchanged, with why and where from in its headers;
only once Kafka acknowledged it (acks=all) does the indexer commit past it::

    letters = DeadLetters(cfg)
    errors = letters.send([(msg, "not JSON: Expecting value (char 0)")])   # per message None if acked
    letters.close()

Headers (bytes, UTF-8): ``gameday.error``, ``gameday.source.topic``, ``gameday.source.partition``,
``gameday.source.offset``, ``gameday.dead_lettered_at`` (epoch seconds). The key is the source's.
"""

from __future__ import annotations

import time

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from .config import SiteConfig
from .events import PRODUCER_CONFIG

__all__ = ["DeadLetters", "dlq_topic", "HEADERS"]

SUFFIX = ".dlq"
HEADERS = ("gameday.error", "gameday.source.topic", "gameday.source.partition", "gameday.source.offset",
           "gameday.dead_lettered_at")
MAX_ERROR = 500  # characters of the reason kept in the header


def dlq_topic(content_topic: str) -> str:
    """The dead-letter topic of a content topic: ``content-events`` -> ``content-events.dlq``."""
    return content_topic + SUFFIX


def headers_of(msg: Message, reason: str, *, now: float | None = None) -> list[tuple[str, bytes]]:
    """The headers a dead-lettered copy of ``msg`` carries (see the module docstring)."""
    values = (reason[:MAX_ERROR], msg.topic(), str(msg.partition()), str(msg.offset()),
              f"{time.time() if now is None else now:.3f}")
    return [(name, value.encode()) for name, value in zip(HEADERS, values, strict=True)]


class DeadLetters:
    """A producer to the dead-letter topic of ``cfg.content_topic`` (created on first use)."""

    def __init__(self, cfg: SiteConfig):
        self.topic = dlq_topic(cfg.content_topic)
        self._config = {"bootstrap.servers": cfg.kafka_bootstrap_servers, "client.id": f"gameday-dlq-{cfg.member}",
                        **PRODUCER_CONFIG, "log_level": 2}
        self._producer: Producer | None = None

    def send(self, rejected: list[tuple[Message, str]], timeout: float = 5.0) -> list[str | None]:
        """Copy each ``(message, reason)`` to the dead-letter topic; per message None once Kafka
        acknowledged it, else why not (the caller then must not commit past it)."""
        if not rejected:
            return []
        if self._producer is None:
            self._producer = Producer(self._config)
        outcome: list[str | None] = ["not acknowledged"] * len(rejected)
        pending = [len(rejected)]

        def reporter(i: int):
            def on_delivery(err: KafkaError | None, _msg) -> None:
                outcome[i] = None if err is None else err.str()
                pending[0] -= 1
            return on_delivery

        for i, (msg, reason) in enumerate(rejected):
            try:
                self._producer.produce(self.topic, key=msg.key(), value=msg.value(), headers=headers_of(msg, reason),
                                       on_delivery=reporter(i))
            except (BufferError, KafkaException) as err:
                outcome[i] = f"not queued: {err}"
                pending[0] -= 1
        deadline = time.monotonic() + timeout
        while pending[0] > 0 and time.monotonic() < deadline:
            self._producer.poll(0.05)  # callbacks run here, in this thread
        return outcome

    def close(self, timeout: float = 2.0) -> None:
        if self._producer is not None:
            self._producer.flush(timeout)
            self._producer = None
