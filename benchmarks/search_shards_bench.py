"""The content index's layout (docs/search-shard-layout.md): 3 primaries x 1 replica (today) against
1 primary x 2 replicas, on the twin's three OpenSearch nodes, side by side.

    flock /tmp/gameday-twin.lock nice -n 5 .venv/bin/python benchmarks/search_shards_bench.py [--quick]
        [--only queries,loss] [--clients 6] [--round-s 20] [--rounds 4] [--loss-rate 15]

Stands up three OpenSearch nodes of its own under the sandbox supervisor (net 76, twin ``shards-bench``:
HTTPS, basic auth, the twin's JVM flags, as the twin runs them) and takes them down with their data
wiped at the end, on an error and on Ctrl-C or SIGTERM too. Two indices hold the same 2,000 catalogue
items (``gameday.site.search.document``, the twin's mappings): ``content`` with the twin's settings
(``INDEX_SETTINGS``: 3 primaries x 1 replica) and ``content_1p`` (1 primary x 2 replicas, one copy on every
node). The searches are the WordPress plugin's (``mu-plugins/gameday/search.php`` ``opensearch()``): an
exact ``multi_match`` over title^3, summary^2 and body, then, when nothing matched, a fuzzy one over title
and summary; the terms follow ``loadtests/traffic.yaml``'s ``search_mix`` (popular, long tail,
misspellings, no result).

1. ``queries``: ``--clients`` threads, each with its own kept HTTPS connection (as the plugin keeps one per
   php-fpm worker), search back to back for ``--round-s`` seconds against one index; rounds alternate
   ABBA... (``--rounds`` per layout), so a slow minute on this shared machine falls on both. Per layout:
   searches per second, wall p50/p95 (the client's, TLS included), OpenSearch's ``took`` p50/p95, and the
   three JVMs' CPU-seconds per search (user + system from /proc, all three nodes).
2. ``loss``: each layout alone (the other index deleted, then made again), searches at ``--loss-rate`` per
   second from 3 clients while the node holding the index's most primaries is SIGKILLed, as the search
   node experiment does (``kill_data_node(most-primaries)``); the supervisor restarts it. From the kill
   until the cluster is whole again (green, three nodes, no shard relocating): the seconds, the three
   JVMs' CPU-seconds (the restarted JVM's start included: the same in both), the bytes copied by shard recoveries
   (``_cat/recovery``), and the searches' p95 and failures (a search fails when no node answers within the plugin's 2 s budget).

Ends with one JSON line of every figure. ``--quick``: 2 rounds of 10 s per layout. Figures on this shared
2-core machine (the clients run on the same cores) are noisy: read the ratios.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import signal
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import psutil
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gameday.deadline import Deadline, wait_until  # noqa: E402
from gameday.sandbox import lifecycle  # noqa: E402
from gameday.sandbox.client import SandboxClient  # noqa: E402
from gameday.sandbox.members import search  # noqa: E402
from gameday.sandbox.shape import Shape  # noqa: E402
from gameday.sandbox.spec import Topology  # noqa: E402
from gameday.sandbox.twin import PORTS, Twin  # noqa: E402
from gameday.site import catalog  # noqa: E402
from gameday.site.search import INDEX_SETTINGS, SearchClient  # noqa: E402

NAME, NET = "shards-bench", 76
NODES = 3
BUDGET_S = 2.0  # the plugin's search budget (search.php search_budget()'s default)
LAYOUTS = {"3p+1r": ("content", 3, 1), "1p+2r": ("content_1p", 1, 2)}


def terms(rng: random.Random, n: int) -> list[str]:
    """``n`` search terms in traffic.yaml's search_mix proportions (60/25/10/5)."""
    pools = [(catalog.POPULAR_TERMS, 60), (catalog.LONG_TAIL_TERMS, 25), (catalog.MISSPELLINGS, 10),
             (catalog.EMPTY_RESULT_TERMS, 5)]
    return [rng.choice(rng.choices([p for p, _ in pools], weights=[w for _, w in pools])[0]) for _ in range(n)]


