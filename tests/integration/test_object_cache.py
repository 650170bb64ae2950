"""WordPress's object cache on Redis (issue 17) against real servers: the cost per page, and the cache lost.

A small topology of its own on net 63 (127.63.x.y), run by the sandbox supervisor: MariaDB (``db-1``),
Redis (``cache-1``, :mod:`gameday.sandbox.members.redis_cache`), the WordPress bootstrap job and one
replica ``wp-1`` with the object-cache drop-in (``object-cache.php``). Every page says what it cost in
two headers of the must-use plugin: ``X-Gameday-DB-Queries`` and ``X-Gameday-Object-Cache``
(redis | fallback). ``cache-1`` is SIGKILLed while pages are read; the supervisor restarts it after
:data:`BACKOFF` seconds, the outage during which the pages are measured. About 11 s on 2 cores.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from pathlib import Path

import psutil
import pytest
import requests

from gameday.deadline import Deadline, wait_until
from gameday.sandbox import install, lifecycle
from gameday.sandbox import wordpress as wp_files
from gameday.sandbox.client import SandboxClient
from gameday.sandbox.members import db, redis_cache, wordpress
from gameday.sandbox.spec import Topology
from gameday.sandbox.twin import Twin
from gameday.sandbox.wordpress.php import PHP, run_script
from gameday.site import catalog
from tests.support import wordpress_stack as stack

NET = 63
SEED_N = 120
BACKOFF = 2.0  # the supervisor's first restart delay: how long the cache stays lost
API = "/wp-json/gameday/v1"
SUPPORT = Path(__file__).resolve().parents[1] / "support"
FIGURES: dict[str, dict[str, int]] = {}  # page -> {"cold": n, "warm": n, "fallback": n}: DB queries per page


@pytest.fixture(scope="module")
def cache_twin():
    install.install_all()  # a no-op when installed
    twin = Twin.create("cache-test", net=NET)
    lifecycle.down(twin.paths, wipe=True)
    topology = Topology(name=twin.name, sandbox_id=twin.paths.sandbox_id, backoff_base=BACKOFF, backoff_cap=4.0,
                        workloads=[db.workload(twin), redis_cache.workload(twin),
                                   wordpress.bootstrap(twin, n=SEED_N, after=["db", "cache"]),
                                   wordpress.workload(twin, replicas=1, max_replicas=1)])

    def prepare():
        redis_cache.prepare(twin)
        stack.prepare(twin, cache_addr=redis_cache.addr(twin),
                      home=wordpress.url(twin))  # no load balancer: the replica is the site

    lifecycle.up(twin.paths, topology, prepare=prepare, timeout=150)
    yield twin
    lifecycle.down(twin.paths, wipe=True)


@pytest.fixture(scope="module")
def pages(cache_twin) -> dict[str, str]:
    """The three pages measured: the home page, one monograph (its permalink) and a search."""
    post = requests.get(wordpress.url(cache_twin) + f"{API}/posts", params={"type": "monograph", "per_page": 1},
                        timeout=10).json()["items"][0]
    term = next(row for row in catalog.generate(SEED_N) if row["kind"] == "monograph")["title"].split()[0]
    return {"home": "/", "post": post["path"], "search": f"/?s={term.lower()}"}


def _page(twin: Twin, path: str) -> tuple[int, str, int]:
    """(status, X-Gameday-Object-Cache, X-Gameday-DB-Queries) of one page."""
    answer = requests.get(wordpress.url(twin) + path, timeout=10, allow_redirects=False)
    return (answer.status_code, answer.headers.get("X-Gameday-Object-Cache", ""),
            int(answer.headers.get("X-Gameday-DB-Queries", "-1")))


def _redis_cli(twin: Twin, *args: str) -> str:
    """One command through redis-cli, the password in its environment (REDISCLI_AUTH), never in argv."""
    env = {"PATH": os.environ["PATH"], "REDISCLI_AUTH": redis_cache.password(twin)}
    proc = subprocess.run(["redis-cli", "-h", redis_cache.address(twin), "-p", str(redis_cache.PORT), *args],
                          env=env, capture_output=True, text=True, timeout=10, check=True)
    return proc.stdout.strip()


def test_the_cache_asks_for_its_password_which_is_in_no_argv_config_or_log(cache_twin):
    secret = redis_cache.password(cache_twin)
    assert (redis_cache.env_file(cache_twin).stat().st_mode & 0o777) == 0o600
    assert "NOAUTH" in subprocess.run(["redis-cli", "-h", redis_cache.address(cache_twin), "PING"],
                                      capture_output=True, text=True, timeout=10).stdout
    assert _redis_cli(cache_twin, "PING") == "PONG"
    assert _redis_cli(cache_twin, "CONFIG", "GET", "maxmemory-policy").split() == ["maxmemory-policy", "allkeys-lru"]
    assert _redis_cli(cache_twin, "CONFIG", "GET", "save").split() == ["save"]  # no RDB snapshots
    server = psutil.Process(SandboxClient(cache_twin.paths).member("cache-1")["pid"])
    assert server.name() == "redis-server" and secret not in " ".join(server.cmdline())
    if os.geteuid() == 0:
        assert server.username() == redis_cache.RUN_AS
        assert secret not in open(f"/proc/{server.pid}/environ", "rb").read().decode(errors="replace")
    for f in [*cache_twin.paths.conf.rglob("*"), *cache_twin.paths.logs.rglob("*")]:
        if f.is_file():
            assert secret not in f.read_text(errors="replace"), f"the cache's password is in {f}"


def _api(twin: Twin, phase: str, *, password: bool = True) -> tuple[dict, str]:
    """Run tests/support/object_cache_api.php (``write`` or ``read``) in the twin's WordPress: its JSON, its
    stderr. ``password=False``: without the cache's password, so the drop-in must fall back."""
    env = {**wordpress.cli_env(twin), "GAMEDAY_WP_CLI": str(wp_files.CLI)}
    if not password:
        env.pop(redis_cache.PASSWORD_ENV)
    proc = subprocess.run([PHP, str(SUPPORT / "object_cache_api.php"), phase], env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout), proc.stderr


