"""How far a standby region's Kafka is behind its upstream, measured on both real clusters.

::

    got = lag(Twin.create("default-r2"))
    got["behind"]                                   # records of the upstream not yet copied here
    got["topics"]["content-events"]                 # {"mirrored_topic": "r1.content-events",
                                                    #  "source_end", "replicated", "mirrored_end", "behind"}
    got["checkpoint_age_s"]                         # age of the newest group checkpoint (None: none yet)
    wait_caught_up(twin, timeout=60)                # seconds until it has what the upstream had when the
                                                    # wait began (behind == 0 once writes stop)

The measuring core takes no twin, only the two clusters and MirrorMaker's names, so a standby
elsewhere (Strimzi on GKE: :mod:`gameday.targets.kubernetes_mirror`) is measured the same way::

    measure("source:9092", "target:9092", topics=["content-events"], source_alias="europe-west2",
            offsets_topic="mirrormaker2-cluster-offsets",
            connector="europe-west2->europe-west1.MirrorSourceConnector")

How it is measured, per partition of each mirrored topic (:data:`.members.mirror.TOPICS`):

- ``source_end``: the upstream partition's end offset (high watermark). The twin's producers are not
  transactional, so every upstream offset below it is a record.
- ``replicated``: the next upstream offset MirrorMaker has still to copy: one past the source offset
  it committed in Connect's offsets topic (``mm2-offsets.<source>.internal`` on the twin, read
  ``read_committed``). The twin's MirrorMaker runs exactly once (:mod:`.members.mirror`): the records and this
  offset are committed in one transaction, so every upstream record below ``replicated`` is in the
  mirrored topic, once (a MirrorMaker that copies at least once commits its offsets after the
  records, every ``offset.flush.interval.ms``: ``behind`` may then count records already copied,
  never fewer than are missing). A partition it has not committed yet counts from the upstream's first offset
  (it copies from the earliest).
- ``behind = source_end - replicated``: records acknowledged upstream and not (yet) here. 0 when
  caught up: an exact RPO for the standby if the upstream were lost now.
- ``mirrored_end`` is reported but not compared: each copy transaction also writes a commit marker,
  which takes an offset, so a mirrored topic's end offset is more than its record count (with
  at-least-once copying it would equal ``source_end`` only until a restart duplicated a batch).

``checkpoint_age_s`` is the age of the newest record in ``<source>.checkpoints.internal`` (the
translated offsets of the upstream's ``indexer`` group): MirrorMaker writes one when a checkpointed
group's offsets move, so it grows while that group commits nothing new upstream.

Raises :class:`gameday.kafka_admin.KafkaUnavailable` when either cluster cannot answer in time (with
the upstream lost, how far behind the standby was can no longer be read from Kafka).
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any, Callable, Iterable

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from ..deadline import Deadline
from ..errors import DeadlineExceeded
from ..kafka_admin import TIMEOUT, KafkaUnavailable, _quiet, admin
from .members import mirror
from .twin import Twin

SOURCE_CONNECTOR = "MirrorSourceConnector"
CHECKPOINT_TAIL = 20  # records read back from the end of each checkpoints partition


def _reader(bootstrap: str) -> Consumer:
    """A consumer outside any group that reads committed records only and reports each partition's end."""
    return Consumer({"bootstrap.servers": bootstrap, "group.id": f"gameday-mirror-lag-{uuid.uuid4().hex[:8]}",
                     "enable.auto.commit": False, "isolation.level": "read_committed",
                     "enable.partition.eof": True, "socket.connection.setup.timeout.ms": 2000, "logger": _quiet})


def _partitions(bootstrap: str, topic: str, deadline: Deadline) -> list[int]:
    try:
        md = admin(bootstrap).list_topics(timeout=max(0.5, deadline.remaining()))
    except KafkaException as err:
        raise KafkaUnavailable(f"Kafka at {bootstrap} did not answer a metadata request: {err}") from err
    found = md.topics.get(topic)
    if found is None or found.error is not None or not found.partitions:
        return []
    return sorted(found.partitions)


