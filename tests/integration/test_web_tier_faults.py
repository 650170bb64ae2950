"""Issue 17's two web-tier drills on real servers: PHP-FPM's workers exhausted behind a slow database, and
the CDN lost. Their actions, probes and playbooks run as a game day runs them, through a SandboxTarget.

A small topology of its own on net 70 (127.70.x.y), run by the sandbox supervisor: MariaDB (``db-1``),
toxiproxy (``toxiproxy-1``: WordPress reaches the database through its ``db`` proxy, as the twin's web tier
does), the WordPress bootstrap seeding the whole catalogue (2,000 items, so the readers' pages are the load
generator's), one WordPress replica ``web-1`` (nginx + a php-fpm pool of 8 workers, no object cache: every
page asks the database), HAProxy ``lb-1`` in front of it and Varnish ``cdn-1`` in front of that. WordPress's
site address is the CDN's; it answers the load balancer's address as itself too (readers sent to the
origin while the CDN is lost are not redirected). Readers are paced (open model), bounded in count and time.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import requests
import yaml

from gameday.chaos import ledger
from gameday.chaos.cdn import actions as cdn_actions
from gameday.chaos.cdn import probes as cdn_probes
from gameday.chaos.lock import lock_for
from gameday.chaos.network import actions as network_actions
from gameday.chaos.web import actions as web_actions
from gameday.chaos.web import probes as web_probes
from gameday.load import model as traffic
from gameday.readers import sample
from gameday.sandbox import install, lifecycle
from gameday.sandbox.client import SandboxClient
from gameday.sandbox.members import cdn, db, lb, toxiproxy, wordpress
from gameday.sandbox.spec import Topology
from gameday.sandbox.twin import Twin
from gameday.targets import for_environment
from gameday.targets.environment import from_mapping
from tests.support import wordpress_stack as stack

ROOT = Path(__file__).resolve().parents[2]
CHAOS = str(Path(sys.executable).with_name("chaos"))
NET = 70
NAME = "web-faults-test"
SEED_N = 2000
LATENCY_MS = 300  # per answer of the database: a page asks it about 20 times
ENV = {"name": NAME, "kind": "sandbox", "allowed": True, "sandbox": NAME, "net": NET}
CONF = {"gameday_environment": ENV}
# This module's twin judges the site's SLO (its experiments' steady state: 20 req/s, p95 within 2 s) on one
# WordPress replica, beside the twin lane's many busy servers (each its own session, as each of this twin's):
# at nice 0 the replica's pool got one session's share of the cores and p95 was 2.5-3.8 s in every window
# (CI at 5d36313; here with 6 busy sessions beside it). At -10 (a session's weight ~9x) it gets the core it
# needs, and its load is bounded (tests/conftest.py _lane_nice)
QUICK_LANE_NICE = -10


@pytest.fixture(scope="module")
def faults_twin():
    install.install_all()  # a no-op when installed
    twin = Twin.create(NAME, net=NET)
    lifecycle.down(twin.paths, wipe=True)
    topology = Topology(name=twin.name, sandbox_id=twin.paths.sandbox_id, backoff_base=1.0, backoff_cap=4.0,
                        workloads=[db.workload(twin), replace(toxiproxy.workload(twin), after=["db"]),
                                   wordpress.bootstrap(twin, n=SEED_N, after=["db", "toxiproxy"]),
                                   wordpress.workload(twin, replicas=1, max_replicas=1, name="web"),
                                   lb.workload(twin), cdn.workload(twin)])

    def prepare():
        options = {"home": cdn.url(twin), "also_homes": [twin.lb_url, lb.front_door_url(twin)], "search_urls": [],
                   "publish_ack_wait": 0, "cdn_purge": cdn.purge_addrs(twin)}
        stack.prepare(twin, **options)  # the database's secrets, roles and data directory
        wordpress.prepare(twin, db_addr=twin.db_addr_via_proxy(), **options)  # ... WordPress through toxiproxy
        toxiproxy.prepare(twin)
        lb.prepare(twin)
        cdn.prepare(twin)

    lifecycle.up(twin.paths, topology, prepare=prepare, timeout=240)
    yield twin
    ledger.undo_all(from_mapping(ENV, "test_web_tier_faults"))  # whatever a failed test left
    lifecycle.down(twin.paths, wipe=True)


@pytest.fixture
def target(faults_twin):
    env = from_mapping(ENV, "test_web_tier_faults")
    try:
        yield for_environment(env)
    finally:  # the activities called here took the target's lock for this process: a chaos run needs it free
        lock_for(env).release()


def _toxics(twin: Twin) -> list[str]:
    proxies = requests.get(f"{twin.toxiproxy_api}/proxies", timeout=5).json()
    return sorted(f"{name}/{t['name']}" for name, p in proxies.items() for t in p.get("toxics", []))


def _origin_served(twin: Twin) -> int:
    """Requests web-1's nginx has answered (its access log: one line each)."""
    log = twin.paths.logs / "web-1-access.log"
    return sum(1 for _ in log.open(errors="replace")) if log.exists() else 0


