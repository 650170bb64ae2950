"""WordPress's content events on the twin's event path (issue 17), against real servers: a publish in
WordPress -> its outbox row (same transaction) -> the Java relay -> Kafka -> the indexer -> OpenSearch.

A small topology of its own on net 64 (127.64.x.y), run by the sandbox supervisor: MariaDB (``db-1``),
the WordPress bootstrap job (:data:`SEED_N` catalogue items), ``wp-1``, ``relay-1`` (the Java relay,
:mod:`gameday.sandbox.members.event_relay`), ``search-1`` (one plain OpenSearch node, :mod:`tests.support.plain_search`:
no security plugin, HTTP; the twin's own cluster is three secured nodes) and ``indexer-1`` (``python -m
gameday.site.indexer``, the twin's indexer, its Python outbox-relay thread off: WordPress's outbox is
the Java relay's); beside them one real Kafka broker (KRaft, no twin) at 127.64.40.1. The index is
seeded from WordPress's content through the content schema (``gameday.sandbox.wordpress.seed.index_content``,
as the twin's bootstrap will), then kept by the events.

What is asserted: every record the relay produced from WordPress publishes and updates is an event the
indexer's own :func:`gameday.site.indexer.parse_batch` accepts (the contract: :mod:`gameday.site.events`),
with the fields WordPress knows (monographs, a post filed in no category, markup stripped from the body, a
seeded item's catalogue id and version); a document built from the database (``WORDPRESS.article``) equals
the one each post's latest event makes, markup stripped alike; the indexer makes them searchable at their
latest version, and the index then matches the database (``gameday.index_match``: count and checksum of ids
and versions, with the schema's SQL); a publish through the site API answers 201 "acknowledged" once the
relay sent its event, and 202 "pending" after the wait while the relay is stopped; after a SIGKILL of the
relay inside its acknowledged-not-marked window, the duplicates it sends are absorbed (documents in the
index = published posts, each at its latest version); nothing is dead-lettered. The plugin's search answers
from this node (``wp-1`` is configured with it): each hit is its own post, by id, though a post and a
monograph share a slug; words of the title, the summary or the body match, a misspelling through the fuzzy
query. Unpublishing, trashing and deleting posts through WordPress write ``article.removed`` events and the
indexer deletes their documents; stale published events replayed into Kafka after that do not bring them
back, duplicated removals are harmless, a re-publish brings a post back and a stale removal replayed after
it does not take it out; with the search node stopped the plugin's search falls back to MySQL, which serves
neither. 48-78 s here while a full test run loaded the machine (four runs; the setup 17-50 s, the three
tests of removals and the plugin's search 11 s of it); the publish acknowledgement adds about 7 s (the 202
waits the whole 5 s).
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from urllib.parse import urlsplit

import pytest
import requests
from confluent_kafka import Message, Producer

from gameday import index_match, kafka_records
from gameday.content import WORDPRESS
from gameday.deadline import wait_until
from gameday.errors import DeadlineExceeded, GamedayError
from gameday.sandbox import install, lifecycle
from gameday.sandbox.client import SandboxClient
from gameday.sandbox.members import db, event_relay, wordpress
from gameday.sandbox.spec import MemberSpec, Topology, Workload
from gameday.sandbox.twin import CONTENT_INDEX, CONTENT_TOPIC, DB_NAME, DB_USER, Twin
from gameday.sandbox.wordpress import seed as wp_seed
from gameday.search_admin import SearchAdmin
from gameday.site.dead_letter import dlq_topic
from gameday.site.indexer import RELAY_ENV, parse_batch
from gameday.site.search import SearchClient, document
from tests.support import plain_search
from tests.support import wordpress_stack as stack
from tests.support.kafka_broker import KafkaBroker

NET = 64
BROKER = f"127.{NET}.40.1"
SEED_N = 20
BATCH = 10
MARK_DELAY_MS = 1000
RELAY = "relay-1"
INDEXER = "indexer-1"
ACK_WAIT_S = wordpress.PUBLISH_ACK_WAIT_S  # the default wait of a publish for the relay's mark (5 s)


def _indexer(twin: Twin, bootstrap: str) -> Workload:
    """``indexer-1``, the twin's indexer on this broker and node; 0 replicas until the index exists
    (the test scales it to 1), so that nothing is ever written to an index created by accident."""
    member = MemberSpec(
        name=INDEXER, index=1, address=None, ports={}, argv=[twin.python, "-m", "gameday.site.indexer"],
        env={"GAMEDAY_DB_ADDR": twin.db_member_addr(1), "GAMEDAY_DB_NAME": DB_NAME, "GAMEDAY_DB_USER": DB_USER,
             "GAMEDAY_SEARCH_URLS": plain_search.url(twin), "GAMEDAY_KAFKA_BOOTSTRAP": bootstrap,
             "GAMEDAY_CONTENT_TOPIC": CONTENT_TOPIC, "GAMEDAY_CONTENT_INDEX": CONTENT_INDEX,
             "GAMEDAY_MEMBER": INDEXER, RELAY_ENV: "0"},
        readiness={"type": "alive", "min_seconds": 2}, stop_grace=5.0)
    return Workload(name="indexer", layer="indexer", kind="service", replicas=0, members=[member])


@pytest.fixture(scope="module")
def events_twin(tmp_path_factory):
    install.install_all()  # a no-op when installed (the relay is built by it)
    twin = Twin.create("wp-events-test", net=NET)
    lifecycle.down(twin.paths, wipe=True)
    with KafkaBroker(tmp_path_factory.mktemp("kafka"), address=BROKER) as broker:
        broker.create_topic(CONTENT_TOPIC, partitions=3)
        broker.create_topic(dlq_topic(CONTENT_TOPIC), partitions=1)
        workloads: list[Workload] = []

        def prepare():
            stack.prepare(twin, relay=True, search_urls=[plain_search.url(twin)])  # the plugin's search: this node

        try:
            workloads += [db.workload(twin), plain_search.workload(twin), wordpress.bootstrap(twin, n=SEED_N),
                          wordpress.workload(twin, replicas=1, max_replicas=1),
                          event_relay.workload(twin, db_addr=twin.db_member_addr(1), bootstrap=broker.bootstrap,
                                               settings={"batch": BATCH, "poll_ms": 100, "mark_delay_ms": MARK_DELAY_MS},
                                               after=["wp-bootstrap"]),
                          _indexer(twin, broker.bootstrap)]
            topology = Topology(name=twin.name, sandbox_id=twin.paths.sandbox_id, backoff_base=1.0, backoff_cap=2.0,
                                workloads=workloads)
            lifecycle.up(twin.paths, topology, prepare=prepare, timeout=180)
            # creating the index waits for its primaries to start: on a busy machine (make test's twin lane beside
            # this niced quick lane) that took longer than the site's 2 s read timeout (make test at f7548c1)
            index = SearchClient([plain_search.url(twin)], index=CONTENT_INDEX, read_timeout=30)
            assert index.create_index()  # the site's mapping
            seeded = wp_seed.index_content(lambda sql, args: stack.sql(twin, sql, args), index)  # WordPress's content
            assert seeded == {"indexed": SEED_N, "stale": 0}
            # the plugin answers from OpenSearch within its 2 s budget once warm; cold, a term with no match (an
            # exact query, then a fuzzy one) outran it on CI once (test_search_frontend): warm both paths first
            wait_until(lambda: _answers_from_opensearch(twin, "zqxvwarm"), timeout=60, interval=1.0,
                       what="the plugin's search (exact, then fuzzy) to answer from OpenSearch")
            client = SandboxClient(twin.paths)
            client.scale("indexer", 1)
            client.wait_ready(INDEXER, timeout=30)
            yield twin, broker
        finally:
            lifecycle.down(twin.paths, wipe=True)


def _answers_from_opensearch(twin: Twin, q: str) -> bool:
    """True once the plugin's search for ``q`` answers from OpenSearch; slow or not JSON is "not yet"."""
    try:
        r = requests.get(f"{wordpress.url(twin, 1)}/wp-json/gameday/v1/search", params={"q": q}, timeout=15)
        return r.json().get("source") == "opensearch"
    except (requests.RequestException, ValueError):
        return False


