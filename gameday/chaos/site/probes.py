"""Site SLO probes, measured from live requests through the load balancer.

Requests go only where the one host guard allows (:mod:`gameday.hostguard`): loopback, or the
host of the environment's declared ``site_url`` when the environment is allow-listed.
"""

import time
from typing import Any, Dict, List, Tuple

from ... import hostguard, site_slo
from ...deadline import Deadline
from ...errors import DeadlineExceeded
from ..context import activity, target

__all__ = ["measure_site", "site_meets_slo", "wait_for_site_slo"]


def _site(configuration: Dict[str, Any] = None) -> Tuple[str, Tuple[str, ...]]:
    """The target's site URL and the hosts the guard may allow besides loopback (its declared site)."""
    tgt = target(configuration, lock=False)
    return tgt.site_url(), hostguard.site_hosts(tgt.env)


@activity
def measure_site(window_s: float = 5, rate: float = 20, paths: List[str] = None,
                 configuration: Dict[str, Any] = None, secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """Success ratio and latency of ``rate`` req/s over ``window_s`` seconds (for the journal)."""
    url, allow = _site(configuration)
    return site_slo.measure(url, paths=paths or site_slo.DEFAULT_PATHS, window_s=window_s, rate=rate, allow=allow)


@activity
def site_meets_slo(min_success_ratio: float = 0.99, max_p95_ms: float = 1000, window_s: float = 5,
                   rate: float = 20, paths: List[str] = None, configuration: Dict[str, Any] = None,
                   secrets: Dict[str, Any] = None) -> bool:
    """Steady-state probe: True when the site met its SLO over the window."""
    m = measure_site(window_s, rate, paths, configuration=configuration)
    return m["success_ratio"] >= min_success_ratio and m["p95_ms"] <= max_p95_ms


@activity
def wait_for_site_slo(timeout: float = 180, min_success_ratio: float = 0.99, max_p95_ms: float = 1000,
                      window_s: float = 5, rate: float = 20, paths: List[str] = None,
                      configuration: Dict[str, Any] = None, secrets: Dict[str, Any] = None) -> float:
    """Block until a whole window meets the SLO; returns seconds from the call to that window's start."""
    url, allow = _site(configuration)
    started = time.monotonic()
    deadline = Deadline(timeout)
    last = None
    while not deadline.expired():
        window_start = time.monotonic()
        last = site_slo.measure(url, paths=paths or site_slo.DEFAULT_PATHS, window_s=window_s, rate=rate,
                                allow=allow)
        if last["success_ratio"] >= min_success_ratio and last["p95_ms"] <= max_p95_ms:
            return round(window_start - started, 3)
    raise DeadlineExceeded(f"the site did not meet its SLO within {timeout:.0f}s (last window: {last})")
