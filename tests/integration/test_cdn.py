"""The CDN stand-in (Varnish, issue 17) in front of a real load balancer and a real origin.

A small topology of its own on net 65 (127.65.x.y), run by the sandbox supervisor: a counting origin
(``web-1``, tests/support/cdn_origin.py), the twin's HAProxy (``lb-1``, :mod:`gameday.sandbox.members.lb`)
in front of it, and ``cdn-1`` (:mod:`gameday.sandbox.members.cdn`) in front of that, with the default TTL
and grace except the healthy-origin grace (1 s, so that a stale page served afterwards was served
because the origin was down). Hits and passes are read from varnishstat's counters and from what
reached the origin, not only from headers. The origin is stopped (pages cached: still served, stale;
never cached: 503), then the CDN is SIGKILLed (restarted by the supervisor, cold, then warm again).
"""

from __future__ import annotations

import json
import os
import re
import stat
import sys
from pathlib import Path

import psutil
import pytest
import requests

from gameday.deadline import wait_until
from gameday.sandbox import install, lifecycle
from gameday.sandbox.client import SandboxClient
from gameday.sandbox.members import cdn, lb
from gameday.sandbox.spec import MemberSpec, Topology, Workload
from gameday.sandbox.twin import Twin

NET = 65
ORIGIN = f"127.{NET}.20.1"
ORIGIN_PORT = 8000
GRACE_HEALTHY = 1
SUPPORT = Path(__file__).resolve().parents[1] / "support"


@pytest.fixture(scope="module")
def cdn_twin():
    install.install_all()  # a no-op when installed
    twin = Twin.create("cdn-test", net=NET)
    lifecycle.down(twin.paths, wipe=True)
    origin = MemberSpec(name="web-1", index=1, address=ORIGIN, ports={"http": ORIGIN_PORT},
                        argv=[sys.executable, str(SUPPORT / "cdn_origin.py"), "--bind", ORIGIN,
                              "--port", str(ORIGIN_PORT)],
                        readiness={"type": "http", "url": f"http://{ORIGIN}:{ORIGIN_PORT}/readyz"}, stop_grace=3.0)
    topology = Topology(name=twin.name, sandbox_id=twin.paths.sandbox_id, backoff_base=1.0, backoff_cap=4.0,
                        workloads=[Workload(name="web", layer="web", kind="service", replicas=1, members=[origin],
                                            labels={"layer": "web"}),
                                   lb.workload(twin), cdn.workload(twin)])

    def prepare():
        lb.prepare(twin)
        cdn.prepare(twin, grace_healthy=GRACE_HEALTHY)  # backend: the twin's load balancer

    lifecycle.up(twin.paths, topology, prepare=prepare, timeout=60)
    yield twin
    lifecycle.down(twin.paths, wipe=True)


def _get(twin: Twin, path: str, **kwargs) -> requests.Response:
    return requests.get(cdn.url(twin) + path, timeout=10, allow_redirects=False, **kwargs)


def _origin_counts() -> dict[str, int]:
    """What reached the origin ("GET /path": n), read from the origin itself."""
    return requests.get(f"http://{ORIGIN}:{ORIGIN_PORT}/_origin/counts", timeout=10).json()


def _counted(twin: Twin, before: dict[str, int], **expected: int) -> dict[str, int]:
    """The changes of varnishstat's ``MAIN.<name>`` counters since ``before``, once each has grown by at
    least ``expected[name]``. Varnish's worker threads add their counts to the shared ones after a
    response is sent, so a read right after the response may not have them yet."""
    seen: dict[str, int] = {}

    def grown() -> bool:
        now = cdn.counters(twin)
        seen.update({name: now.get(f"MAIN.{name}", 0) - before.get(f"MAIN.{name}", 0)
                     for name in [*expected, "cache_hit", "cache_miss", "s_pass", "cache_hit_grace"]})
        return all(seen[name] >= n for name, n in expected.items())

    wait_until(grown, timeout=10, what=f"cdn-1's counters to count {expected}")
    return seen