def _latest(twin: Twin) -> dict[int, int]:
    """Per post in the outbox, its latest event version."""
    return dict(stack.sql(twin, "SELECT post_id, MAX(version) FROM wp_gameday_outbox GROUP BY post_id"))


def _drained(twin: Twin) -> bool:
    try:
        status = event_relay.status(twin, 1, timeout=1.0)
    except GamedayError:
        return False  # starting, or just killed
    unsent = stack.sql(twin, "SELECT COUNT(*) FROM wp_gameday_outbox WHERE sent_at IS NULL")[0][0]
    return status["lag"] == 0 and status["state"] == "idle" and unsent == 0


def _messages(broker: KafkaBroker, topic: str = CONTENT_TOPIC) -> list[Message]:
    """Every record of ``topic``, as the Kafka client's messages the indexer's consumer hands it."""
    return [Message(topic=topic, partition=r["partition"], offset=r["offset"], key=r["key"], value=r["value"],
                    headers=list(r["headers"].items()))
            for r in kafka_records.read_all(broker.bootstrap, topic, timeout=20)]


def _index_versions(twin: Twin, ids) -> dict[int, int]:
    """``{post id: (external) version}`` of the documents the index holds among ``ids``."""
    r = requests.post(f"{plain_search.url(twin)}/{CONTENT_INDEX}/_mget", json={"ids": [str(i) for i in ids]},
                      params={"_source": "version"}, timeout=10)
    r.raise_for_status()
    docs = [d for d in r.json()["docs"] if d.get("found")]
    assert all(d["_version"] == d["_source"]["version"] for d in docs)
    return {int(d["_id"]): d["_version"] for d in docs}


