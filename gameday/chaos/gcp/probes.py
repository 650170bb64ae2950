"""Cloud Monitoring SLO probes: the HTTPS load balancer's success ratio and p95/p99 latency over a window.

The environment's ``cloud_monitoring`` block names the project and url map; credentials are
Application Default Credentials. Load balancer metrics arrive up to 210 s late, so these probes
wait (``wait_s``) for the window's data before judging, and fail plainly when it has not come.
The SLO is ``targets.yaml``'s ``slo`` for the experiment's environment; arguments given in the
experiment win. As a steady-state probe::

    {"type": "probe", "name": "lb-meets-slo", "tolerance": true,
     "provider": {"type": "python", "module": "gameday.chaos.gcp.probes", "func": "lb_meets_slo",
                  "arguments": {"window_s": 300}}}                  # + max_p99_ms: 2500 to judge p99 too
"""

import time
from typing import Any, Dict

from ...gcp import slo
from ...gcp.client import Monitoring
from ...recovery import targets_yaml
from ...targets.environment import Environment, from_configuration
from ..context import activity

__all__ = ["lb_slo", "lb_meets_slo"]


def _environment(configuration: Dict[str, Any]) -> Environment:
    env = from_configuration(configuration)
    if not env.cloud_monitoring:
        from ...errors import UsageError
        raise UsageError(f"environment {env.name!r} has no cloud_monitoring block",
                         hint="add cloud_monitoring: {project, url_map} (see environments/gke-staging.example.yaml)")
    return env


def _load_balancer(env: Environment) -> slo.LoadBalancer:
    return slo.LoadBalancer.from_settings(env.cloud_monitoring, f"{env.source or env.name}: cloud_monitoring")


@activity
def lb_slo(window_s: float = 300, wait_s: float = slo.DEFAULT_WAIT_S, poll_s: float = 15,
           configuration: Dict[str, Any] = None, secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """Requests by response class, success ratio and p95/p99 (ms) over the last ``window_s`` seconds,
    after waiting up to ``wait_s`` for the data (for the journal and for reports)."""
    lb = _load_balancer(_environment(configuration))
    end = time.time()
    return slo.measure(Monitoring(lb.project), lb, end - window_s, end, wait_s=wait_s, poll_s=poll_s).as_dict()


@activity
def lb_meets_slo(min_success_ratio: float = None, max_p95_ms: float = None, max_p99_ms: float = None,
                 window_s: float = 300, wait_s: float = slo.DEFAULT_WAIT_S, poll_s: float = 15,
                 configuration: Dict[str, Any] = None, secrets: Dict[str, Any] = None) -> bool:
    """Steady-state probe: True when the load balancer met the SLO over the last ``window_s`` seconds
    (``min_success_ratio`` / ``max_p95_ms`` left out: targets.yaml's ``success_ratio`` / ``p95_ms`` for
    the environment; ``max_p99_ms`` left out: p99 is not judged).
    A window whose data never arrived fails the probe (ActivityFailed) rather than passing unjudged."""
    env = _environment(configuration)
    if min_success_ratio is None or max_p95_ms is None:
        site = targets_yaml.load().slo(env.name)
        min_success_ratio = site["success_ratio"] if min_success_ratio is None else min_success_ratio
        max_p95_ms = site["p95_ms"] if max_p95_ms is None else max_p95_ms
    lb = _load_balancer(env)
    end = time.time()
    measured = slo.measure(Monitoring(lb.project), lb, end - window_s, end, wait_s=wait_s, poll_s=poll_s)
    return measured.meets(min_success_ratio=min_success_ratio, max_p95_ms=max_p95_ms, max_p99_ms=max_p99_ms)
