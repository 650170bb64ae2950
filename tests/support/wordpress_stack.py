"""The WordPress modules' shared pieces (test_wordpress, test_object_cache, test_event_relay,
test_wordpress_events): each runs a small topology of its own (MariaDB, the WordPress bootstrap, one
``wp-1``, and what the module adds) on its own network, and reads the database, publishes (unpublishes,
trashes, deletes) through WordPress and kills the relay inside its ack-to-mark window the same way::

    lifecycle.up(twin.paths, topology, prepare=lambda: prepare(twin, relay=True), timeout=150)
    ids = publish(twin, [{"title": "...", "type": "monograph", "category": "Switching", "content": "..."}])
    remove(twin, [(ids[0], "unpublish"), (ids[0], "delete")])   # ["draft", "deleted"]
    sql(twin, "SELECT COUNT(*) FROM wp_gameday_outbox")[0][0]
    in_flight = kill_inside_the_marking_window(twin, SandboxClient(twin.paths))
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pymysql

from gameday.deadline import wait_until
from gameday.errors import GamedayError
from gameday.sandbox import db_roles
from gameday.sandbox.client import SandboxClient
from gameday.sandbox.members import db, event_relay, wordpress
from gameday.sandbox.twin import DB_NAME, DB_USER, Twin
from gameday.sandbox.wordpress.php import run_script

RELAY = "relay-1"


def prepare(twin: Twin, *, relay: bool = False, **wordpress_options) -> None:
    """A topology's ``prepare``: the database's secrets, roles and data directory, WordPress's files
    (``wordpress_options`` go to :func:`wordpress.prepare`, e.g. ``cache_addr``, ``home``), and the
    relay's settings when ``relay``."""
    twin.db_password()
    twin.db_replication_password()
    db_roles.ensure(twin)
    db.prepare_member(twin, db.NAME)
    wordpress.prepare(twin, db_addr=twin.db_member_addr(1), **wordpress_options)
    if relay:
        event_relay.prepare(twin)


def sql(twin: Twin, query: str, args=()) -> list[tuple]:
    """The rows of one statement on the twin's database, as the site's user (autocommit)."""
    conn = pymysql.connect(host=db.address(twin), port=3306, user=DB_USER, password=twin.db_password(),
                           database=DB_NAME, connect_timeout=5, autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(query, args)
            return list(cur.fetchall())
    finally:
        conn.close()


def publish(twin: Twin, items: list[dict]) -> list[int]:
    """Publish (or update, with ``id``) each item through WordPress (the plugin's ``publish.php``), three
    at a time; the post ids, in the items' order."""
    env = wordpress.cli_env(twin)

    def one(item: dict) -> int:
        return json.loads(run_script("publish.php", env, stdin=json.dumps(item), timeout=60))["id"]

    with ThreadPoolExecutor(max_workers=3) as pool:
        return list(pool.map(one, items))


def remove(twin: Twin, removals: list[tuple[int, str]]) -> list[str]:
    """Take each post out of public view through WordPress (the plugin's ``remove.php``), three at a
    time: ``(post id, "unpublish" | "trash" | "delete")``; each post's status after it (``deleted``
    when gone), in order. The removals of one post run one after another, in the order given."""
    env = wordpress.cli_env(twin)

    def one(post_id: int) -> list[str]:
        return [json.loads(run_script("remove.php", env, stdin=json.dumps({"id": post_id, "action": action}),
                                      timeout=60))["status"] for pid, action in removals if pid == post_id]

    ids = list(dict.fromkeys(pid for pid, _ in removals))
    with ThreadPoolExecutor(max_workers=3) as pool:
        by_post = dict(zip(ids, pool.map(one, ids), strict=True))
    return [by_post[pid].pop(0) for pid, _ in removals]


def relay_status(twin: Twin) -> dict | None:
    """``relay-1``'s /healthz, or None while it starts or after it was killed."""
    try:
        return event_relay.status(twin, 1, timeout=1.0)
    except GamedayError:
        return None


def kill_inside_the_marking_window(twin: Twin, client: SandboxClient) -> list[int]:
    """SIGKILL ``relay-1`` right after it entered a batch's marking pause (the relay's
    ``mark_delay_ms``, set long by the test), and hold it stopped; the outbox ids it named in flight.
    A batch seen entering the pause (not seen in it at the previous look, 20 ms before) has about the
    whole pause left: the kill lands inside it."""
    seen: list[list[int]] = [[]]

    def entered() -> list[int] | None:
        status = relay_status(twin)
        fresh = status and status["state"] == "marking" and status["batches"] >= 1 and status["in_flight"]
        previous, seen[0] = seen[0], (status or {}).get("in_flight") or []
        return status["in_flight"] if fresh and status["in_flight"] != previous else None

    in_flight = wait_until(entered, timeout=30, interval=0.02,
                           what="the relay to enter a batch's marking pause after one batch was marked")
    client.kill(RELAY)
    client.stop(RELAY)  # held: the supervisor does not restart it until started again
    client.wait_stopped(RELAY, timeout=15)
    return in_flight
