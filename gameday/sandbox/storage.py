"""A member's storage on the twin: lost as a disk dies, and given back empty, formatted as the
platform's own tooling formats it. Only Kafka brokers have such storage operations so far (the
disk-loss drill of issue 15); any other member is refused by name.

The sandbox target (:class:`gameday.targets.sandbox.SandboxTarget`) is the only caller::

    storage.lose(twin, "kafka-2")        # deletes its data directory, meta.properties included
    storage.lost(twin, "kafka")          # ["kafka-2"]: members whose storage is not formatted
    storage.restore(twin, "kafka-2")     # formatted again: the twin's cluster id, node id 2

Each function expects the member to be stopped; the target makes sure it is.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import UsageError
from .members import kafka
from .twin import KAFKA_NODES, Twin

_KAFKA = re.compile(r"kafka-(\d+)")


def _kafka_index(member: str) -> int:
    """The node id of a Kafka member (``kafka-2`` -> 2); a UsageError for any other name."""
    match = _KAFKA.fullmatch(member or "")
    if not match or not 1 <= int(match.group(1)) <= KAFKA_NODES:
        raise UsageError(f"{member!r} has no storage the twin can lose or restore",
                         hint=f"only Kafka brokers do: kafka-1..kafka-{KAFKA_NODES}")
    return int(match.group(1))


def lose(twin: Twin, member: str) -> dict[str, Any]:
    """Delete the member's data directory. Returns ``{"member", "node_id", "data_dir", "cluster_id"}``."""
    i = _kafka_index(member)
    return {"member": member, "node_id": i, "data_dir": kafka.destroy_storage(twin, i),
            "cluster_id": kafka.cluster_id(twin)}


def lost(twin: Twin, layer: str) -> list[str]:
    """Members of ``layer`` whose storage is not formatted (lost); [] for layers without such storage."""
    if layer != "kafka":
        return []
    return [f"kafka-{i}" for i in range(1, KAFKA_NODES + 1) if not kafka.storage_formatted(twin, i)]


def restore(twin: Twin, member: str) -> dict[str, Any]:
    """Format the member's (empty) storage with the twin's cluster id and the member's own node id.
    Returns ``{"member", "node_id", "cluster_id", "data_dir", "meta"}`` (meta: its meta.properties)."""
    i = _kafka_index(member)
    data_dir = kafka.format_storage(twin, i)
    return {"member": member, "node_id": i, "cluster_id": kafka.cluster_id(twin), "data_dir": data_dir,
            "meta": kafka.read_meta(twin, i)}


def describe(twin: Twin, member: str) -> dict[str, Any]:
    """What the member's storage holds now: ``{"member", "data_dir", "exists", "formatted", "meta"}``."""
    i = _kafka_index(member)
    data_dir = kafka._data_dir(twin, i)
    return {"member": member, "data_dir": str(data_dir), "exists": data_dir.exists(),
            "formatted": kafka.storage_formatted(twin, i), "meta": kafka.read_meta(twin, i)}