def test_varnishd_runs_in_the_foreground_on_its_own_workdir_with_no_secret_in_argv(cdn_twin):
    view = SandboxClient(cdn_twin.paths).member("cdn-1")
    manager = psutil.Process(view["pid"])
    argv = manager.cmdline()
    assert argv[0] == cdn.VARNISHD and "-F" in argv
    assert argv[argv.index("-n") + 1] == str(cdn.workdir(cdn_twin))
    assert argv[argv.index("-a") + 1] == f"{cdn.address(cdn_twin)}:{cdn.PORT},HTTP"
    assert "-S" not in argv and "-T" not in argv
    secret = cdn.workdir(cdn_twin) / "_.secret"  # varnishd's own CLI secret
    assert secret.stat().st_uid == 0 and not secret.stat().st_mode & (stat.S_IROTH | stat.S_IWOTH)
    assert secret.read_bytes().decode(errors="replace") not in " ".join(argv)
    children = manager.children()
    assert [c.name() for c in children] == ["cache-main"]  # the cache process, in the member's process group
    assert os.getpgid(children[0].pid) == os.getpgid(manager.pid)
    vcl = cdn.vcl_path(cdn_twin).read_text()
    assert f'.host = "{cdn_twin.address("lb")}";' in vcl and '.port = "8080";' in vcl
    assert cdn.origin_healthy(cdn_twin)


def test_repeated_anonymous_gets_are_hits_and_reach_the_origin_once(cdn_twin):
    before = cdn.counters(cdn_twin)
    answers = [_get(cdn_twin, "/guidance/warfarin", cookies={"_ga": f"GA1.{i}"} if i % 2 else None)
               for i in range(5)]  # a cookie that is not a login does not make a page private
    head = requests.head(cdn.url(cdn_twin) + "/guidance/warfarin", timeout=10)
    missing = [_get(cdn_twin, "/missing-page") for _ in range(2)]
    counted = _counted(cdn_twin, before, cache_hit=6, cache_miss=2)
    assert [a.status_code for a in answers] == [200] * 5 and head.status_code == 200
    assert [a.headers["X-Cache"] for a in answers] == ["MISS"] + ["HIT"] * 4
    assert head.headers["X-Cache"] == "HIT"
    assert {a.text for a in answers} == {"<html><body><p>/guidance/warfarin served 1</p></body></html>\n"}
    assert [(m.status_code, m.headers["X-Cache"]) for m in missing] == [(404, "MISS"), (404, "HIT")]
    assert (counted["cache_hit"], counted["cache_miss"], counted["s_pass"]) == (6, 2, 0)  # 4 GETs, the HEAD, the second 404
    counts = _origin_counts()
    assert counts["GET /guidance/warfarin"] == 1 and counts["GET /missing-page"] == 1
    assert "HEAD /guidance/warfarin" not in counts


def test_sandbox_status_says_the_cdns_hit_ratio_as_varnish_counts_it(cdn_twin):
    from click.testing import CliRunner

    from gameday.cli import cli

    _get(cdn_twin, "/guidance/status-line")  # a miss, then three hits: the counters move by at least that
    before = cdn.counters(cdn_twin)
    for _ in range(3):
        _get(cdn_twin, "/guidance/status-line")
    _counted(cdn_twin, before, cache_hit=3)
    out = CliRunner().invoke(cli, ["sandbox", "--name", cdn_twin.name, "status"], terminal_width=200)
    assert out.exit_code == 0, out.output
    line = next(x for x in out.output.splitlines() if x.startswith("CDN cdn-1:"))
    found = re.fullmatch(r"CDN cdn-1: ([\d,]+) objects, hit ratio ([\d.]+)% since it started \(([\d,]+) answers: "
                         r"([\d,]+) hits, ([\d,]+) misses, ([\d,]+) passed\)", line)
    assert found, line
    objects, ratio, total, hits, misses, passes = (float(g.replace(",", "")) for g in found.groups())
    # varnishstat's own counts (cache_hit includes the grace hits, Varnish's docs): at least this test's
    assert hits >= before.get("MAIN.cache_hit", 0) + 3 and objects >= 1 and total == hits + misses + passes, line
    assert abs(ratio - 100 * hits / total) <= 0.05 + 1e-9, line  # the ratio shown, to its one decimal
    caches = json.loads(CliRunner().invoke(cli, ["sandbox", "--name", cdn_twin.name, "status", "--json"]).output)[
        "site_caches"]
    assert caches["object_cache"] is None and "object cache" not in out.output  # no Redis in this twin
    assert caches["cdn"]["members"]["cdn-1"]["hits"] >= hits


