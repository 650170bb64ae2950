"""Event relay faults: the relay (WordPress's outbox -> Kafka) stopped while editors publish, so the
outbox's backlog grows; the events playbook starts it again and proves the backlog drained with
nothing lost."""

import time
from typing import Any, Dict

from ... import outbox
from ...errors import UsageError
from .. import caps, ledger, playbook_activity
from ..context import activity, target

__all__ = ["stop_relay", "start_relay", "apply_events_playbook"]

LAYER = "events"


@activity
def stop_relay(dry_run: bool = False, configuration: Dict[str, Any] = None,
               secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """Stop every outbox relay and keep them stopped: publishing still commits (the outbox row is in
    the publishing transaction), nothing reaches Kafka. The undo (start each) is recorded before each
    stop, so a killed run is repaired by ``gameday cleanup``; the events playbook or
    :func:`start_relay` brings them back. A target without relay members refuses. From an experiment::

        provider: {type: python, module: gameday.chaos.events.actions, func: stop_relay}

    Returns ``{"target", "layer": "events", "touched": ["relay-1"], "backlog_before", "fault_at", "how"}``.
    """
    tgt = target(configuration, lock=not dry_run)
    nodes = tgt.nodes(LAYER)
    if not nodes:
        raise UsageError(f"{tgt.name}: no event relay to stop (this environment's events come from elsewhere: "
                         "the Python site publishes to Kafka itself); nothing was touched",
                         hint="run it on a WordPress twin: gameday sandbox up --web wordpress")
    gone = caps.down(tgt, LAYER, nodes)
    caps.check(tgt, LAYER, [n.name for n in nodes if n.name not in gone], nodes=nodes)
    if dry_run:
        return {"target": tgt.name, "layer": LAYER, "would_touch": [n.name for n in nodes]}
    before = outbox.backlog(tgt)["unsent"]
    fault_at = time.time()
    for node in nodes:
        with ledger.pending_undo(tgt.env, "start_node", {"layer": LAYER, "name": node.name},
                                 reason=f"stopped the event relay {node.name}"):
            tgt.stop(node)
    return {"target": tgt.name, "layer": LAYER, "touched": [n.name for n in nodes], "backlog_before": before,
            "fault_at": fault_at, "how": "stopped and held (SIGTERM: the batch in flight finishes)"}


@activity
def start_relay(configuration: Dict[str, Any] = None, secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """Rollback of :func:`stop_relay`: start every recorded relay (harmless when already started)."""
    tgt = target(configuration)
    return {"target": tgt.name, "layer": LAYER, "started": ledger.start_recorded(tgt.env, LAYER)}


@activity
def apply_events_playbook(configuration: Dict[str, Any] = None, secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """The recovery, as ``gameday playbook events --apply`` does it, inside the experiment's method:
    start the relay, wait until the backlog is drained, prove every row of it is in Kafka (event id and
    version) and the index caught up. A failed playbook fails the activity, naming its step."""
    return playbook_activity.apply(target(configuration), LAYER, failing="drain the outbox",
                                   hint="`gameday playbook events --apply` shows each step; `gameday cleanup` "
                                        "starts the relay")