def settings(shards: int, replicas: int) -> dict:
    body = copy.deepcopy(INDEX_SETTINGS)
    body["settings"]["index"].update({"number_of_shards": shards, "number_of_replicas": replicas})
    return body


class Searcher:
    """The plugin's search against one index over a kept HTTPS connection per thread."""

    def __init__(self, twin: Twin):
        self.urls = [f"https://{twin.address('search', i)}:{PORTS['search']}" for i in range(1, NODES + 1)]
        self.auth, self.ca = twin.search_auth(), twin.search_ca()
        self._local = threading.local()

    def _session(self) -> requests.Session:
        if getattr(self._local, "s", None) is None:
            s = requests.Session()
            s.trust_env, s.auth, s.verify = False, self.auth, self.ca
            self._local.s = s
        return self._local.s

    def search(self, index: str, q: str, node: int) -> tuple[float, int]:
        """(wall seconds, OpenSearch's took ms summed over the one or two queries); raises on a failure."""
        started = time.monotonic()
        exact = {"multi_match": {"query": q, "fields": ["title^3", "summary^2", "body"], "operator": "and"}}
        fuzzy = {"multi_match": {"query": q, "fields": ["title^3", "summary^2"], "fuzziness": "AUTO",
                                 "prefix_length": 1, "max_expansions": 10, "operator": "and"}}
        took = 0
        for query in (exact, fuzzy):
            left = BUDGET_S - (time.monotonic() - started)
            if left <= 0.05:
                raise TimeoutError("budget spent")
            r = self._session().post(f"{self.urls[node]}/{index}/_search", timeout=(min(1.0, left), left), json={
                "size": 10, "track_total_hits": 1000, "query": query,
                "_source": ["title", "slug", "kind", "category", "summary"]})
            r.raise_for_status()
            answer = r.json()
            took += int(answer.get("took", 0))
            if answer["hits"]["hits"]:
                break
        return time.monotonic() - started, took


def jvm_cpu_by_pid(client: SandboxClient) -> dict[int, float]:
    """CPU-seconds so far (user + system) of every search node's processes, by pid."""
    found: dict[int, float] = {}
    for m in client.status()["members"]:
        if not m["name"].startswith("search-") or not m.get("pid"):
            continue
        try:
            top = psutil.Process(m["pid"])
            for p in (top, *top.children(recursive=True)):
                t = p.cpu_times()
                found[p.pid] = t.user + t.system
        except psutil.Error:
            continue
    return found


def jvm_cpu(client: SandboxClient) -> float:
    """CPU-seconds so far of every search node's processes (for a span with no node killed)."""
    return sum(jvm_cpu_by_pid(client).values())


class CpuSampler:
    """The search JVMs' CPU-seconds over a span in which a node is killed and restarted: each pid's last
    reading (every 0.5 s) counts, so the killed JVM's seconds up to its death stay in, and its
    successor's start is added."""

    def __init__(self, client: SandboxClient):
        self.client, self.first = client, jvm_cpu_by_pid(client)
        self.last = dict(self.first)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self.last.update(jvm_cpu_by_pid(self.client))

    def stop(self) -> float:
        self._stop.set()
        self._thread.join(timeout=5)
        self.last.update(jvm_cpu_by_pid(self.client))
        return sum(v - self.first.get(pid, 0.0) for pid, v in self.last.items())


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def run_clients(searcher: Searcher, index: str, words: list[str], clients: int, seconds: float,
                rate: float | None = None, stop: threading.Event | None = None) -> dict:
    """``clients`` threads searching ``index`` for ``seconds`` (or until ``stop``), back to back or at
    ``rate`` per second in all; each thread starts on its own node, as the plugin's replicas spread."""
    walls, tooks, failures = [], [], []
    lock = threading.Lock()
    deadline = Deadline(seconds)
    pace = clients / rate if rate else 0.0

    def worker(k: int) -> None:
        node, i = k % NODES, k
        next_at = time.monotonic()
        while not deadline.expired() and not (stop and stop.is_set()):
            q = words[i % len(words)]
            i += clients
            try:
                wall, took = searcher.search(index, q, node)
                with lock:
                    walls.append(wall)
                    tooks.append(took)
            except (requests.RequestException, TimeoutError, ValueError, KeyError) as err:
                with lock:
                    failures.append(type(err).__name__)
                node = (node + 1) % NODES  # the plugin tries the next node after a failure
            if pace:
                next_at += pace
                time.sleep(max(0.0, next_at - time.monotonic()))

    threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(clients)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + 10)
    took_s = time.monotonic() - started
    return {"searches": len(walls), "failed": len(failures), "seconds": took_s, "walls": walls, "tooks": tooks}