def _pool_at_rest(deadline_s: float = 15) -> dict:
    """web-1's pool once it has an idle worker and nothing waiting (or as last read, at the deadline). The
    status page is served by a traffic worker, and php-fpm's dynamic pool spawns a spare at most once a
    second: read right after the module's twin came up (2 workers started) it once showed active 2, idle 0."""
    end = time.monotonic() + deadline_s
    pool = web_probes.worker_pools(configuration=CONF)["members"]["web-1"]
    while time.monotonic() < end and not (pool["answers"] and (pool["idle"] or 0) >= 1 and pool["listen_queue"] == 0):
        time.sleep(0.5)
        pool = web_probes.worker_pools(configuration=CONF)["members"]["web-1"]
    return pool


def test_a_published_update_is_purged_from_the_cdn_at_once(faults_twin):
    """Purge on publish: a page the CDN holds is fresh for readers right after its post is updated (it was
    up to TTL + grace, 70 s, stale), and so are the home page and its category's page; pages the update did
    not touch stay cached."""
    post_id, slug, category = stack.sql(faults_twin, "SELECT p.ID, p.post_name, t.slug FROM wp_posts p "
                                        "JOIN wp_term_relationships r ON r.object_id = p.ID JOIN wp_term_taxonomy x "
                                        "ON x.term_taxonomy_id = r.term_taxonomy_id AND x.taxonomy = 'category' "
                                        "JOIN wp_terms t ON t.term_id = x.term_id WHERE p.post_type = 'post' AND "
                                        "p.post_status = 'publish' ORDER BY p.ID LIMIT 1")[0]
    other = stack.sql(faults_twin, "SELECT post_name FROM wp_posts WHERE post_type = 'post' AND post_status = "
                                   "'publish' AND ID <> %s ORDER BY ID DESC LIMIT 1", (post_id,))[0][0]
    moved_to, moved_slug = stack.sql(faults_twin, "SELECT t.name, t.slug FROM wp_terms t JOIN wp_term_taxonomy x ON "
                                                  "x.term_id = t.term_id AND x.taxonomy = 'category' WHERE t.slug <> %s "
                                                  "AND x.count > 0 ORDER BY t.term_id LIMIT 1", (category,))[0]
    pages = [f"/guidance/{slug}", "/", f"/category/{category}", f"/category/{moved_slug}", f"/guidance/{other}"]

    def edge(path: str) -> requests.Response:
        return requests.get(cdn.url(faults_twin) + path, timeout=15, allow_redirects=False)

    for path in pages:  # cached: the second read is a hit
        edge(path)
        assert edge(path).headers["X-Cache"] == "HIT", path
    title = f"Updated guidance {time.time_ns()}"
    # through WordPress (its hooks, then shutdown): a new title, and moved to another category
    stack.publish(faults_twin, [{"id": post_id, "title": title, "category": moved_to}])
    after = {path: edge(path) for path in pages}
    assert after[f"/guidance/{slug}"].headers["X-Cache"] == "MISS" and title in after[f"/guidance/{slug}"].text
    assert after["/"].headers["X-Cache"] == "MISS"  # the home page lists the latest: purged too
    assert after[f"/category/{category}"].headers["X-Cache"] == "MISS"  # the category it left ...
    assert after[f"/category/{moved_slug}"].headers["X-Cache"] == "MISS"  # ... and the one it joined (its first
    # page lists the category's latest posts: an old post updated need not be on it)
    assert after[f"/guidance/{other}"].headers["X-Cache"] == "HIT"  # untouched: still served from the cache
    assert edge(f"/guidance/{slug}").headers["X-Cache"] == "HIT"  # and cached again
    # a PURGE from this machine (what WordPress sends) is answered 200 and bans that path, whatever
    # the query a copy was cached under (a campaign's link)
    tagged = f"/guidance/{other}?utm_source=newsletter"
    edge(tagged)
    assert edge(tagged).headers["X-Cache"] == "HIT"
    purge = requests.request("PURGE", cdn.url(faults_twin) + f"/guidance/{other}", timeout=10)
    assert purge.status_code == 200 and edge(f"/guidance/{other}").headers["X-Cache"] == "MISS"
    assert edge(tagged).headers["X-Cache"] == "MISS"