def test_sandbox_status_says_the_object_caches_keys_and_hit_ratio_as_redis_counts_them(cache_twin):
    from click.testing import CliRunner

    from gameday.cli import cli

    requests.get(wordpress.url(cache_twin) + "/", timeout=10)  # a page: lookups in Redis
    keys = int(_redis_cli(cache_twin, "DBSIZE"))
    out = CliRunner().invoke(cli, ["sandbox", "--name", cache_twin.name, "status"], terminal_width=200)
    assert out.exit_code == 0, out.output
    line = next(x for x in out.output.splitlines() if x.startswith("object cache cache-1:"))
    assert " keys, hit ratio " in line and "% since it started (" in line and line.endswith(" misses)"), line
    assert int(line.split(": ", 1)[1].split(" keys")[0].replace(",", "")) >= keys, line  # Redis's own count
    assert redis_cache.password(cache_twin) not in out.output


def test_the_drop_in_implements_the_object_cache_api_on_redis_and_in_memory_without_it(cache_twin):
    wrote, said = _api(cache_twin, "write")
    assert wrote == {"state": "redis", "external": True, "add_new": True, "add_again": False,
                     "get_forced": {"a": 1}, "found": True, "replace": True, "replace_missing": False,
                     "after_replace": "v2", "incr": 8, "decr_floor": 0, "incr_again": 2, "incr_missing": False,
                     "own_copy": 1, "false_found": True, "local": "here", "delete": True, "delete_again": False}
    assert "gameday object cache" not in said
    read, _ = _api(cache_twin, "read")  # another process: what persisted, and only that
    assert read == {"state": "redis", "external": True, "obj": 1, "local": False, "gone": False,
                    "multi": {"k": "v2", "n": 2, "false": False, "nope": False}}
    prefix = f"{wordpress.config_name(cache_twin)}:1:"
    assert _redis_cli(cache_twin, "GET", f"{prefix}gameday-test:n") == "2"  # a Redis integer: INCRBY is atomic
    assert _redis_cli(cache_twin, "EXISTS", f"{prefix}gameday-local:local") == "0"  # non-persistent group
    # without Redis: the same answers within the request, nothing across requests, one line saying so
    fallen, said = _api(cache_twin, "write", password=False)
    assert fallen == {**wrote, "state": "fallback"}
    assert said.count("gameday object cache:") == 1 and "in-memory cache only" in said
    assert _api(cache_twin, "read", password=False)[0]["multi"] == {"k": False, "n": False, "false": False, "nope": False}


