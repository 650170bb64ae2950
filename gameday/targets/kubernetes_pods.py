"""Facts about one pod, read from its JSON (pure: unit-tested without a cluster)::

    pod_ready(pod); deleting(pod); ordinal("kafka-2") == 2; node_labels(pod, "kafka")["node-id"]
"""

from __future__ import annotations

import calendar
import re
import time
from typing import Any

POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
NODE_ID_LAYERS = ("kafka", "kafka-controllers", "search")  # layers whose nodes carry a node-id label


def pod_ready(pod: dict[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def deleting(pod: dict[str, Any]) -> bool:
    return bool(pod["metadata"].get("deletionTimestamp"))


def finished(pod: dict[str, Any]) -> bool:
    """A pod whose containers have all terminated for good (a Job's)."""
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def ordinal(name: str) -> int | None:
    """``kafka-2`` -> 2 (a StatefulSet pod's ordinal), else None."""
    match = re.search(r"-(\d+)$", name)
    return int(match.group(1)) if match else None


def name_order(name: str) -> tuple[str, int]:
    """Sort key: ``kafka-2`` before ``kafka-10``."""
    number = ordinal(name)
    return (name.rsplit("-", 1)[0], number) if number is not None else (name, -1)


def controller_ref(pod: dict[str, Any]) -> dict[str, Any] | None:
    """The ownerReference of the pod's controller (ReplicaSet, StatefulSet, StrimziPodSet...), or None."""
    return next((r for r in pod["metadata"].get("ownerReferences") or [] if r.get("controller")), None)


def node_labels(pod: dict[str, Any], layer: str) -> dict[str, str]:
    """A pod's labels, plus ``node-id`` for a Kafka or search pod without one (the Kafka actions pick
    a broker by it): the StatefulSet's ``apps.kubernetes.io/pod-index`` (``ordinals.start: 1`` makes
    pod ``kafka-1`` node 1), else the trailing integer of the pod's name, as Strimzi names broker pods
    (``events-combined-2`` is node 2)."""
    labels = dict(pod["metadata"].get("labels") or {})
    if layer in NODE_ID_LAYERS and "node-id" not in labels:
        index = labels.get(POD_INDEX_LABEL)
        number = int(index) if index and index.isdigit() else ordinal(pod["metadata"]["name"])
        if number is not None:
            labels["node-id"] = str(number)
    return labels


def started_seconds_ago(pod: dict[str, Any], now: float) -> float | None:
    """Seconds since the pod's first container started running (None when none runs)."""
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        started = ((status.get("state") or {}).get("running") or {}).get("startedAt")
        if started:
            return max(0.0, now - calendar.timegm(time.strptime(started, "%Y-%m-%dT%H:%M:%SZ")))
    return None
