"""Origin budget benchmark (issue 17): WordPress pages through the CDN and straight to the origin, on 2 cores.

    flock /tmp/gameday-twin.lock nice -n 5 .venv/bin/python benchmarks/origin_bench.py [--quick]
        [--only cdn,origin,cost] [--rates 50,100,150,200] [--cost-rate 50] [--step-s 30] [--seed-n 2000]

Stands up a topology of its own on net 73 (127.73.x.y, twin ``origin-bench``) under the sandbox
supervisor, and takes it down with its data wiped at the end, on an error and on Ctrl-C or SIGTERM too:
MariaDB ``db-1``, the Redis object cache ``cache-1``, the WordPress bootstrap seeding the catalogue
(guidance posts and medicine monographs, 2,000 items, as the WordPress tests seed it), three WordPress
replicas ``wp-1..3`` (nginx + one php-fpm pool of up to 8 workers each), HAProxy ``lb-1`` in front of
them and Varnish ``cdn-1`` in front of that. WordPress's site address is the CDN's; with the CDN lost,
requests reach the load balancer with the same ``Host`` (as readers would, the site's name moved to the
origin). No search cluster: searches are answered by MySQL (WordPress's own search for ``/?s=``, the
plugin's MySQL fallback for its API), dearer than OpenSearch answering on the platform.

Load: gameday's own runner (:mod:`gameday.load.runner`: Locust in a subprocess, open model, users = rate x
pacing with ``constant_pacing``, latency counted from the send, per-second timeline), profile ``smoke``
at a fixed rate, with a locustfile that sends ``loadtests/traffic.yaml``'s journeys, weighted as there,
to WordPress's URLs: guidance ``/<category>/<slug>/`` 35, monographs ``/monographs/<slug>/`` 25 (both
Zipf-popular, as ``loadtests/locustfile.py`` picks them), search 25 (its ``search_mix`` of terms; half
``/?s=``, half ``/wp-json/gameday/v1/search?q=``), ``/category/<slug>/`` 8, home 6. The editors'
``publish`` (1) is left out: pages only. Figures come from each step's steady seconds (after the first
pacing interval, over which users start staggered, and before the last 3).

1. ``cdn``: through the CDN at the modelled peak at the edge (``plan.edge_rps``: 50 req/s), CDN cold at
   the start: the hit ratio from varnishstat (hits / (hits + misses + passes)) over the second half of
   the step vs the model's ``cdn_hit_ratio`` (0.6), and the origin's share (backend requests / client
   requests) vs 0.4; the origin's req/s vs the model's peak origin rate (20).
2. ``origin``: the CDN lost, straight to the load balancer at the modelled surge with the CDN down,
   ``plan.edge_rps x surge_factor`` = 20 / (1 - 0.6) x 3 = 150 req/s: achieved req/s, p50/p95/p99, the
   error share, against the SLO (``targets.yaml`` defaults: success ratio 0.99, p95 1000 ms); and the
   highest rate the origin holds within it, stepping ``--rates`` (stopping at the first step missed),
   then ``--refine`` steps halving the gap between the highest rate held and the lowest missed. Held:
   the step's steady seconds sent 90% of the rate or more, with success and p95 within the SLO.
3. ``cost``: the origin's cost per page with the object cache vs without it (the drop-in removed, so
   WordPress runs with no persistent object cache; replicas restarted in both cases), at ``--cost-rate``
   straight to the origin after a warm-up: CPU-seconds per page of php-fpm (masters, workers and reaped
   workers) + mariadbd (read from /proc with psutil; redis-server's own shown beside), net of what the
   health checks cost while idle (measured for 5 s before each run); database statements per page
   (MariaDB's ``Questions`` counter, net of idle the same way) and the plugin's ``X-Gameday-DB-Queries``
   header on a sample of pages; p95. Printed as a ratio without / with. From the run with the cache:
   the CPU bound, cores / CPU-seconds per page of every origin process (what 2 cores could serve with
   nothing else on them), beside the 150 req/s budget.

Also the topology's memory after the origin steps: RSS and PSS summed over every member's processes
(PSS shares php-fpm's and nginx's shared pages out; RSS counts them in each process). Ends with one
JSON line of every figure. ``--quick`` shortens the steps (20 s, the CDN's 40 s): a run takes about 4
minutes (the full one about 7). Figures on this shared 2-core machine (the load generator runs on the same cores) are noisy:
read the ratios.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import signal
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from urllib.parse import quote_plus

import psutil
import requests
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gameday.load import runner  # noqa: E402
from gameday.load.model import TrafficModel  # noqa: E402
from gameday.load.timeline import Timeline  # noqa: E402
from gameday.sandbox import lifecycle  # noqa: E402
from gameday.sandbox.client import SandboxClient  # noqa: E402
from gameday.sandbox.members import cdn, db, lb, redis_cache, wordpress  # noqa: E402
from gameday.sandbox.spec import Topology  # noqa: E402
from gameday.sandbox.twin import Twin  # noqa: E402
from gameday.sandbox.wordpress import OBJECT_CACHE  # noqa: E402
from gameday.site import catalog  # noqa: E402
from tests.support import wordpress_stack as stack  # noqa: E402

NAME, NET = "origin-bench", 73  # not 69: test_relay_drill's
REPLICAS = 3
LOADTESTS = ROOT / "loadtests"
API = "/wp-json/gameday/v1"
TAIL_S = 3  # steady window ends this many seconds before the last timeline second (in-flight at the stop)
SAMPLE_PER_KIND = 3  # pages per kind whose X-Gameday-DB-Queries is read after each cost run

LOCUSTFILE = f'''
"""loadtests/locustfile.py's journeys sent to WordPress's URLs (written by benchmarks/origin_bench.py)."""
import json
import os
import random
import sys
from urllib.parse import quote_plus

sys.path.insert(0, {str(LOADTESTS)!r})
import locustfile as sps  # its recorder, open-model pacing, Zipf popularity, search terms and shape

with open(os.environ["GAMEDAY_ORIGIN_PAGES"]) as fh:
    PAGES = json.load(fh)
HOST = os.environ.get("GAMEDAY_ORIGIN_HOST")
HEADERS = {{"Host": HOST}} if HOST else {{}}  # the site's name, as the CDN passes it on
GUIDANCE = sps._zipf(PAGES["guidance"])
MONOGRAPHS = sps._zipf(PAGES["monograph"])


def _get(user, path, name, group):
    sps.recorder.send(user, "GET", path, name=name, group=group, headers=HEADERS, allow_redirects=False)


def read_guidance(user):
    _get(user, sps._popular(GUIDANCE), "/<category>/[slug]/", "article")


def read_monograph(user):
    _get(user, sps._popular(MONOGRAPHS), "/monographs/[slug]/", "monograph")


def search(user):
    kind = random.choices(sps.SEARCH_KINDS, weights=sps.SEARCH_WEIGHTS, k=1)[0]
    q = quote_plus(random.choice(sps.QUERIES[kind]))
    if random.random() < sps.TRAFFIC.search_api_share:
        _get(user, "{API}/search?q=" + q, "{API}/search?q=[" + kind + "]", "search")
    else:
        _get(user, "/?s=" + q, "/?s=[" + kind + "]", "search")


def browse_category(user):
    _get(user, random.choice(PAGES["category"]), "/category/[slug]/", "category")


def home(user):
    _get(user, "/", "/", "home")


JOURNEYS = {{"read_guidance": read_guidance, "read_monograph": read_monograph, "search": search,
            "browse_category": browse_category, "home": home}}


class WordPressVisitor(sps.SpsVisitor):  # its pacing, timeouts and staggered start
    pass


# Set after the class is made: Locust's metaclass would add SpsVisitor's own journeys to these.
WordPressVisitor.tasks = [JOURNEYS[name] for name, share in sps.TRAFFIC.journey_shares().items()
                          if share > 0 and name in JOURNEYS for _ in range(max(1, round(share * 1000)))]


if hasattr(sps, "LoadShape"):
    LoadShape = sps.LoadShape
'''


# ---- the topology ----------------------------------------------------------------------------------
def build(twin: Twin, seed_n: int) -> Topology:
    return Topology(name=twin.name, sandbox_id=twin.paths.sandbox_id, backoff_base=1.0, backoff_cap=4.0,
                    workloads=[db.workload(twin), redis_cache.workload(twin),
                               wordpress.bootstrap(twin, n=seed_n, after=["db", "cache"]),
                               wordpress.workload(twin, replicas=REPLICAS, max_replicas=REPLICAS),
                               replace(lb.workload(twin), after=["wp"]),  # its web backend: the replicas
                               cdn.workload(twin)])


def prepare(twin: Twin) -> None:
    options = {"cache_addr": redis_cache.addr(twin), "home": cdn.url(twin), "search_urls": []}
    redis_cache.prepare(twin)
    stack.prepare(twin, **options)  # the database's secrets, roles and data; WordPress's files for wp-1
    wordpress.prepare(twin, db_addr=twin.db_member_addr(1), replicas=REPLICAS, **options)  # ... and wp-2, wp-3
    lb.prepare(twin)
    cdn.prepare(twin)


def site_host(twin: Twin) -> str:
    return cdn.url(twin).split("://", 1)[1]


def pages(twin: Twin) -> dict[str, list[str]]:
    """Every seeded item's path, by kind, from the plugin's API (wp-1), and the categories' archives."""
    found: dict[str, list[str]] = {"guidance": [], "monograph": []}
    for kind, post_type in (("guidance", "post"), ("monograph", "monograph")):
        for page in range(1, 1000):
            answer = requests.get(wordpress.url(twin) + f"{API}/posts", timeout=30,
                                  params={"type": post_type, "per_page": 100, "page": page}).json()
            found[kind] += [item["path"] for item in answer["items"]]
            if not answer["items"] or len(found[kind]) >= answer["total"]:
                break
    cats = sorted({path.strip("/").split("/")[0] for path in found["guidance"]})  # /<category>/<slug>/
    return {**found, "category": [f"/category/{c}/" for c in cats]}


