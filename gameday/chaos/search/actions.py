"""Search faults: kill the data node holding the most primaries; fail an index's shards (red);
lose an index (deleted, restored from a snapshot by the rollback)."""

import time
from typing import Any, Dict

from ...errors import UsageError
from .. import ledger
from ..context import activity, pick_count, target

__all__ = ["kill_data_node", "fail_index_shards", "lose_index", "restore_lost_index", "recover_index_shards"]

NOWHERE = "gameday-no-such-node"
REPOSITORY = "gameday-fs"


@activity
def kill_data_node(choose: str = "most-primaries", index: str = "content", name: str = None,
                   dry_run: bool = False, configuration: Dict[str, Any] = None,
                   secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """Kill one search data node: the one holding the most primaries of ``index``
    (``choose: most-primaries``) or the node called ``name`` (``choose: name``)."""
    tgt = target(configuration, lock=not dry_run)
    nodes = tgt.nodes("search")
    pick_count(len(nodes), 1, "fixed", 100.0 * tgt.limit("search_max_nodes") / max(len(nodes), 1), "search nodes")
    if choose == "most-primaries":
        counts = tgt.search_admin().primaries_by_node(index)
        if not counts:
            raise UsageError(f"index {index!r} has no assigned primaries to choose by")
        chosen_name = next(iter(counts))
    elif choose == "name":
        if not name:
            raise UsageError("choose 'name' needs name")
        chosen_name = name
    else:
        raise UsageError(f"choose must be 'most-primaries' or 'name', not {choose!r}")
    node = tgt.node("search", chosen_name)
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
    done = [ledger.run_record(r) for r in ledger.matching(tgt.name, "clear_index_allocation", index=index)]
    return {"target": tgt.name, "recovered": index, "undone": len(done)}


@activity
def lose_index(index: str = "content", dry_run: bool = False, configuration: Dict[str, Any] = None,
               secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """Lose an index: snapshot it to the filesystem repository, then delete it. The rollback
    (``restore_lost_index``, or the undo record) restores it from that snapshot."""
    tgt = target(configuration, lock=not dry_run)
    api = tgt.search_admin(timeout=120)
    if not api.index_exists(index):
        raise UsageError(f"index {index!r} does not exist")
    if dry_run:
        return {"target": tgt.name, "layer": "search", "would_touch": [index]}
    snapshot = f"gameday-before-loss-{int(time.time())}"
    api.snapshot(REPOSITORY, snapshot, [index])
    fault_at = time.time()
    with ledger.pending_undo(tgt.env, "restore_index",
                             {"index": index, "repository": REPOSITORY, "snapshot": snapshot},
                             reason=f"deleted {index}"):
        api.delete_index(index)
    return {"target": tgt.name, "layer": "search", "touched": [index], "snapshot": snapshot,
            "fault_at": fault_at, "how": "index deleted after a snapshot"}


@activity
def restore_lost_index(index: str = "content", configuration: Dict[str, Any] = None,
                       secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """Rollback of ``lose_index``: restore the index from the snapshot taken before it was lost."""
    tgt = target(configuration)
    done = [ledger.run_record(r)["result"] for r in ledger.matching(tgt.name, "restore_index", index=index)]
    return {"target": tgt.name, "restored": done}