def _indexed(twin: Twin, latest: dict[int, int]) -> bool:
    return _index_versions(twin, latest) == latest


def _count(twin: Twin) -> int:
    requests.post(f"{plain_search.url(twin)}/{CONTENT_INDEX}/_refresh", timeout=10).raise_for_status()
    return requests.get(f"{plain_search.url(twin)}/{CONTENT_INDEX}/_count", timeout=10).json()["count"]


def _indexer_batches(twin: Twin) -> list[dict[str, int]]:
    """The indexer's batch lines: events, articles, indexed, removed, stale, rejected."""
    pattern = re.compile(r"batch: (\d+) events, (\d+) articles: indexed=(\d+) removed=(\d+) stale=(\d+) rejected=(\d+)")
    return [dict(zip(("events", "articles", "indexed", "removed", "stale", "rejected"), map(int, m.groups()), strict=True))
            for m in pattern.finditer(twin.paths.member_log(INDEXER).read_text())]


def _published(twin: Twin) -> int:
    """Published posts and monographs with a version, through the content schema."""
    return stack.sql(twin, WORDPRESS.count_sql())[0][0]


def _index_matches_database(twin: Twin) -> index_match.Comparison:
    """Wait (at most 30 s: the indexer is about a second behind) until the index matches the database as
    of a cut taken from the database (``gameday.index_match`` with the WordPress schema's SQL: count and
    checksum of ids and versions of the items updated before the cut); fails with the last comparison."""
    admin = SearchAdmin([plain_search.url(twin)])
    last: list[index_match.Comparison] = []

    def compared() -> index_match.Comparison | None:
        requests.post(f"{plain_search.url(twin)}/{CONTENT_INDEX}/_refresh", timeout=10).raise_for_status()
        cut = index_match.cut_ms(stack.sql(twin, f"SELECT {WORDPRESS.now_sql}")[0][0])
        db = index_match.db_versions(lambda sql, args, timeout: stack.sql(twin, sql, args), cut, WORDPRESS)
        last[:] = [index_match.compare(db, index_match.index_versions(admin, CONTENT_INDEX, cut), cut=cut.isoformat())]
        return last[0] if last[0].ok else None

    try:
        return wait_until(compared, timeout=30, interval=0.5, what="the index to match the database")
    except DeadlineExceeded:
        pytest.fail(f"the index does not match the database: {last[0].describe() if last else 'not compared'}")