def sample_paths(found: dict[str, list[str]], rng: random.Random, n: int) -> dict[str, list[str]]:
    terms = list(catalog.POPULAR_TERMS)
    return {"home": ["/"] * n, "guidance": rng.sample(found["guidance"], n),
            "monograph": rng.sample(found["monograph"], n), "category": rng.sample(found["category"], n),
            "search": [f"/?s={quote_plus(t)}" for t in rng.sample(terms, n)],
            "search_api": [f"{API}/search?q={quote_plus(t)}" for t in rng.sample(terms, n)]}


def probe(base: str, paths: dict[str, list[str]], host: str | None = None) -> dict[str, dict]:
    """GET each page (no redirect followed): status codes, X-Cache, object-cache state, DB queries per kind."""
    out: dict[str, dict] = {}
    for kind, items in paths.items():
        codes, queries, states, caches = [], [], set(), set()
        for path in items:
            r = requests.get(base + path, headers={"Host": host} if host else {}, timeout=30, allow_redirects=False)
            codes.append(r.status_code)
            if "X-Gameday-DB-Queries" in r.headers:
                queries.append(int(r.headers["X-Gameday-DB-Queries"]))
            states.add(r.headers.get("X-Gameday-Object-Cache", "-"))
            caches.add(r.headers.get("X-Cache", "-"))
        out[kind] = {"codes": codes, "queries": queries, "cache": sorted(states), "x_cache": sorted(caches)}
    return out