def watermarks(bootstrap: str, topic: str, *, timeout: float = TIMEOUT) -> dict[int, tuple[int, int]]:
    """``{partition: (first offset, end offset)}`` of ``topic`` now ({} when it does not exist)."""
    deadline = Deadline(timeout)
    parts = _partitions(bootstrap, topic, deadline)
    if not parts:
        return {}
    reader = _reader(bootstrap)
    try:
        return {p: reader.get_watermark_offsets(TopicPartition(topic, p), timeout=max(0.5, deadline.remaining()))
                for p in parts}
    except KafkaException as err:
        raise KafkaUnavailable(f"Kafka at {bootstrap} did not report the offsets of {topic}: {err}") from err
    finally:
        reader.close()


def _stable_ends(bootstrap: str, topic: str, parts: list[int], deadline: Deadline) -> dict[int, int]:
    """Each partition's last stable offset (LSO): how far a ``read_committed`` reader can get now. A
    topic written in transactions that never pause (MirrorMaker's offsets while it copies a steady
    stream) nearly always has one open, so its end (EOF) is seldom reached: the LSO is."""
    from confluent_kafka import IsolationLevel
    from confluent_kafka.admin import OffsetSpec
    try:
        futures = admin(bootstrap).list_offsets({TopicPartition(topic, p): OffsetSpec.latest() for p in parts},
                                                isolation_level=IsolationLevel.READ_COMMITTED,
                                                request_timeout=max(0.5, deadline.remaining()))
        return {tp.partition: f.result(timeout=max(0.5, deadline.remaining())).offset for tp, f in futures.items()}
    except (KafkaException, TimeoutError) as err:
        raise KafkaUnavailable(f"Kafka at {bootstrap} did not report the stable offsets of {topic}: {err}") from err


def read_committed(bootstrap: str, topic: str, start: dict[int, int], deadline: Deadline) -> list[Any]:
    """The committed records (confluent_kafka Messages) of ``topic`` from ``start`` (partition ->
    offset, or ``OFFSET_BEGINNING``) up to each partition's last stable offset when the call began,
    read ``read_committed``. Use it, not :func:`gameday.kafka_records.read_all`, for a topic
    MirrorMaker writes: the last offset of a mirrored partition is a transaction marker, never a
    record, and a killed mirror's aborted records must not count."""
    if not start:
        return []
    ends = _stable_ends(bootstrap, topic, sorted(start), deadline)
    reader = _reader(bootstrap)
    try:
        todo = set()
        for p, offset in start.items():
            low, _high = reader.get_watermark_offsets(TopicPartition(topic, p), timeout=max(0.5, deadline.remaining()))
            if max(low, offset) < ends[p]:
                todo.add(p)
        reader.assign([TopicPartition(topic, p, start[p]) for p in todo])
        out = []
        while todo and not deadline.expired():
            for msg in reader.consume(num_messages=500, timeout=min(0.5, max(0.05, deadline.remaining()))):
                err = msg.error()
                if err is not None and err.code() == KafkaError._PARTITION_EOF:
                    todo.discard(msg.partition())
                elif err is None:
                    if msg.offset() < ends[msg.partition()]:
                        out.append(msg)
                    if msg.offset() + 1 >= ends[msg.partition()]:
                        todo.discard(msg.partition())
            if todo:  # past the stable end, maybe over transaction markers, with no record there to say so
                for tp in reader.position([TopicPartition(topic, p) for p in todo]):
                    if tp.offset >= ends[tp.partition]:
                        todo.discard(tp.partition)
        if todo:
            raise KafkaUnavailable(f"{topic} at {bootstrap}: partitions {sorted(todo)} were not read to their end in time")
        return out
    except KafkaException as err:
        raise KafkaUnavailable(f"Kafka at {bootstrap} did not serve {topic}: {err}") from err
    finally:
        reader.close()