def cluster(searcher: Searcher, path: str) -> requests.Response:
    """GET ``path`` from the first node that answers (a killed node may be the first)."""
    problems = []
    for url in searcher.urls:
        try:
            return searcher._session().get(f"{url}{path}", timeout=10)
        except requests.RequestException as err:
            problems.append(f"{url}: {type(err).__name__}")
    raise SystemExit(f"search_shards_bench: no node answered {path}: {'; '.join(problems)}")


def make_index(searcher: Searcher, index: str, shards: int, replicas: int, items: list[dict]) -> None:
    """``index`` made anew with this layout, the catalogue in it, and green."""
    client = SearchClient(searcher.urls, index=index, auth=searcher.auth, verify=searcher.ca)
    client.request("DELETE", f"/{index}", ok_statuses=(404,))
    client.request("PUT", f"/{index}", body=settings(shards, replicas))
    client.bulk_index(items, refresh=True)
    client.request("GET", "/_cluster/health", params={"index": index, "wait_for_status": "green", "timeout": "120s"})


def most_primaries(searcher: Searcher, index: str) -> str:
    rows = cluster(searcher, f"/_cat/shards/{index}?format=json&h=prirep,node,state").json()
    counts: dict[str, int] = {}
    for row in rows:
        if row["prirep"] == "p" and row["state"] == "STARTED":
            counts[row["node"]] = counts.get(row["node"], 0) + 1
    return max(sorted(counts), key=lambda n: counts[n])


def recovered_bytes(searcher: Searcher) -> int:
    rows = cluster(searcher, "/_cat/recovery?format=json&bytes=b&h=index,type,stage,bytes_recovered").json()
    return sum(int(r["bytes_recovered"] or 0) for r in rows if r["type"] == "peer" and not r["index"].startswith("."))


def summary(label: str, r: dict, cpu: float) -> dict:
    n = max(1, r["searches"])
    return {"layout": label, "searches": r["searches"], "failed": r["failed"],
            "per_s": round(r["searches"] / r["seconds"], 1),
            "wall_p50_ms": round(pct(r["walls"], 0.5) * 1000), "wall_p95_ms": round(pct(r["walls"], 0.95) * 1000),
            "took_p50_ms": pct(r["tooks"], 0.5), "took_p95_ms": pct(r["tooks"], 0.95),
            "jvm_cpu_ms_per_search": round(cpu / n * 1000, 2)}