# ---- measuring -------------------------------------------------------------------------------------
MEMBER_KIND = {"db": "mariadbd", "cache": "redis-server", "lb": "haproxy", "cdn": "varnish"}


def member_processes(client: SandboxClient) -> list[tuple[str, psutil.Process]]:
    """Every process of every running member, with its kind: the member's process and its descendants
    (a WordPress replica: its launcher, php-fpm's master and workers, nginx's master and workers)."""
    found = []
    for m in client.status()["members"]:
        if not m.get("pid"):
            continue
        try:
            top = psutil.Process(m["pid"])
            tree = [top, *top.children(recursive=True)]
        except psutil.Error:
            continue
        workload = m["name"].rsplit("-", 1)[0]
        for p in tree:
            try:
                name = p.name()
            except psutil.Error:
                continue
            if workload == "wp":
                kind = "php-fpm" if name.startswith("php") else "nginx" if name.startswith("nginx") else "launcher"
            else:
                kind = MEMBER_KIND.get(workload, workload)
            found.append((kind, p))
    return found


def cpu_seconds(client: SandboxClient) -> dict[str, float]:
    """CPU-seconds (user + system) so far of the members' processes by kind; a process's reaped children
    count too (php-fpm's exited workers land in their master's)."""
    total: dict[str, float] = {}
    for kind, p in member_processes(client):
        try:
            t = p.cpu_times()
        except psutil.Error:
            continue
        total[kind] = total.get(kind, 0.0) + t.user + t.system + t.children_user + t.children_system
    return total