def source_offsets(bootstrap: str, offsets_topic: str, source_alias: str, *, connector: str = SOURCE_CONNECTOR,
                   timeout: float = TIMEOUT) -> dict[tuple[str, int], int]:
    """``{(upstream topic, partition): next offset to copy}`` from the source offsets MirrorMaker's
    ``connector`` committed in Connect's offsets topic ``offsets_topic`` at ``bootstrap`` (the
    target cluster): keys ``[connector, {"cluster": source_alias, "topic", "partition"}]``, the
    latest value per key wins, a tombstone removes it. Empty before MirrorMaker first committed.
    ``connector`` is ``MirrorSourceConnector`` in dedicated mode (the twin) and
    ``<source>-><target>.MirrorSourceConnector`` under Strimzi."""
    deadline = Deadline(timeout)
    parts = _partitions(bootstrap, offsets_topic, deadline)
    out: dict[tuple[str, int], int] = {}
    for msg in read_committed(bootstrap, offsets_topic, {p: OFFSET_BEGINNING for p in parts}, deadline):
        try:
            name, where = json.loads(msg.key())
            key = (str(where["topic"]), int(where["partition"]))
            if name != connector or where.get("cluster") != source_alias:
                continue
        except (TypeError, ValueError, KeyError):
            continue  # another connector's or a foreign record: not ours to read
        if msg.value() is None:
            out.pop(key, None)
        else:
            out[key] = int(json.loads(msg.value())["offset"]) + 1  # Connect stores the last copied offset
    return out


def newest_checkpoint_age(bootstrap: str, checkpoints_topic: str, *, timeout: float = TIMEOUT) -> float | None:
    """Seconds since the newest record of ``checkpoints_topic`` at ``bootstrap`` (None: none, or no
    such topic)."""
    deadline = Deadline(timeout)
    ends = watermarks(bootstrap, checkpoints_topic, timeout=deadline.remaining())
    start = {p: max(low, high - CHECKPOINT_TAIL) for p, (low, high) in ends.items() if high > low}
    stamps = [msg.timestamp()[1] for msg in read_committed(bootstrap, checkpoints_topic, start, deadline)]
    newest = max((s for s in stamps if s > 0), default=None)
    return None if newest is None else round(max(0.0, time.time() - newest / 1000), 1)


def measure(source_bootstrap: str, target_bootstrap: str, *, topics: Iterable[str], offsets_topic: str,
            source_alias: str, connector: str = SOURCE_CONNECTOR, mirrored: Callable[[str], str] | None = None,
            checkpoints_topic: str | None = None, timeout: float = TIMEOUT) -> dict[str, Any]:
    """How far the cluster at ``target_bootstrap`` is behind the one at ``source_bootstrap`` (MirrorMaker
    alias ``source_alias``) on each upstream topic of ``topics``, from the source offsets ``connector``
    committed in ``offsets_topic`` (see the module docstring). ``mirrored(topic)`` names the copy
    (default ``<source_alias>.<topic>``, MirrorMaker's DefaultReplicationPolicy); ``checkpoints_topic``
    (on the target) gives ``checkpoint_age_s``, None when not given. The result is :func:`lag`'s.
    Raises KafkaUnavailable when either cluster cannot answer within ``timeout`` seconds."""
    deadline = Deadline(timeout)
    name = mirrored or (lambda topic: f"{source_alias}.{topic}")
    copied = source_offsets(target_bootstrap, offsets_topic, source_alias, connector=connector,
                            timeout=deadline.remaining())
    out: dict[str, Any] = {}
    for topic in topics:
        target = name(topic)
        source = watermarks(source_bootstrap, topic, timeout=deadline.remaining())
        here = watermarks(target_bootstrap, target, timeout=deadline.remaining())
        partitions = {}
        for p, (low, high) in source.items():
            done = min(high, max(low, copied.get((topic, p), low)))
            partitions[p] = {"source_end": high, "replicated": done, "behind": high - done}
        out[topic] = {"mirrored_topic": target,
                      "source_end": sum(v["source_end"] for v in partitions.values()),
                      "replicated": sum(v["replicated"] for v in partitions.values()),
                      "mirrored_end": sum(high for _low, high in here.values()),
                      "behind": sum(v["behind"] for v in partitions.values()),
                      "partitions": partitions}
    age = None if checkpoints_topic is None else \
        newest_checkpoint_age(target_bootstrap, checkpoints_topic, timeout=max(1.0, deadline.remaining()))
    return {"source_region": source_alias, "behind": sum(t["behind"] for t in out.values()),
            "checkpoint_age_s": age, "topics": out}