def test_pages_are_served_from_redis_and_a_warm_page_makes_fewer_queries(cache_twin, pages):
    for name, path in pages.items():
        _redis_cli(cache_twin, "FLUSHALL")
        status, state, cold = _page(cache_twin, path)
        assert (status, state) == (200, "redis"), f"{name} {path}"
        status, state, warm = _page(cache_twin, path)
        assert (status, state) == (200, "redis")
        FIGURES[name] = {"cold": cold, "warm": warm}
        assert 0 <= warm < cold, f"{name}: a warm page made {warm} database queries, a cold one {cold}"
    assert int(_redis_cli(cache_twin, "DBSIZE")) > 10


def test_a_post_published_through_wordpress_is_listed_at_once_by_a_warm_cache(cache_twin):
    """Publishing (a CLI script, as the seed job: it reaches Redis too) invalidates what pages cached."""
    def listed() -> tuple[int, str]:
        answer = requests.get(wordpress.url(cache_twin) + f"{API}/posts", params={"type": "post", "per_page": 1},
                              timeout=10)
        return answer.json()["total"], answer.headers["X-Gameday-Object-Cache"]

    total, state = listed()
    assert listed() == (total, "redis")  # warm
    published = json.loads(run_script("publish.php", wordpress.cli_env(cache_twin), stdin=json.dumps(
        {"title": "Gameday: object cache and a new post", "content": "Fresh.", "category": "Switching"})))
    assert listed() == (total + 1, "redis")
    found = requests.get(wordpress.url(cache_twin) + f"{API}/posts/{published['id']}", timeout=10)
    assert found.status_code == 200 and found.json()["title"] == "Gameday: object cache and a new post"


def test_the_cache_lost_every_page_answers_from_the_database_and_then_from_redis_again(cache_twin, pages):
    client = SandboxClient(cache_twin.paths)
    for path in pages.values():  # warm
        assert _page(cache_twin, path)[:2] == (200, "redis")
    before = client.member("cache-1")
    seen: list[tuple[float, str, int, str, int]] = []  # (t, page, status, cache, queries)
    stop = threading.Event()
    errors: list[BaseException] = []

    def read() -> None:
        deadline = Deadline(40)
        try:
            while not stop.is_set() and not deadline.expired():
                for name, path in pages.items():
                    seen.append((time.monotonic(), name, *_page(cache_twin, path)))
        except BaseException as err:  # noqa: BLE001 - handed to the test's thread, which raises it
            errors.append(err)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        time.sleep(0.5)
        killed_at = time.monotonic()
        client.kill("cache-1")
        after = client.wait_ready("cache-1", timeout=30)
        ready_at = time.monotonic()
        wait_until(lambda: [s for s in seen if s[0] > ready_at and s[3] == "redis"], timeout=10,
                   what="a page served from Redis again after cache-1 came back")
        time.sleep(0.5)
    finally:
        stop.set()
        reader.join(timeout=15)
    assert not errors, errors
    assert after["pid"] != before["pid"] and after["restarts"] == before["restarts"] + 1
    assert [h for h in after["history"] if h["event"] == "exited"][-1]["signal"] == "SIGKILL"
    assert all(status == 200 for _, _, status, _, _ in seen), [s for s in seen if s[2] != 200]
    outage = [s for s in seen if killed_at < s[0] < ready_at and s[3] == "fallback"]
    assert len(outage) >= 3, f"only {len(outage)} pages read while cache-1 was down"
    assert {s[3] for s in seen} <= {"redis", "fallback"}
    for name in pages:
        during = [q for _, page, _, state, q in outage if page == name]
        if during:
            FIGURES[name]["fallback"] = max(during)
            assert min(during) > FIGURES[name]["warm"], f"{name}: no query spike without the cache ({during})"
    assert any("fallback" in row for row in FIGURES.values())
    back = [s for s in seen if s[0] > ready_at]
    assert back and back[-1][3] == "redis"
    # the fallback says so in the replica's log: one line per request at most (the pages read, and the
    # supervisor's /readyz probes of wp-1 meanwhile, about one a second), never the password
    log = cache_twin.paths.member_log("wp-1").read_text(errors="replace")
    said = [line for line in log.splitlines() if "NOTICE: PHP message: gameday object cache: Redis at" in line]
    probes = int(ready_at - killed_at) + 3
    assert 1 <= len(said) <= sum(1 for s in seen if s[3] == "fallback") + probes, said[:3]
    assert "in-memory cache only" in said[0] and redis_cache.password(cache_twin) not in log
    # the spike, as the origin saw it: queries per page, with and without the object cache
    print(f"\n[figure] object cache lost for {ready_at - killed_at:.1f} s: {len(outage)} pages read meanwhile, all 200 "
          f"(fallback); {len(seen)} pages in all")
    print("[figure] DB queries per page   without cache (Redis lost)   cold Redis   warm Redis")
    for name, row in FIGURES.items():
        print(f"[figure] {name:<20} {row.get('fallback', '-'):>28} {row['cold']:>12} {row['warm']:>12}")


