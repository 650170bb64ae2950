"""A member's storage on the twin: lost as a disk dies, and given back empty, prepared as the
platform's own tooling prepares it. Kafka brokers (the disk-loss drill of issue 15) and search nodes
(the whole search cluster lost) have such storage; any other member is refused by name.

The sandbox target (:class:`gameday.targets.sandbox.SandboxTarget`) is the only caller::

    storage.lose(twin, "kafka-2")        # deletes its data directory, meta.properties included
    storage.lost(twin, "kafka")          # ["kafka-2"]: members whose storage is not formatted
    storage.restore(twin, "kafka-2")     # formatted again: the twin's cluster id, node id 2
    storage.lose(twin, "search-1")       # deletes its path.data (cluster state, UUID, shards)
    storage.restore(twin, "search-1")    # an empty data directory: it bootstraps a new cluster

Each function expects the member to be stopped; the target makes sure it is. The search snapshot
repository (``members.search.snapshot_dir``) is never part of a member's storage.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import UsageError
from .members import kafka, search
from .twin import KAFKA_NODES, SEARCH_NODES, Twin

_MEMBER = re.compile(r"(kafka|search)-(\d+)")
NODES = {"kafka": KAFKA_NODES, "search": SEARCH_NODES}


def _member(member: str) -> tuple[str, int]:
    """(layer, node id) of a member with storage (``search-2`` -> ("search", 2)); a UsageError for
    any other name."""
    match = _MEMBER.fullmatch(member or "")
    if not match or not 1 <= int(match.group(2)) <= NODES[match.group(1)]:
        raise UsageError(f"{member!r} has no storage the twin can lose or restore",
                         hint=f"only Kafka brokers and search nodes do: kafka-1..kafka-{KAFKA_NODES}, "
                              f"search-1..search-{SEARCH_NODES}")
    return match.group(1), int(match.group(2))


def lose(twin: Twin, member: str) -> dict[str, Any]:
    """Delete the member's data directory. Returns ``{"member", "node_id", "data_dir"}`` (Kafka:
    and ``cluster_id``, which its storage is formatted with again)."""
    layer, i = _member(member)
    if layer == "search":
        return {"member": member, "node_id": i, "data_dir": search.destroy_data(twin, i)}
    return {"member": member, "node_id": i, "data_dir": kafka.destroy_storage(twin, i),
            "cluster_id": kafka.cluster_id(twin)}


def lost(twin: Twin, layer: str) -> list[str]:
    """Members of ``layer`` whose storage is lost (Kafka: not formatted; search: laid out but
    without a data directory); [] for layers without such storage."""
    if layer == "kafka":
        return [f"kafka-{i}" for i in range(1, KAFKA_NODES + 1) if not kafka.storage_formatted(twin, i)]
    if layer == "search":
        return [f"search-{i}" for i in range(1, SEARCH_NODES + 1) if search.storage_lost(twin, i)]
    return []


def restore(twin: Twin, member: str) -> dict[str, Any]:
    """Kafka: format the member's (empty) storage with the twin's cluster id and its own node id;
    returns ``{"member", "node_id", "cluster_id", "data_dir", "meta"}`` (meta: its meta.properties).
    Search: an empty data directory owned by OpenSearch's user; ``{"member", "node_id", "data_dir"}``."""
    layer, i = _member(member)
    if layer == "search":
        return {"member": member, "node_id": i, "data_dir": search.make_empty_data(twin, i)}
    data_dir = kafka.format_storage(twin, i)
    return {"member": member, "node_id": i, "cluster_id": kafka.cluster_id(twin), "data_dir": data_dir,
            "meta": kafka.read_meta(twin, i)}


def describe(twin: Twin, member: str) -> dict[str, Any]:
    """What the member's storage holds now: ``{"member", "data_dir", "exists", "formatted", "meta"}``
    (a search node's data directory is "formatted" once it exists; its meta is {})."""
    layer, i = _member(member)
    if layer == "search":
        path = search.data_dir(twin, i)
        return {"member": member, "data_dir": str(path), "exists": path.exists(), "formatted": path.exists(),
                "meta": {}}
    data_dir = kafka._data_dir(twin, i)
    return {"member": member, "data_dir": str(data_dir), "exists": data_dir.exists(),
            "formatted": kafka.storage_formatted(twin, i), "meta": kafka.read_meta(twin, i)}
