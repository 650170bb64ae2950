"""Kafka records as chaos and playbooks touch them: publish raw records, read a (small) topic whole,
read a consumer group's committed offsets. The same code on the sandbox and on GKE::

    sent = publish_raw(bootstrap, "content-events", [b"{not json", b"[]"], key=b"poison")
    sent[0]           # {"partition": 1, "offset": 4711}
    records = read_all(bootstrap, "content-events.dlq")      # [{"partition", "offset", "key", "value", "headers"}]
    committed(bootstrap, "indexer", "content-events")        # {0: 120, 1: 98, 2: 131} (-1: none yet)

Every call takes a timeout and raises :class:`gameday.kafka_admin.KafkaUnavailable` when the cluster
cannot answer in time.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from . import kafka_client
from .deadline import Deadline
from .kafka_admin import TIMEOUT, KafkaUnavailable, _quiet, admin

__all__ = ["publish_raw", "read_all", "end_offsets", "committed", "commit", "move_group_past",
           "wait_committed_past"]



def _consumer(bootstrap: str, group: str) -> Consumer:
    """A consumer of ``group`` that commits nothing by itself (the caller closes it)."""
    return Consumer(kafka_client.settings({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
                                           "socket.connection.setup.timeout.ms": 2000, "logger": _quiet}))

def publish_raw(bootstrap: str, topic: str, values: list[bytes], *, key: bytes | None = None,
                timeout: float = TIMEOUT) -> list[dict[str, int]]:
    """Send ``values`` as they are (acks=all) and wait for every acknowledgement; returns where each
    landed, in order. Raises KafkaUnavailable naming the first refusal or the timeout."""
    producer = Producer(kafka_client.settings({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
                                               "socket.connection.setup.timeout.ms": 2000, "logger": _quiet}))
    landed: list[dict[str, int] | str | None] = [None] * len(values)
    lock = threading.Lock()

    def reporter(i: int):
        def on_delivery(err, msg) -> None:
            with lock:
                landed[i] = err.str() if err is not None else {"partition": msg.partition(), "offset": msg.offset()}
        return on_delivery

    for i, value in enumerate(values):
        producer.produce(topic, key=key, value=value, on_delivery=reporter(i))
    deadline = Deadline(timeout)
    while any(x is None for x in landed) and not deadline.expired():
        producer.poll(0.05)
    producer.flush(max(0.1, deadline.remaining()))
    refused = [x for x in landed if not isinstance(x, dict)]
    if refused:
        raise KafkaUnavailable(f"Kafka did not acknowledge {len(refused)} of {len(values)} records on {topic}: "
                               f"{refused[0] or 'no answer within ' + format(timeout, 'g') + 's'}")
    return [x for x in landed if isinstance(x, dict)]


def _partitions(bootstrap: str, topic: str, timeout: float) -> list[int]:
    try:
        md = admin(bootstrap).list_topics(timeout=timeout)  # all topics: asking for one may auto-create it
    except KafkaException as err:
        raise KafkaUnavailable(f"Kafka did not answer a metadata request: {err}") from err
    found = md.topics.get(topic)
    if found is None or found.error is not None or not found.partitions:
        return []
    return sorted(found.partitions)


# the partition's leader is moving: asked again (librdkafka does not always flag these retriable)
LEADER_MOVED = {KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE}


def _watermarks(reader: Consumer, topic: str, partition: int, deadline: Deadline) -> tuple[int, int]:
    """(low, high) of one partition. A retriable error (the leader just moved: NOT_LEADER_FOR_PARTITION
    right after a preferred leader election, whose answer races the clients' metadata) is asked again
    until ``deadline``; any other error, or the last one at the deadline, raises KafkaException."""
    last: KafkaException | None = None
    while last is None or not deadline.expired():
        try:
            return reader.get_watermark_offsets(TopicPartition(topic, partition), timeout=max(0.5, deadline.remaining()))
        except KafkaException as err:
            if not (err.args[0].retriable() or err.args[0].code() in LEADER_MOVED):
                raise
            last = err
        time.sleep(min(0.2, max(0.0, deadline.remaining())))
    raise last


def read_all(bootstrap: str, topic: str, *, start: dict[int, int] | None = None,
             timeout: float = TIMEOUT) -> list[dict[str, Any]]:
    """Every record of ``topic`` from its first offset (or ``start``'s, per partition) to its end as
    of the call, without joining a group (for small ranges: a dead-letter topic, what was published
    since a moment). A topic that does not exist reads as []."""
    deadline = Deadline(timeout)
    parts = _partitions(bootstrap, topic, deadline.remaining())
    if not parts:
        return []
    reader = _consumer(bootstrap, f"gameday-reader-{uuid.uuid4().hex[:8]}")
    try:
        ends = {p: _watermarks(reader, topic, p, deadline) for p in parts}
        first = {p: max(low, (start or {}).get(p, low)) for p, (low, _high) in ends.items()}
        todo = {p for p, (_low, high) in ends.items() if high > first[p]}
        reader.assign([TopicPartition(topic, p, first[p]) for p in todo])
        out: list[dict[str, Any]] = []
        while todo and not deadline.expired():
            for msg in reader.consume(num_messages=500, timeout=min(0.5, max(0.05, deadline.remaining()))):
                if msg.error():
                    continue  # end-of-partition and transient errors: the deadline bounds the wait
                p = msg.partition()
                if p in todo and msg.offset() < ends[p][1]:
                    out.append({"partition": p, "offset": msg.offset(), "key": msg.key(), "value": msg.value(),
                                "headers": {k: (v or b"").decode(errors="replace") for k, v in msg.headers() or []}})
                    if msg.offset() + 1 >= ends[p][1]:
                        todo.discard(p)
        if todo:
            raise KafkaUnavailable(f"{topic}: partitions {sorted(todo)} were not read to their end within {timeout:g}s")
        return sorted(out, key=lambda r: (r["partition"], r["offset"]))
    except KafkaException as err:
        raise KafkaUnavailable(f"Kafka did not serve {topic}: {err}") from err
    finally:
        reader.close()


def end_offsets(bootstrap: str, topic: str, *, timeout: float = TIMEOUT) -> dict[int, int]:
    """The next offset of each partition of ``topic`` (its high watermark) now."""
    deadline = Deadline(timeout)
    parts = _partitions(bootstrap, topic, timeout)
    reader = _consumer(bootstrap, f"gameday-reader-{uuid.uuid4().hex[:8]}")
    try:
        return {p: _watermarks(reader, topic, p, deadline)[1] for p in parts}
    except KafkaException as err:
        raise KafkaUnavailable(f"Kafka did not report the end of {topic}: {err}") from err
    finally:
        reader.close()


def committed(bootstrap: str, group: str, topic: str, *, timeout: float = TIMEOUT) -> dict[int, int]:
    """The group's committed offset per partition of ``topic`` (-1 where it committed none), read
    without joining the group."""
    parts = _partitions(bootstrap, topic, timeout)
    reader = _consumer(bootstrap, group)
    try:
        got = reader.committed([TopicPartition(topic, p) for p in parts], timeout=timeout)
        return {tp.partition: tp.offset if tp.offset >= 0 else -1 for tp in got}
    except KafkaException as err:
        raise KafkaUnavailable(f"Kafka did not report offsets for group {group!r}: {err}") from err
    finally:
        reader.close()


def move_group_past(bootstrap: str, group: str, topic: str, offsets: dict[int, int], *, timeout: float) -> None:
    """Commit ``offset + 1`` for the group on each ``{partition: offset}`` (Kafka allows it only while
    the group has no member: stop its consumers first). Retries until ``timeout``."""
    from confluent_kafka import ConsumerGroupTopicPartitions

    from .deadline import wait_until
    wanted = [TopicPartition(topic, p, o + 1) for p, o in offsets.items()]
    errors: list[str] = []

    def moved() -> bool:
        future = admin(bootstrap).alter_consumer_group_offsets([ConsumerGroupTopicPartitions(group, wanted)])
        try:
            future[group].result(timeout=5)
            return True
        except KafkaException as err:  # e.g. the group still has members (their sessions have not ended)
            errors[:] = [str(err)]
            return False

    wait_until(moved, timeout=timeout, interval=1.0,
               what=f"Kafka to accept new offsets for group {group} on {topic} (last refusal: {errors or 'none'})")


def commit(bootstrap: str, group: str, topic: str, offsets: dict[int, int], *, timeout: float = TIMEOUT) -> None:
    """Commit ``{partition: next offset}`` for a group that has no member consuming (a bookmark, e.g.
    the dead letters reviewed so far)."""
    writer = _consumer(bootstrap, group)
    try:
        writer.commit(offsets=[TopicPartition(topic, p, o) for p, o in offsets.items()], asynchronous=False)
    except KafkaException as err:
        raise KafkaUnavailable(f"Kafka did not take offsets {offsets} of group {group!r} on {topic}: {err}") from err
    finally:
        writer.close()


def wait_committed_past(bootstrap: str, group: str, topic: str, offsets: dict[int, int], *,
                        timeout: float) -> dict[int, int]:
    """Block until the group has committed past every ``{partition: offset}``; returns its offsets.
    Raises DeadlineExceeded naming the partitions still at or before theirs."""
    from .deadline import wait_until
    from .errors import DeadlineExceeded
    last: dict[int, int] = {}

    def past() -> bool:
        last.update(committed(bootstrap, group, topic, timeout=min(5.0, timeout)))
        return all(last.get(p, -1) > o for p, o in offsets.items())

    try:
        wait_until(past, timeout=timeout, interval=0.5, what=f"group {group} to commit past {offsets} on {topic}")
    except DeadlineExceeded as err:
        raise DeadlineExceeded(f"{err} (committed now: {last})",
                               hint="the indexer is blocked on these events: `gameday playbook kafka --apply`") from err
    return dict(last)
