"""Issue 17's drill "the event relay stopped, then its backlog drained with no event lost", run as a
game day runs it: its chaos activities (``gameday.chaos.events``) and the events playbook
(``recovery_playbooks/events.py``), through a real SandboxTarget, against a small twin of its own on
net 69: MariaDB (``db-1``, its stable endpoint through ``toxiproxy-1`` as on the twin), one Kafka
broker as the supervisor's ``kafka-1`` (so the target finds Kafka where a twin keeps it,
tests/support/kafka_member.py), the WordPress bootstrap, one replica ``wp-1`` and the Java outbox relays
``relay-1`` and ``relay-2`` as a WordPress twin runs them (``topology.RELAY_REPLICAS``: one relays, the other
stands by on the relay's database lock). The twin's shape says WordPress (``sandbox up --web wordpress``):
the target's content schema is WordPress's and its baseline is the twin's two relays.

Asserted on data: while the relay is stopped, publishes commit and answer 202 "pending" and the
outbox's unsent rows pile up with nothing new in Kafka; the playbook starts the relay and waits until
the backlog is 0; then every outbox row written during the outage is marked sent and its event is in
Kafka with the row's event id and version (read here from the broker, apart from the playbook's own
check). This twin has no search cluster: the playbook's index step says so (the index's catch-up is
what test_search_restore and the twin lane show). About 50 s on 2 cores, most of it the set-up.
"""

from __future__ import annotations

import json
import time
from collections import Counter

import pytest
import requests

from gameday import kafka_records
from gameday.chaos import ledger
from gameday.chaos.events import actions, probes
from gameday.chaos.lock import lock_for
from gameday.sandbox import install, lifecycle, topology as twin_topology
from gameday.sandbox.members import db, event_relay, toxiproxy, wordpress
from gameday.sandbox.shape import Shape
from gameday.sandbox.spec import Topology
from gameday.sandbox.twin import CONTENT_TOPIC, Twin
from gameday.targets import for_environment
from gameday.targets.environment import from_mapping
from tests.support import kafka_member
from tests.support import wordpress_stack as stack

NET = 69
NAME = "relay-drill"
SEED_N = 20
OUTAGE_POSTS = 24


@pytest.fixture(scope="module")
def relay_twin():
    install.install_all()  # a no-op when installed (the relay is built by it)
    twin = Twin.create(NAME, net=NET)
    lifecycle.down(twin.paths, wipe=True)
    topology = Topology(
        name=twin.name, sandbox_id=twin.paths.sandbox_id, backoff_base=1.0, backoff_cap=2.0,
        workloads=[toxiproxy.workload(twin), db.workload(twin), kafka_member.workload(twin),
                   wordpress.bootstrap(twin, n=SEED_N), wordpress.workload(twin, replicas=1, max_replicas=1),
                   event_relay.workload(twin, db_addr=twin.db_addr(), bootstrap=f"{twin.address('kafka', 1)}:9092",
                                        replicas=twin_topology.RELAY_REPLICAS, settings={"batch": 10, "poll_ms": 100},
                                        after=["wp-bootstrap", "kafka"])])

    def prepare():
        stack.prepare(twin, relay=True)
        toxiproxy.prepare(twin)  # the database's stable endpoint, at db-1
        kafka_member.prepare(twin, partitions=3)
        Shape(web="wordpress", web_replicas=1).save(twin.paths)  # what `sandbox up --web wordpress` keeps

    try:
        lifecycle.up(twin.paths, topology, prepare=prepare, timeout=180)
        yield Twin.create(NAME, net=NET)
    finally:
        lifecycle.down(twin.paths, wipe=True)


@pytest.fixture
def drill(relay_twin, monkeypatch, tmp_path):
    """The drill's configuration (an environment of kind sandbox for this twin) and this process's
    account of what it injected; afterwards no record left and the target's lock released."""
    monkeypatch.setenv(ledger.RUN_LOG_ENV, str(tmp_path / "run.jsonl"))
    mapping = {"name": f"{NAME}-drill", "kind": "sandbox", "allowed": True, "production": False,
               "sandbox": NAME, "net": NET, "site_url": wordpress.url(relay_twin).rstrip("/")}
    env = from_mapping(mapping, "test_relay_drill")
    try:
        yield {"gameday_environment": mapping}, env, relay_twin
    finally:
        for record in ledger.pending(env):  # a failed test's record goes with it
            ledger.run_record(record)
        lock_for(env).release()  # the action took the target's lock for this process


def _posts(prefix: str, n: int) -> list[dict]:
    return [{"title": f"Drill {prefix} {i}: dosing note", "content": f"Body {prefix} {i}.",
             "type": "monograph" if i % 3 == 0 else "post", "category": "Switching"} for i in range(n)]


def _events(twin: Twin) -> Counter:
    """event id -> records in Kafka carrying it; and (event id, version) pairs, read from the broker."""
    records = kafka_records.read_all(f"{twin.address('kafka', 1)}:9092", CONTENT_TOPIC, timeout=30)
    return Counter((r["headers"]["event_id"], json.loads(r["value"])["version"]) for r in records)


