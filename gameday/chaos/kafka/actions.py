"""Kafka faults: kill a broker chosen by role, kill two (below min ISR), stop the indexer consumers."""

import random
import time
from typing import Any, Dict, List

from ... import kafka_admin
from ...errors import UsageError
from .. import ledger
from ..context import activity, pick_count, target

__all__ = ["kill_broker", "kill_brokers", "stop_consumers", "start_consumers"]

ROLES = ("partition-leader", "controller", "id", "random")


def _broker_node(tgt, broker_id: int):
    for node in tgt.nodes("kafka"):
        if node.labels.get("node-id") == str(broker_id):
            return node
    raise UsageError(f"{tgt.name}: no Kafka node has node-id {broker_id}")


@activity
def kill_broker(role: str = "partition-leader", topic: str = "content-events", partition: int = 0,
                broker_id: int = None, dry_run: bool = False, configuration: Dict[str, Any] = None,
                secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """Kill one Kafka broker chosen by role:

    - ``partition-leader``: the leader of ``topic``/``partition`` (default ``content-events``/0);
    - ``controller``: the active KRaft controller (quorum leader);
    - ``id``: the broker ``broker_id``;
    - ``random``: any running broker.

    Returns ``{"touched": ["kafka-2"], "broker_id": 2, "role": ..., "fault_at": ...}``.
    """
    if role not in ROLES:
        raise UsageError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    tgt = target(configuration, lock=not dry_run)
    bootstrap = tgt.kafka_bootstrap()
    if role == "partition-leader":
        chosen = kafka_admin.leader_of(bootstrap, topic, partition)
    elif role == "controller":
        chosen = kafka_admin.active_controller(bootstrap)
    elif role == "id":
        if broker_id is None:
            raise UsageError("role 'id' needs broker_id")
        chosen = int(broker_id)
    else:
        running = [n for n in tgt.nodes("kafka") if n.running]
        chosen = int(random.choice(running).labels["node-id"])
    node = _broker_node(tgt, chosen)
    pick_count(len(tgt.nodes("kafka")), 1, "fixed", 100.0 * tgt.limit("kafka_max_brokers") / 3, "Kafka brokers")
    if dry_run:
        return {"target": tgt.name, "layer": "kafka", "would_touch": [node.name], "broker_id": chosen}
    fault_at = time.time()
    tgt.kill(node)
    return {"target": tgt.name, "layer": "kafka", "touched": [node.name], "broker_id": chosen, "role": role,
            "fault_at": fault_at, "how": "killed (SIGKILL / pod delete, grace 0)"}


@activity
def kill_brokers(qty: int = 2, dry_run: bool = False, configuration: Dict[str, Any] = None,
                 secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """Kill ``qty`` brokers at once (two of three puts every partition below min ISR 2, so
    producers with acks=all must be refused, not silently lose writes). Capped by
    ``limits.kafka_max_brokers``."""
    tgt = target(configuration, lock=not dry_run)
    nodes = [n for n in tgt.nodes("kafka") if n.running]
    if qty > tgt.limit("kafka_max_brokers"):
        raise UsageError(f"{qty} brokers is above this target's cap of {tgt.limit('kafka_max_brokers'):g}",
                         hint="raise limits.kafka_max_brokers in the environment file if you mean it")
    count = pick_count(len(nodes), qty, "fixed", 100.0, "Kafka brokers")
    chosen = sorted(random.sample(nodes, count), key=lambda n: n.name)
    tgt.check_disruption(chosen)  # all at once or not at all (Kubernetes: PodDisruptionBudgets)
    if dry_run:
        return {"target": tgt.name, "layer": "kafka", "would_touch": [n.name for n in chosen]}
    fault_at = time.time()
    for node in chosen:
        tgt.kill(node)
    return {"target": tgt.name, "layer": "kafka", "touched": [n.name for n in chosen], "fault_at": fault_at,
            "how": "killed (SIGKILL / pod delete, grace 0)"}


@activity
def stop_consumers(layer: str = "indexer", dry_run: bool = False, configuration: Dict[str, Any] = None,
                   secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """Stop every consumer of a layer (default the indexer group) so lag builds up; undone by
    ``start_consumers`` (recorded on disk before stopping, so a killed run is repaired too)."""
    tgt = target(configuration, lock=not dry_run)
    nodes = tgt.nodes(layer)
    if not nodes:
        raise UsageError(f"{tgt.name}: no {layer} nodes to stop")
    if dry_run:
        return {"target": tgt.name, "layer": layer, "would_touch": [n.name for n in nodes]}
    fault_at = time.time()
    for node in nodes:
        with ledger.pending_undo(tgt.env, "start_node", {"layer": layer, "name": node.name},
                                 reason=f"stopped {node.name}"):
            tgt.stop(node)
    return {"target": tgt.name, "layer": layer, "touched": [n.name for n in nodes], "fault_at": fault_at,
            "how": "stopped (scaled to zero)"}


@activity
def start_consumers(layer: str = "indexer", configuration: Dict[str, Any] = None,
                    secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """Rollback of ``stop_consumers``: start every stopped consumer of the layer again."""
    tgt = target(configuration)
    started: List[str] = []
    for record in ledger.matching(tgt.name, "start_node", layer=layer):
        started.append(ledger.run_record(record)["result"]["started"])
    return {"target": tgt.name, "layer": layer, "started": started}
