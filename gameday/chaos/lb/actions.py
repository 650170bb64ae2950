"""Load balancer faults: its process dies (nothing reaches the site until it is back)."""

import time
from typing import Any, Dict

from ...errors import UsageError
from .. import caps, ledger
from ..context import activity, target

__all__ = ["kill_load_balancer", "start_load_balancer"]

LAYER = "lb"


@activity
def kill_load_balancer(dry_run: bool = False, configuration: Dict[str, Any] = None,
                       secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """Kill the load balancer's process (SIGKILL): with one instance nothing reaches the site until
    the platform restarts it (the twin's supervisor, with back-off) or the web playbook's
    ``start-lb`` step does. A full outage, so the environment must allow one
    (``limits.web_max_percent: 100``); a target without load balancer members it can kill (a managed
    cloud load balancer) refuses. The undo (start it) is recorded first. From an experiment::

        provider: {type: python, module: gameday.chaos.lb.actions, func: kill_load_balancer}

    Returns ``{"target", "layer": "lb", "touched": ["lb-1"], "instances": 1, "fault_at", "how"}``.
    """
    tgt = target(configuration, lock=not dry_run)
    nodes = tgt.nodes(LAYER)
    if not nodes:
        raise UsageError(f"{tgt.name}: no load balancer member this target can kill (a managed load balancer?); "
                         "nothing was touched")
    if tgt.limit("web_max_percent") < 100:
        raise caps.CapExceeded(f"killing the load balancer is a full outage of the site; this target's cap "
                               f"limits.web_max_percent = {tgt.limit('web_max_percent'):g}% forbids one; nothing was touched",
                               hint="run it where a full outage is allowed (limits.web_max_percent: 100)")
    up = caps.up(tgt, LAYER, nodes)
    if not up:
        raise caps.CapExceeded(f"no load balancer member is up; already down: {caps.describe(caps.down(tgt, LAYER, nodes))}; "
                               "nothing was touched", hint="wait until it is back")
    chosen = up[0]
    caps.check(tgt, LAYER, [chosen.name], nodes=nodes)
    if dry_run:
        return {"target": tgt.name, "layer": LAYER, "would_touch": [chosen.name]}
    fault_at = time.time()
    with ledger.pending_undo(tgt.env, "start_node", {"layer": LAYER, "name": chosen.name},
                             reason=f"killed the load balancer {chosen.name}"):
        tgt.kill(chosen)
    return {"target": tgt.name, "layer": LAYER, "touched": [chosen.name], "instances": len(nodes),
            "fault_at": fault_at, "how": "killed (SIGKILL)"}


@activity
def start_load_balancer(configuration: Dict[str, Any] = None, secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """Rollback of :func:`kill_load_balancer`: start every recorded load balancer member (harmless when
    the platform already restarted it)."""
    tgt = target(configuration)
    return {"target": tgt.name, "layer": LAYER, "started": ledger.start_recorded(tgt.env, LAYER)}