def test_a_slow_database_exhausts_the_workers_and_the_workers_playbook_frees_them(faults_twin, target):
    assert target.front_door_url() == lb.front_door_url(faults_twin) and target.site_url() == faults_twin.lb_url
    before = _pool_at_rest()
    assert before["answers"] and before["idle"] >= 1 and before["listen_queue"] == 0, before
    warm = sample(target.site_url(), window_s=2, rate=5, items=SEED_N, seed=1)
    assert warm["success_ratio"] == 1.0, warm

    fault = network_actions.add_latency(dependency="db", latency_ms=LATENCY_MS, configuration=CONF)
    assert fault["touched"] == ["db"] and _toxics(faults_twin) == ["db/gameday-latency"]
    assert [r["kwargs"] for r in ledger.matching(target.env, "remove_toxic")] == [{"proxy": "db", "toxic": "gameday-latency"}]
    during = web_probes.readers_and_worker_pools(window_s=6, rate=15, items=SEED_N, configuration=CONF)
    pool = during["busy"]["web-1"]
    print(f"\n[figure] database +{LATENCY_MS} ms: {during['ok']}/{during['requests']} ok, 5xx "
          f"{during['server_errors']} ({during['by_status']}), p95 {during['p95_ms']:.0f} ms; web-1's pool: {pool}")
    assert during["success_ratio"] < 0.5, during  # readers were not served
    assert during["server_errors"] + during["no_answer"] > during["requests"] // 2, during["by_status"]
    assert pool.get("busy") in ("all", 8) or (pool.get("listen_queue") or 0) > 0, pool  # every worker taken

    done = web_actions.apply_workers_playbook(configuration=CONF)
    codes = {f["code"] for f in done["findings"]}
    print(f"[figure] workers playbook: {done['outcome']}; " + "; ".join(
        f"{name} {s['status']} {s['seconds']} s ({s['did'] or s['detail']})" for name, s in done["steps"].items()))
    assert done["outcome"] == "restored" and {"network.db-fault", "web.workers-exhausted"} <= codes, done
    assert all(s["status"] == "ok" for s in done["steps"].values()), done["steps"]
    assert _toxics(faults_twin) == [] and ledger.matching(target.env, "remove_toxic") == []

    after = web_probes.readers_and_worker_pools(window_s=4, rate=10, items=SEED_N, configuration=CONF)
    print(f"[figure] after the playbook: {after['ok']}/{after['requests']} ok, p95 {after['p95_ms']:.0f} ms; "
          f"web-1's pool: {after['busy']['web-1']}")
    assert after["server_errors"] == 0 and after["success_ratio"] == 1.0, after["by_status"]
    assert after["worker_pools"]["members"]["web-1"]["listen_queue"] == 0
    assert network_actions.remove_toxics(dependency="db", configuration=CONF)["removed"] == []  # the rollback: nothing left


