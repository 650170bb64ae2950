"""Search faults: kill the data node holding the most primaries; fail an index's shards (red);
lose an index (deleted, restored from a snapshot by the rollback); lose the whole cluster (every
node and its data, rebuilt by the search playbook); take the scheduled snapshot."""

import time
from typing import Any, Dict

from ...errors import UsageError
from .. import caps, ledger
from ..context import activity, ignored, target
from ..lock import lock_for

__all__ = ["kill_data_node", "fail_index_shards", "lose_index", "restore_lost_index", "recover_index_shards",
           "snapshot_index", "lose_search_cluster", "rebuild_search_cluster"]

NOWHERE = "gameday-no-such-node"
REPOSITORY = "gameday-fs"


@activity
def kill_data_node(choose: str = "most-primaries", index: str = None, name: str = None,
                   dry_run: bool = False, configuration: Dict[str, Any] = None,
                   secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """Kill one search data node: the node up holding the most primaries of ``index`` (default
    ``content``; ``choose: most-primaries``, skipping nodes already down whatever the cluster's
    metadata still says, and then by copies held: with one primary, the second choice is a replica's
    node, :meth:`~gameday.search_admin.SearchAdmin.holders`) or the node called ``name`` (``choose: name``). ``index`` counts only with
    ``most-primaries`` and ``name`` only with ``choose: name``: given otherwise, they are an error.
    Capped by ``limits.search_max_nodes``, counting the nodes already down::

        {"type": "action", "name": "kill-search-2",
         "provider": {"type": "python", "module": "gameday.chaos.search.actions", "func": "kill_data_node",
                      "arguments": {"choose": "name", "name": "search-2"}}}
    """
    if choose == "most-primaries":
        ignored(name=(name, "choose: name"))
    elif choose == "name":
        ignored(index=(index, "choose: most-primaries"))
        if not name:
            raise UsageError("choose 'name' needs name")
    else:
        raise UsageError(f"choose must be 'most-primaries' or 'name', not {choose!r}")
    tgt = target(configuration, lock=not dry_run)
    nodes = tgt.nodes("search")
    if choose == "most-primaries":
        index = index or "content"
        holders = tgt.search_admin().holders(index)
        if not holders:
            raise UsageError(f"index {index!r} has no assigned shard copies to choose by")
        up = {n.name for n in caps.up(tgt, "search", nodes)}
        candidates = [n for n in holders if n in up]
        if not candidates:
            raise UsageError(f"no node holding a copy of {index!r} is up; already down: "
                             f"{caps.describe(caps.down(tgt, 'search', nodes))}; nothing was touched")
        chosen_name = candidates[0]
    else:
        chosen_name = name
    node = tgt.node("search", chosen_name)
    caps.check(tgt, "search", [node.name], nodes=nodes)
    if dry_run:
        return {"target": tgt.name, "layer": "search", "would_touch": [node.name]}
    fault_at = time.time()
    tgt.kill(node)
    return {"target": tgt.name, "layer": "search", "touched": [node.name], "chosen_by": choose,
            "fault_at": fault_at, "how": "killed (SIGKILL / pod delete, grace 0)"}


@activity
def fail_index_shards(index: str = "content", dry_run: bool = False, configuration: Dict[str, Any] = None,
                      secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """Make every shard copy of ``index`` unassigned so the cluster goes red: an allocation filter
    that no node matches, then ``_cluster/reroute`` cancel of each copy (replicas first). The data
    stays on disk; ``recover_index_shards`` (or the undo record) lifts the filter."""
    tgt = target(configuration, lock=not dry_run)
    api = tgt.search_admin()
    shards = [s for s in api.shards(index) if s["state"] == "STARTED"]
    if not shards:
        raise UsageError(f"index {index!r} has no started shards to fail")
    if dry_run:
        return {"target": tgt.name, "layer": "search", "would_touch": [f"{index}[{s['shard']}]" for s in shards]}
    fault_at = time.time()
    with ledger.pending_undo(tgt.env, "clear_index_allocation", {"index": index}, reason=f"failed shards of {index}"):
        api.set_index_settings(index, {"routing.allocation.require._name": NOWHERE})
        for copy in sorted(shards, key=lambda s: s["prirep"] == "p"):
            api.cancel_shard(index, int(copy["shard"]), copy["node"], allow_primary=True)
    return {"target": tgt.name, "layer": "search", "touched": sorted({f"{index}[{s['shard']}]" for s in shards}),
            "fault_at": fault_at, "how": "allocation filter + reroute cancel"}


@activity
def recover_index_shards(index: str = "content", configuration: Dict[str, Any] = None,
                         secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """Rollback of ``fail_index_shards``: lift the filter and retry allocation."""
    tgt = target(configuration)
    done = [ledger.run_record(r) for r in ledger.matching(tgt.env, "clear_index_allocation", index=index)]
    return {"target": tgt.name, "recovered": index, "undone": len(done)}


@activity
def lose_index(index: str = "content", dry_run: bool = False, configuration: Dict[str, Any] = None,
               secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """Lose an index: snapshot it to the filesystem repository, then delete it. The rollback
    (``restore_lost_index``, or the undo record) is the search playbook: that snapshot restored, the
    Kafka events since replayed, the index matched against the database (``undo.recover_index``)."""
    tgt = target(configuration, lock=not dry_run)
    api = tgt.search_admin(timeout=120)
    if not api.index_exists(index):
        raise UsageError(f"index {index!r} does not exist")
    if dry_run:
        return {"target": tgt.name, "layer": "search", "would_touch": [index]}
    snapshot = f"gameday-before-loss-{int(time.time())}"
    api.snapshot(REPOSITORY, snapshot, [index])
    fault_at = time.time()
    with ledger.pending_undo(tgt.env, "recover_index",
                             {"index": index, "repository": REPOSITORY, "snapshot": snapshot},
                             reason=f"deleted {index}"):
        api.delete_index(index)
    return {"target": tgt.name, "layer": "search", "touched": [index], "snapshot": snapshot,
            "fault_at": fault_at, "how": "index deleted after a snapshot"}


@activity
def restore_lost_index(index: str = "content", configuration: Dict[str, Any] = None,
                       secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """Rollback of ``lose_index`` (and its method's recovery step): the search playbook restores the
    index from the snapshot taken before it was lost and replays the events since (records of an
    older gameday: the bare snapshot restore)."""
    tgt = target(configuration)
    done = [ledger.run_record(r)["result"] for kind in ("recover_index", "restore_index")
            for r in ledger.matching(tgt.env, kind, index=index)]
    return {"target": tgt.name, "restored": done}


@activity
def snapshot_index(index: str = "content", configuration: Dict[str, Any] = None,
                   secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """Take a snapshot of ``index`` in the snapshot repository now, as the platform's scheduled
    backup does (on the twin, search-snapshot-1 every interval): the "latest snapshot" a restore starts from::

        provider: {type: python, module: gameday.chaos.search.actions, func: snapshot_index}

    Returns ``{"target", "repository", "snapshot", "documents", "at"}``."""
    tgt = target(configuration, lock=False)
    api = tgt.search_admin(timeout=120)
    if not api.index_exists(index):
        raise UsageError(f"index {index!r} does not exist; nothing to snapshot")
    snapshot = f"gameday-scheduled-{int(time.time())}"
    documents = api.count(index)
    api.snapshot(REPOSITORY, snapshot, [index])
    return {"target": tgt.name, "repository": REPOSITORY, "snapshot": snapshot, "documents": documents, "at": time.time()}


@activity
def lose_search_cluster(dry_run: bool = False, configuration: Dict[str, Any] = None,
                        secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """The whole search cluster lost: every node's storage destroyed together (cluster state, cluster
    UUID, every shard), through ``Target.lose_layer_storage``. On the twin every node is stopped
    abruptly and kept stopped and each one's data directory deleted; on Kubernetes (ECK) every node's
    PersistentVolumeClaims are deleted, then every pod at once, and the pods come back on empty claims
    and form a new cluster. The snapshot repository survives (it lives outside the cluster). The
    undo, recorded first, is the search playbook applied (:func:`rebuild_search_cluster`, ``gameday
    playbook search --apply``, or ``gameday cleanup``). Needs ``limits.search_max_nodes`` of at least
    the node count; refused before anything is touched on a target that cannot lose the nodes'
    storage (Kubernetes: pods without claims)::

        provider: {type: python, module: gameday.chaos.search.actions, func: lose_search_cluster}

    Returns ``{"target", "layer", "touched": ["search-1", ...], "data_dirs", "cluster_uuid" (the
    lost cluster's), "fault_at", "how"}``."""
    tgt = target(configuration, lock=False)
    tgt.check_storage_drill("search")  # before the lock, the caps or any record: a refusal touches nothing
    nodes = tgt.nodes("search")
    names = sorted({n.name for n in nodes} | set(tgt.held("search")))
    caps.check(tgt, "search", names, nodes=nodes)
    if dry_run:
        return {"target": tgt.name, "layer": "search", "would_touch": names}
    lock_for(tgt.env).acquire(purpose="chaos experiment")
    uuid = (tgt.search_admin().request("GET", "/") or {}).get("cluster_uuid")
    fault_at = time.time()
    with ledger.pending_undo(tgt.env, "rebuild_search_cluster", {"layer": "search", "members": names},
                             reason=f"lost the whole search cluster ({', '.join(names)})"):
        lost = tgt.lose_layer_storage("search", names)
    how = lost[0].get("how") if lost else None
    return {"target": tgt.name, "layer": "search", "touched": names, "data_dirs": [x["data_dir"] for x in lost],
            "cluster_uuid": uuid, "fault_at": fault_at,
            "how": how or "every node stopped abruptly and kept stopped; every data directory deleted; snapshots kept"}


@activity
def rebuild_search_cluster(configuration: Dict[str, Any] = None, secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """Undo of :func:`lose_search_cluster` (method step and rollback): for every recorded lost
    cluster, the search playbook applied (empty nodes started, a new cluster formed, the snapshot
    repository registered, the latest snapshot restored, events replayed or the database
    re-indexed, the index matching the database). Returns ``{"target", "rebuilt": [{"outcome",
    "steps": {name: {"status", "seconds", "did", "detail", "ended_at"}}, "cluster_uuid", "after_fault_s":
    {"cluster_formed", "index_restored", "index_matches_database"}}]}``; a
    playbook that fails is an ActivityFailed naming the step (the record stays for ``gameday cleanup``)."""
    tgt = target(configuration)
    rebuilt = []
    for record in ledger.matching(tgt.env, "rebuild_search_cluster"):
        result = ledger.run_record(record)["result"]
        result["after_fault_s"] = _milestones(result.get("steps", {}), float(record["created_at"]))
        rebuilt.append(result)
    return {"target": tgt.name, "layer": "search", "rebuilt": rebuilt}


MILESTONES = {"cluster_formed": "restore-node-storage", "index_restored": "restore-snapshot",
              "index_matches_database": "wait-index-matches-database"}


def _milestones(steps: Dict[str, Any], fault_at: float) -> Dict[str, Any]:
    """Seconds from the fault (its undo record, written just before it) to the end of the steps
    that mark the rebuild: the new cluster formed, the snapshot restored (search answers again),
    the index matching the database."""
    ended = {name: steps.get(step, {}).get("ended_at") for name, step in MILESTONES.items()}
    return {name: None if at is None else round(at - fault_at, 1) for name, at in ended.items()}
