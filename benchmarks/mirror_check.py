"""A benchmark-side check (issue 16: one switchover and one failover test in ``make test``, the rest here),
run by ``make benchmark``: ``.venv/bin/pytest -x -s benchmarks/mirror_check.py -p no:cacheprovider``.

MirrorMaker 2 between two real Kafka clusters: twin mm-a (127.41.x.y, region r1) and its standby
mm-b (127.42.x.y), each only its three brokers, mm-b also the ``mirror`` workload. Records
acknowledged on mm-a arrive in mm-b's ``r1.<topic>`` exactly once, even across a SIGKILL of the
mirror, and :mod:`gameday.sandbox.mirror_lag` measures the lag from both clusters."""

from __future__ import annotations

import json
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from gameday.deadline import Deadline, wait_until
from gameday.kafka_records import committed, publish_raw
from gameday.sandbox import lifecycle, mirror_lag
from gameday.sandbox.bootstrap import create_topics
from gameday.sandbox.client import SandboxClient
from gameday.sandbox.members import kafka, mirror
from gameday.sandbox.paths import SandboxPaths
from gameday.sandbox.shape import Shape, Upstream
from gameday.sandbox.spec import Topology
from gameday.sandbox.twin import CANARY_TOPIC, CONTENT_TOPIC, Twin
from gameday.site.indexer import content_pattern

NET_A, NET_B = 41, 42
RECORDS = 300


def _topology(twin: Twin) -> Topology:
    workloads = [kafka.workload(twin), *([mirror.workload(twin)] if twin.shape.standby else [])]
    return Topology(name=twin.name, sandbox_id=twin.paths.sandbox_id, workloads=workloads,
                    backoff_base=0.5, backoff_cap=2.0)


def _prepare(twin: Twin) -> None:
    twin.paths.ensure()
    kafka.prepare(twin)
    if twin.shape.standby:
        mirror.prepare(twin)


def _create_topics(twin: Twin) -> None:
    """The twin's topics, as its bootstrap job makes them (a job the supervisor retries: a metadata
    answer that does not list a topic created a moment ago fails one try with KeyError)."""
    def attempt() -> bool:
        try:
            create_topics(twin.kafka_bootstrap(), CONTENT_TOPIC)
        except KeyError:
            return False
        return True
    wait_until(attempt, timeout=60, what=f"{twin.name}'s topics to be created", interval=0.5)


def _up(twin: Twin) -> float:
    return lifecycle.up(twin.paths, _topology(twin), prepare=lambda: _prepare(twin), timeout=180).seconds


@pytest.fixture(scope="module")
def regions(request):
    """(mm-a, mm-b): two fresh twins, mm-b a standby of mm-a; both wiped when the module ends."""
    names = ("mm-a", "mm-b")
    for name in reversed(names):
        lifecycle.down(SandboxPaths.for_name(name), wipe=True)

    def teardown():
        with ThreadPoolExecutor(max_workers=2) as pool:
            for done in [pool.submit(lifecycle.down, SandboxPaths.for_name(n), wipe=True) for n in names]:
                done.result()
    request.addfinalizer(teardown)
    a = Twin.create("mm-a", NET_A)
    Shape.standby_of("r2", Upstream(twin=a.name, net=a.net, region=a.shape.region), index=2).save(
        SandboxPaths.for_name("mm-b"))
    b = Twin.create("mm-b", NET_B)
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=2) as pool:  # two supervisors; the mirror retries until mm-a answers
        ups = {t.name: pool.submit(_up, t) for t in (a, b)}
        seconds = {name: up.result() for name, up in ups.items()}
    _create_topics(a)  # the mirror finds new source topics within refresh.topics.interval.seconds
    print(f"\nmirror twins up in {time.monotonic() - started:.1f}s ({', '.join(f'{k} {v:.1f}s' for k, v in seconds.items())})")
    return a, b


def _records(bootstrap: str, topic: str) -> list[bytes]:
    """Every committed record value of ``topic`` (read_committed, to each partition's end)."""
    parts = mirror_lag.watermarks(bootstrap, topic)
    assert parts, f"{topic} does not exist at {bootstrap}"
    return [m.value() for m in mirror_lag.read_committed(bootstrap, topic, {p: OFFSET_BEGINNING for p in parts}, Deadline(30))]


