"""Kafka faults: kill a broker chosen by role, kill two (below min ISR), stop the indexer consumers,
lose a broker's disk, fill a broker's disk, lose the KRaft controller quorum (a majority of voters
held down)."""

import random
import time
from typing import Any, Dict, List

from ... import kafka_admin
from ...deadline import wait_until
from ...errors import UsageError
from .. import caps, ledger, playbook_activity
from ..context import activity, ignored, pick_count, target

__all__ = ["kill_broker", "kill_brokers", "stop_consumers", "start_consumers", "lose_broker_disk", "restore_broker_disk",
           "lose_controller_quorum", "restore_controller_quorum", "apply_kafka_playbook", "fill_broker_disk",
           "free_broker_disk"]

ROLES = ("partition-leader", "controller", "id", "random")
TOPIC = "content-events"


def _broker_node(tgt, broker_id: int):
    for node in tgt.nodes("kafka"):
        if node.labels.get("node-id") == str(broker_id):
            return node
    raise UsageError(f"{tgt.name}: no Kafka node has node-id {broker_id}")


def _check_role(role: str, topic: str | None, partition: int | None, broker_id: int | None) -> None:
    """Refuse an unknown role, and arguments the role would ignore (nothing touched yet)."""
    if role not in ROLES:
        raise UsageError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if role != "partition-leader":
        ignored(topic=(topic, "role: partition-leader"), partition=(partition, "role: partition-leader"))
    if role != "id":
        ignored(broker_id=(broker_id, "role: id"))


def _choose(tgt, nodes, role: str, topic: str | None, partition: int | None, broker_id: int | None) -> int:
    """The node id of the broker a role names (see :func:`kill_broker`)."""
    if role == "partition-leader":
        return kafka_admin.leader_of(tgt.kafka_bootstrap(), topic or TOPIC, 0 if partition is None else int(partition))
    if role == "controller":
        return kafka_admin.active_controller(tgt.kafka_bootstrap())
    if role == "id":
        if broker_id is None:
            raise UsageError("role 'id' needs broker_id")
        return int(broker_id)
    up = caps.up(tgt, "kafka", nodes)
    if not up:
        raise UsageError(f"no Kafka broker is up; already down: {caps.describe(caps.down(tgt, 'kafka', nodes))}")
    return int(random.choice(up).labels["node-id"])


def _pick_broker(role: str, topic: str | None, partition: int | None, broker_id: int | None, dry_run: bool,
                 configuration: Dict[str, Any] | None):
    """The broker a fault on ``role`` would hit, within the cap (counting brokers already down):
    ``(target, node, broker_id)``. Bad arguments and a passed cap raise before anything is touched."""
    _check_role(role, topic, partition, broker_id)
    tgt = target(configuration, lock=not dry_run)
    nodes = tgt.nodes("kafka")
    chosen = _choose(tgt, nodes, role, topic, partition, broker_id)
    node = _broker_node(tgt, chosen)
    caps.check(tgt, "kafka", [node.name], nodes=nodes)
    return tgt, node, chosen