def queries(twin: Twin, client: SandboxClient, searcher: Searcher, words: list[str], args) -> dict:
    rounds: dict[str, list[tuple[dict, float]]] = {label: [] for label in LAYOUTS}
    order = [label for k in range(args.rounds) for label in (("3p+1r", "1p+2r") if k % 2 == 0 else ("1p+2r", "3p+1r"))]
    for label in LAYOUTS:  # warm each index (caches, JIT) before anything is measured
        run_clients(searcher, LAYOUTS[label][0], words, args.clients, 5)
    for n, label in enumerate(order, 1):
        before = jvm_cpu(client)
        r = run_clients(searcher, LAYOUTS[label][0], words, args.clients, args.round_s)
        cpu = jvm_cpu(client) - before
        rounds[label].append((r, cpu))
        s = summary(label, r, cpu)
        print(f"  round {n}/{len(order)} {label}: {s['per_s']}/s, wall p95 {s['wall_p95_ms']} ms, "
              f"JVM {s['jvm_cpu_ms_per_search']} ms CPU per search", file=sys.stderr, flush=True)
    out = {}
    for label, runs in rounds.items():
        merged = {"searches": sum(r["searches"] for r, _ in runs), "failed": sum(r["failed"] for r, _ in runs),
                  "seconds": sum(r["seconds"] for r, _ in runs), "walls": [w for r, _ in runs for w in r["walls"]],
                  "tooks": [t for r, _ in runs for t in r["tooks"]]}
        out[label] = summary(label, merged, sum(c for _, c in runs))
    return out


def loss(twin: Twin, client: SandboxClient, searcher: Searcher, words: list[str], items: list[dict], args) -> dict:
    out = {}
    for label, (index, shards, replicas) in LAYOUTS.items():
        others = [i for lb, (i, _, _) in LAYOUTS.items() if lb != label]
        for other in others:
            cluster_delete(searcher, other)
        make_index(searcher, index, shards, replicas, items)
        victim = most_primaries(searcher, index)
        base_bytes = recovered_bytes(searcher)
        stop = threading.Event()
        result: dict = {}
        loader = threading.Thread(target=lambda r=result, i=index, st=stop: r.update(
            run_clients(searcher, i, words, 3, 300, rate=args.loss_rate, stop=st)), daemon=True)
        loader.start()
        time.sleep(3)
        sampler, started = CpuSampler(client), time.monotonic()
        client.kill(victim)
        print(f"  {label}: {victim} killed", file=sys.stderr, flush=True)
        wait_until(lambda: _health(searcher).get("status") != "green", timeout=30,
                   what=f"{index}: the cluster not green after the kill")
        wait_until(lambda: _whole(_health(searcher)), timeout=300, interval=0.5,
                   what=f"{index}: the cluster whole again after {victim} was killed")
        green_s = time.monotonic() - started  # until whole again (see _whole)
        cpu = sampler.stop()
        stop.set()
        loader.join(timeout=15)
        copied = recovered_bytes(searcher) - base_bytes
        s = summary(label, result, cpu)
        out[label] = {"victim": victim, "green_s": round(green_s, 1), "jvm_cpu_s": round(cpu, 1),
                      "recovered_bytes": copied, "searches": s["searches"], "failed": s["failed"],
                      "wall_p95_ms": s["wall_p95_ms"], "wall_p50_ms": s["wall_p50_ms"]}
        print(f"  {label}: green {green_s:.1f} s after the kill, JVM CPU {cpu:.1f} s, {copied} bytes recovered, "
              f"{s['failed']} of {s['searches'] + s['failed']} searches failed", file=sys.stderr, flush=True)
        for lb, layout in LAYOUTS.items():
            if lb != label:
                make_index(searcher, *layout, items)
    return out


def _health(searcher: Searcher) -> dict:
    """The cluster's health from the first node that answers within 2 s, or {} (the killed node may be first)."""
    for url in searcher.urls:
        try:
            return searcher._session().get(f"{url}/_cluster/health", timeout=2).json()
        except (requests.RequestException, ValueError):
            continue
    return {}


def _whole(health: dict) -> bool:
    """Green, every node back, and no shard moving: a 3p+1r index is green on two nodes once its replicas
    are rebuilt there, then moves copies back to the returned node; 1p+2r is green only with it."""
    return (health.get("status") == "green" and health.get("number_of_nodes") == NODES
            and health.get("relocating_shards") == 0 and health.get("initializing_shards") == 0)