def test_the_cdn_lost_sends_readers_to_the_origin_and_the_cdn_playbook_brings_it_back_warm(faults_twin, target):
    model = traffic.load().cdn_hit_ratio
    warm = cdn_probes.readers_at_the_front_door(window_s=4, rate=15, items=SEED_N, configuration=CONF)
    assert warm["through_cdn"] and warm["front_door"] == lb.front_door_url(faults_twin) and warm["hit_ratio"] is not None, warm
    assert warm["success_ratio"] == 1.0, warm["by_status"]
    pid = SandboxClient(faults_twin.paths).member("cdn-1")["pid"]

    lost = cdn_actions.lose_cdn(configuration=CONF)
    assert lost["touched"] == ["cdn-1"] and SandboxClient(faults_twin.paths).member("cdn-1")["pid"] is None
    assert target.front_door_url() == lb.front_door_url(faults_twin)  # the same front door: it sends readers to the origin
    served = _origin_served(faults_twin)
    during = cdn_probes.readers_at_the_front_door(window_s=4, rate=15, items=SEED_N, configuration=CONF)
    reached = _origin_served(faults_twin) - served
    print(f"\n[figure] CDN lost: {during['ok']}/{during['requests']} ok at the origin, p95 {during['p95_ms']:.0f} ms; "
          f"web-1 answered {reached} requests (before, through the CDN: hit ratio {warm['hit_ratio']})")
    assert not during["through_cdn"] and during["hit_ratio"] is None and during["origin_requests"] == during["requests"]
    assert reached >= during["requests"], (reached, during["requests"])  # every reader's request reached the origin
    assert during["success_ratio"] >= 0.95, during["by_status"]  # one replica held 15 req/s

    done = cdn_actions.apply_cdn_playbook(configuration=CONF)
    steps = done["steps"]
    print(f"[figure] cdn playbook: {done['outcome']}; " + "; ".join(
        f"{name} {s['status']} {s['seconds']} s ({s['did'] or s['detail']})" for name, s in steps.items()))
    assert done["outcome"] == "restored" and "cdn.members-missing" in {f["code"] for f in done["findings"]}, done
    assert steps["start-cdn"]["status"] == "ok" and steps["warm-cdn"]["status"] == "ok", steps
    member = SandboxClient(faults_twin.paths).member("cdn-1")
    assert member["pid"] not in (None, pid) and member["ready"]
    assert ledger.matching(target.env, "start_node", layer="cdn") == []  # settled by the playbook

    after = cdn_probes.readers_at_the_front_door(window_s=4, rate=15, items=SEED_N, configuration=CONF)
    print(f"[figure] after the playbook: hit ratio {after['hit_ratio']} (model {model}), "
          f"{after['ok']}/{after['requests']} ok, p95 {after['p95_ms']:.0f} ms")
    assert after["through_cdn"] and after["hit_ratio"] >= model and after["success_ratio"] == 1.0, after
    counted = cdn_probes.cdn_counters(configuration=CONF)["members"]["cdn-1"]
    # the edge's own counts since its restart: at least the hits readers saw, and the warm-up's misses
    assert counted["answers"] and counted["hits"] >= after["hits"] and counted["misses"] >= 300, counted
    assert cdn_actions.restore_cdn(configuration=CONF)["started"] == []  # the rollback: nothing left