def test_logins_posts_admin_health_and_private_pages_go_to_the_origin(cdn_twin):
    pre = cdn.counters(cdn_twin)
    _get(cdn_twin, "/guidance/amoxicillin")  # cached for anonymous readers: a miss, counted before `before` is read
    _counted(cdn_twin, pre, cache_miss=1)  # (read at once, it once came after: 3 misses below, make test at bf94e0b)
    before, seen = cdn.counters(cdn_twin), _origin_counts()
    logged_in = [_get(cdn_twin, "/guidance/amoxicillin", cookies={"_ga": "x", "wordpress_logged_in_0a1b": "editor"})
                 for _ in range(2)]
    authorised = _get(cdn_twin, "/guidance/amoxicillin", headers={"Authorization": "Bearer not-a-real-token"})
    posts = [requests.post(cdn.url(cdn_twin) + "/api/articles", json={"id": 7, "title": "t"}, timeout=10)
             for _ in range(2)]
    admin = _get(cdn_twin, "/wp-admin/")
    health = _get(cdn_twin, "/readyz")
    api = [_get(cdn_twin, "/api/articles/7") for _ in range(2)]  # an article's current version: never a stale copy
    private = [_get(cdn_twin, "/private/basket") for _ in range(2)]  # Set-Cookie: never cached
    counted, counts = _counted(cdn_twin, before, s_pass=9, cache_miss=2), _origin_counts()
    assert [(a.headers["X-Cache"], a.headers["X-Cache-Pass"]) for a in logged_in] == [("MISS", "cookie")] * 2
    assert authorised.headers["X-Cache-Pass"] == "authorization"
    assert [(p.status_code, p.headers["X-Cache-Pass"]) for p in posts] == [(200, "method")] * 2
    assert [p.json()["saved"] for p in posts] == [1, 2]
    assert admin.headers["X-Cache-Pass"] == "admin" and health.headers["X-Cache-Pass"] == "health"
    assert [(a.headers["X-Cache"], a.headers["X-Cache-Pass"]) for a in api] == [("MISS", "api")] * 2
    assert [a.text for a in api] == [f"<html><body><p>/api/articles/7 served {n}</p></body></html>\n" for n in (1, 2)]
    assert [p.headers["X-Cache"] for p in private] == ["MISS", "MISS"]
    assert {p.headers["Set-Cookie"].split(";")[0] for p in private} == {"session=s1", "session=s2"}
    assert (counted["s_pass"], counted["cache_miss"], counted["cache_hit"]) == (9, 2, 0)  # misses: the private page
    assert counts["GET /guidance/amoxicillin"] - seen["GET /guidance/amoxicillin"] == 3
    assert counts["POST /api/articles"] == 2 and counts["GET /private/basket"] == 2 and counts["GET /api/articles/7"] == 2
    assert counts["GET /wp-admin/"] == 1


def test_origin_down_cached_pages_are_served_stale_within_grace_uncached_ones_503(cdn_twin):
    client = SandboxClient(cdn_twin.paths)
    pages = ["/short/interactions", "/short/shortages"]  # s-maxage=1: stale a second after caching
    fresh = [_get(cdn_twin, p) for p in pages]
    assert [f.status_code for f in fresh] == [200, 200]
    before = cdn.counters(cdn_twin)
    client.stop("web-1")
    try:
        wait_until(lambda: not cdn.origin_healthy(cdn_twin), timeout=15, what="cdn-1's probe to mark the origin sick")
        # served stale: older than their TTL (1 s) plus the healthy-origin grace (1 s)
        # both pages (cached one after the other: waiting on the first alone left the second at Age 2 once)
        wait_until(lambda: all(int(_get(cdn_twin, p).headers.get("Age", "0")) > 1 + GRACE_HEALTHY for p in pages),
                   timeout=15, what="the cached pages to age past their TTL and the healthy grace")
        stale = [_get(cdn_twin, p) for p in pages]
        never_cached = _get(cdn_twin, "/short/never-read")
        post = requests.post(cdn.url(cdn_twin) + "/api/articles", json={"id": 8}, timeout=10)
        _counted(cdn_twin, before, cache_hit_grace=3)  # the polls and the two pages, all stale hits
    finally:
        client.start("web-1")
    assert [(s.status_code, s.headers["X-Cache"]) for s in stale] == [(200, "HIT")] * 2
    assert all(int(s.headers["Age"]) > 1 + GRACE_HEALTHY for s in stale)
    assert [s.text for s in stale] == [f.text for f in fresh]
    assert never_cached.status_code == 503 and post.status_code == 503
    client.wait_ready("web-1", timeout=30)
    wait_until(lambda: cdn.origin_healthy(cdn_twin), timeout=15, what="cdn-1's probe to mark the origin healthy")
    refreshed = _get(cdn_twin, pages[0])
    assert (refreshed.status_code, refreshed.headers["X-Cache"]) == (200, "MISS")
    assert f"{pages[0]} served 1" in refreshed.text  # the origin restarted: its first answer for the page