def _publish_api(twin: Twin, body: dict) -> tuple[requests.Response, float]:
    """``POST /api/articles`` on wp-1 as the publisher (the site's Host); the answer and its seconds."""
    started = time.monotonic()
    answer = requests.post(wordpress.url(twin, 1) + "/api/articles", json=body, auth=wordpress.publisher_credentials(twin),
                           headers={"Host": urlsplit(twin.lb_url).netloc}, allow_redirects=False, timeout=ACK_WAIT_S + 10)
    return answer, time.monotonic() - started


def _sent(twin: Twin, post_id: int, version: int) -> list[tuple]:
    return stack.sql(twin, "SELECT sent_at IS NOT NULL FROM wp_gameday_outbox WHERE post_id = %s AND version = %s",
                     (post_id, version))


def _nothing_dead_lettered(twin: Twin, broker: KafkaBroker) -> None:
    assert _messages(broker, dlq_topic(CONTENT_TOPIC)) == []
    assert all(b["rejected"] == 0 for b in _indexer_batches(twin))


def test_wordpress_events_are_the_indexers_events_and_become_searchable(events_twin):
    twin, broker = events_twin
    ids = stack.publish(twin, [
        {"title": "Quenfloxin and grapefruit juice", "type": "post", "category": "Switching",
         "excerpt": "An interaction to avoid.",
         "content": "<!-- wp:paragraph --><p>Take <strong>quenfloxin</strong> with water.</p><!-- /wp:paragraph -->"},
        {"title": "Quenfloxin", "type": "monograph", "content": "Monograph of quenfloxin, filed in no category."},
        {"title": "Dosing zarvetamab in renal impairment", "type": "post", "content": "Halve the dose."},
        {"title": "Zarvetamab", "type": "monograph", "category": "Switching", "content": "Monograph of zarvetamab."},
    ])
    stack.publish(twin, [{"id": ids[0], "title": "Quenfloxin and grapefruit juice (revised)", "type": "post",
                     "category": "Switching", "content": "<p>Take <em>quenfloxin</em> with water, never juice.</p>"},
                    {"id": ids[3], "title": "Zarvetamab (revised)", "type": "monograph", "category": "Switching",
                     "content": "Monograph of zarvetamab, revised."}])
    stack.publish(twin, [{"id": ids[0], "title": "Quenfloxin and grapefruit juice (revised twice)", "type": "post",
                     "category": "Switching", "content": "<p>Take <em>quenfloxin</em> with water, never juice.</p>"}])
    seeded, catalogue_id, seeded_version = stack.sql(twin, (
        "SELECT p.ID, i.meta_value, v.meta_value FROM wp_posts p"
        " JOIN wp_postmeta i ON i.post_id = p.ID AND i.meta_key = '_gameday_id'"
        " JOIN wp_postmeta v ON v.post_id = p.ID AND v.meta_key = '_gameday_version'"
        " WHERE p.post_type = 'post' ORDER BY p.ID LIMIT 1"))[0]
    stack.publish(twin, [{"id": seeded, "title": "A seeded guidance item, edited in WordPress", "type": "post",
                     "content": "Edited."}])
    wait_until(lambda: _drained(twin), timeout=30, what="the relay to send the outbox and mark every row")

    messages = _messages(broker)
    events, rejected = parse_batch(messages)  # the indexer's own parser, on the relay's records
    assert rejected == [] and len(messages) == 8
    latest = _latest(twin)
    assert {e["id"]: e["version"] for e in events} == latest == {
        ids[0]: 3, ids[1]: 1, ids[2]: 1, ids[3]: 2, seeded: int(seeded_version) + 1}
    by_id = {e["id"]: e for e in events}
    assert by_id[ids[0]]["body"] == "Take quenfloxin with water, never juice."  # no markup
    assert by_id[ids[0]]["category"] == "Switching" and by_id[ids[0]]["permalink"].startswith("/switching/")
    assert by_id[ids[1]]["kind"] == "monograph" and by_id[ids[1]]["category"] is None
    assert by_id[ids[1]]["permalink"] == f"/monographs/{by_id[ids[1]]['slug']}/"
    assert by_id[ids[2]]["category"] == "Uncategorized"  # WordPress files a post with none in its default
    assert by_id[seeded]["gameday_id"] == int(catalogue_id) and by_id[ids[0]]["gameday_id"] is None
    decoded = [json.loads(m.value()) for m in messages]
    assert Counter(e["action"] for e in decoded) == {"published": 4, "updated": 4}
    assert all(e["event_id"] == dict(m.headers())["event_id"] for e, m in zip(decoded, messages, strict=True))

    for post_id, event in by_id.items():  # R11: what a seed or reindex builds from the database = the event's document
        (row,) = stack.sql(twin, WORDPRESS.page_sql(1), (post_id - 1,))
        assert row[0] == post_id and document(WORDPRESS.article(row)) == document(event), post_id
    assert "<" in stack.sql(twin, "SELECT post_content FROM wp_posts WHERE ID = %s", (ids[0],))[0][0]  # markup stored

    wait_until(lambda: _indexed(twin, latest), timeout=30, what="the indexer to index every post at its latest version")
    match = _index_matches_database(twin)
    assert _count(twin) == _published(twin) == SEED_N + 4 == match.db_count  # the seeded items and 4 new ones
    found = SearchClient([plain_search.url(twin)], index=CONTENT_INDEX).search("quenfloxin")  # the site's own query
    assert {h["id"] for h in found["hits"]} == {ids[0], ids[1]} and not found["fuzzy"]
    assert {h["title"] for h in found["hits"]} == {"Quenfloxin and grapefruit juice (revised twice)", "Quenfloxin"}
    _nothing_dead_lettered(twin, broker)
    print(f"\n{len(messages)} WordPress events -> {len(latest)} documents at their latest versions; "
          f"indexer batches {_indexer_batches(twin)}; {match.describe()}")


