"""Site SLO probes, measured from live requests through the load balancer.

Requests go only where the one host guard allows (:mod:`gameday.hostguard`): loopback, or the
host of the environment's declared ``site_url`` when the environment is allow-listed.

The SLO is ``targets.yaml``'s ``slo`` for the experiment's environment; arguments given in the
experiment win::

    {"type": "probe", "name": "site-meets-its-slo", "tolerance": true,
     "provider": {"type": "python", "module": "gameday.chaos.site.probes", "func": "site_meets_slo",
                  "arguments": {"window_s": 4, "rate": 10}}}          # + max_p95_ms: 2000 to loosen it
"""

import logging
import time
from typing import Any, Dict, List, Tuple

from ... import hostguard, site_slo
from ...deadline import Deadline
from ...errors import DeadlineExceeded
from ...recovery import targets_yaml
from ...targets.environment import Environment
from ..context import activity, target

__all__ = ["measure_site", "site_meets_slo", "wait_for_site_slo"]

log = logging.getLogger("chaostoolkit")  # in the experiment's log beside Chaos Toolkit's own lines


def _site(configuration: Dict[str, Any] = None) -> Tuple[str, Tuple[str, ...], Environment]:
    """The target's site URL, the hosts the guard may allow besides loopback (its declared site), and
    its environment."""
    tgt = target(configuration, lock=False)
    return tgt.site_url(), hostguard.site_hosts(tgt.env), tgt.env


def _slo(env: Environment, min_success_ratio: float | None, max_p95_ms: float | None) -> Tuple[float, float]:
    """The SLO to judge by: the arguments given, else targets.yaml's ``slo`` for ``env``."""
    if min_success_ratio is not None and max_p95_ms is not None:
        return float(min_success_ratio), float(max_p95_ms)
    slo = targets_yaml.load().slo(env.name)
    return (float(slo["success_ratio"] if min_success_ratio is None else min_success_ratio),
            float(slo["p95_ms"] if max_p95_ms is None else max_p95_ms))


@activity
def measure_site(window_s: float = 5, rate: float = 20, paths: List[str] = None,
                 configuration: Dict[str, Any] = None, secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """Success ratio and latency of ``rate`` req/s over ``window_s`` seconds (for the journal)."""
    url, allow, _ = _site(configuration)
    return site_slo.measure(url, paths=paths or site_slo.DEFAULT_PATHS, window_s=window_s, rate=rate, allow=allow)


@activity
def site_meets_slo(min_success_ratio: float = None, max_p95_ms: float = None, window_s: float = 5,
                   rate: float = 20, paths: List[str] = None, attempts: int = 1, configuration: Dict[str, Any] = None,
                   secrets: Dict[str, Any] = None) -> bool:
    """Steady-state probe: True when the site met its SLO over a window (``min_success_ratio`` /
    ``max_p95_ms`` left out: targets.yaml's ``success_ratio`` / ``p95_ms`` for the environment).

    Up to ``attempts`` windows (default 1) are measured, one after another, until one meets it
    (Litmus's probe ``retry``); False when none does. A hypothesis is also judged after the method, and
    after a SIGTERM Chaos Toolkit still judges it: each extra window lengthens a failing run's exit.
    Before the method it is judged in the seconds its own experiment starts (the ``chaos`` process,
    its guard's look at the target), and on a loaded twin one window can catch that transient: the
    rehearsal's first scenario measured p95 7.2 s over one 4 s window while the load balancer's
    readers were back under 0.5 s the next (``experiments/web/kill-one-pod.yaml``, the first scenario
    of the default and kubernetes suites, asks for 3)."""
    url, allow, env = _site(configuration)
    min_success_ratio, max_p95_ms = _slo(env, min_success_ratio, max_p95_ms)
    attempts = max(1, int(attempts))
    for attempt in range(1, attempts + 1):
        m = site_slo.measure(url, paths=paths or site_slo.DEFAULT_PATHS, window_s=window_s, rate=rate, allow=allow)
        met = m["success_ratio"] >= min_success_ratio and m["p95_ms"] <= max_p95_ms
        # the journal keeps only True/False: say why, for the steady state a scenario failed before its fault
        log.info(f"gameday: site SLO {'met' if met else 'MISSED'} over {window_s:g}s (window {attempt} of at most "
                 f"{attempts}): {m['ok']}/{m['requests']} ok{site_slo.redirect_note(m)}, p95 {m['p95_ms']:.0f} ms "
                 f"(SLO: {min_success_ratio:.2%} ok, p95 <= {max_p95_ms:g} ms)")
        if met:
            return True
    return False


@activity
def wait_for_site_slo(timeout: float = 180, min_success_ratio: float = None, max_p95_ms: float = None,
                      window_s: float = 5, rate: float = 20, paths: List[str] = None,
                      configuration: Dict[str, Any] = None, secrets: Dict[str, Any] = None) -> float:
    """Block until a whole window meets the SLO (as :func:`site_meets_slo` resolves it); returns
    seconds from the call to that window's start."""
    url, allow, env = _site(configuration)
    min_success_ratio, max_p95_ms = _slo(env, min_success_ratio, max_p95_ms)
    started = time.monotonic()
    deadline = Deadline(timeout)
    last = None
    while not deadline.expired():
        window_start = time.monotonic()
        last = site_slo.measure(url, paths=paths or site_slo.DEFAULT_PATHS, window_s=window_s, rate=rate,
                                allow=allow)
        if last["success_ratio"] >= min_success_ratio and last["p95_ms"] <= max_p95_ms:
            return round(window_start - started, 3)
    raise DeadlineExceeded(f"the site did not meet its SLO ({min_success_ratio:.2%} ok, p95 <= {max_p95_ms:g} ms) "
                           f"within {timeout:.0f}s (last window: {last})")
