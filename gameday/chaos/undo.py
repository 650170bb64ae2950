"""Undo functions, by name, for the records in :mod:`gameday.chaos.ledger`.

Each takes the environment and the record's keyword arguments, is idempotent (undoing twice, or
undoing a fault that never landed, is harmless) and returns what it did.
"""

from typing import Any, Callable

import requests

from ..targets import for_environment
from ..targets.base import Node
from ..targets.environment import Environment


def start_node(env: Environment, layer: str, name: str) -> dict[str, Any]:
    target = for_environment(env)
    target.start(Node(name=name, layer=layer))
    return {"started": name}


def remove_toxic(env: Environment, proxy: str, toxic: str) -> dict[str, Any]:
    api = for_environment(env).toxiproxy_api()
    r = requests.delete(f"{api}/proxies/{proxy}/toxics/{toxic}", timeout=5)
    if r.status_code not in (204, 200, 404):
        r.raise_for_status()
    return {"removed": f"{proxy}/{toxic}", "existed": r.status_code != 404}


def clear_index_allocation(env: Environment, index: str) -> dict[str, Any]:
    admin = for_environment(env).search_admin()
    admin.set_index_settings(index, {"routing.allocation.require._name": None})
    admin.reroute_retry_failed()
    return {"cleared": f"{index} allocation filter"}


def restore_index(env: Environment, index: str, repository: str, snapshot: str) -> dict[str, Any]:
    admin = for_environment(env).search_admin(timeout=120)
    if admin.index_exists(index):
        return {"restored": None, "reason": f"{index} exists"}
    admin.restore(repository, snapshot, [index])
    return {"restored": index, "from": f"{repository}/{snapshot}"}


def restore_storage(env: Environment, layer: str, name: str) -> dict[str, Any]:
    """Undo of a lost disk: format the member's storage again if it is still lost (the target's
    cluster id, the member's own id), then start it. Waiting for re-replication is the caller's."""
    target = for_environment(env)
    formatted = target.restore_member_storage(name) if name in target.lost_storage(layer) else None
    target.start(Node(name=name, layer=layer))
    return {"started": name, "formatted": formatted, "existed": formatted is not None}


UNDO: dict[str, Callable[..., dict[str, Any]]] = {
    "start_node": start_node,
    "remove_toxic": remove_toxic,
    "clear_index_allocation": clear_index_allocation,
    "restore_index": restore_index,
    "restore_storage": restore_storage,
}