def test_the_playbooks_flush_step_empties_the_object_cache_through_the_target(cache_twin):
    """Issue 17, R8: a restore changes the database behind WordPress's back, and the object cache keeps
    serving what it had. The db and region playbooks' step (as a playbook reaches the twin: through
    the target) empties it: a key cached before is gone after, and the page shows the database's
    content again. The topology has no CDN, and the step says so."""
    from gameday.recovery.context import Context
    from gameday.recovery.engine import run_step
    from gameday.recovery.layers import db as db_layer
    from gameday.targets import for_environment
    from gameday.targets.environment import from_mapping

    post = requests.get(wordpress.url(cache_twin) + f"{API}/posts", params={"type": "post", "per_page": 1},
                        timeout=10).json()["items"][0]

    def title() -> tuple[str, str]:
        answer = requests.get(wordpress.url(cache_twin) + f"{API}/posts/{post['id']}", timeout=10)
        return answer.json()["title"], answer.headers["X-Gameday-Object-Cache"]

    old = title()[0]
    assert title() == (old, "redis")  # warm: the post object is in Redis
    _api(cache_twin, "write")  # a persistent key of our own, `gameday-test:n`
    key = f"{wordpress.config_name(cache_twin)}:1:gameday-test:n"
    assert _redis_cli(cache_twin, "EXISTS", key) == "1"
    restored = f"{old} (as the restore left it)"
    stack.sql(cache_twin, "UPDATE wp_posts SET post_title = %s WHERE ID = %s", (restored, post["id"]))
    assert title() == (old, "redis")  # the object cache still serves what the database no longer says
    keys = int(_redis_cli(cache_twin, "DBSIZE"))

    target = for_environment(from_mapping({"name": "cache-test", "kind": "sandbox", "allowed": True,
                                           "sandbox": cache_twin.name, "net": NET}, "test_object_cache"))
    done = run_step(db_layer.CORE, db_layer.FLUSH_AFTER_FAILOVER, Context(target=target))
    assert done.status == "ok" and done.name == "flush-site-caches-after-failover" and done.seconds is not None, done
    assert done.did == (f"object cache: cache-1 emptied ({keys} keys); "
                        "CDN: none in this environment, nothing to ban"), done.did
    assert _redis_cli(cache_twin, "EXISTS", key) == "0" and _redis_cli(cache_twin, "EXISTS", "gameday:flush-sentinel") == "0"
    assert title() == (restored, "redis")  # read from the database, cached again
    assert redis_cache.password(cache_twin) not in done.did + done.detail
    stack.sql(cache_twin, "UPDATE wp_posts SET post_title = %s WHERE ID = %s", (old, post["id"]))
    _redis_cli(cache_twin, "FLUSHALL")
