"""Object cache faults: the site's object cache (WordPress's Redis) lost under load. WordPress keeps
serving from the database (its drop-in falls back), which then takes every query the cache saved;
the cache playbook brings it back and checks it answers and fills again."""

import time
from typing import Any, Dict

from ...errors import UsageError
from .. import caps, ledger, playbook_activity
from ..context import activity, target

__all__ = ["lose_object_cache", "restore_object_cache", "apply_cache_playbook"]

LAYER = "cache"


@activity
def lose_object_cache(dry_run: bool = False, configuration: Dict[str, Any] = None,
                      secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """Every object cache member dies abruptly (SIGKILL, as a lost machine) and stays down until the
    cache playbook or :func:`restore_object_cache` starts it (the undo, recorded before each one):
    what it held is gone (no persistence). A target without object cache members refuses. From an
    experiment::

        provider: {type: python, module: gameday.chaos.cache.actions, func: lose_object_cache}

    Returns ``{"target", "layer": "cache", "touched": ["cache-1"], "fault_at", "how"}``.
    """
    tgt = target(configuration, lock=not dry_run)
    nodes = tgt.nodes(LAYER)
    if not nodes:
        raise UsageError(f"{tgt.name}: no object cache to lose (the Python site has none); nothing was touched",
                         hint="run it on a WordPress twin: gameday sandbox up --web wordpress")
    up = caps.up(tgt, LAYER, nodes)
    if not up:
        raise caps.CapExceeded(f"no object cache member is up; already down: "
                               f"{caps.describe(caps.down(tgt, LAYER, nodes))}; nothing was touched",
                               hint="wait until it is back, or run `gameday playbook cache --apply`")
    caps.check(tgt, LAYER, [n.name for n in up], nodes=nodes)
    if dry_run:
        return {"target": tgt.name, "layer": LAYER, "would_touch": [n.name for n in up]}
    fault_at = time.time()
    for node in up:
        with ledger.pending_undo(tgt.env, "start_node", {"layer": LAYER, "name": node.name},
                                 reason=f"lost the object cache {node.name}"):
            tgt.hold_down(node)
    return {"target": tgt.name, "layer": LAYER, "touched": [n.name for n in up], "fault_at": fault_at,
            "how": "killed (SIGKILL) and held down: its contents are gone"}


@activity
def restore_object_cache(configuration: Dict[str, Any] = None, secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """Rollback of :func:`lose_object_cache`: start every recorded cache member (harmless when started)."""
    tgt = target(configuration)
    return {"target": tgt.name, "layer": LAYER, "started": ledger.start_recorded(tgt.env, LAYER)}


@activity
def apply_cache_playbook(configuration: Dict[str, Any] = None, secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """The recovery, as ``gameday playbook cache --apply`` does it, inside the experiment's method: the
    cache started, answering, and filling again (keys and hits rising), with the database's load spike
    reported. A failed playbook fails the activity, naming its step."""
    return playbook_activity.apply(target(configuration), LAYER, failing="bring the object cache back",
                                   hint="`gameday playbook cache --apply` shows each step; `gameday cleanup` "
                                        "starts the cache")
