"""Kafka probes: offline / under-replicated / under-min-ISR partitions, consumer lag, the KRaft quorum's
voters and whether it has a leader at all, brokers whose storage was lost."""

import time
from typing import Any, Dict, List

from ... import kafka_admin
from ...deadline import wait_until
from ...errors import GamedayError
from ..context import activity, target

__all__ = ["partition_health", "partitions_healthy", "consumer_lag", "wait_for_healthy_partitions",
           "wait_for_consumer_lag_below", "active_controller", "brokers_with_lost_storage", "wait_for_quorum_voters",
           "quorum_status", "wait_for_quorum_lost", "wait_for_quorum_leader", "broker_disks",
           "wait_for_broker_down_on_full_disk"]


@activity
def partition_health(topics: List[str] = None, configuration: Dict[str, Any] = None,
                     secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """``{"offline": [...], "under_replicated": [...], "under_min_isr": [...], "healthy": bool, ...}``;
    ``{"healthy": false, "reachable": false, "error": ...}`` when the cluster cannot answer at all."""
    try:
        return kafka_admin.partition_health(target(configuration, lock=False).kafka_bootstrap(), topics)
    except kafka_admin.KafkaUnavailable as err:
        return {"healthy": False, "reachable": False, "error": str(err)}


@activity
def partitions_healthy(topics: List[str] = None, configuration: Dict[str, Any] = None,
                       secrets: Dict[str, Any] = None) -> bool:
    """True when no partition is offline, under-replicated or under min ISR (steady-state probe)."""
    return bool(partition_health(topics, configuration=configuration)["healthy"])


@activity
def consumer_lag(group: str = "indexer", topic: str = "content-events", configuration: Dict[str, Any] = None,
                 secrets: Dict[str, Any] = None) -> int:
    """Total lag of a consumer group on a topic (latest offset - committed offset)."""
    return int(kafka_admin.consumer_lag(target(configuration, lock=False).kafka_bootstrap(), group, topic)["total"])


@activity
def wait_for_healthy_partitions(topics: List[str] = None, timeout: float = 180,
                                configuration: Dict[str, Any] = None, secrets: Dict[str, Any] = None) -> float:
    """Block until every partition has a leader and a full ISR; returns seconds waited."""
    started = time.monotonic()
    bootstrap = target(configuration, lock=False).kafka_bootstrap()

    def healthy() -> bool:
        try:
            return kafka_admin.partition_health(bootstrap, topics, timeout=5)["healthy"]
        except kafka_admin.KafkaUnavailable:
            return False

    wait_until(healthy, timeout=timeout, what="every Kafka partition to have a leader and a full ISR", interval=1)
    return round(time.monotonic() - started, 3)


@activity
def wait_for_consumer_lag_below(group: str = "indexer", topic: str = "content-events", max_lag: int = 0,
                                timeout: float = 180, configuration: Dict[str, Any] = None,
                                secrets: Dict[str, Any] = None) -> float:
    """Block until the group's lag is at most ``max_lag`` (it drained); returns seconds waited."""
    started = time.monotonic()
    bootstrap = target(configuration, lock=False).kafka_bootstrap()

    def drained() -> bool:
        try:
            return kafka_admin.consumer_lag(bootstrap, group, topic, timeout=5)["total"] <= max_lag
        except kafka_admin.KafkaUnavailable:
            return False

    wait_until(drained, timeout=timeout, what=f"consumer group {group} lag to reach {max_lag}", interval=1)
    return round(time.monotonic() - started, 3)


@activity
def active_controller(configuration: Dict[str, Any] = None, secrets: Dict[str, Any] = None) -> int:
    """The node id of the active KRaft controller (the metadata quorum's leader)."""
    return kafka_admin.active_controller(target(configuration, lock=False).kafka_bootstrap())



@activity
def brokers_with_lost_storage(configuration: Dict[str, Any] = None, secrets: Dict[str, Any] = None) -> List[str]:
    """The Kafka members whose storage is lost (not formatted): ``["kafka-2"]`` while a disk-loss
    drill's broker is down, ``[]`` once it is formatted again (``Target.lost_storage``)."""
    return target(configuration, lock=False).lost_storage("kafka")


@activity
def wait_for_quorum_voters(timeout: float = 180, configuration: Dict[str, Any] = None,
                           secrets: Dict[str, Any] = None) -> float:
    """Block until every broker's node id is a voter of the KRaft metadata quorum again, caught up
    with the leader (``kafka-metadata-quorum describe --replication``); returns seconds waited::

        provider: {type: python, module: gameday.chaos.kafka.probes, func: wait_for_quorum_voters, arguments: {timeout: 120}}
    """
    started = time.monotonic()
    tgt = target(configuration, lock=False)
    expected = sorted(int(n.labels["node-id"]) for n in tgt.nodes("kafka") if "node-id" in n.labels)
    bootstrap = tgt.kafka_bootstrap()

    def back() -> bool:
        try:
            rows = kafka_admin.quorum_replication(bootstrap, timeout=20)
        except kafka_admin.KafkaUnavailable:
            return False
        return not kafka_admin.voters_missing(rows, time.time() * 1000, expected)

    wait_until(back, timeout=timeout, what=f"voters {expected} to be caught up in the KRaft quorum", interval=1)
    return round(time.monotonic() - started, 3)



@activity
def quorum_status(configuration: Dict[str, Any] = None, secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """Whether the KRaft metadata quorum has a leader that a majority of its voters follow
    (:func:`gameday.kafka_admin.quorum_state`; the voters are the layer's members, held ones
    included): ``{"has_quorum": false, "leader": null, "caught_up": [], "majority": 2, "voters": 3,
    "error": "kafka-metadata-quorum did not answer within 20s"}`` while a majority is lost."""
    tgt = target(configuration, lock=False)
    return kafka_admin.quorum_state(tgt.kafka_bootstrap(), len(tgt.view("kafka").members), timeout=20)


@activity
def wait_for_quorum_lost(timeout: float = 60, configuration: Dict[str, Any] = None,
                         secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """Block until the KRaft quorum is seen without a leader a majority follows (a follower counts as
    silent 10 s after its last fetch, so right after the fault it may still look caught up). Returns
    ``{"seconds", "quorum": <quorum_status>}``; DeadlineExceeded when the quorum keeps a leader."""
    started = time.monotonic()
    tgt = target(configuration, lock=False)
    bootstrap, size = tgt.kafka_bootstrap(), len(tgt.view("kafka").members)
    seen: Dict[str, Any] = {}

    def lost() -> bool:
        seen.update(kafka_admin.quorum_state(bootstrap, size, timeout=10))
        return not seen["has_quorum"]

    wait_until(lost, timeout=timeout, what="the KRaft metadata quorum to be seen without a leader", interval=1)
    return {"seconds": round(time.monotonic() - started, 3), "quorum": dict(seen)}


@activity
def wait_for_quorum_leader(timeout: float = 180, configuration: Dict[str, Any] = None,
                           secrets: Dict[str, Any] = None) -> float:
    """Block until the KRaft quorum has a leader again that a majority of voters follow; returns
    seconds waited (``wait_for_quorum_voters`` then waits for every voter)."""
    started = time.monotonic()
    tgt = target(configuration, lock=False)
    bootstrap, size = tgt.kafka_bootstrap(), len(tgt.view("kafka").members)
    wait_until(lambda: kafka_admin.quorum_state(bootstrap, size, timeout=20)["has_quorum"], timeout=timeout,
               what="the KRaft metadata quorum to have a leader a majority of voters follow", interval=1)
    return round(time.monotonic() - started, 3)


@activity
def broker_disks(configuration: Dict[str, Any] = None, secrets: Dict[str, Any] = None) -> List[Dict[str, Any]]:
    """The brokers' log directory filesystems the target can see (``Target.log_disks``): size,
    used, avail (bytes), percent, full, filler."""
    return target(configuration, lock=False).log_disks("kafka")


@activity
def wait_for_broker_down_on_full_disk(timeout: float = 120, configuration: Dict[str, Any] = None,
                                      secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """Block until a broker whose disk is full has stopped serving: Kafka took its log directory
    offline and it shut down (not ready, or restarted by the platform since the wait began), and
    the cluster reports partitions under-replicated. Returns ``{"seconds", "members", "restarts",
    "under_replicated"}``."""
    started = time.monotonic()
    tgt = target(configuration, lock=False)
    full = [d["member"] for d in tgt.log_disks("kafka") if d.get("full")]
    if not full:
        raise GamedayError(f"{tgt.name}: no broker's log directory filesystem is full", hint="fill one first: fill_broker_disk")
    before = {m.name: m.restarts for m in tgt.view("kafka").members}
    seen: Dict[str, Any] = {}

    def down() -> bool:
        members = {m.name: m for m in tgt.view("kafka").members}
        gone = [n for n in full if not members[n].ready or members[n].restarts > before.get(n, 0)]
        if not gone:
            return False
        try:
            health = kafka_admin.partition_health(tgt.kafka_bootstrap(), timeout=5)
        except kafka_admin.KafkaUnavailable:
            return False
        seen.update(members=gone, restarts={n: members[n].restarts - before.get(n, 0) for n in gone},
                    under_replicated=len(health["under_replicated"]))
        return bool(health["under_replicated"])

    wait_until(down, timeout=timeout, what=f"{', '.join(full)} to stop serving on its full disk", interval=1)
    return {"seconds": round(time.monotonic() - started, 3), **seen}