def test_acknowledged_records_arrive_exactly_once_across_a_mirror_kill(regions):
    a, b = regions
    region = a.shape.region  # "r1": mm-a's region, the prefix of its topics on mm-b
    assert mirror.mirrored_topic(b, CONTENT_TOPIC) == f"{region}.{CONTENT_TOPIC}"
    values = [json.dumps({"seq": i, "at": time.time()}).encode() for i in range(RECORDS)]
    started = time.monotonic()
    publish_raw(a.kafka_bootstrap(), CONTENT_TOPIC, values[:RECORDS // 2])
    publish_raw(a.kafka_bootstrap(), CANARY_TOPIC, [b"canary-%d" % i for i in range(30)])
    first = mirror_lag.wait_caught_up(b, timeout=60)
    print(f"\n{RECORDS // 2} records mirrored {time.monotonic() - started:.1f}s after the first was sent "
          f"(wait_caught_up {first:.1f}s)")

    SandboxClient(b.paths).kill("mirror-1")  # as a node dies: SIGKILL, restarted by the supervisor
    killed = time.monotonic()
    publish_raw(a.kafka_bootstrap(), CONTENT_TOPIC, values[RECORDS // 2:])
    behind = mirror_lag.lag(b)
    assert behind["topics"][CONTENT_TOPIC]["behind"] >= 1  # the dead mirror copied none of them yet
    again = mirror_lag.wait_caught_up(b, timeout=90)
    print(f"caught up {time.monotonic() - killed:.1f}s after the mirror was killed (wait_caught_up {again:.1f}s)")

    got = mirror_lag.lag(b)
    assert got["behind"] == 0
    content = got["topics"][CONTENT_TOPIC]
    assert content["mirrored_topic"] == f"{region}.{CONTENT_TOPIC}"
    assert content["source_end"] == content["replicated"] == RECORDS
    assert content["mirrored_end"] >= RECORDS  # plus a commit marker per copy transaction
    assert got["topics"][CANARY_TOPIC]["replicated"] == 30
    # exactly once: the same records, none lost, none doubled by the kill
    mirrored = _records(b.kafka_bootstrap(), f"{region}.{CONTENT_TOPIC}")
    assert Counter(mirrored) == Counter(_records(a.kafka_bootstrap(), CONTENT_TOPIC)) == Counter(values)
    assert sorted(_records(b.kafka_bootstrap(), f"{region}.{CANARY_TOPIC}")) == sorted(b"canary-%d" % i for i in range(30))
    # the dead letters stay in their region
    assert mirror_lag.watermarks(b.kafka_bootstrap(), f"{region}.{CONTENT_TOPIC}.dlq") == {}


def test_indexer_group_offsets_are_checkpointed_and_synced(regions):
    a, b = regions
    region = a.shape.region
    ends = {p: high for p, (_low, high) in mirror_lag.watermarks(a.kafka_bootstrap(), CONTENT_TOPIC).items()}
    upstream = Consumer({"bootstrap.servers": a.kafka_bootstrap(), "group.id": "indexer", "enable.auto.commit": False})
    try:  # the upstream indexer has indexed everything
        upstream.commit(offsets=[TopicPartition(CONTENT_TOPIC, p, end) for p, end in ends.items()], asynchronous=False)
    finally:
        upstream.close()
    mirrored_ends = {p: high for p, (_low, high) in
                     mirror_lag.watermarks(b.kafka_bootstrap(), f"{region}.{CONTENT_TOPIC}").items()}
    # mm-b runs no indexer: MirrorMaker writes the translated offsets onto its idle "indexer" group
    # (exact at the head: past every copied record, at most its transaction's commit marker before the end)
    synced = wait_until(lambda: (got := committed(b.kafka_bootstrap(), "indexer", f"{region}.{CONTENT_TOPIC}"))
                        and all(got[p] >= end - 1 for p, end in mirrored_ends.items() if ends[p]) and got,
                        timeout=30, what="the indexer group's offsets to be synced to mm-b")
    assert all(synced[p] <= mirrored_ends[p] for p in synced)
    age = mirror_lag.lag(b)["checkpoint_age_s"]
    assert age is not None and age < 30


def test_the_indexer_subscription_takes_the_local_topic_and_its_mirrors_not_dead_letters(regions):
    a, b = regions
    _create_topics(b)  # the standby's own topics
    assigned: set[str] = set()
    consumer = Consumer({"bootstrap.servers": b.kafka_bootstrap(), "group.id": "pattern-check",
                         "enable.auto.commit": False})
    try:
        consumer.subscribe([content_pattern(CONTENT_TOPIC)],
                           on_assign=lambda _c, parts: assigned.update(p.topic for p in parts))
        deadline = Deadline(20)
        while not assigned and not deadline.expired():
            consumer.poll(0.5)
    finally:
        consumer.close()
    assert assigned == {CONTENT_TOPIC, f"{a.shape.region}.{CONTENT_TOPIC}"}
