"""The runner's redundancy watch against a real HTTP server answering _cluster/health: it looks before
the fault and through it, waits (bounded) for the layer to be full again, and judges when it was.
The target handed to it knows only where the search cluster is; every check and wait is the real code."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from gameday.measure.phases import NOT_MEASURED, NOT_RESTORED, RESTORED
from gameday.runner.redundancy import Watch
from gameday.search_admin import SearchAdmin


class Health:
    """A local search node whose cluster status the test sets."""

    def __init__(self, status: str = "green"):
        self.status, self.asked = status, 0
        health = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                health.asked += 1
                data = json.dumps({"status": health.status, "number_of_nodes": 3,
                                   "unassigned_shards": 0 if health.status == "green" else 3}).encode()
                self.send_response(200 if self.path.startswith("/_cluster/health") else 404)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class SearchOnly:
    """Where the search cluster is: all the search check asks of a target."""

    def __init__(self, url: str):
        self.url = url

    def search_admin(self, *, timeout: float = 10.0) -> SearchAdmin:
        return SearchAdmin([self.url], timeout=timeout)


@pytest.fixture
def health():
    h = Health()
    yield h
    h.close()


def watch(url: str) -> Watch:
    return Watch(None, layers=("search",), interval_s=0.1, make_target=lambda _env: SearchOnly(url))


def test_a_layer_lost_and_green_again_is_restored_when_its_first_green_answer_came(health):
    w = watch(health.url).start()
    assert w.before["search"].full
    health.status = "yellow"
    fault_at = time.time()
    flip = threading.Timer(0.8, lambda: setattr(health, "status", "green"))
    flip.start()
    waited = w.wait(min_s=0.2, max_s=10)
    greened = time.time()
    results = {r.layer: r for r in w.stop(fault_at)}
    assert waited < 5  # it stopped waiting once the layer was full, not at max_s
    search = results["search"]
    assert search.status == RESTORED and search.full_before is True and search.samples > 3
    assert fault_at < search.lost_at < search.restored_at <= greened
    assert 0.8 <= search.after_fault_s(fault_at) <= 2.0
    assert search.detail == "cluster green, 3 nodes, 0 shards unassigned"
    assert results["db"].status == NOT_MEASURED and results["db"].detail == "no database replica to check yet"


def test_the_wait_is_bounded_and_a_layer_still_short_is_not_restored(health):
    w = watch(health.url).start()
    health.status = "yellow"
    fault_at = time.time()
    started = time.monotonic()
    w.wait(min_s=0.1, max_s=1.0)
    assert 0.9 <= time.monotonic() - started < 3
    search = next(r for r in w.stop(fault_at) if r.layer == "search")
    assert search.status == NOT_RESTORED and "cluster yellow" in search.detail
    asked = health.asked
    time.sleep(0.4)
    assert health.asked == asked  # stopped: nothing is looking any more


def test_a_layer_not_full_before_the_fault_is_not_waited_for(health):
    health.status = "yellow"
    w = watch(health.url).start()
    assert w.before["search"].full is False
    started = time.monotonic()
    w.wait(min_s=0.2, max_s=10)
    assert time.monotonic() - started < 2
    search = next(r for r in w.stop(time.time()) if r.layer == "search")
    assert search.status == NOT_RESTORED and search.full_before is False


def test_a_cluster_that_never_answers_is_not_measured_and_not_waited_for():
    h = Health()
    url = h.url
    h.close()  # nothing listens there any more
    w = watch(url).start()
    assert w.before["search"].answered is False
    started = time.monotonic()
    w.wait(min_s=0.1, max_s=10)
    assert time.monotonic() - started < 2
    search = next(r for r in w.stop(time.time()) if r.layer == "search")
    assert search.status == NOT_MEASURED and search.detail.startswith("did not answer: no search node answered")


class DbOnly:
    """The database's replication as a target reports it: all the db check asks of a target."""

    def __init__(self, roles, members):
        self.roles, self.members = roles, members

    def db_roles(self):
        return self.roles

    def db_replication(self):
        return {"roles": self.roles, "members": self.members}


def _roles(**changes):
    return {"primary": "db-1", "replicas": ["db-2"], "fenced": [], "lost": [], "mode": "async", **changes}


def test_the_database_is_full_when_every_replica_replicates_close_behind_the_primary():
    from gameday.runner.redundancy import DB_CAUGHT_UP_TRANSACTIONS, db_full
    primary = {"answers": True, "gtid_binlog_pos": "0-1-100"}
    near = {"replicating": True, "gtid_current_pos": f"0-1-{100 - DB_CAUGHT_UP_TRANSACTIONS}"}
    assert db_full(DbOnly(_roles(), {"db-1": primary, "db-2": near})) == \
        (True, f"db-2 replicates from db-1, {DB_CAUGHT_UP_TRANSACTIONS} transactions behind")
    far = {"replicating": True, "gtid_current_pos": "0-1-50"}
    assert db_full(DbOnly(_roles(), {"db-1": primary, "db-2": far}))[0] is False
    stopped = {"replicating": False, "gtid_current_pos": "0-1-100"}
    assert db_full(DbOnly(_roles(), {"db-1": primary, "db-2": stopped})) == \
        (False, "db-2 does not replicate from db-1, 0 transactions behind")
    full, detail = db_full(DbOnly(_roles(primary="db-2", replicas=[], fenced=["db-1"]), {"db-2": primary}))
    assert not full and detail == "db-1 fenced"


def test_a_database_without_a_replica_is_not_measured():
    from gameday.runner.redundancy import NO_DB_REPLICA
    w = Watch(None, layers=("db",), interval_s=0.1, make_target=lambda _env: DbOnly(None, {})).start()
    db = next(r for r in w.stop(time.time()) if r.layer == "db")
    assert db.status == NOT_MEASURED and db.detail == NO_DB_REPLICA
