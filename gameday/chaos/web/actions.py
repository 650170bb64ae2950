"""Web tier faults: kill some or all web pods/replicas; a rolling restart (a deploy) under load."""

import random
import time
from typing import Any, Dict

from .. import caps
from ..context import activity, pick_count, target

__all__ = ["kill_web_pods", "kill_all_web_pods", "rolling_restart_web"]


def _kill(tgt, count_of, dry_run: bool) -> Dict[str, Any]:
    """Kill ``count_of(total, up)`` web pods chosen at random among those up, after the cap check."""
    nodes = tgt.nodes("web")
    up = caps.up(tgt, "web", nodes)
    count = count_of(len(nodes), up)
    if count == 0 or count > len(up):
        raise caps.CapExceeded(f"asked for {count} web pods but only {len(up)} of {len(nodes)} are up; "
                               f"already down: {caps.describe(caps.down(tgt, 'web', nodes))}; nothing was touched",
                               hint="wait until they are back, or ask for fewer")
    chosen = random.sample(up, count)
    caps.check(tgt, "web", [n.name for n in chosen], nodes=nodes)
    tgt.check_disruption(chosen)  # all at once or not at all (Kubernetes: PodDisruptionBudgets)
    if dry_run:
        return {"target": tgt.name, "layer": "web", "would_touch": [n.name for n in chosen]}
    fault_at = time.time()
    for node in chosen:
        tgt.kill(node)
    return {"target": tgt.name, "layer": "web", "touched": [n.name for n in chosen], "of": len(nodes),
            "fault_at": fault_at, "how": "killed (SIGKILL / pod delete, grace 0)"}


@activity
def kill_web_pods(qty: float = 1, mode: str = "fixed", dry_run: bool = False,
                  configuration: Dict[str, Any] = None, secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """Kill ``qty`` web pods (``mode: fixed``) or ``qty`` percent of them (``mode: percentage``).

    The target's environment caps the share of web pods down at once (``limits.web_max_percent``),
    counting those already down (not ready, held, or stopped by any run). Pods are chosen at random
    among those up. Returns what was touched and the instant of the fault::

        {"type": "action", "name": "kill-half-the-web-pods",
         "provider": {"type": "python", "module": "gameday.chaos.web.actions", "func": "kill_web_pods",
                      "arguments": {"qty": 50, "mode": "percentage"}}}
    """
    tgt = target(configuration, lock=not dry_run)
    return _kill(tgt, lambda total, _up: pick_count(total, qty, mode, "web pods"), dry_run)


@activity
def kill_all_web_pods(dry_run: bool = False, configuration: Dict[str, Any] = None,
                      secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """Full web outage: kill every web pod still up at once (needs ``limits.web_max_percent: 100``)."""
    tgt = target(configuration, lock=not dry_run)
    return _kill(tgt, lambda _total, up: len(up), dry_run)


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
    everyone = tgt.nodes("web")
    nodes = [n for n in everyone if n.running]
    up = caps.up(tgt, "web", everyone)
    if up:  # one at a time, each back before the next: the cap counts one more down than now
        caps.check(tgt, "web", [up[0].name], nodes=everyone, leaves_down=False)
    if dry_run:
        return {"target": tgt.name, "layer": "web", "would_touch": [n.name for n in nodes]}
    fault_at = time.time()
    restarted = tgt.restart("web", timeout=float(timeout))
    return {"target": tgt.name, "layer": "web", "touched": restarted, "of": len(nodes), "fault_at": fault_at,
            "rollout_s": round(time.time() - fault_at, 2), "how": "rolling restart (graceful, one at a time)"}
