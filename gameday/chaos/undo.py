"""Undo functions, by name, for the records in :mod:`gameday.chaos.ledger`.

Each takes the environment and the record's keyword arguments, is idempotent (undoing twice, or
undoing a fault that never landed, is harmless) and returns what it did.
"""

from typing import Any, Callable

import requests

from ..deadline import wait_until
from ..errors import DeadlineExceeded, GamedayError
from ..targets import for_environment
from ..targets.base import Node
from ..targets.environment import Environment
from .db.failover import recover_db_primary
from .db.restore import restore_db_content
from .indexer.skip import skip_poison_events
from .region.restore import restore_region
from .zone.restore import restore_zone


def start_node(env: Environment, layer: str, name: str) -> dict[str, Any]:
    target = for_environment(env)
    target.start(Node(name=name, layer=layer))
    return {"started": name}


def make_ready(env: Environment, name: str) -> dict[str, Any]:
    """Undo of a web replica held not ready: release it (harmless when it was not held)."""
    return for_environment(env).make_ready(name)


def free_disk(env: Environment, layer: str, name: str) -> dict[str, Any]:
    """Undo of a full disk: remove the filler (harmless when it is gone), then start the member
    (released if held; the platform restarts it at once if it was crash-looping)."""
    target = for_environment(env)
    freed = target.free_member_disk(name)
    target.start(Node(name=name, layer=layer))
    return {**freed, "started": name}


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


def _search_playbook(target: Any, failing: str) -> Any:
    """The search playbook applied on ``target``; its result, or a GamedayError saying it could not
    ``failing`` (naming the failed step) for the undo's caller to report and retry."""
    from ..recovery import FAILED, load_playbook, run
    from ..recovery.context import Context
    result = run(load_playbook("search"), Context(target=target), apply=True)
    if result.outcome == FAILED:
        raise GamedayError(f"the search playbook could not {failing}: {result.error}",
                           hint="`gameday playbook search --apply` shows each step; `gameday cleanup` retries")
    return result


def recover_index(env: Environment, index: str, repository: str, snapshot: str) -> dict[str, Any]:
    """Undo of a lost index: the search playbook, applied. It pauses the indexer, removes an index
    the indexer may have made meanwhile, restores the newest snapshot (``snapshot``, taken just before
    the loss, unless a newer one exists), replays the Kafka events published since it, resumes the
    indexer and waits until the index matches the database. A bare restore of the snapshot
    (:func:`restore_index`, kept for records written before) loses what was indexed between the
    snapshot and the restore: a disaster game day's canaries found 8 acknowledged articles missing.
    Harmless when nothing is lost (the playbook finds the layer healthy). A failed playbook raises,
    naming its failed step."""
    from ..recovery import HEALTHY
    result = _search_playbook(for_environment(env), f"restore {index}")
    return {"restored": index, "from": f"{repository}/{snapshot} or newer, and the events since",
            "outcome": result.outcome, "steps": result.step_timings(), "existed": result.outcome != HEALTHY}


def restore_storage(env: Environment, layer: str, name: str) -> dict[str, Any]:
    """Undo of a lost disk: format the member's storage again if it is still lost (the target's
    cluster id, the member's own id), then start it. Waiting for re-replication is the caller's."""
    target = for_environment(env)
    formatted = target.restore_member_storage(name) if name in target.lost_storage(layer) else None
    target.start(Node(name=name, layer=layer))
    return {"started": name, "formatted": formatted, "existed": formatted is not None}


def rebuild_search_cluster(env: Environment, layer: str, members: list[str]) -> dict[str, Any]:
    """Undo of a lost search cluster: the search playbook, applied. It gives the nodes whose data
    is gone empty data directories and starts them, waits for the new cluster, registers the
    snapshot repository, restores the latest snapshot, replays Kafka (or re-indexes the database)
    and waits until the index matches the database. Harmless when nothing is lost (the playbook
    finds the layer healthy and does nothing). Where nothing is held (Kubernetes: the pods come back
    on new claims by themselves) it first waits until they are ready, so the playbook diagnoses the
    new cluster they formed. A failed playbook raises, naming its failed step."""
    from ..recovery import HEALTHY
    target = for_environment(env)
    lost = target.lost_storage(layer)
    if not lost:  # nothing held: the platform brings the nodes back itself (Kubernetes: on new claims)
        _wait_for_members_back(target, layer)
    result = _search_playbook(target, f"rebuild {', '.join(members)}")
    steps = result.step_timings()
    uuid = (target.search_admin().request("GET", "/") or {}).get("cluster_uuid")
    return {"rebuilt": members, "lost_storage": lost, "outcome": result.outcome, "steps": steps,
            "cluster_uuid": uuid, "existed": bool(lost) or result.outcome != HEALTHY}  # Kubernetes: nothing "lost", a new cluster


def restore_media(env: Environment, layer: str = "media") -> dict[str, Any]:
    """Undo of lost media uploads: copy back from the newest media backup every file missing or changed
    (harmless when they are back; files uploaded after that backup no backup holds)."""
    return for_environment(env).restore_media()


MEMBERS_BACK_S = 300.0


def _wait_for_members_back(target: Any, layer: str) -> None:
    """Wait (at most :data:`MEMBERS_BACK_S`) until every member of ``layer`` the platform restarts by
    itself is ready, so the playbook diagnoses the cluster they formed (a new one, without its index
    and snapshot repository: ``search.cluster-lost``) rather than nodes still starting. Members held or
    scaled away are the playbook's to bring back: no wait for them. Past the deadline the playbook
    runs anyway, and its diagnosis names what is still wrong."""
    def back() -> bool:
        view = target.view(layer)
        return bool(view.scaled_down or view.held) or all(m.running and m.ready for m in view.members)
    try:
        wait_until(back, timeout=MEMBERS_BACK_S, interval=1.0, what=f"the {layer} members to be back and ready")
    except DeadlineExceeded:
        return  # not an error here: the playbook that follows diagnoses and reports it


UNDO: dict[str, Callable[..., dict[str, Any]]] = {
    "start_node": start_node,
    "remove_toxic": remove_toxic,
    "clear_index_allocation": clear_index_allocation,
    "restore_index": restore_index,
    "recover_index": recover_index,
    "restore_storage": restore_storage,
    "rebuild_search_cluster": rebuild_search_cluster,
    "restore_db_content": restore_db_content,
    "recover_db_primary": recover_db_primary,
    "skip_poison_events": skip_poison_events,
    "make_ready": make_ready,
    "free_disk": free_disk,
    "restore_zone": restore_zone,
    "restore_region": restore_region,
    "restore_media": restore_media,
}
