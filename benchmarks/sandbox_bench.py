"""Sandbox benchmark: figures printed side by side, not a timed test.

    .venv/bin/python benchmarks/sandbox_bench.py [--duration 15] [--connections 32] [--warmup 20]

Measures, on a separate twin (``bench``, 127.40.x.y) so a running default twin is untouched:
1. cold ``sandbox up`` seconds (empty data: MariaDB init, Kafka format, seeding, indexing) and warm
   ``up`` seconds (data kept);
2. requests/s the site serves through the load balancer for a mixed page set (wrk), with latency;
3. total RSS of the twin's processes.
Aims from the issue: up in 120 s or less, 500 req/s or more, under 8 GiB.
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gameday.sandbox import lifecycle, reaper, topology  # noqa: E402
from gameday.sandbox.twin import Twin  # noqa: E402
from gameday.site import catalog  # noqa: E402

# Most readers land on an article from a search engine; on-site search is a small share of pages.
MIX = {"guidance": 40, "monograph": 30, "home": 12, "category": 12, "search": 6}
WRK_SCRIPT = """
local paths = {}
for line in io.lines("%s") do paths[#paths + 1] = line end
local i = 0
request = function()
  i = i %% #paths + 1
  return wrk.format("GET", paths[i])
end
"""


def mixed_paths(twin: Twin, n: int = 400, seed: int = 7) -> list[str]:
    """A deterministic mixed page set in the proportions of MIX."""
    rng = random.Random(seed)
    articles = [a for a in catalog.generate()]
    guidance = [a["slug"] for a in articles if a["kind"] == "guidance"]
    monographs = [a["slug"] for a in articles if a["kind"] == "monograph"]
    categories = sorted({catalog.category_slug(a["category"]) for a in articles})
    terms = list(catalog.POPULAR_TERMS) + list(catalog.LONG_TAIL_TERMS) + list(catalog.MISSPELLINGS)
    kinds = rng.choices(list(MIX), weights=list(MIX.values()), k=n)
    out = []
    for kind in kinds:
        if kind == "guidance":
            out.append(f"/guidance/{rng.choice(guidance)}")
        elif kind == "monograph":
            out.append(f"/medicines/{rng.choice(monographs)}")
        elif kind == "home":
            out.append("/")
        elif kind == "category":
            out.append(f"/category/{rng.choice(categories)}")
        else:
            out.append(f"/search?q={requests.utils.quote(rng.choice(terms))}")
    return out


def wrk(url: str, paths: list[str], duration: int, connections: int) -> dict:
    tmp = Path(tempfile.mkdtemp())
    (tmp / "paths.txt").write_text("\n".join(paths) + "\n")
    (tmp / "mix.lua").write_text(WRK_SCRIPT % (tmp / "paths.txt"))
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", "-s", str(tmp / "mix.lua"), url],
                         capture_output=True, text=True, timeout=duration + 60).stdout
    shutil.rmtree(tmp)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    total = int(re.search(r"(\d+) requests in", out).group(1))
    p50 = re.search(r"50%\s+([\d.]+\w+)", out).group(1)
    p99 = re.search(r"99%\s+([\d.]+\w+)", out).group(1)
    return {"rps": rps, "requests": total, "non_2xx": int(non2xx.group(1)) if non2xx else 0, "p50": p50, "p99": p99}


def twin_rss(twin: Twin) -> float:
    total = 0
    for pid in reaper.marked_processes(twin.paths.sandbox_id):
        try:
            total += psutil.Process(pid).memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total / 2**30


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=20, help="seconds of the mixed set before measuring")
    args = parser.parse_args()
    twin = Twin.create("bench", net=40)
    lifecycle.down(twin.paths, wipe=True)
    build = lambda: topology.build(twin)  # noqa: E731
    prep = lambda: topology.prepare(twin)  # noqa: E731
    try:
        t0 = time.monotonic()
        lifecycle.up(twin.paths, build(), prepare=prep, timeout=600)
        cold = time.monotonic() - t0
        lifecycle.down(twin.paths)
        t0 = time.monotonic()
        lifecycle.up(twin.paths, build(), prepare=prep, timeout=600)
        warm = time.monotonic() - t0
        time.sleep(5)  # let JIT-compiling servers settle
        paths = mixed_paths(twin)
        # warm-up: OpenSearch's JIT needs a few thousand queries before search costs what it will
        # in a long-running twin (a fresh twin serves the mixed set at about half its steady rate)
        wrk(twin.lb_url, paths, args.warmup, args.connections)
        mixed = wrk(twin.lb_url, paths, args.duration, args.connections)
        articles_only = wrk(twin.lb_url, [p for p in paths if p.startswith(("/guidance", "/medicines"))],
                            args.duration, args.connections)
        rss = twin_rss(twin)
    finally:
        lifecycle.down(twin.paths, wipe=True)
    rows = [
        ("cold sandbox up (s)", f"{cold:.1f}", "<= 120", cold <= 120),
        ("warm sandbox up (s)", f"{warm:.1f}", "", None),
        ("mixed pages via LB (req/s)", f"{mixed['rps']:.0f}", ">= 500", mixed["rps"] >= 500),
        ("  p50 / p99 latency", f"{mixed['p50']} / {mixed['p99']}", "", None),
        ("  non-2xx of requests", f"{mixed['non_2xx']} / {mixed['requests']}", "", None),
        ("article pages only (req/s)", f"{articles_only['rps']:.0f}", "", None),
        ("  ratio mixed / articles", f"{mixed['rps'] / articles_only['rps']:.2f}", "", None),
        ("twin RSS (GiB)", f"{rss:.2f}", "< 8", rss < 8),
    ]
    print(f"\nsandbox benchmark ({psutil.cpu_count()} cores, wrk -t2 -c{args.connections} -d{args.duration}s)")
    print(f"{'figure':<30} {'measured':>18} {'aim':>8}  verdict")
    for name, value, aim, ok in rows:
        verdict = "" if ok is None else ("ok" if ok else "MISSED")
        print(f"{name:<30} {value:>18} {aim:>8}  {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
