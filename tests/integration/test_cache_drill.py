"""Issue 17's drill "the object cache lost", run as a game day runs it: its chaos activities
(``gameday.chaos.cache``) and the cache playbook (``recovery_playbooks/cache.py``), through a real
SandboxTarget, against a small twin of its own on net 71: MariaDB (``db-1``, its stable endpoint through
``toxiproxy-1`` as on the twin), Redis (``cache-1``), the WordPress bootstrap and one replica ``wp-1``
with the object-cache drop-in. The twin's shape says WordPress (``sandbox up --web wordpress``).

Readers load three pages all along. Asserted on data: with the cache lost (SIGKILLed and held down)
every page is still a 200, served from the database (``X-Gameday-Object-Cache: fallback``); the
database's queries per second (``SHOW GLOBAL STATUS`` through the target) rise above the warm
baseline; the playbook starts the cache, sees it answer and fill again (keys and hits rising) and
reports the load with it back. About 35 s on 2 cores.
"""

from __future__ import annotations

import threading
import time

import pytest
import requests

from gameday.chaos import ledger
from gameday.chaos.cache import actions, probes
from gameday.chaos.lock import lock_for
from gameday.deadline import Deadline, wait_until
from gameday.sandbox import install, lifecycle
from gameday.sandbox.members import db, redis_cache, toxiproxy, wordpress
from gameday.sandbox.shape import Shape
from gameday.sandbox.spec import Topology
from gameday.sandbox.twin import Twin
from gameday.targets import for_environment
from gameday.targets.environment import from_mapping
from tests.support import wordpress_stack as stack

NET = 71
NAME = "cache-drill"
SEED_N = 60
API = "/wp-json/gameday/v1"


@pytest.fixture(scope="module")
def cache_twin():
    install.install_all()  # a no-op when installed
    twin = Twin.create(NAME, net=NET)
    lifecycle.down(twin.paths, wipe=True)
    topology = Topology(name=twin.name, sandbox_id=twin.paths.sandbox_id, backoff_base=1.0, backoff_cap=2.0,
                        workloads=[toxiproxy.workload(twin), db.workload(twin), redis_cache.workload(twin),
                                   wordpress.bootstrap(twin, n=SEED_N, after=["db", "cache"]),
                                   wordpress.workload(twin, replicas=1, max_replicas=1)])

    def prepare():
        redis_cache.prepare(twin)
        stack.prepare(twin, cache_addr=redis_cache.addr(twin), home=wordpress.url(twin))
        toxiproxy.prepare(twin)  # the database's stable endpoint, at db-1
        Shape(web="wordpress", web_replicas=1).save(twin.paths)  # what `sandbox up --web wordpress` keeps

    try:
        lifecycle.up(twin.paths, topology, prepare=prepare, timeout=150)
        yield Twin.create(NAME, net=NET)
    finally:
        lifecycle.down(twin.paths, wipe=True)


@pytest.fixture
def drill(cache_twin, monkeypatch, tmp_path):
    monkeypatch.setenv(ledger.RUN_LOG_ENV, str(tmp_path / "run.jsonl"))
    mapping = {"name": f"{NAME}-drill", "kind": "sandbox", "allowed": True, "production": False,
               "sandbox": NAME, "net": NET, "site_url": wordpress.url(cache_twin).rstrip("/")}
    env = from_mapping(mapping, "test_cache_drill")
    try:
        yield {"gameday_environment": mapping}, env, cache_twin
    finally:
        for record in ledger.pending(env):  # a failed test's record goes with it (the cache started again)
            ledger.run_record(record)
        lock_for(env).release()