def test_a_publish_through_the_site_api_answers_201_once_the_relay_sent_its_event(events_twin):
    """D4: the relay running, ``POST /api/articles`` waits for its mark of the publish's outbox row (Kafka
    acknowledged the event) and answers 201 "acknowledged", as the Python site does when Kafka acknowledged
    at once; well inside the wait (the relay's poll 0.1 s and its mark delay 1 s here)."""
    twin, _broker = events_twin
    answer, took = _publish_api(twin, {"kind": "monograph", "title": "Ostravanib", "category": "Switching",
                                       "summary": "A monograph published through the site API.", "body": "<p>Ostravanib.</p>"})
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["event"] == "acknowledged" and body["version"] == 1 and took < ACK_WAIT_S, (body, took)
    assert _sent(twin, body["id"], 1) == [(1,)]
    wait_until(lambda: _indexed(twin, {body["id"]: 1}), timeout=30, what="the indexer to index the published monograph")
    print(f"\npublish through the site API with the relay running: 201 acknowledged in {took:.2f}s")


def test_duplicates_of_a_relay_killed_in_its_window_are_absorbed_by_the_index(events_twin):
    twin, broker = events_twin
    client = SandboxClient(twin.paths)
    client.stop(RELAY)
    client.wait_stopped(RELAY, timeout=20)
    pending, took = _publish_api(twin, {"kind": "guidance", "title": "Backlog note on xelmoprine, through the API",
                                        "category": "Switching", "summary": "Published with the relay stopped.",
                                        "body": "Pending."})
    assert pending.status_code == 202 and pending.json()["event"] == "pending", pending.text
    assert ACK_WAIT_S <= took < ACK_WAIT_S + 3.0, f"202 after {took:.2f}s, the wait is {ACK_WAIT_S}s"
    assert _sent(twin, pending.json()["id"], 1) == [(0,)]  # left in the outbox: the relay sends it once back
    ids = stack.publish(twin, [{"title": f"Backlog note {i} on xelmoprine", "type": "monograph" if i % 3 == 0 else "post",
                           "category": "Switching", "content": f"Note {i}."} for i in range(2 * BATCH)])
    stack.publish(twin, [{"id": ids[i], "title": f"Backlog note {i} on xelmoprine (revised)", "type": "post",
                     "category": "Switching", "content": f"Note {i}, revised."} for i in (1, 2, 4)])
    client.start(RELAY)
    in_flight = stack.kill_inside_the_marking_window(twin, client)
    client.start(RELAY)
    wait_until(lambda: _drained(twin), timeout=40, what="the restarted relay to drain the backlog")

    messages = _messages(broker)
    counts = Counter(dict(m.headers())["event_id"] for m in messages)
    duplicates = sum(n - 1 for n in counts.values())
    assert duplicates == len(in_flight) >= 1, "the batch in flight at the SIGKILL was sent again"
    events, rejected = parse_batch(messages)
    latest = _latest(twin)
    assert rejected == [] and {e["id"]: e["version"] for e in events} == latest
    wait_until(lambda: _indexed(twin, latest), timeout=30, what="the indexer to index every post at its latest version")
    assert _sent(twin, pending.json()["id"], 1) == [(1,)]
    assert _count(twin) == _published(twin), "one document per post: the duplicates were absorbed"
    _index_matches_database(twin)
    _nothing_dead_lettered(twin, broker)
    batches = _indexer_batches(twin)
    print(f"\npublish with the relay stopped: 202 pending in {took:.2f}s; "
          f"Kafka records {len(messages)} ({duplicates} duplicates from the SIGKILL), posts {len(latest)}, "
          f"documents {_count(twin)}; indexer: {sum(b['events'] for b in batches)} events read in {len(batches)} "
          f"batches, stale {sum(b['stale'] for b in batches)}")


