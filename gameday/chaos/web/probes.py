"""Web tier probes."""

import threading
import time
from typing import Any, Dict

import requests

from ... import hostguard, readers
from ...deadline import Deadline, wait_until
from ...errors import DeadlineExceeded, GamedayError
from ..context import activity, target

__all__ = ["web_pods_ready", "all_web_pods_ready", "wait_for_web_pods_ready", "wait_until_not_ready_out_of_rotation",
           "worker_pools", "readers_and_worker_pools"]


@activity
def web_pods_ready(configuration: Dict[str, Any] = None, secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """How many web pods are ready, of how many desired: ``{"ready": 3, "desired": 3, "all_ready": true}``."""
    nodes = target(configuration, lock=False).nodes("web")
    ready = sum(1 for n in nodes if n.ready)
    return {"ready": ready, "desired": len(nodes), "all_ready": ready == len(nodes)}


@activity
def all_web_pods_ready(configuration: Dict[str, Any] = None, secrets: Dict[str, Any] = None) -> bool:
    """Steady-state probe: True when every desired web pod is ready."""
    return bool(web_pods_ready(configuration=configuration)["all_ready"])


@activity
def wait_for_web_pods_ready(timeout: float = 120, configuration: Dict[str, Any] = None,
                            secrets: Dict[str, Any] = None) -> float:
    """Block until every web pod is ready; returns the seconds it took (fails after ``timeout``)."""
    started = time.monotonic()
    tgt = target(configuration, lock=False)
    wait_until(lambda: all(n.ready for n in tgt.nodes("web")), timeout=timeout, what="every web pod to be ready")
    return round(time.monotonic() - started, 3)


def _window(session: requests.Session, url: str, count: int) -> Dict[str, Any]:
    """``count`` requests to ``url``: who served each (``X-Served-By``) and how many failed."""
    served: Dict[str, int] = {}
    errors = 0
    for _ in range(count):
        try:
            r = session.get(url, timeout=5)
        except requests.RequestException:
            errors += 1
            continue
        if r.status_code >= 500:
            errors += 1
        who = r.headers.get("X-Served-By", "?")
        served[who] = served.get(who, 0) + 1
    return {"served_by": served, "errors": errors, "requests": count}


@activity
def wait_until_not_ready_out_of_rotation(timeout: float = 30, requests_per_window: int = 40, not_ready: int = 1,
                                         configuration: Dict[str, Any] = None,
                                         secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """Block until ``not_ready`` replicas run but are not ready and a window of requests through the
    load balancer is served only by ready replicas, with no error: the load balancer has taken them
    out of rotation (readers see nothing).
    Returns ``{"not_ready": [...], "served_by": {...}, "errors": 0, "seconds"}``; raises after ``timeout``.
    """
    tgt = target(configuration, lock=False)
    url = hostguard.check_url(tgt.site_url() + "/", hostguard.site_hosts(tgt.env))
    session = hostguard.session(refuse=False)  # a redirect to another host is answered as itself
    started, deadline = time.monotonic(), Deadline(float(timeout))
    last: Dict[str, Any] = {}
    while not deadline.expired():
        held = sorted(n.name for n in tgt.nodes("web") if n.running and not n.ready)
        last = {**_window(session, url, int(requests_per_window)), "not_ready": held}
        if len(held) >= int(not_ready) and not last["errors"] and not set(last["served_by"]) & set(held):
            return {**last, "seconds": round(time.monotonic() - started, 2)}
    raise DeadlineExceeded(f"a not-ready web replica was still served, or requests failed, after {timeout:g}s: {last}")


def _busy(pools: Dict[str, Any] | None) -> Dict[str, Any]:
    """The pools' busiest moment in words a report can show: workers busy of total, listen queue."""
    out: Dict[str, Any] = {}
    for name, p in ((pools or {}).get("members") or {}).items():
        if p.get("answers"):
            out[name] = {"busy": p.get("active"), "of": p.get("total"), "listen_queue": p.get("listen_queue"),
                         "max_children_reached": p.get("max_children_reached")}
        else:
            out[name] = {"busy": "all" if p.get("listen_queue") else None, "listen_queue": p.get("listen_queue"),
                         "why": p.get("why")}
    return out


@activity
def worker_pools(configuration: Dict[str, Any] = None, secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """Each web replica's worker pool now (:meth:`~gameday.targets.base.Target.web_pool_status`: PHP-FPM's
    active and idle workers, listen queue); ``{"members": {}}`` where the target cannot read them."""
    return target(configuration, lock=False).web_pool_status() or {"members": {}}


@activity
def readers_and_worker_pools(window_s: float = 8, rate: float = 20, items: int = 2000,
                             configuration: Dict[str, Any] = None, secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """What readers see at the site (the load balancer) over ``window_s`` seconds at ``rate`` req/s
    (:func:`gameday.readers.sample`: success, the share of 5xx, 502/504 by status, p95), and the web
    replicas' worker pools read halfway through (busy workers of total, listen queue; a status page
    that could not answer because every worker was busy says so)."""
    tgt = target(configuration, lock=False)
    seen: Dict[str, Any] = {}

    def look() -> None:
        time.sleep(window_s / 2)
        try:
            seen["pools"] = tgt.web_pool_status()
        except (GamedayError, OSError) as err:  # reported beside the readers: it never fails the measurement
            seen["error"] = f"{type(err).__name__}: {err}"

    looker = threading.Thread(target=look, daemon=True)
    looker.start()
    m = readers.sample(tgt.site_url(), window_s=window_s, rate=rate, items=items, allow=hostguard.site_hosts(tgt.env))
    looker.join(timeout=30)
    return {**m, "worker_pools": seen.get("pools"), "busy": _busy(seen.get("pools")),
            **({"pools_error": seen["error"]} if "error" in seen else {})}