def committed_source_offsets(twin: Twin, *, timeout: float = TIMEOUT) -> dict[tuple[str, int], int]:
    """:func:`source_offsets` of standby ``twin``'s mirror (Connect's offsets topic on this standby)."""
    return source_offsets(twin.kafka_bootstrap(), mirror.offsets_topic(twin), mirror.source_region(twin),
                          timeout=timeout)


def checkpoint_age(twin: Twin, *, timeout: float = TIMEOUT) -> float | None:
    """Seconds since the newest checkpoint MirrorMaker wrote here (None: no checkpoint yet)."""
    return newest_checkpoint_age(twin.kafka_bootstrap(), mirror.checkpoints_topic(twin), timeout=timeout)


def lag(twin: Twin, *, timeout: float = TIMEOUT) -> dict[str, Any]:
    """How far standby ``twin`` is behind its upstream (see the module docstring): :func:`measure`
    with the twin's names (:mod:`.members.mirror`)::

        {"source_region": "r1", "behind": 0, "checkpoint_age_s": 0.4,
         "topics": {"content-events": {"mirrored_topic": "r1.content-events", "source_end": 2000,
                                       "replicated": 2000, "mirrored_end": 2014, "behind": 0,
                                       "partitions": {0: {"source_end": ..., "replicated": ..., "behind": ...}}}}}
    """
    return measure(mirror.upstream_twin(twin).kafka_bootstrap(), twin.kafka_bootstrap(), topics=mirror.TOPICS,
                   offsets_topic=mirror.offsets_topic(twin), source_alias=mirror.source_region(twin),
                   mirrored=lambda topic: mirror.mirrored_topic(twin, topic),
                   checkpoints_topic=mirror.checkpoints_topic(twin), timeout=timeout)


def _short_of(last: dict[str, Any], marks: dict[tuple[str, Any], int]) -> dict[str, int]:
    """Per topic, how many records below ``marks`` (``(topic, partition) -> source offset``) are not
    replicated yet in the measurement ``last``; empty when none is."""
    short: dict[str, int] = {}
    for (name, part), end in marks.items():
        p = ((last["topics"].get(name) or {}).get("partitions") or {}).get(part)
        missing = end - int(p["replicated"]) if p is not None else end
        if missing > 0:
            short[name] = short.get(name, 0) + missing
    return short


def wait_caught_up(twin: Twin, timeout: float = 60.0, *, interval: float = 0.5) -> float:
    """Wait until standby ``twin`` has every record its upstream had acknowledged when the wait began:
    per partition, ``replicated`` reaches the ``source_end`` first measured (or ``lag()["behind"] ==
    0`` at any measurement); returns the seconds waited. Records acknowledged after the wait began are
    not waited for: while the site still writes (a failback's rebuild, the old region serving), MirrorMaker
    copies in transactions and an instant with nothing in flight may never come; a planned switchover
    stops writes first, so its wait is for every record. A cluster that does not answer counts as not
    caught up yet. Raises DeadlineExceeded naming how far behind it still was (or why it could not be
    measured)."""
    started = time.monotonic()
    deadline = Deadline(timeout)
    last: dict[str, Any] | None = None
    marks: dict[tuple[str, Any], int] | None = None  # (topic, partition) -> source_end when first measured
    error: KafkaUnavailable | None = None
    while not deadline.expired():
        try:
            last, error = lag(twin, timeout=max(1.0, min(TIMEOUT, deadline.remaining()))), None
        except KafkaUnavailable as err:
            error = err
        else:
            if last["behind"] == 0 or (marks is not None and not _short_of(last, marks)):
                return round(time.monotonic() - started, 2)
            if marks is None:
                marks = {(name, part): int(p["source_end"]) for name, t in last["topics"].items()
                         for part, p in (t.get("partitions") or {}).items()}
        time.sleep(min(interval, deadline.remaining()))
    if error is not None or last is None:
        detail = f"the lag could not be measured: {error}"
    else:
        short = _short_of(last, marks or {})
        detail = "still " + ", ".join(f"{n} records short of what it had when the wait began on {name}"
                                      for name, n in short.items())
    raise DeadlineExceeded(f"standby {twin.name!r} did not catch up with region {mirror.source_region(twin)} "
                           f"within {timeout:g}s: {detail}",
                           hint=f"`gameday sandbox --name {twin.name} logs mirror-1` shows what MirrorMaker is doing")