def cluster_delete(searcher: Searcher, index: str) -> None:
    searcher._session().delete(f"{searcher.urls[0]}/{index}", timeout=30)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="2 rounds of 10 s per layout")
    ap.add_argument("--only", default="queries,loss")
    ap.add_argument("--clients", type=int, default=6, help="threads searching back to back (figure 1)")
    ap.add_argument("--round-s", type=float, default=None, help="seconds per round (default 20, quick 10)")
    ap.add_argument("--rounds", type=int, default=None, help="rounds per layout (default 4, quick 2)")
    ap.add_argument("--loss-rate", type=float, default=15.0, help="searches per second during a node loss")
    args = ap.parse_args()
    args.round_s = args.round_s or (10 if args.quick else 20)
    args.rounds = args.rounds or (2 if args.quick else 4)
    only = set(args.only.split(","))

    def terminated(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminated)
    twin = Twin.create(NAME, net=NET)
    twin = replace(twin, shape=Shape(web_replicas=1, indexer_replicas=1, search_nodes=NODES, db_replicas=0))
    topology = Topology(name=twin.name, sandbox_id=twin.paths.sandbox_id, backoff_base=1.0, backoff_cap=4.0,
                        workloads=[search.workload(twin)])
    figures: dict = {"net": NET, "nodes": NODES, "items": catalog.DEFAULT_N, "clients": args.clients,
                     "round_s": args.round_s, "rounds": args.rounds, "loss_rate": args.loss_rate}
    lifecycle.down(twin.paths, wipe=True)
    try:
        started = time.monotonic()
        lifecycle.up(twin.paths, topology, prepare=lambda: search.prepare(twin), timeout=300,
                     progress=lambda member, state, _view: print(f"  up: {member} {state}", file=sys.stderr))
        figures["up_s"] = round(time.monotonic() - started, 1)
        client = SandboxClient(twin.paths)
        searcher = Searcher(twin)
        items = list(catalog.generate(catalog.DEFAULT_N))
        for index, shards, replicas in LAYOUTS.values():
            make_index(searcher, index, shards, replicas, items)
        words = terms(random.Random(11), 2000)
        if "queries" in only:
            q = queries(twin, client, searcher, words, args)
            figures["queries"] = q
            a, b = q["3p+1r"], q["1p+2r"]
            print("\nsearches, the plugin's pair, {} clients back to back ({} x {} s per layout):".format(
                args.clients, args.rounds, args.round_s))
            print(f"  {'figure':28} {'3p+1r':>10} {'1p+2r':>10} {'ratio':>8}")
            for key in ("per_s", "wall_p50_ms", "wall_p95_ms", "took_p50_ms", "took_p95_ms", "jvm_cpu_ms_per_search", "failed"):
                ratio = f"{b[key] / a[key]:.2f}" if a[key] else "-"
                print(f"  {key:28} {a[key]:>10} {b[key]:>10} {ratio:>8}")
        if "loss" in only:
            lo = loss(twin, client, searcher, words, items, args)
            figures["loss"] = lo
            a, b = lo["3p+1r"], lo["1p+2r"]
            print(f"\nthe node holding the most primaries killed, searches at {args.loss_rate:g}/s, until whole again:")
            print(f"  {'figure':28} {'3p+1r':>10} {'1p+2r':>10} {'ratio':>8}")
            for key in ("green_s", "jvm_cpu_s", "recovered_bytes", "wall_p50_ms", "wall_p95_ms", "failed", "searches"):
                ratio = f"{b[key] / a[key]:.2f}" if a[key] else "-"
                print(f"  {key:28} {a[key]:>10} {b[key]:>10} {ratio:>8}")
        print(json.dumps(figures))
        return 0
    except KeyboardInterrupt:
        print("search_shards_bench: interrupted; taking the nodes down", file=sys.stderr)
        return 130
    finally:
        lifecycle.down(twin.paths, wipe=True)


if __name__ == "__main__":
    sys.exit(main())
