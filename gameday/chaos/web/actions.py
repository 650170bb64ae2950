"""Web tier faults: kill some or all web pods/replicas; a rolling restart (a deploy) under load."""

import random
import time
from typing import Any, Dict

from ..context import activity, pick_count, target

__all__ = ["kill_web_pods", "kill_all_web_pods", "rolling_restart_web"]


@activity
def kill_web_pods(qty: float = 1, mode: str = "fixed", dry_run: bool = False,
                  configuration: Dict[str, Any] = None, secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """Kill ``qty`` web pods (``mode: fixed``) or ``qty`` percent of them (``mode: percentage``).

    The target's environment caps the percentage (``limits.web_max_percent``). Pods are chosen at
    random among the running ones. Returns what was touched and the instant of the fault::

        {"type": "action", "name": "kill-half-the-web-pods",
         "provider": {"type": "python", "module": "gameday.chaos.web.actions", "func": "kill_web_pods",
                      "arguments": {"qty": 50, "mode": "percentage"}}}
    """
    tgt = target(configuration, lock=not dry_run)
    nodes = [n for n in tgt.nodes("web") if n.running]
    count = pick_count(len(nodes), qty, mode, tgt.limit("web_max_percent"), "web pods")
    chosen = random.sample(nodes, count)
    tgt.check_disruption(chosen)  # all at once or not at all (Kubernetes: PodDisruptionBudgets)
    if dry_run:
        return {"target": tgt.name, "layer": "web", "would_touch": [n.name for n in chosen]}
    fault_at = time.time()
    for node in chosen:
        tgt.kill(node)
    return {"target": tgt.name, "layer": "web", "touched": [n.name for n in chosen], "of": len(nodes),
            "fault_at": fault_at, "how": "killed (SIGKILL / pod delete, grace 0)"}


@activity
def kill_all_web_pods(dry_run: bool = False, configuration: Dict[str, Any] = None,
                      secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """Full web outage: kill every web pod at once (needs ``limits.web_max_percent: 100``)."""
    return kill_web_pods(qty=100, mode="percentage", dry_run=dry_run, configuration=configuration, secrets=secrets)


@activity
def rolling_restart_web(timeout: float = 300, dry_run: bool = False, configuration: Dict[str, Any] = None,
                        secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """Restart every web pod the way a deploy does (Kubernetes: ``kubectl rollout restart`` of the
    Deployment, which surges a new pod before each old one goes; sandbox: one replica at a time,
    stopped gracefully and started again). Blocks until the rollout is done (``timeout`` seconds);
    readers should notice nothing::

        {"type": "action", "name": "roll-the-web-tier",
         "provider": {"type": "python", "module": "gameday.chaos.web.actions", "func": "rolling_restart_web"}}
    """
    tgt = target(configuration, lock=not dry_run)
    nodes = [n for n in tgt.nodes("web") if n.running]
    if dry_run:
        return {"target": tgt.name, "layer": "web", "would_touch": [n.name for n in nodes]}
    fault_at = time.time()
    restarted = tgt.restart("web", timeout=float(timeout))
    return {"target": tgt.name, "layer": "web", "touched": restarted, "of": len(nodes), "fault_at": fault_at,
            "rollout_s": round(time.time() - fault_at, 2), "how": "rolling restart (graceful, one at a time)"}