def _plugin_search(twin: Twin, q: str, source: str = "opensearch") -> dict:
    """The plugin's JSON API search on ``wp-1``, asserted to have answered from ``source`` (the index
    refreshed first, so that what the indexer wrote is searchable)."""
    if source == "opensearch":
        requests.post(f"{plain_search.url(twin)}/{CONTENT_INDEX}/_refresh", timeout=10).raise_for_status()
    r = requests.get(f"{wordpress.url(twin, 1)}/wp-json/gameday/v1/search", params={"q": q}, timeout=15)
    assert r.status_code == 200, r.text[:300]
    body = r.json()
    assert body["source"] == source, body.get("notice")
    return body


def _replay(twin: Twin, broker: KafkaBroker, records: list[dict]) -> None:
    """Send ``records`` (read back from the topic) to it again, each with its key, as a late or duplicate
    delivery would; return once the indexer has read them all (its batch lines, printed after the commit)."""
    read = sum(b["events"] for b in _indexer_batches(twin))
    producer = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "enable.idempotence": True})
    for record in records:
        producer.produce(CONTENT_TOPIC, key=record["key"], value=record["value"])
    assert producer.flush(10) == 0, "Kafka did not acknowledge the replayed records"
    wait_until(lambda: sum(b["events"] for b in _indexer_batches(twin)) >= read + len(records), timeout=30,
               interval=0.1, what=f"the indexer to read the {len(records)} replayed records")