def test_the_cdn_killed_is_restarted_by_the_supervisor_cold_then_warm(cdn_twin):
    client = SandboxClient(cdn_twin.paths)
    # the origin serving, as the CDN's probe sees it (a test before that failed with the origin stopped left it
    # starting: its 503 was kept as a hit-for-miss, and the page read MISS twice)
    client.wait_ready("web-1", timeout=30)
    wait_until(lambda: cdn.origin_healthy(cdn_twin), timeout=15, what="cdn-1's probe to mark the origin healthy")
    assert [_get(cdn_twin, "/medicines/apixaban").headers["X-Cache"] for _ in range(2)] == ["MISS", "HIT"]
    before = client.member("cdn-1")
    old = [before["pid"], *(c.pid for c in psutil.Process(before["pid"]).children())]
    client.kill("cdn-1")
    after = client.wait_ready("cdn-1", timeout=30)
    assert after["pid"] != before["pid"] and after["restarts"] == before["restarts"] + 1
    assert [h for h in after["history"] if h["event"] == "exited"][-1]["signal"] == "SIGKILL"
    assert not [p for p in old if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
    served_before = _origin_counts()["GET /medicines/apixaban"]
    again = [_get(cdn_twin, "/medicines/apixaban") for _ in range(3)]
    assert [a.headers["X-Cache"] for a in again] == ["MISS", "HIT", "HIT"]  # cold, then warm
    assert _origin_counts()["GET /medicines/apixaban"] == served_before + 1
    counted = _counted(cdn_twin, {}, cache_miss=1, cache_hit=2)  # a new cache process: its counters start at 0
    assert (counted["cache_miss"], counted["cache_hit"]) == (1, 2) and cdn.counters(cdn_twin)["MAIN.n_object"] == 1


def test_the_playbooks_flush_step_bans_every_cached_page_through_the_target(cdn_twin):
    """Issue 17, R8: after a restore the db and region playbooks ban the CDN's cached pages (the step
    every such playbook runs, reached through the target as a playbook reaches it). A page cached before
    the ban is fetched from the origin after it; the twin has no object cache, and the step says so."""
    from gameday.recovery.context import Context
    from gameday.recovery.engine import run_step
    from gameday.recovery.layers import db as db_layer
    from gameday.targets import for_environment
    from gameday.targets.environment import from_mapping

    client = SandboxClient(cdn_twin.paths)
    client.wait_ready("web-1", timeout=30)
    wait_until(lambda: cdn.origin_healthy(cdn_twin), timeout=15, what="cdn-1's probe to mark the origin healthy")
    page = "/guidance/clopidogrel"
    cached = [_get(cdn_twin, page) for _ in range(2)]
    assert [c.headers["X-Cache"] for c in cached] == ["MISS", "HIT"]
    served = _origin_counts()[f"GET {page}"]
    objects = cdn.counters(cdn_twin)["MAIN.n_object"]
    target = for_environment(from_mapping({"name": "cdn-test", "kind": "sandbox", "allowed": True,
                                           "sandbox": cdn_twin.name, "net": NET}, "test_cdn"))
    step = db_layer.FLUSH_AFTER_RESTORE
    done = run_step(db_layer.CORE, step, Context(target=target))
    assert done.status == "ok" and done.name == "flush-site-caches" and done.seconds is not None, done
    assert done.did == (f"object cache: none in this environment, nothing to empty; "
                        f"CDN: cdn-1 banned ({objects} objects cached)"), done.did
    after = [_get(cdn_twin, page) for _ in range(2)]
    assert [(a.status_code, a.headers["X-Cache"]) for a in after] == [(200, "MISS"), (200, "HIT")]
    assert f"{page} served {served + 1}" in after[0].text  # fetched from the origin again, once
    assert _origin_counts()[f"GET {page}"] == served + 1