def test_relay_stopped_the_backlog_drains_through_the_playbook_with_no_event_lost(drill):
    configuration, env, twin = drill
    target = for_environment(env)
    assert target.content_schema().outbox == event_relay.OUTBOX_TABLE
    relays = [f"relay-{i}" for i in range(1, twin_topology.RELAY_REPLICAS + 1)]
    assert [n.name for n in target.nodes("events")] == relays
    probes.wait_for_outbox_drained(timeout=60, configuration=configuration)  # the seed's events relayed
    before = probes.outbox_backlog(configuration=configuration)
    assert before["unsent"] == 0  # the seed writes no outbox rows; earlier publishes were relayed

    stopped = actions.stop_relay(configuration=configuration)
    assert stopped["touched"] == relays and stopped["backlog_before"] == 0  # the standby too: nothing relays
    records = ledger.pending(env)  # one per relay, each written before its stop: any process can undo them
    assert [(r["undo"], r["kwargs"]) for r in records] == [("start_node", {"layer": "events", "name": n}) for n in relays]
    assert [m.name for m in target.view("events").held] == relays

    # an editor publishes through the site's API while the relay is down: it commits, 202 "pending"
    answer = requests.post(f"{wordpress.url(twin).rstrip('/')}/api/articles", auth=target.publisher_auth(), timeout=30,
                           json={"kind": "guidance", "title": "Drill: published while the relay is down",
                                 "category": "Switching", "summary": "Pending.", "body": "Committed, not relayed."})
    assert answer.status_code == 202 and answer.json()["event"] == "pending", answer.text[:300]
    stack.publish(twin, _posts("outage", OUTAGE_POSTS))
    in_kafka_before = _events(twin)
    peak = probes.outbox_backlog(configuration=configuration)
    assert peak["unsent"] == OUTAGE_POSTS + 1 and peak["first_unsent_id"] == before["max_id"] + 1
    assert peak["max_id"] == before["max_id"] + OUTAGE_POSTS + 1
    outage = stack.sql(twin, f"SELECT event_id, version FROM {event_relay.OUTBOX_TABLE} WHERE id > %s",
                       (before["max_id"],))
    assert len(outage) == OUTAGE_POSTS + 1
    assert not {e for e, _ in outage} & {e for e, _ in in_kafka_before}, "nothing reached Kafka during the outage"

    started = time.monotonic()
    done = actions.apply_events_playbook(configuration=configuration)
    took = time.monotonic() - started
    assert done["outcome"] != "failed", done
    assert [f["code"] for f in done["findings"]] == ["events.members-missing", "events.backlog"]
    steps = done["steps"]
    assert list(steps) == ["start-events", "wait-backlog-drained", "verify-backlog-in-kafka",
                           "verify-index-caught-up"], list(steps)
    assert all(s["status"] == "ok" for s in steps.values()), steps
    assert f"{OUTAGE_POSTS + 1} rows when the playbook found it" in steps["wait-backlog-drained"]["detail"]
    assert "nothing lost" in steps["verify-backlog-in-kafka"]["detail"]
    assert "no search cluster" in steps["verify-index-caught-up"]["detail"]
    assert sorted(done["settled"]["records"]) == sorted(r["id"] for r in records) and ledger.pending(env) == []

    # the data, read apart from the playbook: every row of the outage sent, its event in Kafka by id and version
    after = probes.outbox_backlog(configuration=configuration)
    assert after["unsent"] == 0
    sent = stack.sql(twin, f"SELECT COUNT(*) FROM {event_relay.OUTBOX_TABLE} WHERE id > %s AND sent_at IS NOT NULL",
                     (before["max_id"],))[0][0]
    assert sent == OUTAGE_POSTS + 1
    in_kafka = _events(twin)
    assert all(in_kafka[(e, v)] >= 1 for e, v in outage), [(e, v) for e, v in outage if not in_kafka[(e, v)]]
    assert sum(in_kafka[(e, v)] for e, v in outage) == OUTAGE_POSTS + 1, "each outage event exactly once"
    assert [n.name for n in target.nodes("events") if n.ready] == relays
    print(f"\n[figure] relay stopped: backlog peak {peak['unsent']} rows (oldest waiting {peak['oldest_unsent_s']:.1f} s); "
          f"playbook {took:.1f} s: relay back in {steps['start-events']['seconds']:.1f} s, backlog drained "
          f"{steps['wait-backlog-drained']['seconds']:.1f} s after, proof in Kafka {steps['verify-backlog-in-kafka']['seconds']:.1f} s")


def test_a_dry_run_touches_nothing_and_a_rollback_without_a_record_is_harmless(drill):
    configuration, env, _twin = drill
    assert actions.start_relay(configuration=configuration)["started"] == []  # nothing recorded: nothing to do
    dry = actions.stop_relay(dry_run=True, configuration=configuration)
    assert dry["would_touch"] == [f"relay-{i}" for i in range(1, twin_topology.RELAY_REPLICAS + 1)]
    assert ledger.pending(env) == []
