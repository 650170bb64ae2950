"""Measure the site's SLO from live requests over a short window (open model: paced arrivals, so a
stalled server cannot slow the measurement down and hide the stall).

    m = measure("http://127.10.10.1:8080", window_s=5, rate=20)
    m = measure(env.site_url, allow=hostguard.site_hosts(env))     # a real site: its declared host only
    m["success_ratio"], m["p95_ms"], m["requests"]

The URL passes the one host guard (:mod:`gameday.hostguard`) first, and requests go to the URL it
returns: loopback, or a host named in ``allow``. A redirect is followed only on the same origin
(:func:`gameday.hostguard.session`); one to another host is counted as what it is, a request this
site did not serve (not ok; ``redirected`` counts them and ``redirect`` names the first), never as the
other host's answer.

An answer that says a dependency is down (``X-Gameday-Degraded: search``: the Python site's 503, or
WordPress's 200 from its own MySQL search) is counted in ``degraded`` (``degraded_by``: by what) whether
or not it was ok: a reader was served less than the whole page.
"""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from . import hostguard
from .errors import UsageError

DEFAULT_PATHS = ("/", "/search?q=apixaban")


DEGRADED_HEADER = "X-Gameday-Degraded"  # the site's answer when a dependency is down ("search", "db")


def _one(session: requests.Session, url: str, timeout: float) -> tuple[bool, float, str | None, str | None]:
    """(ok, milliseconds, the origin it was redirected to or None, what the answer said was degraded or
    None) for one GET."""
    started = time.monotonic()
    away = degraded = None
    try:
        r = session.get(url, timeout=timeout)
        away = hostguard.redirected_to(r)
        degraded = r.headers.get(DEGRADED_HEADER)
        ok = r.status_code < 500 and away is None
    except requests.RequestException:
        ok = False
    return ok, (time.monotonic() - started) * 1000.0, away, degraded


def redirect_note(m: dict[str, Any]) -> str:
    """``", 3 redirected to another host (http://a:80 -> http://b:80)"`` for a measurement's message, or ""."""
    return f", {m['redirected']} redirected to another host ({m['redirect']})" if m.get("redirected") else ""


def measure(base_url: str, *, paths: tuple[str, ...] | list[str] = DEFAULT_PATHS, window_s: float = 5.0,
            rate: float = 20.0, timeout: float = 5.0, allow: tuple[str, ...] = ()) -> dict[str, Any]:
    """Send ``rate`` requests/s for ``window_s`` seconds, round-robin over ``paths``; summarise.
    ``base_url`` must pass :func:`gameday.hostguard.check_url` with ``allow`` (UsageError otherwise)."""
    base_url = hostguard.check_url(base_url, allow)
    bad = [p for p in paths if not str(p).startswith("/") or "@" in str(p) or "\\" in str(p)]
    if bad:
        raise UsageError(f"probe path {bad[0]!r} must be a path starting with '/' (no '@' or backslash)")
    n = max(1, int(window_s * rate))
    session = hostguard.session(refuse=False)
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=64)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=min(64, n)) as pool:
        futures = []
        for i in range(n):
            delay = started + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            futures.append(pool.submit(_one, session, base_url + paths[i % len(paths)], timeout))
        results = [f.result(timeout=timeout + 5) for f in futures]
    latencies = sorted(ms for _, ms, _, _ in results)
    ok = sum(1 for good, _, _, _ in results if good)
    away = [f"{base_url} -> {to}" for _, _, to, _ in results if to]
    degraded = [what for _, _, _, what in results if what]
    return {"requests": n, "ok": ok, "success_ratio": round(ok / n, 4),
            "redirected": len(away), "redirect": away[0] if away else None,
            "degraded": len(degraded), "degraded_by": dict(sorted(Counter(degraded).items())),
            "p50_ms": round(latencies[len(latencies) // 2], 1),
            "p95_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.95))], 1),
            "window_s": window_s, "at": time.time()}
