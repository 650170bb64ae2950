"""Load balancer probes: its instances (one is a single point of failure), the time until the site
answers through it again."""

import time
from typing import Any, Dict

import requests

from ... import hostguard
from ...deadline import Deadline
from ...errors import DeadlineExceeded
from ..context import activity, target

__all__ = ["load_balancer_instances", "wait_for_site_reachable"]


@activity
def load_balancer_instances(configuration: Dict[str, Any] = None, secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """``{"members": ["lb-1"], "ready": 1, "single_point_of_failure": true}``: with one instance, losing
    it loses the whole site however fast it comes back."""
    nodes = target(configuration, lock=False).nodes("lb")
    return {"members": [n.name for n in nodes], "ready": sum(1 for n in nodes if n.ready),
            "single_point_of_failure": len(nodes) == 1}


@activity
def wait_for_site_reachable(timeout: float = 60, interval: float = 0.1, configuration: Dict[str, Any] = None,
                            secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """Right after the load balancer's fault: poll the site's front page through it every ``interval``
    seconds until it answers below 500; returns ``{"seconds": 1.8, "failed": 17}`` (seconds from the
    call, requests that failed meanwhile). Raises after ``timeout``."""
    tgt = target(configuration, lock=False)
    url = hostguard.check_url(tgt.site_url() + "/", hostguard.site_hosts(tgt.env))
    session = hostguard.session(refuse=False)  # a redirect answers (the balancer is back); it is not followed
    started, deadline, failed = time.monotonic(), Deadline(float(timeout)), 0
    while not deadline.expired():
        try:
            answered = session.get(url, timeout=2).status_code < 500
        except requests.RequestException:
            answered = False  # refused or reset: the load balancer is not back yet
        if answered:
            return {"seconds": round(time.monotonic() - started, 2), "failed": failed}
        failed += 1
        time.sleep(min(float(interval), deadline.remaining()))
    raise DeadlineExceeded(f"the site did not answer through the load balancer within {timeout:g}s ({failed} failed requests)")