class Readers:
    """Pages read one after another on a thread until stopped: (time, status, X-Gameday-Object-Cache)."""

    def __init__(self, twin: Twin, paths: list[str]):
        self.twin, self.paths, self.seen, self.errors = twin, paths, [], []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        deadline = Deadline(90)
        try:
            while not self._stop.is_set() and not deadline.expired():
                for path in self.paths:
                    answer = requests.get(wordpress.url(self.twin).rstrip("/") + path, timeout=10, allow_redirects=False)
                    self.seen.append((time.monotonic(), answer.status_code, answer.headers.get("X-Gameday-Object-Cache", "")))
        except BaseException as err:  # noqa: BLE001 - handed to the test's thread, which raises it
            self.errors.append(err)

    def __enter__(self) -> "Readers":
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join(timeout=15)


def test_the_object_cache_lost_the_site_serves_from_the_database_and_the_playbook_brings_it_back(drill):
    configuration, env, twin = drill
    target = for_environment(env)
    assert [n.name for n in target.nodes("cache")] == ["cache-1"]
    items = requests.get(wordpress.url(twin).rstrip("/") + f"{API}/posts", params={"per_page": 5}, timeout=10).json()["items"]
    pages = ["/", *[item["path"] for item in items[:3]], "/?s=dose"]
    with Readers(twin, pages) as readers:
        wait_until(lambda: (s := probes.object_cache_status(configuration=configuration))
                   and s["members"]["cache-1"]["keys"] > 10 and s["members"]["cache-1"]["hits"] > 50,
                   timeout=30, what="the object cache to be warm")
        baseline = probes.database_load(window_s=3, configuration=configuration)

        lost = actions.lose_object_cache(configuration=configuration)
        lost_at = time.monotonic()
        assert lost["touched"] == ["cache-1"]
        [record] = ledger.pending(env)  # written before the kill: any process can undo it
        assert record["undo"] == "start_node" and record["kwargs"] == {"layer": "cache", "name": "cache-1"}
        gone = probes.object_cache_status(configuration=configuration)["members"]["cache-1"]
        assert gone["answers"] is False and gone["running"] is False
        during = probes.database_load(window_s=3, configuration=configuration)

        done = actions.apply_cache_playbook(configuration=configuration)
        back_at = time.monotonic()
        time.sleep(0.5)
    assert not readers.errors, readers.errors
    assert done["outcome"] != "failed", done
    assert [f["code"] for f in done["findings"]] == ["cache.members-missing"]
    steps = done["steps"]
    assert list(steps) == ["start-cache", "verify-cache-answers-and-fills", "report-database-load"], list(steps)
    assert all(s["status"] == "ok" for s in steps.values()), steps
    assert "database load while the cache was lost" in steps["report-database-load"]["detail"]
    assert done["settled"]["records"] == [record["id"]] and ledger.pending(env) == []

    # readers were served all along; from the database while the cache was down
    assert readers.seen and all(status == 200 for _, status, _ in readers.seen), \
        [s for s in readers.seen if s[1] != 200][:5]
    outage = [s for s in readers.seen if lost_at < s[0] < back_at]
    assert sum(1 for s in outage if s[2] == "fallback") >= 5, f"{len(outage)} pages read while the cache was lost"
    # the spike: the database answered more queries per second without the cache than with it warm
    assert during["Questions"] > baseline["Questions"] and during["Com_select"] > baseline["Com_select"], (baseline, during)
    back = probes.object_cache_status(configuration=configuration)["members"]["cache-1"]
    assert back["answers"] and back["keys"] > 0 and back["hits"] > 0
    assert redis_cache.password(twin) not in str(done)
    print(f"\n[figure] object cache lost: database {baseline['Questions']:g} -> {during['Questions']:g} queries/s "
          f"({baseline['Com_select']:g} -> {during['Com_select']:g} SELECT/s, "
          f"{during['Questions'] / max(baseline['Questions'], 0.01):.1f}x); {len(outage)} pages read meanwhile, all 200; "
          f"playbook: cache back in {steps['start-cache']['seconds']:.1f} s, filling in "
          f"{steps['verify-cache-answers-and-fills']['seconds']:.1f} s; {steps['report-database-load']['detail']}")
