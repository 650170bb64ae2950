"""The Java outbox relay (issue 17) against real servers: WordPress's outbox -> Kafka, nothing lost.

A small topology of its own on net 62 (127.62.x.y), run by the sandbox supervisor: MariaDB (``db-1``),
the WordPress bootstrap job, one replica ``wp-1``, and ``relay-1`` (``java -jar event-relay.jar``,
:mod:`gameday.sandbox.members.event_relay`); beside it one real Kafka broker (KRaft, no twin) at
127.62.40.1 (tests/support/kafka_broker.py). Posts are published and updated through WordPress
(``cli/publish.php``: the plugin writes the outbox row in the publishing transaction).

The relay runs with batches of :data:`BATCH` rows and a mark delay of :data:`MARK_DELAY_MS`: after Kafka
acknowledged a batch it waits that long before marking the rows sent, so the crash window of its
at-least-once design is open long enough to kill it inside (its ``/healthz`` names the rows then).
What the design promises, and what the tests assert: every outbox row reaches Kafka; a row marked sent
was acknowledged; after a SIGKILL the only duplicates are the rows Kafka had acknowledged and the
relay had not yet marked, each sent exactly once more; after Kafka failed to acknowledge a batch, only
that batch's rows may appear twice (Kafka may have written a record whose ack never arrived). About
60 s on 2 cores.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict

import psutil
import pytest
import requests

from gameday import kafka_records
from gameday.deadline import wait_until
from gameday.sandbox import install, lifecycle
from gameday.sandbox.client import SandboxClient
from gameday.sandbox.members import db, event_relay, wordpress
from gameday.sandbox.spec import Topology
from gameday.sandbox.twin import CONTENT_TOPIC, Twin
from tests.support import wordpress_stack as stack
from tests.support.kafka_broker import KafkaBroker

NET = 62
BROKER = f"127.{NET}.40.1"
SEED_N = 20
BATCH = 10
MARK_DELAY_MS = 1000
POLL_MS = 100
RELAY = "relay-1"


@pytest.fixture(scope="module")
def relay_twin(tmp_path_factory):
    install.install_all()  # a no-op when installed (the relay is built by it)
    twin = Twin.create("relay-test", net=NET)
    lifecycle.down(twin.paths, wipe=True)
    with KafkaBroker(tmp_path_factory.mktemp("kafka"), address=BROKER) as broker:
        broker.create_topic(CONTENT_TOPIC, partitions=3)
        topology = Topology(
            name=twin.name, sandbox_id=twin.paths.sandbox_id, backoff_base=1.0, backoff_cap=2.0,
            workloads=[db.workload(twin), wordpress.bootstrap(twin, n=SEED_N),
                       wordpress.workload(twin, replicas=1, max_replicas=1),
                       event_relay.workload(twin, db_addr=twin.db_member_addr(1), bootstrap=broker.bootstrap,
                                            settings={"batch": BATCH, "poll_ms": POLL_MS,
                                                      "mark_delay_ms": MARK_DELAY_MS},
                                            after=["wp-bootstrap"])])

        def prepare():
            stack.prepare(twin, relay=True)

        try:
            lifecycle.up(twin.paths, topology, prepare=prepare, timeout=150)
            yield twin, broker
        finally:
            lifecycle.down(twin.paths, wipe=True)


def _outbox(twin: Twin) -> list[dict]:
    """Every outbox row, in id order."""
    rows = stack.sql(twin, "SELECT id, event_id, event_type, post_id, version, sent_at IS NOT NULL"
                      " FROM wp_gameday_outbox ORDER BY id")
    return [dict(zip(("id", "event_id", "event_type", "post_id", "version", "sent"), r, strict=True)) for r in rows]


def _posts(prefix: str, n: int) -> list[dict]:
    return [{"title": f"Relay {prefix} {i}: dosing note", "content": f"Body {prefix} {i}.",
             "type": "monograph" if i % 4 == 0 else "post", "category": "Switching"} for i in range(n)]


def _records(broker: KafkaBroker) -> list[dict]:
    """Every record of the content topic, each with its value decoded."""
    records = kafka_records.read_all(broker.bootstrap, CONTENT_TOPIC, timeout=20)
    return [{**r, "event": json.loads(r["value"])} for r in records]


def _drained(twin: Twin) -> bool:
    status = stack.relay_status(twin)
    return bool(status and status["lag"] == 0 and status["state"] == "idle"
                and all(row["sent"] for row in _outbox(twin)))


def _checksum(event_ids) -> str:
    return hashlib.sha256("\n".join(sorted(event_ids)).encode()).hexdigest()[:16]


def test_every_outbox_row_becomes_one_kafka_record_and_is_marked_sent(relay_twin):
    twin, broker = relay_twin
    ids = stack.publish(twin, _posts("first", 12))
    stack.publish(twin, [{"id": ids[i], "title": f"Relay first {i}: dosing note (revised)", "content": "Revised."}
                    for i in (1, 5, 8)])
    wait_until(lambda: _drained(twin), timeout=30, what="the relay to send the outbox and mark every row")
    rows = _outbox(twin)
    records = _records(broker)
    assert len(rows) == 15 and len(records) == len(rows)
    assert {r["event_type"] for r in rows} == {"article.published"}  # the indexer's event (test_wordpress_events)
    assert Counter(r["event"]["action"] for r in records) == {"published": 12, "updated": 3}
    by_event = {row["event_id"]: row for row in rows}
    assert Counter(r["headers"]["event_id"] for r in records) == Counter(list(by_event))  # each exactly once
    for record in records:
        row = by_event[record["headers"]["event_id"]]
        assert record["event"]["event_id"] == row["event_id"]  # the event_id in the value and in the header
        assert record["key"] == str(row["post_id"]).encode() and record["event"]["id"] == row["post_id"]
        assert record["headers"]["outbox_id"] == str(row["id"])
        assert record["headers"]["event_type"] == row["event_type"] == record["event"]["type"]
    assert _checksum(r["headers"]["event_id"] for r in records) == _checksum(by_event)
    _assert_versions_in_order(records)
    status = stack.relay_status(twin)
    assert status["sent_total"] == len(rows) and status["failed_total"] == 0 and status["leader"] is True
    log = twin.paths.member_log(RELAY).read_text()
    batches = [line for line in log.splitlines() if " batch: sent=" in line]
    assert batches and " lag=0 " in batches[-1]
    print(f"\n{len(rows)} rows -> {len(records)} records in {len(batches)} batches; last: {batches[-1]}")
    # the database password is in neither the relay's log nor its command line
    relay = psutil.Process(SandboxClient(twin.paths).member(RELAY)["pid"])
    assert twin.db_password() not in log and twin.db_password() not in " ".join(relay.cmdline())


def _assert_versions_in_order(records: list[dict]) -> None:
    """Per post (one key, so one partition), versions never go back in offset order."""
    by_post: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for r in records:
        by_post[r["event"]["id"]].append((r["offset"], r["event"]["version"]))
    for post, seen in by_post.items():
        versions = [v for _offset, v in sorted(seen)]
        assert versions == sorted(versions), (post, versions)
        assert len({r["partition"] for r in records if r["event"]["id"] == post}) == 1


def test_sigkill_with_a_backlog_loses_nothing_and_resends_only_the_unmarked_batch(relay_twin):
    twin, broker = relay_twin
    client = SandboxClient(twin.paths)
    before = len(_outbox(twin))
    client.stop(RELAY)
    client.wait_stopped(RELAY, timeout=20)
    stack.publish(twin, _posts("backlog", 3 * BATCH))  # the relay is down: a backlog of 30 rows
    assert sum(not row["sent"] for row in _outbox(twin)) == 3 * BATCH
    client.start(RELAY)
    in_flight = stack.kill_inside_the_marking_window(twin, client)
    assert client.member(RELAY)["last_exit"]["signal"] == "SIGKILL"

    # the state the crash left: rows Kafka acknowledged but nobody marked (the at-least-once window)
    rows = {row["id"]: row for row in _outbox(twin)}
    in_kafka = {r["headers"]["event_id"] for r in _records(broker)}
    unsent = [row for row in rows.values() if not row["sent"]]
    window = {row["event_id"] for row in unsent if row["event_id"] in in_kafka}
    assert window == {rows[i]["event_id"] for i in in_flight}, "the acknowledged, unmarked rows are the batch in flight"
    assert 1 <= len(window) <= BATCH
    assert len(unsent) > len(window), "a backlog Kafka never saw is left as well"
    assert all(rows[i]["sent"] == (rows[i]["event_id"] in in_kafka) for i in rows if rows[i]["event_id"] not in window)

    ids = stack.publish(twin, _posts("after-crash", 8))  # more while the relay is dead
    stack.publish(twin, [{"id": ids[0], "title": "Relay after-crash 0: dosing note (revised)", "content": "Revised."}])
    client.start(RELAY)
    wait_until(lambda: _drained(twin), timeout=40, what="the restarted relay to drain the backlog")

    rows_after = _outbox(twin)
    records = _records(broker)
    counts = Counter(r["headers"]["event_id"] for r in records)
    duplicates = {event_id for event_id, n in counts.items() if n > 1}
    assert len(rows_after) == before + 3 * BATCH + 9
    assert set(counts) == {row["event_id"] for row in rows_after}, "every outbox row is in Kafka: nothing lost"
    assert duplicates == window and all(counts[e] == 2 for e in duplicates), \
        "only the batch acknowledged before the crash and not marked is sent again, once"
    assert len(records) == len(rows_after) + len(window)
    assert _checksum(counts) == _checksum(row["event_id"] for row in rows_after)
    _assert_versions_in_order(records)
    print(f"\noutbox rows {len(rows_after)}, Kafka records {len(records)}, duplicates {len(duplicates)} "
          f"(the batch in flight at the SIGKILL: {len(in_flight)} rows), backlog at the crash {len(unsent)}, "
          f"event_id set sha256 {_checksum(counts)}")


def test_a_second_replica_stands_by_and_takes_over_when_the_first_is_killed(relay_twin):
    twin, broker = relay_twin
    client = SandboxClient(twin.paths)
    client.scale("relay", 2)
    client.wait_ready("relay-2", timeout=30)
    standby = event_relay.status(twin, 2)
    assert standby["state"] == "standby" and standby["leader"] is False
    client.kill(RELAY)
    client.stop(RELAY)
    client.wait_stopped(RELAY, timeout=15)
    before = len(_records(broker))
    stack.publish(twin, _posts("standby", 2))
    wait_until(lambda: all(row["sent"] for row in _outbox(twin)), timeout=20, what="relay-2 to send the new rows")
    assert event_relay.status(twin, 2)["leader"] is True and event_relay.status(twin, 2)["sent_total"] == 2
    assert len(_records(broker)) == before + 2
    client.start(RELAY)
    client.scale("relay", 1)
    client.wait_stopped("relay-2", timeout=20)
    client.wait_ready(RELAY, timeout=30)


def test_rows_kafka_does_not_acknowledge_stay_unsent_until_it_does(relay_twin):
    """The broker frozen (SIGSTOP: connections stay open, nothing is answered): the batch is not
    acknowledged within delivery.timeout.ms (10 s), so its rows stay unsent and the relay is not ready;
    thawed, they are sent. Kafka may still append a request it read before the producer gave up (the
    relay never saw that ack): such a row is sent again, so duplicates may appear, among these rows only."""
    twin, broker = relay_twin
    client = SandboxClient(twin.paths)
    client.wait_ready(RELAY, timeout=30)
    before = Counter(r["headers"]["event_id"] for r in _records(broker))
    with broker.frozen():
        stack.publish(twin, _posts("kafka-frozen", 3))
        failed = wait_until(lambda: (s := stack.relay_status(twin)) and s["failed_total"] >= 3 and not s["ready"] and s,
                            timeout=40, what="the relay to give up on the unacknowledged batch")
        assert failed["state"] in ("kafka-unavailable", "sending") and "kafka" in failed["last_error"]
        pending = [row for row in _outbox(twin) if not row["sent"]]
        assert len(pending) == 3, "no row is marked sent without Kafka's acknowledgement"
        assert requests.get(f"{event_relay.url(twin)}/readyz", timeout=2).status_code == 503
    wait_until(lambda: _drained(twin), timeout=60, what="the relay to send the rows once Kafka answers")
    counts = Counter(r["headers"]["event_id"] for r in _records(broker))
    new = {row["event_id"] for row in pending}
    assert set(counts) == set(before) | new, "nothing lost"
    assert all(counts[e] == before[e] for e in before) and all(1 <= counts[e] <= 2 for e in new)
    assert "kafka did not acknowledge 3 of 3 records" in twin.paths.member_log(RELAY).read_text()
    print(f"\nKafka frozen: 3 rows kept unsent, sent after the thaw; duplicates {sum(counts[e] - 1 for e in new)}")


def test_sigterm_stops_the_relay_cleanly(relay_twin):
    twin, _broker = relay_twin
    client = SandboxClient(twin.paths)
    client.wait_ready(RELAY, timeout=30)
    client.stop(RELAY)
    stopped = client.wait_stopped(RELAY, timeout=event_relay.STOP_GRACE + 5)
    assert stopped["last_exit"]["code"] == 0 and stopped["last_exit"]["ran_for"] > 0
    assert stopped["last_exit"].get("signal") is None
    log = twin.paths.member_log(RELAY).read_text().rstrip().splitlines()
    assert log[-1].endswith(f"{RELAY} stopped")
    assert any("SIGTERM: finishing the current batch" in line for line in log[-4:])