def test_the_plugins_search_answers_from_opensearch_each_hit_its_own_post(events_twin):
    twin, _broker = events_twin
    post, monograph = stack.publish(twin, [
        {"title": "Switching from warfarin to drelvanic", "type": "post", "slug": "drelvanic", "category": "Switching",
         "excerpt": "Start when the quellon score is below two.", "content": "Check zintrocal levels weekly."},
        {"title": "Drelvanic", "type": "monograph", "slug": "drelvanic", "content": "A plovanide for atrial fibrillation."}])
    slugs = dict(stack.sql(twin, "SELECT ID, post_name FROM wp_posts WHERE ID IN (%s, %s)", (post, monograph)))
    assert slugs == {post: "drelvanic", monograph: "drelvanic"}  # one slug, two post types
    wait_until(lambda: _indexed(twin, {post: 1, monograph: 1}), timeout=30, what="the indexer to index both")

    both = _plugin_search(twin, "drelvanic")
    assert not both["fuzzy"] and both["total"] == 2
    assert {(i["id"], i["kind"], i["title"]) for i in both["items"]} == {
        (post, "guidance", "Switching from warfarin to drelvanic"), (monograph, "monograph", "Drelvanic")}
    assert {i["path"] for i in both["items"]} == {"/switching/drelvanic/", "/monographs/drelvanic/"}
    for words, wanted in (("quellon score", post), ("zintrocal", post), ("plovanide fibrillation", monograph)):
        found = _plugin_search(twin, words)  # the summary, the body, the body
        assert [i["id"] for i in found["items"]] == [wanted] and found["total"] == 1, words
    misspelt = _plugin_search(twin, "drelvanik")
    assert misspelt["fuzzy"] and {i["id"] for i in misspelt["items"]} == {post, monograph}
    assert _plugin_search(twin, "qzxwvy")["items"] == []


