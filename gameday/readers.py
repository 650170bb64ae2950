"""What readers see at one address: paced GETs of the catalogue's pages, popular pages far more often.

The load generator's journeys in small (``loadtests/locustfile.py``: guidance and monograph pages, Zipf
popularity with the same skew and order, and the home page), sent open-model (paced arrivals, so a
stalled server cannot slow the measurement and hide the stall) to one base URL through the one host
guard. Besides success and latency it counts what a CDN in front said (``X-Cache: HIT`` / ``MISS``),
so the share of requests that reached the origin is read from the readers' side::

    m = sample("http://127.20.5.1:8080", window_s=5, rate=20, items=2000)
    m["success_ratio"], m["p95_ms"], m["server_errors"], m["hit_ratio"], m["origin_requests"]

``hit_ratio`` is None when no answer carried ``X-Cache`` (no CDN in front). A 5xx, a connection
failure or a timeout is not ok; a 404 is an answer (the page is not there), as in :mod:`gameday.site_slo`.
"""

from __future__ import annotations

import random
import time
from concurrent.futures import ThreadPoolExecutor
from itertools import accumulate
from typing import Any

import requests

from . import hostguard
from .site import catalog

ZIPF_S = 0.9  # loadtests/locustfile.py's popularity skew: weight of rank r is 1 / r^s
HOME_SHARE = 0.06  # traffic.yaml's home journey, of the pages sampled here


def pages(items: int = catalog.DEFAULT_N) -> tuple[list[str], list[float]]:
    """The catalogue's first ``items`` article and monograph paths (``/guidance/<slug>``,
    ``/medicines/<slug>``) in a fixed popularity order, with cumulative Zipf weights."""
    if items < 1:
        raise ValueError(f"items must be at least 1, not {items!r}")
    paths = [f"/{'medicines' if a['kind'] == 'monograph' else 'guidance'}/{a['slug']}" for a in catalog.generate(items)]
    random.Random(42).shuffle(paths)
    return paths, list(accumulate(1.0 / (rank ** ZIPF_S) for rank in range(1, len(paths) + 1)))


def _one(session: requests.Session, url: str, timeout: float) -> tuple[int | None, float, str]:
    started = time.monotonic()
    try:
        r = session.get(url, timeout=timeout, allow_redirects=False)
        status, cache = r.status_code, r.headers.get("X-Cache", "")
    except requests.RequestException:
        status, cache = None, ""
    return status, (time.monotonic() - started) * 1000.0, cache.upper()


def sample(base_url: str, *, window_s: float = 5.0, rate: float = 20.0, items: int = catalog.DEFAULT_N,
           timeout: float = 5.0, allow: tuple[str, ...] = (), seed: int | None = None) -> dict[str, Any]:
    """``rate`` requests/s for ``window_s`` seconds to ``base_url`` (which must pass
    :func:`gameday.hostguard.check_url` with ``allow``): see the module docstring for the figures."""
    base_url = hostguard.check_url(base_url, allow)
    if window_s <= 0 or rate <= 0 or timeout <= 0:
        raise ValueError("window_s, rate and timeout must be positive")
    paths, cum = pages(items)
    rng = random.Random(seed)
    n = max(1, int(window_s * rate))
    chosen = ["/" if rng.random() < HOME_SHARE else rng.choices(paths, cum_weights=cum, k=1)[0] for _ in range(n)]
    session = hostguard.session(refuse=False)
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=64)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=min(64, n)) as pool:
        futures = []
        for i, path in enumerate(chosen):
            delay = started + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            futures.append(pool.submit(_one, session, base_url + path, timeout))
        results = [f.result(timeout=timeout + 5) for f in futures]
    latencies = sorted(ms for _, ms, _ in results)
    ok = sum(1 for status, _, _ in results if status is not None and status < 500)
    server_errors = sum(1 for status, _, _ in results if status is not None and status >= 500)
    by_status: dict[str, int] = {}
    for status, _, _ in results:
        key = str(status) if status is not None else "no answer"
        by_status[key] = by_status.get(key, 0) + 1
    hits = sum(1 for _, _, cache in results if cache == "HIT")
    said = sum(1 for _, _, cache in results if cache in ("HIT", "MISS"))
    return {"url": base_url, "requests": n, "ok": ok, "success_ratio": round(ok / n, 4),
            "server_errors": server_errors, "server_error_ratio": round(server_errors / n, 4),
            "no_answer": by_status.get("no answer", 0), "by_status": by_status,
            "p50_ms": round(latencies[len(latencies) // 2], 1),
            "p95_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.95))], 1),
            "hits": hits, "hit_ratio": round(hits / said, 4) if said else None,
            "origin_requests": n - hits, "window_s": window_s, "rate": rate, "at": time.time()}