def _chaos_run(name: str, tmp_path: Path) -> tuple[subprocess.CompletedProcess, dict, dict]:
    """``chaos run experiments/<name>`` as a game day runs it (controls, rollback strategy always), against
    this module's twin (a var file with CONF): the process, its journal and the journal's runs by name."""
    var_file = tmp_path / "env.yaml"
    var_file.write_text(yaml.safe_dump({"configuration": CONF}))
    journal = tmp_path / "journal.json"
    proc = subprocess.run([CHAOS, "--no-log-file", "run", str(ROOT / "experiments" / name),
                           "--rollback-strategy", "always", "--var-file", str(var_file), "--journal-path", str(journal)],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    data = json.loads(journal.read_text())
    said = [line for line in proc.stderr.splitlines() if "gameday: site SLO" in line]  # each window's figures
    # a string, not a tuple: pytest shortens a tuple's repr and the windows' figures were cut off (CI at 5d36313)
    assert proc.returncode == 0 and data["status"] == "completed", "\n".join(said + [proc.stderr[-3000:]])
    # a steady state not met before the method ends the run "completed" with no method run: say so, with its figures
    assert data["steady_states"]["before"]["steady_state_met"] is True, "\n".join(said)
    out = {r["activity"]["name"]: r for r in data["run"]}
    assert all(r["status"] == "succeeded" for r in out.values()), {k: r["status"] for k, r in out.items()}
    assert all(r["status"] == "succeeded" for r in data["rollbacks"]), data["rollbacks"]
    return proc, data, out


def test_the_latency_experiment_file_runs_under_chaos_toolkit_and_its_playbook_restores(faults_twin, target, tmp_path):
    """``chaos run experiments/network/latency-web-to-db.yaml``: 5xx while the database is slow, the workers
    playbook restores, readers within the SLO afterwards, no toxic or pending undo left."""
    _proc, data, out = _chaos_run("network/latency-web-to-db.yaml", tmp_path)
    during = out["readers-and-workers-while-the-database-is-slow"]["output"]
    done = out["free-the-workers"]["output"]
    after = out["readers-and-workers-after-the-playbook"]["output"]
    print(f"\n[figure] chaos run latency: during {during['ok']}/{during['requests']} ok, 5xx {during['server_errors']}; "
          f"playbook {done['outcome']}; after {after['ok']}/{after['requests']} ok, p95 {after['p95_ms']:.0f} ms")
    assert during["server_errors"] > 0 and during["success_ratio"] < 0.95, during["by_status"]  # 5xx seen
    assert done["outcome"] == "restored", done
    # readers answered, no 5xx, in the window right after the playbook; the latency SLO (p95 2000 ms) is judged
    # as the experiment judges it, by its steady state after (site-meets-its-slo, up to 3 windows): one 5 s
    # window right after the workers were freed, at the quick lane's nice 10 beside the twin lane, had p95
    # 2.9 s with 100/100 ok (make test at f7548c1). That window once sent 20 req/s, past what the replica serves
    # on the busy machine (p95 3.6 s: 64 in flight at HAProxy, its 1 s queue timeout answered 18 of 100 with
    # 503, CI at f209f90); it now sends the 10 req/s the playbook's verify-site step sends.
    assert after["success_ratio"] >= 0.95 and after["server_errors"] == 0, after["by_status"]
    steady_after = data["steady_states"]["after"]
    assert steady_after["steady_state_met"] is True, steady_after
    slo = next(p for p in steady_after["probes"] if p["activity"]["name"] == "site-meets-its-slo")
    assert slo["status"] == "succeeded" and slo["output"] is True, slo
    assert data["steady_states"]["after"]["steady_state_met"] is True
    assert _toxics(faults_twin) == [] and ledger.pending(target.env) == []


def test_the_lose_cdn_experiment_file_runs_under_chaos_toolkit_and_its_playbook_restores(faults_twin, target, tmp_path):
    """``chaos run experiments/cdn/lose-cdn.yaml``: readers reach the origin while the CDN is lost, the cdn
    playbook brings it back and the hit ratio is back to the traffic model's; nothing pending."""
    model = traffic.load().cdn_hit_ratio
    served = _origin_served(faults_twin)
    _proc, data, out = _chaos_run("cdn/lose-cdn.yaml", tmp_path)
    during = out["readers-while-the-cdn-is-lost"]["output"]
    after = out["readers-at-the-front-door-after"]["output"]
    print(f"\n[figure] chaos run lose-cdn: during {during['ok']}/{during['requests']} ok at the origin; "
          f"after: hit ratio {after['hit_ratio']} (model {model}); playbook {out['bring-the-cdn-back-warm']['output']['outcome']}")
    assert not during["through_cdn"] and during["origin_requests"] == during["requests"] > 0, during
    assert _origin_served(faults_twin) - served >= during["requests"]  # they reached web-1's nginx
    assert out["bring-the-cdn-back-warm"]["output"]["outcome"] == "restored"
    assert after["through_cdn"] and after["hit_ratio"] >= model, after
    assert SandboxClient(faults_twin.paths).member("cdn-1")["ready"] and ledger.pending(target.env) == []