@activity
def kill_broker(role: str = "partition-leader", topic: str = None, partition: int = None,
                broker_id: int = None, dry_run: bool = False, configuration: Dict[str, Any] = None,
                secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """Kill one Kafka broker chosen by role:

    - ``partition-leader``: the leader of ``topic``/``partition`` (default ``content-events``/0);
    - ``controller``: the active KRaft controller (quorum leader);
    - ``id``: the broker ``broker_id``;
    - ``random``: any broker that is up.

    ``topic``/``partition`` count only with ``partition-leader`` and ``broker_id`` only with ``id``;
    given with another role they are an error. Capped by ``limits.kafka_max_brokers``, counting the
    brokers already down. Returns ``{"touched": ["kafka-2"], "broker_id": 2, "role": ..., "fault_at": ...}``.
    """
    tgt, node, chosen = _pick_broker(role, topic, partition, broker_id, dry_run, configuration)
    if dry_run:
        return {"target": tgt.name, "layer": "kafka", "would_touch": [node.name], "broker_id": chosen}
    fault_at = time.time()
    tgt.kill(node)
    return {"target": tgt.name, "layer": "kafka", "touched": [node.name], "broker_id": chosen, "role": role,
            "fault_at": fault_at, "how": "killed (SIGKILL / pod delete, grace 0)"}


@activity
def kill_brokers(qty: int = 2, dry_run: bool = False, configuration: Dict[str, Any] = None,
                 secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """Kill ``qty`` brokers at once, chosen among those up (two of three puts every partition below
    min ISR 2, so producers with acks=all must be refused, not silently lose writes). Capped by
    ``limits.kafka_max_brokers``, counting the brokers already down."""
    tgt = target(configuration, lock=not dry_run)
    nodes = tgt.nodes("kafka")
    count = pick_count(len(nodes), qty, "fixed", "Kafka brokers")
    up = caps.up(tgt, "kafka", nodes)
    if count > len(up):
        raise caps.CapExceeded(f"asked for {count} brokers but only {len(up)} of {len(nodes)} are up; "
                               f"already down: {caps.describe(caps.down(tgt, 'kafka', nodes))}; nothing was touched")
    chosen = sorted(random.sample(up, count), key=lambda n: n.name)
    caps.check(tgt, "kafka", [n.name for n in chosen], nodes=nodes)
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
    gone = caps.down(tgt, layer, nodes)
    caps.check(tgt, layer, [n.name for n in nodes if n.name not in gone], nodes=nodes)
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
    for record in ledger.matching(tgt.env, "start_node", layer=layer):
        started.append(ledger.run_record(record)["result"]["started"])
    return {"target": tgt.name, "layer": layer, "started": started}


@activity
def lose_broker_disk(role: str = "random", topic: str = None, partition: int = None, broker_id: int = None,
                     dry_run: bool = False, configuration: Dict[str, Any] = None,
                     secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """A broker's disk is lost: the broker a role names (as :func:`kill_broker`: ``partition-leader``,
    ``controller``, ``id``, ``random``) is stopped abruptly and kept stopped, and its whole data
    directory is destroyed, ``meta.properties`` included, so a restart alone cannot bring it back.
    The undo (format the storage with the cluster id and the broker's own node id, start it) is
    recorded first; :func:`restore_broker_disk` or ``gameday playbook kafka --apply`` brings it back.
    Capped by ``limits.kafka_max_brokers``, counting the brokers already down. From an experiment::

        provider: {type: python, module: gameday.chaos.kafka.actions, func: lose_broker_disk, arguments: {role: random}}

    Returns ``{"target", "layer", "touched": ["kafka-2"], "broker_id": 2, "lost_disk": "kafka-2",
    "data_dir": ..., "cluster_id": ..., "fault_at": ..., "how": ...}``.
    """
    tgt, node, chosen = _pick_broker(role, topic, partition, broker_id, dry_run, configuration)
    if dry_run:
        return {"target": tgt.name, "layer": "kafka", "would_touch": [node.name], "broker_id": chosen}
    fault_at = time.time()
    with ledger.pending_undo(tgt.env, "restore_storage", {"layer": "kafka", "name": node.name},
                             reason=f"lost the disk of {node.name}"):
        lost = tgt.lose_member_storage(node.name)
    return {"target": tgt.name, "layer": "kafka", "touched": [node.name], "broker_id": chosen, "role": role,
            "lost_disk": node.name, "data_dir": lost.get("data_dir"), "cluster_id": lost.get("cluster_id"),
            "fault_at": fault_at, "how": "stopped abruptly and kept stopped; data directory deleted (meta.properties included)"}


@activity
def restore_broker_disk(configuration: Dict[str, Any] = None, secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """Undo of :func:`lose_broker_disk` (method step and rollback): for every recorded lost disk,
    format the broker's empty storage (cluster id, its own node id) and start it. Returns
    ``{"target", "restored": [{"started": "kafka-2", "formatted": {"node_id": 2, "cluster_id": ...}}]}``;
    waiting for the ISR to fill is the probes' job (``wait_for_healthy_partitions``)."""
    tgt = target(configuration)
    restored = [ledger.run_record(record)["result"] for record in ledger.matching(tgt.env, "restore_storage", layer="kafka")]
    _wait_until_brokers_answer(tgt, {r["started"] for r in restored})
    return {"target": tgt.name, "layer": "kafka", "restored": restored}


BROKER_BACK_S = 180.0


def _wait_until_brokers_answer(tgt, names: set[str]) -> None:
    """Until each started broker answers as itself (:func:`gameday.kafka_admin.broker_answers`): only
    then has the controller replaced its registration from before the loss, so a full ISR read after
    it means re-replicated. On Kubernetes the pod is back at once on a new claim and its JVM is still
    starting when the undo returns; until the controller notices, the ISR still names the dead broker
    and ``wait_for_healthy_partitions`` would pass at once."""
    ids = {n.name: int(n.labels["node-id"]) for n in tgt.nodes("kafka") if n.name in names and "node-id" in n.labels}
    if not ids:
        return
    bootstrap = tgt.kafka_bootstrap()

    def answered() -> bool:
        try:
            return all(kafka_admin.broker_answers(bootstrap, node_id) for node_id in ids.values())
        except kafka_admin.KafkaUnavailable:
            return False

    wait_until(answered, timeout=BROKER_BACK_S, interval=1.0,
               what=f"broker(s) {', '.join(sorted(ids))} to answer as themselves after their disk was restored")


def _voters(nodes) -> list[int]:
    return sorted(int(n.labels["node-id"]) for n in nodes if "node-id" in n.labels)


@activity
def lose_controller_quorum(qty: int = None, dry_run: bool = False, configuration: Dict[str, Any] = None,
                           secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """A majority of the KRaft metadata quorum's voters is lost and stays lost: ``qty`` combined
    broker+controller nodes (default a majority, 2 of 3), the active controller among them when it
    answers, die abruptly and nothing restarts them, so the quorum has no leader: no metadata change
    (ISR shrink, leader election) is possible and acks=all producers are refused. For each node the
    undo (start it) is recorded first, so ``gameday cleanup`` from any process brings them back;
    :func:`restore_controller_quorum` or ``gameday playbook kafka --apply`` (finding
    ``kafka.quorum-lost``) does too. Capped by ``limits.kafka_max_brokers`` (2 for 2 of 3), counting
    the brokers already down. From an experiment::

        provider: {type: python, module: gameday.chaos.kafka.actions, func: lose_controller_quorum}

    Returns ``{"target", "layer", "touched": ["kafka-1", "kafka-3"], "voters": [1, 2, 3],
    "lost_voters": [1, 3], "leader_before": 1, "fault_at", "how"}``.
    """
    tgt = target(configuration, lock=not dry_run)
    nodes = tgt.nodes("kafka")
    voters = _voters(nodes)
    majority = len(voters) // 2 + 1
    count = pick_count(len(nodes), majority if qty is None else qty, "fixed", "Kafka controllers")
    if count < majority:
        raise UsageError(f"qty {count} of {len(voters)} voters leaves a quorum (a majority is {majority}); "
                         f"to lose the quorum give qty {majority} or more, or leave it out")
    up = caps.up(tgt, "kafka", nodes)
    if count > len(up):
        raise caps.CapExceeded(f"asked for {count} controllers but only {len(up)} of {len(nodes)} are up; "
                               f"already down: {caps.describe(caps.down(tgt, 'kafka', nodes))}; nothing was touched")
    try:
        leader = kafka_admin.active_controller(tgt.kafka_bootstrap(), timeout=20)
    except kafka_admin.KafkaUnavailable:
        leader = None  # no leader to prefer: any majority will do
    first = [n for n in up if n.labels.get("node-id") == str(leader)]
    rest = [n for n in up if n not in first]
    chosen = sorted(first + random.sample(rest, count - len(first)), key=lambda n: n.name)
    caps.check(tgt, "kafka", [n.name for n in chosen], nodes=nodes)
    tgt.check_disruption(chosen)  # all at once or not at all
    if dry_run:
        return {"target": tgt.name, "layer": "kafka", "would_touch": [n.name for n in chosen]}
    fault_at = time.time()
    for node in chosen:
        with ledger.pending_undo(tgt.env, "start_node", {"layer": "kafka", "name": node.name},
                                 reason=f"held {node.name} down (controller quorum lost)"):
            tgt.hold_down(node)
    return {"target": tgt.name, "layer": "kafka", "touched": [n.name for n in chosen], "voters": voters,
            "lost_voters": _voters(chosen), "leader_before": leader, "fault_at": fault_at,
            "how": "killed (SIGKILL) and held down: nothing restarts them"}


@activity
def restore_controller_quorum(configuration: Dict[str, Any] = None, secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """Rollback of :func:`lose_controller_quorum`: start every Kafka node an undo record says is
    held down (all at once; one of them alone restores a majority). Waiting for the quorum's leader
    is the probes' job (``wait_for_quorum_leader``). Returns ``{"target", "layer", "started": [...]}``."""
    tgt = target(configuration)
    started = [ledger.run_record(record)["result"]["started"]
               for record in ledger.matching(tgt.env, "start_node", layer="kafka")]
    return {"target": tgt.name, "layer": "kafka", "started": started}


@activity
def apply_kafka_playbook(configuration: Dict[str, Any] = None, secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """The recovery, as ``gameday playbook kafka --apply`` does it, inside an experiment's method (so
    the drill proves the playbook, not the rollback): e.g. finding ``kafka.quorum-lost`` ->
    restore-controller-quorum, wait-isr, wait-quorum-voters. Returns ``{"target", "layer",
    "outcome", "findings", "steps"}``; a failed playbook fails the activity, naming its step."""
    return playbook_activity.apply(target(configuration), "kafka", failing="bring Kafka back",
                                   hint="`gameday playbook kafka --apply` shows each step; `gameday cleanup` undoes the fault")


@activity
def fill_broker_disk(dry_run: bool = False, configuration: Dict[str, Any] = None,
                     secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """A broker's log directory fills up: a filler file takes every free block of the filesystem
    holding it (the broker the target names, ``Target.check_disk_full_drill``: on the twin kafka-3,
    whose log directory is on a small filesystem of its own). The broker's next write fails with
    ENOSPC; Kafka takes the log directory offline and, with one log directory, shuts down; restarts
    fail the same way until there is room. The undo (free the space, start the broker) is recorded
    first; :func:`free_broker_disk` or ``gameday playbook kafka --apply`` (finding
    ``kafka.disk-full``) undoes it. A target without such a disk refuses before anything is touched.
    Capped by ``limits.kafka_max_brokers``, counting the brokers already down. From an experiment::

        provider: {type: python, module: gameday.chaos.kafka.actions, func: fill_broker_disk}

    Returns ``{"target", "layer", "touched": ["kafka-3"], "disk": {"size", "avail", "percent", ...},
    "fault_at", "how"}``.
    """
    tgt = target(configuration, lock=not dry_run)
    member = tgt.check_disk_full_drill("kafka")
    nodes = tgt.nodes("kafka")
    if member not in [n.name for n in caps.up(tgt, "kafka", nodes)]:
        raise UsageError(f"{member} is not up (down: {caps.describe(caps.down(tgt, 'kafka', nodes))}); "
                         "filling its disk would prove nothing; nothing was touched")
    caps.check(tgt, "kafka", [member], nodes=nodes)
    if dry_run:
        return {"target": tgt.name, "layer": "kafka", "would_touch": [member]}
    fault_at = time.time()
    with ledger.pending_undo(tgt.env, "free_disk", {"layer": "kafka", "name": member},
                             reason=f"filled the log directory's filesystem of {member}"):
        disk = tgt.fill_member_disk(member)
    return {"target": tgt.name, "layer": "kafka", "touched": [member], "disk": disk, "fault_at": fault_at,
            "how": f"a filler file took every free block of {member}'s log directory filesystem"}


@activity
def free_broker_disk(configuration: Dict[str, Any] = None, secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """Rollback of :func:`fill_broker_disk`: for every recorded full disk, remove the filler and
    start the broker (harmless when the playbook already did). Returns ``{"target", "freed": [...]}``."""
    tgt = target(configuration)
    freed = [ledger.run_record(record)["result"] for record in ledger.matching(tgt.env, "free_disk", layer="kafka")]
    return {"target": tgt.name, "layer": "kafka", "freed": freed}