def test_unpublished_trashed_and_deleted_posts_leave_the_index_and_a_republish_brings_them_back(events_twin):
    twin, broker = events_twin
    began = time.monotonic()
    start = kafka_records.end_offsets(broker.bootstrap, CONTENT_TOPIC)
    ids = stack.publish(twin, [{"title": f"Vorlastine note {n}", "type": "monograph" if n == 1 else "post",
                                "category": "Switching", "content": f"Vorlastine, note {n}."} for n in range(4)])
    unpublished, trashed, deleted, purged = ids
    wait_until(lambda: _indexed(twin, dict.fromkeys(ids, 1)), timeout=30, what="the indexer to index the 4 posts")
    assert {i["id"] for i in _plugin_search(twin, "vorlastine")["items"]} == set(ids)

    removing = time.monotonic()
    statuses = stack.remove(twin, [(unpublished, "unpublish"), (trashed, "trash"), (deleted, "delete"),
                                   (purged, "trash"), (purged, "delete")])
    removed_at = time.monotonic()
    assert statuses == ["draft", "trash", "deleted", "trash", "deleted"]
    in_ids = ", ".join(map(str, ids))
    rows = stack.sql(twin, f"SELECT post_id, version, event_type, payload FROM wp_gameday_outbox WHERE post_id IN ({in_ids})")
    removals = sorted((post_id, version, json.loads(payload)["action"]) for post_id, version, kind, payload in rows
                      if kind == "article.removed")
    assert removals == sorted([(unpublished, 2, "unpublished"), (trashed, 2, "trashed"), (deleted, 2, "deleted"),
                               (purged, 2, "trashed"), (purged, 3, "deleted")])
    assert {row[0] for row in stack.sql(twin, f"SELECT ID FROM wp_posts WHERE ID IN ({in_ids})")} == {unpublished, trashed}
    wait_until(lambda: _index_versions(twin, ids) == {}, timeout=30, what="the indexer to delete the 4 documents")
    gone_after = time.monotonic() - removed_at
    wait_until(lambda: _drained(twin), timeout=30, what="the relay to send every removal")
    assert _plugin_search(twin, "vorlastine")["items"] == []
    assert SearchClient([plain_search.url(twin)], index=CONTENT_INDEX).search("vorlastine")["total"] == 0  # the site's query

    records = [dict(r, event=json.loads(r["value"])) for r in kafka_records.read_all(broker.bootstrap, CONTENT_TOPIC,
                                                                                       start=start, timeout=20)]
    events, rejected = parse_batch([Message(topic=CONTENT_TOPIC, partition=r["partition"], offset=r["offset"], key=r["key"],
                                            value=r["value"]) for r in records])  # the indexer's: removals the latest
    assert rejected == [] and {e["id"]: (e["type"], e["version"]) for e in events if e["id"] in ids} == {
        unpublished: ("article.removed", 2), trashed: ("article.removed", 2), deleted: ("article.removed", 2),
        purged: ("article.removed", 3)}
    published = [r for r in records if r["event"]["type"] == "article.published"]
    removals_sent = [r for r in records if r["event"]["type"] == "article.removed"]
    assert len(published) == 4 and len(removals_sent) == 5
    replaying = time.monotonic()
    settings = requests.get(f"{plain_search.url(twin)}/{CONTENT_INDEX}/_settings", timeout=10).json()
    assert settings[CONTENT_INDEX]["settings"]["index"]["gc_deletes"] == "1d"  # a removal outranks late events a day
    client, never = SearchClient([plain_search.url(twin)], index=CONTENT_INDEX), 10**9  # the indexer's bulk, directly
    assert client.bulk_index([{"type": "article.removed", "id": never, "version": 5}]) == {"indexed": 0, "removed": 1, "stale": 0}
    late = {"id": never, "version": 4, "kind": "guidance", "slug": "n", "title": "N", "category": None, "summary": "", "body": ""}
    assert client.bulk_index([late])["stale"] == 1, "the removal of a document never indexed is remembered too"
    _replay(twin, broker, published)  # late: each version 1 below its removal's version
    assert _index_versions(twin, ids) == {}, "a stale published event brought a removed post back"
    _replay(twin, broker, removals_sent)  # duplicates
    assert _index_versions(twin, ids) == {}

    republishing = time.monotonic()
    stack.publish(twin, [{"id": unpublished, "title": "Vorlastine note 0, published again", "type": "post",
                          "category": "Switching", "content": "Vorlastine, note 0 again."},
                         {"id": trashed, "title": "Vorlastine note 1, out of the trash", "type": "monograph",
                          "content": "Vorlastine, note 1 again."}])
    back = {unpublished: 3, trashed: 3}
    wait_until(lambda: _index_versions(twin, ids) == back, timeout=30, what="the re-published posts in the index")
    _replay(twin, broker, [r for r in removals_sent if r["event"]["id"] in back])  # stale removals (version 2)
    assert _index_versions(twin, ids) == back, "a stale removal took a re-published post out"
    found = _plugin_search(twin, "vorlastine")
    assert {(i["id"], i["path"]) for i in found["items"]} == {
        (unpublished, "/switching/vorlastine-note-0/"), (trashed, "/monographs/vorlastine-note-1/")}
    _index_matches_database(twin)  # removed posts out of both, re-published ones in both at their versions
    _nothing_dead_lettered(twin, broker)
    batches = _indexer_batches(twin)
    print(f"\n5 removals of 4 posts out of the index {gone_after:.1f} s after the last returned; replayed "
          f"{len(published)} stale published events and {len(removals_sent) + 2} stale or duplicate removals: none "
          f"changed the index; indexer: removed {sum(b['removed'] for b in batches)}, stale {sum(b['stale'] for b in batches)}"
          f"; seconds: publish+index {removing - began:.1f}, remove+index {replaying - removing:.1f}, "
          f"replays {republishing - replaying:.1f}, re-publish+replay {time.monotonic() - republishing:.1f}")


def test_the_plugins_search_falls_back_to_mysql_without_the_node(events_twin):
    twin, _broker = events_twin
    client = SandboxClient(twin.paths)
    client.stop("search-1")
    client.wait_stopped("search-1", timeout=30)
    both = _plugin_search(twin, "drelvanic", source="mysql")
    assert both["fallback"] == "mysql" and "OpenSearch unavailable" in both["notice"]
    assert {(i["kind"], i["title"]) for i in both["items"]} == {
        ("guidance", "Switching from warfarin to drelvanic"), ("monograph", "Drelvanic")}
    assert [i["id"] for i in _plugin_search(twin, "zintrocal", source="mysql")["items"]] == [
        i["id"] for i in both["items"] if i["kind"] == "guidance"]  # a word of the body
    assert {i["title"] for i in _plugin_search(twin, "vorlastine", source="mysql")["items"]} == {
        "Vorlastine note 0, published again", "Vorlastine note 1, out of the trash"}  # nothing unpublished
