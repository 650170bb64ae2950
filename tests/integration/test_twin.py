"""The full twin, on real servers: load balancer, web replicas, Kafka, OpenSearch, MariaDB, indexer.

Tests run in file order; the last one takes the twin down and checks nothing is left.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid

import requests
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, ConfigResource

from gameday.deadline import Deadline, wait_until
from gameday.sandbox import reaper
from gameday.sandbox.members import wordpress
from gameday.sandbox.twin import CANARY_TOPIC, CONTENT_INDEX, CONTENT_TOPIC, SNAPSHOT_REPOSITORY
from tests.support import search


def test_pages_through_the_load_balancer_reach_every_replica(twin):
    home = requests.get(f"{twin.lb_url}/", timeout=5)
    assert home.status_code == 200 and "<html" in home.text.lower()
    served_by = {requests.get(f"{twin.lb_url}/healthz", timeout=5).headers["X-Served-By"] for _ in range(12)}
    assert served_by == {"web-1", "web-2", "web-3"}
    article = requests.get(f"{twin.lb_url}/api/articles/1", timeout=5).json()
    path = "guidance" if article["kind"] == "guidance" else "medicines"
    page = requests.get(f"{twin.lb_url}/{path}/{article['slug']}", timeout=5)
    assert page.status_code == 200 and article["title"] in page.text
    assert requests.get(f"{twin.lb_url}/medicines/no-such-medicine", timeout=5).status_code == 404


def test_the_cms_holds_the_seeded_catalogue(twin):
    import pymysql
    conn = pymysql.connect(host=twin.address("db"), port=3306, user="sps", password=twin.db_password(),
                           database="sps", connect_timeout=2)
    with conn, conn.cursor() as cur:
        cur.execute("SELECT COUNT(*), SUM(kind='guidance'), SUM(kind='monograph') FROM articles WHERE id <= 2000")
        total, guidance, monographs = cur.fetchone()
    assert total == 2000 and guidance > 0 and monographs > 0


def test_kafka_round_trip_with_acks_all(twin):
    run = uuid.uuid4().hex
    delivered, errors = [], []
    producer = Producer({"bootstrap.servers": twin.kafka_bootstrap(), "acks": "all", "enable.idempotence": True})
    for seq in range(50):
        producer.produce(CANARY_TOPIC, key=run, value=json.dumps({"run": run, "seq": seq}),
                         on_delivery=lambda err, msg: (errors if err else delivered).append(err or msg.offset()))
    assert producer.flush(15) == 0
    assert errors == [] and len(delivered) == 50

    consumer = Consumer({"bootstrap.servers": twin.kafka_bootstrap(), "group.id": f"test-{run}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([CANARY_TOPIC])
    seen: set[int] = set()
    deadline = Deadline(30)
    while len(seen) < 50 and not deadline.expired():
        msg = consumer.poll(1.0)
        if msg is not None and not msg.error():
            body = json.loads(msg.value())
            if body["run"] == run:
                seen.add(body["seq"])
    consumer.close()
    assert seen == set(range(50))


def test_kafka_topics_are_replicated_three_ways_with_min_isr_two(twin):
    admin = AdminClient({"bootstrap.servers": twin.kafka_bootstrap()})
    md = admin.list_topics(timeout=10)
    assert len(md.brokers) == 3
    for topic in (CONTENT_TOPIC, CANARY_TOPIC):
        partitions = md.topics[topic].partitions.values()
        assert len(partitions) == 3
        assert all(len(p.replicas) == 3 and len(p.isrs) == 3 and p.leader >= 0 for p in partitions)
    resource = ConfigResource(ConfigResource.Type.TOPIC, CONTENT_TOPIC)
    config = admin.describe_configs([resource])[resource].result(timeout=10)
    assert config["min.insync.replicas"].value == "2"


def test_search_cluster_is_green_with_one_primary_and_a_copy_on_every_node(twin):
    base, http = twin.search_urls()[0], search.session(twin)
    health = http.get(f"{base}/_cluster/health", timeout=5).json()
    assert health["status"] == "green" and health["number_of_nodes"] == 3
    settings = http.get(f"{base}/{CONTENT_INDEX}/_settings", timeout=5).json()[CONTENT_INDEX]["settings"]["index"]
    assert (settings["number_of_shards"], settings["number_of_replicas"]) == ("1", "2")
    shards = http.get(f"{base}/_cat/shards/{CONTENT_INDEX}?format=json", timeout=5).json()
    assert sorted(s["node"] for s in shards) == ["search-1", "search-2", "search-3"]  # a copy on every node
    verify = http.post(f"{base}/_snapshot/{SNAPSHOT_REPOSITORY}/_verify", timeout=30)
    assert verify.status_code == 200 and len(verify.json()["nodes"]) == 3


def publisher(twin) -> tuple[str, str] | None:
    """The publisher's credentials where the site asks for them (WordPress's application password; the
    Python site asks for none: tests/support/site_contract.py DIFFERENCES["publish-auth"])."""
    return wordpress.publisher_credentials(twin) if twin.shape.wordpress else None


def test_published_update_becomes_searchable(twin):
    word = "gamedaytest" + uuid.uuid4().hex[:8]
    reply = requests.post(f"{twin.lb_url}/api/articles", timeout=10, auth=publisher(twin), json={
        "kind": "guidance", "title": f"Storage of {word} in care homes", "category": "Storage",
        "summary": "A test update.", "body": f"Body mentioning {word}."})
    assert reply.status_code == 201, reply.text
    assert reply.json()["event"] == "acknowledged"

    def found():
        hits = requests.get(f"{twin.lb_url}/api/search", params={"q": word}, timeout=5).json()["hits"]
        return [h for h in hits if h["id"] == reply.json()["id"]]
    assert wait_until(found, timeout=30, what="the published article to become searchable")


def test_search_outage_degrades_search_page_but_articles_serve(twin):
    proxies = [f"search-{i}" for i in (1, 2, 3)]
    try:
        for name in proxies:
            requests.post(f"{twin.toxiproxy_api}/proxies/{name}", json={"enabled": False}, timeout=5).raise_for_status()
        started = time.monotonic()
        degraded = requests.get(f"{twin.lb_url}/search", params={"q": "apixaban"}, timeout=10)
        assert time.monotonic() - started < 5
        assert degraded.headers["X-Gameday-Degraded"] == "search"
        if twin.shape.wordpress:  # its own MySQL search answers, and the page says so (site_contract "search-down")
            assert degraded.status_code == 200 and "Search is running in fallback mode" in degraded.text
        else:
            assert degraded.status_code == 503 and "temporarily unavailable" in degraded.text
        assert requests.get(f"{twin.lb_url}/api/articles/2", timeout=5).status_code == 200
    finally:
        for name in proxies:
            requests.post(f"{twin.toxiproxy_api}/proxies/{name}", json={"enabled": True}, timeout=5)
    assert requests.get(f"{twin.lb_url}/search", params={"q": "apixaban"}, timeout=10).status_code == 200


def test_killed_web_member_is_restarted_while_traffic_keeps_flowing(twin, twin_client):
    results: list[int] = []
    stop = threading.Event()

    def traffic():
        session = requests.Session()
        while not stop.is_set():
            try:
                results.append(session.get(f"{twin.lb_url}/healthz", timeout=2).status_code)
            except requests.RequestException:
                results.append(0)
            time.sleep(0.02)

    worker = threading.Thread(target=traffic)
    worker.start()
    try:
        before = twin_client.member("web-2")
        twin_client.kill("web-2")
        after = wait_until(lambda: (m := twin_client.member("web-2"))["ready"] and m["pid"] != before["pid"] and m,
                           timeout=60, what="web-2 to be restarted and ready")
        time.sleep(1.0)  # the load balancer's health check (every 250 ms while down, rise 1) takes it back
    finally:
        stop.set()
        worker.join(timeout=10)
    assert after["restarts"] == before["restarts"] + 1
    assert len(results) > 50
    ok = sum(1 for code in results if code == 200)
    assert ok / len(results) >= 0.95, f"{len(results) - ok} of {len(results)} requests failed"
    served = {requests.get(f"{twin.lb_url}/healthz", timeout=5).headers["X-Served-By"] for _ in range(12)}
    assert "web-2" in served


def test_status_json_is_the_machine_readable_view(twin):
    out = subprocess.run([sys.executable, "-m", "gameday", "sandbox", "--name", "test", "status", "--json"],
                         capture_output=True, text=True, timeout=30, check=True)
    status = json.loads(out.stdout)
    assert status["schema"] == "gameday.sandbox.status/v1" and status["supervisor"]["running"]
    kafka = [m for m in status["members"] if m["layer"] == "kafka"]
    assert [m["labels"]["node-id"] for m in kafka] == ["1", "2", "3"]
    for m in status["members"]:
        assert {"name", "layer", "address", "pid", "state", "ready", "restarts", "history", "log"} <= set(m)
    assert twin.db_password() not in out.stdout  # no secret in the view


def test_zz_down_leaves_no_process_behind(twin, twin_client):
    pids = [m["pid"] for m in twin_client.status()["members"] if m["pid"]]
    assert len(pids) >= 13
    out = subprocess.run([sys.executable, "-m", "gameday", "sandbox", "--name", "test", "down"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "stopped" in out.stderr
    assert reaper.marked_processes(twin.paths.sandbox_id) == []
    assert not any(reaper.is_running(p) for p in pids)
