"""CDN faults: the CDN's edge lost under load. Its cache is gone with it (memory only), the site's front
door sends readers to the origin meanwhile, and the origin takes every request, not the share the
traffic model expects; the cdn playbook brings the edge back and waits until its cache is warm again."""

import time
from typing import Any, Dict

from ...errors import UsageError
from .. import caps, ledger, playbook_activity
from ..context import activity, target

__all__ = ["lose_cdn", "restore_cdn", "apply_cdn_playbook"]

LAYER = "cdn"


@activity
def lose_cdn(dry_run: bool = False, configuration: Dict[str, Any] = None,
             secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """Every CDN edge dies abruptly (SIGKILL) and stays down until the cdn playbook or
    :func:`restore_cdn` starts it (the undo, recorded before each one): what it cached is gone. A target
    without CDN members it can kill (a managed CDN) refuses. From an experiment::

        provider: {type: python, module: gameday.chaos.cdn.actions, func: lose_cdn}

    Returns ``{"target", "layer": "cdn", "touched": ["cdn-1"], "fault_at", "how"}``.
    """
    tgt = target(configuration, lock=not dry_run)
    nodes = tgt.nodes(LAYER)
    if not nodes:
        raise UsageError(f"{tgt.name}: no CDN member this target can kill (a managed CDN?); nothing was touched",
                         hint="run it on the sandbox twin, whose CDN is Varnish (cdn-1)")
    up = caps.up(tgt, LAYER, nodes)
    if not up:
        raise caps.CapExceeded(f"no CDN member is up; already down: {caps.describe(caps.down(tgt, LAYER, nodes))}; "
                               "nothing was touched", hint="wait until it is back, or run `gameday playbook cdn --apply`")
    caps.check(tgt, LAYER, [n.name for n in up], nodes=nodes)
    if dry_run:
        return {"target": tgt.name, "layer": LAYER, "would_touch": [n.name for n in up]}
    fault_at = time.time()
    for node in up:
        with ledger.pending_undo(tgt.env, "start_node", {"layer": LAYER, "name": node.name},
                                 reason=f"lost the CDN edge {node.name}"):
            tgt.hold_down(node)
    return {"target": tgt.name, "layer": LAYER, "touched": [n.name for n in up], "fault_at": fault_at,
            "how": "killed (SIGKILL) and held down: its cache is gone"}


@activity
def restore_cdn(configuration: Dict[str, Any] = None, secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """Rollback of :func:`lose_cdn`: start every recorded CDN member (harmless when started)."""
    tgt = target(configuration)
    return {"target": tgt.name, "layer": LAYER, "started": ledger.start_recorded(tgt.env, LAYER)}


@activity
def apply_cdn_playbook(configuration: Dict[str, Any] = None, secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """The recovery, as ``gameday playbook cdn --apply`` does it, inside the experiment's method: the
    edge started, the front door back on it, and its hit ratio back to the traffic model's. A failed
    playbook fails the activity, naming its step."""
    return playbook_activity.apply(target(configuration), LAYER, failing="bring the CDN back warm",
                                   hint="`gameday playbook cdn --apply` shows each step; `gameday cleanup` "
                                        "starts the CDN")
