"""Search probes: cluster health, unassigned shards, nodes whose storage was lost."""

import time
from typing import Any, Dict, List

from ...deadline import wait_until
from ...search_admin import SearchAdmin, SearchUnavailable
from ..context import activity, target

__all__ = ["cluster_health", "cluster_status_is", "unassigned_shards", "wait_for_cluster_status",
           "nodes_with_lost_storage"]

ORDER = {"red": 0, "yellow": 1, "green": 2}


def _api(configuration) -> SearchAdmin:
    return target(configuration, lock=False).search_admin(timeout=5)


@activity
def cluster_health(configuration: Dict[str, Any] = None, secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """``_cluster/health`` as returned by the cluster (status, nodes, unassigned_shards, ...)."""
    return _api(configuration).health()


@activity
def cluster_status_is(status: str = "green", configuration: Dict[str, Any] = None,
                      secrets: Dict[str, Any] = None) -> bool:
    """True when the cluster's status is ``status`` or better (green > yellow > red)."""
    try:
        return ORDER[_api(configuration).health()["status"]] >= ORDER[status]
    except SearchUnavailable:
        return False


@activity
def unassigned_shards(configuration: Dict[str, Any] = None, secrets: Dict[str, Any] = None) -> int:
    return len(_api(configuration).unassigned())


@activity
def wait_for_cluster_status(status: str = "green", timeout: float = 180, configuration: Dict[str, Any] = None,
                            secrets: Dict[str, Any] = None) -> float:
    """Block until the cluster is ``status`` (or better); returns seconds waited."""
    started = time.monotonic()
    api = _api(configuration)

    def reached() -> bool:
        try:
            return ORDER[api.health()["status"]] >= ORDER[status]
        except SearchUnavailable:
            return False

    wait_until(reached, timeout=timeout, what=f"the search cluster to be {status}", interval=1)
    return round(time.monotonic() - started, 3)


@activity
def nodes_with_lost_storage(configuration: Dict[str, Any] = None, secrets: Dict[str, Any] = None) -> List[str]:
    """The search nodes whose data directory is gone: ``["search-1", "search-2", "search-3"]``
    while the cluster-loss drill's cluster is down, ``[]`` once rebuilt (``Target.lost_storage``)."""
    return target(configuration, lock=False).lost_storage("search")