def memory_gib(client: SandboxClient) -> dict:
    """RSS and PSS summed over the members' processes (RSS counts shared pages in each process), GiB."""
    rss = pss = n = 0
    by_kind: dict[str, int] = {}
    for kind, p in member_processes(client):
        try:
            m = p.memory_full_info()
        except psutil.Error:
            continue
        rss, pss, n = rss + m.rss, pss + m.pss, n + 1
        by_kind[kind] = by_kind.get(kind, 0) + m.pss
    return {"rss_gib": round(rss / 2**30, 3), "pss_gib": round(pss / 2**30, 3), "processes": n,
            "pss_mib_by_kind": {k: round(v / 2**20) for k, v in sorted(by_kind.items())}}


def questions(twin: Twin) -> int:
    return int(stack.sql(twin, "SHOW GLOBAL STATUS LIKE 'Questions'")[0][1])


def _diff(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {k: after.get(k, 0.0) - before.get(k, 0.0) for k in set(after) | set(before)}


class Driver:
    """One fixed-rate step of the open model through gameday's load runner."""

    def __init__(self, tmp: Path, pages_file: Path, pacing_s: float, slo: dict):
        self.tmp, self.pages_file, self.pacing_s, self.slo = tmp, pages_file, pacing_s, slo
        self.locustfile = tmp / "wp_locustfile.py"
        self.locustfile.write_text(LOCUSTFILE)
        self.n = 0

    def run(self, label: str, url: str, rate: float, seconds: int, *, host: str | None = None,
            during=None) -> dict:
        self.n += 1
        traffic = yaml.safe_load((LOADTESTS / "traffic.yaml").read_text())
        traffic["generator"]["smoke_rps"] = rate
        tfile = self.tmp / f"traffic-{self.n}.yaml"
        tfile.write_text(yaml.safe_dump(traffic))
        out = self.tmp / f"{self.n:02d}-{label}"
        run = runner.prepare(runner.RunOptions(
            profile="smoke", host=url, duration_s=seconds, out_dir=out, traffic=tfile, locustfile=self.locustfile,
            pacing_s=self.pacing_s, extra_env={"GAMEDAY_ORIGIN_PAGES": str(self.pages_file),
                                               "GAMEDAY_ORIGIN_HOST": host or ""}))
        print(f"  .. {label}: {rate:g} req/s for {seconds} s to {url}", file=sys.stderr, flush=True)
        thread = None
        if during:
            thread = threading.Thread(target=during, daemon=True)
            thread.start()
        summary = runner.execute(run)
        if thread:
            thread.join(30)
        tl = Timeline.load(run.timeline_path)
        start, end = tl.start + math.ceil(self.pacing_s) + 1, tl.end - TAIL_S
        w = tl.window(start, end)
        good = sum(1 for r in tl.series(start=start, end=end)
                   if r.requests and (r.success_ratio or 0) >= self.slo["success_ratio"]
                   and (r.p95_ms or 0) <= self.slo["p95_ms"])
        seconds_n = end - start + 1
        result = {"label": label, "target_rps": rate, "achieved_rps": round(w.requests / seconds_n, 1),
                  "requests": w.requests, "failures": w.failures,
                  "error_share": round(w.failures / w.requests, 4) if w.requests else None,
                  "p50_ms": w.p50_ms, "p95_ms": w.p95_ms, "p99_ms": w.p99_ms, "max_ms": w.max_ms,
                  "codes": w.codes, "seconds": seconds_n, "good_seconds": good, "window": [start, end],
                  "all_requests": summary["groups"]["all"]["requests"],
                  "generator_cpu_max_5s_percent": summary["generator"].get("max_5s_percent"),
                  "warnings": summary["warnings"], "out": str(out)}
        result["held"] = bool(w.requests and result["achieved_rps"] >= runner.FELL_BEHIND_RATIO * rate
                              and 1 - result["error_share"] >= self.slo["success_ratio"]
                              and (w.p95_ms or 1e9) <= self.slo["p95_ms"])
        print(f"     {_step_line(result)}", file=sys.stderr, flush=True)
        return result


def _step_line(r: dict) -> str:
    return (f"{r['achieved_rps']:g} of {r['target_rps']:g} req/s, p50/p95/p99 {r['p50_ms']}/{r['p95_ms']}/{r['p99_ms']} ms, "
            f"errors {r['error_share']:.2%}, {r['good_seconds']}/{r['seconds']} good seconds, "
            f"codes {r['codes']}, generator CPU max {r['generator_cpu_max_5s_percent']}%"
            f" => {'held' if r['held'] else 'NOT held'}")


def restart_web(client: SandboxClient) -> None:
    for i in range(1, REPLICAS + 1):
        client.stop(f"wp-{i}", by="origin_bench")
    for i in range(1, REPLICAS + 1):
        client.wait_stopped(f"wp-{i}", timeout=30)
        client.start(f"wp-{i}", by="origin_bench")
    for i in range(1, REPLICAS + 1):
        client.wait_ready(f"wp-{i}", timeout=60)


def cost_run(twin: Twin, client: SandboxClient, driver: Driver, label: str, rate: float, seconds: int,
             warm_s: int, samples: dict[str, list[str]]) -> dict:
    restart_web(client)
    driver.run(f"{label}-warmup", twin.lb_url, rate, warm_s, host=site_host(twin))
    idle_cpu0, idle_q0, t0 = cpu_seconds(client), questions(twin), time.monotonic()
    time.sleep(5)
    idle_cpu1, idle_q1, t1 = cpu_seconds(client), questions(twin), time.monotonic()
    idle_s = t1 - t0
    idle_rate = {k: v / idle_s for k, v in _diff(idle_cpu1, idle_cpu0).items()}
    idle_q_rate = (idle_q1 - idle_q0) / idle_s
    cpu0, q0, t2 = cpu_seconds(client), questions(twin), time.monotonic()
    step = driver.run(label, twin.lb_url, rate, seconds, host=site_host(twin))
    cpu1, q1, t3 = cpu_seconds(client), questions(twin), time.monotonic()
    span = t3 - t2
    pages_n = step["all_requests"]
    used = {k: v - idle_rate.get(k, 0.0) * span for k, v in _diff(cpu1, cpu0).items()}
    seen = probe(twin.lb_url, samples, site_host(twin))
    per_kind = {k: round(sum(v["queries"]) / len(v["queries"]), 1) if v["queries"] else None for k, v in seen.items()}
    return {**step, "pages": pages_n, "span_s": round(span, 1),
            "cpu_ms_per_page": {k: round(v / pages_n * 1000, 2) for k, v in sorted(used.items())},
            "fpm_db_cpu_ms_per_page": round((used.get("php-fpm", 0) + used.get("mariadbd", 0)) / pages_n * 1000, 2),
            "idle_cpu_per_s": {k: round(v, 3) for k, v in idle_rate.items()},
            "db_statements_per_page": round((q1 - q0 - idle_q_rate * span) / pages_n, 1),
            "header_queries_per_page": per_kind,
            "object_cache_states": sorted({s for v in seen.values() for s in v["cache"]}),
            "sample_codes": {k: v["codes"] for k, v in seen.items()}}


# ---- main ------------------------------------------------------------------------------------------
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="20 s steps (the CDN step 40 s): about 4 minutes")
    ap.add_argument("--only", default="cdn,origin,cost")
    ap.add_argument("--rates", default="50,100,150,200", help="origin-only steps, req/s (stops at the first missed)")
    ap.add_argument("--cost-rate", type=float, default=50.0, help="req/s straight to the origin for figure 3")
    ap.add_argument("--step-s", type=int, default=None, help="seconds per origin step (default 30, quick 20)")
    ap.add_argument("--cdn-s", type=int, default=None, help="seconds of the CDN step (default 90, quick 40)")
    ap.add_argument("--refine", type=int, default=1, help="steps halving the gap between held and missed")
    ap.add_argument("--pacing", type=float, default=4.0, help="seconds between a user's requests (and its timeout)")
    ap.add_argument("--seed-n", type=int, default=catalog.DEFAULT_N, help="catalogue items seeded")
    args = ap.parse_args()
    only = set(args.only.split(","))
    step_s = args.step_s or (20 if args.quick else 30)
    cdn_s = args.cdn_s or (40 if args.quick else 90)
    rates = [float(r) for r in args.rates.split(",")]
    model = TrafficModel.load(LOADTESTS / "traffic.yaml")
    plan = model.plan()
    surge_cdn_lost = plan.edge_rps * model.surge_factor
    slo = yaml.safe_load((ROOT / "targets.yaml").read_text())["defaults"]["slo"]

    def terminated(signum, frame):  # as Ctrl-C: the load runner stops Locust, the topology comes down
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminated)
    twin = Twin.create(NAME, net=NET)
    tmp = Path(tempfile.mkdtemp(prefix="origin-bench-"))
    figures: dict = {"net": NET, "replicas": REPLICAS, "seed_n": args.seed_n, "pacing_s": args.pacing,
                     "slo": slo, "quick": args.quick, "model": {
                         "edge_rps": plan.edge_rps, "peak_origin_rps": plan.peak_origin_rps,
                         "cdn_hit_ratio": model.cdn_hit_ratio, "surge_factor": model.surge_factor,
                         "surge_cdn_lost_rps": surge_cdn_lost}}
    results: list[tuple[str, str, str, str]] = []

    def show(row: tuple[str, str, str, str]) -> None:
        results.append(row)
        print(f"  {row[0]}: {row[1]} | {row[2]} | {row[3]}", file=sys.stderr, flush=True)

    lifecycle.down(twin.paths, wipe=True)  # whatever an interrupted run left
    try:
        started = time.monotonic()
        up = lifecycle.up(twin.paths, build(twin, args.seed_n), prepare=lambda: prepare(twin), timeout=300,
                          progress=lambda member, state, _view: print(f"  up: {member} {state}", file=sys.stderr))
        figures["up_s"] = round(time.monotonic() - started, 1)
        print(f"  up in {up.seconds:.0f} s", file=sys.stderr)
        client = SandboxClient(twin.paths)
        found = pages(twin)
        pages_file = tmp / "pages.json"
        pages_file.write_text(json.dumps(found))
        figures["pages"] = {k: len(v) for k, v in found.items()}
        samples = sample_paths(found, random.Random(7), SAMPLE_PER_KIND)
        checked = probe(twin.lb_url, {k: v[:1] for k, v in samples.items()}, site_host(twin))
        bad = {k: v["codes"] for k, v in checked.items() if v["codes"] != [200]}
        print(f"  pages: {figures['pages']}; one of each kind straight to the origin: "
              + ", ".join(f"{k} {v['codes'][0]} ({v['queries'][0] if v['queries'] else '-'} queries)"
                          for k, v in checked.items()), file=sys.stderr)
        if bad:
            raise SystemExit(f"origin_bench: pages that do not answer 200 straight to the origin: {bad}")
        driver = Driver(tmp, pages_file, args.pacing, slo)

        if "cdn" in only:
            marks: dict[str, tuple[float, dict]] = {}

            def mark_counters() -> None:  # the CDN's counters at the start, the half and the end of the step
                marks["start"] = (time.monotonic(), cdn.counters(twin))
                time.sleep(cdn_s / 2 + 2)
                marks["half"] = (time.monotonic(), cdn.counters(twin))

            step = driver.run("cdn-peak", cdn.url(twin), plan.edge_rps, cdn_s, during=mark_counters)
            time.sleep(1)  # varnishstat's counters can lag the last responses
            marks["end"] = (time.monotonic(), cdn.counters(twin))

            def ratio(a: str, b: str) -> dict:
                (ta, ca), (tb, cb) = marks[a], marks[b]
                d = {k: cb.get(f"MAIN.{k}", 0) - ca.get(f"MAIN.{k}", 0)
                     for k in ("cache_hit", "cache_miss", "s_pass", "backend_req", "cache_hit_grace")}
                lookups = d["cache_hit"] + d["cache_miss"] + d["s_pass"]
                return {**d, "hit_ratio": round(d["cache_hit"] / lookups, 3) if lookups else None,
                        "origin_share": round(d["backend_req"] / lookups, 3) if lookups else None,
                        "origin_rps": round(d["backend_req"] / (tb - ta), 1)}

            whole, warm = ratio("start", "end"), ratio("half", "end")
            figures["cdn"] = {"step": step, "whole": whole, "second_half": warm}
            show(("1 through the CDN at the modelled edge peak",
                  f"hit ratio {warm['hit_ratio']} (second half; whole step from cold {whole['hit_ratio']}), "
                  f"origin share {warm['origin_share']}, origin {warm['origin_rps']} req/s; readers' p95 "
                  f"{step['p95_ms']} ms, errors {step['error_share']:.2%}, {step['achieved_rps']} of "
                  f"{plan.edge_rps:g} req/s",
                  f"model: hit ratio {model.cdn_hit_ratio}, origin share {1 - model.cdn_hit_ratio:.1f}, "
                  f"origin {plan.peak_origin_rps:g} req/s",
                  f"hit ratio x{warm['hit_ratio'] / model.cdn_hit_ratio:.2f} of the model; origin req/s "
                  f"x{warm['origin_rps'] / plan.peak_origin_rps:.2f}" if warm["hit_ratio"] is not None else "no lookups"))

        if "origin" in only:
            steps = []
            if surge_cdn_lost not in rates:
                rates = sorted({*rates, surge_cdn_lost})
            for rate in rates:
                steps.append(driver.run(f"origin-{rate:g}", twin.lb_url, rate, step_s, host=site_host(twin)))
                if not steps[-1]["held"]:
                    break
            for _ in range(args.refine):  # halve the gap between the highest rate held and the first missed
                held = [s["target_rps"] for s in steps if s["held"]]
                missed = [s["target_rps"] for s in steps if not s["held"]]
                if not held or not missed or min(missed) - max(held) < 10:
                    break
                rate = float(round((max(held) + min(missed)) / 2))
                steps.append(driver.run(f"origin-{rate:g}", twin.lb_url, rate, step_s, host=site_host(twin)))
            figures["memory_after_origin_steps"] = memory_gib(client)
            at_surge = next((s for s in steps if s["target_rps"] == surge_cdn_lost), None)
            held = [s["target_rps"] for s in steps if s["held"]]
            missed = min((s["target_rps"] for s in steps if not s["held"]), default=None)
            figures["origin"] = {"steps": steps, "highest_held_rps": max(held) if held else None,
                                 "first_missed_rps": missed}
            if at_surge:
                show((f"2 the CDN lost: origin at the surge ({surge_cdn_lost:g} req/s)",
                      f"{at_surge['achieved_rps']} req/s, p50/p95/p99 {at_surge['p50_ms']}/{at_surge['p95_ms']}/"
                      f"{at_surge['p99_ms']} ms, errors {at_surge['error_share']:.2%}, "
                      f"{at_surge['good_seconds']}/{at_surge['seconds']} good seconds",
                      f"budget {surge_cdn_lost:g} req/s within the SLO (success {slo['success_ratio']}, "
                      f"p95 {slo['p95_ms']} ms)",
                      f"x{at_surge['achieved_rps'] / surge_cdn_lost:.2f} of the rate, p95 "
                      f"x{(at_surge['p95_ms'] or 0) / slo['p95_ms']:.2f} of the SLO's => "
                      f"{'held' if at_surge['held'] else 'NOT held'}"))
            else:
                show((f"2 the CDN lost: origin at the surge ({surge_cdn_lost:g} req/s)", "not reached",
                      f"a lower step missed the SLO ({missed:g} req/s)", "NOT held"))
            show(("2 the CDN lost: highest rate held within the SLO",
                  f"{max(held):g} req/s" if held else "none of the steps",
                  "steps " + ", ".join(f"{s['target_rps']:g}" for s in steps)
                  + (f"; first missed {missed:g} req/s" if missed else "; none missed"),
                  f"x{max(held) / surge_cdn_lost:.2f} of the {surge_cdn_lost:g} req/s budget" if held else "-"))

        if "cost" in only:
            warm_s = 10 if args.quick else 15
            on = cost_run(twin, client, driver, "cost-cache-on", args.cost_rate, step_s, warm_s, samples)
            drop_in = wordpress.content_dir(twin) / "object-cache.php"
            drop_in.unlink()
            try:
                off = cost_run(twin, client, driver, "cost-cache-off", args.cost_rate, step_s, warm_s, samples)
            finally:
                drop_in.write_bytes(OBJECT_CACHE.read_bytes())
                drop_in.chmod(0o644)
            figures["cost"] = {"rate": args.cost_rate, "cache_on": on, "cache_off": off}

            def mean_queries(r: dict) -> float:
                vals = [v for v in r["header_queries_per_page"].values() if v is not None]
                return sum(vals) / len(vals) if vals else float("nan")

            show((f"3 cost per page at {args.cost_rate:g} req/s straight to the origin, object cache on vs off",
                  f"on ({', '.join(on['object_cache_states'])}): php-fpm+mariadbd {on['fpm_db_cpu_ms_per_page']} ms CPU "
                  f"(+ redis {on['cpu_ms_per_page'].get('redis-server', 0)} ms), {on['db_statements_per_page']} DB "
                  f"statements, header queries {on['header_queries_per_page']}, p95 {on['p95_ms']} ms",
                  f"off ({', '.join(off['object_cache_states'])}): php-fpm+mariadbd {off['fpm_db_cpu_ms_per_page']} ms "
                  f"CPU, {off['db_statements_per_page']} DB statements, header queries "
                  f"{off['header_queries_per_page']}, p95 {off['p95_ms']} ms",
                  f"without/with: CPU x{off['fpm_db_cpu_ms_per_page'] / on['fpm_db_cpu_ms_per_page']:.2f}, "
                  f"DB statements x{off['db_statements_per_page'] / max(on['db_statements_per_page'], 0.1):.1f}, "
                  f"header queries {mean_queries(on):.1f} -> {mean_queries(off):.1f}, "
                  f"p95 x{(off['p95_ms'] or 0) / max(on['p95_ms'] or 1, 1):.2f}"))

            origin_ms = sum(v for k, v in on["cpu_ms_per_page"].items() if k != "varnish")
            cores = psutil.cpu_count()
            figures["cost"]["origin_cpu_ms_per_page_cache_on"] = round(origin_ms, 2)
            figures["cost"]["cpu_bound_rps"] = round(cores * 1000 / origin_ms)
            show(("5 the origin's CPU bound (object cache on)",
                  f"{cores} cores / {origin_ms:.1f} ms CPU per page (php-fpm, mariadbd, redis, nginx, haproxy) "
                  f"= {cores * 1000 / origin_ms:.0f} req/s with nothing else running",
                  f"the {surge_cdn_lost:g} req/s budget needs {cores * 1000 / surge_cdn_lost:.1f} ms or less "
                  "(the load generator shares the cores here)",
                  f"x{cores * 1000 / origin_ms / surge_cdn_lost:.2f} of the budget"))

        figures["memory_end"] = memory_gib(client)
        mem = figures.get("memory_after_origin_steps", figures["memory_end"])
        show(("4 memory of the topology (after the heaviest load)",
              f"RSS {mem['rss_gib']} GiB, PSS {mem['pss_gib']} GiB, {mem['processes']} processes",
              "twin budget 8 GiB (issue 17, the whole twin)", f"PSS {mem['pss_gib'] / 8:.1%} of it"))
    finally:
        down = lifecycle.down(twin.paths, wipe=True)
        print(f"  down: {down}", file=sys.stderr)

    print(f"\norigin benchmark ({'quick' if args.quick else 'full'}; 2 cores shared with the load generator "
          "and other sessions: figures are noisy)")
    width = max(len(r[0]) for r in results) if results else 0
    for figure, ours_s, ref_s, ratio_s in results:
        print(f"{figure:<{width}}  | {ours_s}\n{'':<{width}}  | vs {ref_s}\n{'':<{width}}  | => {ratio_s}")
    print(f"(raw outputs in {tmp})")
    print(json.dumps({"schema": "gameday.bench.origin/v1", **figures}, default=str))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("origin_bench: interrupted (the topology was taken down and wiped)", file=sys.stderr)
        sys.exit(130)
