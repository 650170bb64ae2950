"""Web tier faults: kill some or all web pods/replicas; a rolling restart (a deploy) under load; one
replica that runs but is not ready."""

import random
import time
from typing import Any, Dict

from .. import caps, ledger, playbook_activity
from ..context import activity, pick_count, target

__all__ = ["kill_web_pods", "kill_all_web_pods", "rolling_restart_web", "make_web_pod_unready",
           "make_web_pods_ready", "replace_not_ready_web_pods", "apply_workers_playbook"]


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


@activity
def make_web_pod_unready(dry_run: bool = False, configuration: Dict[str, Any] = None,
                         secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """One web replica, chosen at random among those up, keeps running but fails its readiness check
    (``/readyz`` 503) from now on, as a wedged pod does; a fresh process is ready again. The load
    balancer must take it out of rotation; the web playbook replaces it. The undo (release it) is
    recorded first; targets that cannot do this refuse before touching anything. From an experiment::

        provider: {type: python, module: gameday.chaos.web.actions, func: make_web_pod_unready}

    Returns ``{"target", "layer": "web", "touched": ["web-2"], "pid", "fault_at", "how"}``.
    """
    tgt = target(configuration, lock=not dry_run)
    tgt.check_readiness_fault()
    nodes = tgt.nodes("web")
    up = caps.up(tgt, "web", nodes)
    if not up:
        raise caps.CapExceeded(f"no web pod is up; already down: {caps.describe(caps.down(tgt, 'web', nodes))}; "
                               "nothing was touched", hint="wait until they are back")
    chosen = random.choice(up)
    caps.check(tgt, "web", [chosen.name], nodes=nodes)
    if dry_run:
        return {"target": tgt.name, "layer": "web", "would_touch": [chosen.name]}
    fault_at = time.time()
    with ledger.pending_undo(tgt.env, "make_ready", {"name": chosen.name}, reason=f"{chosen.name} held not ready"):
        held = tgt.make_unready(chosen.name)
    return {"target": tgt.name, "layer": "web", "touched": [chosen.name], "pid": held.get("pid"), "fault_at": fault_at,
            "how": "readiness check fails (/readyz 503) while the process keeps running"}


@activity
def make_web_pods_ready(configuration: Dict[str, Any] = None, secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """Rollback of :func:`make_web_pod_unready`: release every replica recorded as held not ready."""
    tgt = target(configuration)
    done = [ledger.run_record(record)["result"] for record in ledger.matching(tgt.env, "make_ready")]
    return {"target": tgt.name, "layer": "web", "released": done}


@activity
def replace_not_ready_web_pods(configuration: Dict[str, Any] = None, secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """The recovery, as the web playbook does it (``gameday playbook web --apply``): it finds the
    replica running but not ready past its grace (finding ``web.members-stuck``), replaces it and
    verifies every replica ready and the site within its SLO. Returns the playbook's outcome,
    findings and step timings; a failed playbook fails the activity."""
    return playbook_activity.apply(target(configuration), "web", failing="bring the web tier back",
                                   hint="`gameday playbook web --apply` shows each step")


@activity
def apply_workers_playbook(configuration: Dict[str, Any] = None, secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """The recovery of worker pools exhausted behind a slow database, as ``gameday playbook workers
    --apply`` does it, inside the experiment's method while the fault is on: it finds the pools
    exhausted (busy workers, listen queue: ``web.workers-exhausted``) and the network fault
    (``network.db-fault``), removes the fault, waits until every pool has idle workers and nothing
    waiting, and verifies the site. A failed playbook fails the activity, naming its step."""
    return playbook_activity.apply(target(configuration), "workers", failing="free the web tier's workers",
                                   hint="`gameday playbook workers --apply` shows each step; `gameday cleanup` "
                                        "removes the network fault")
