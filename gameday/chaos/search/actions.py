"""Search faults: kill the data node holding the most primaries; fail an index's shards (red);
lose an index (deleted, restored from a snapshot by the rollback)."""

import time
from typing import Any, Dict

from ...errors import UsageError
from .. import caps, ledger
from ..context import activity, ignored, target

__all__ = ["kill_data_node", "fail_index_shards", "lose_index", "restore_lost_index", "recover_index_shards"]

NOWHERE = "gameday-no-such-node"
REPOSITORY = "gameday-fs"


@activity
def kill_data_node(choose: str = "most-primaries", index: str = None, name: str = None,
                   dry_run: bool = False, configuration: Dict[str, Any] = None,
                   secrets: Dict[str, Any] = None) -> Dict[str, Any]:
    """Kill one search data node: the node up holding the most primaries of ``index`` (default
    ``content``; ``choose: most-primaries``, skipping nodes already down whatever the cluster's
    metadata still says) or the node called ``name`` (``choose: name``). ``index`` counts only with
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
        counts = tgt.search_admin().primaries_by_node(index)
        if not counts:
            raise UsageError(f"index {index!r} has no assigned primaries to choose by")
        up = {n.name for n in caps.up(tgt, "search", nodes)}
        candidates = [n for n in counts if n in up]
        if not candidates:
            raise UsageError(f"no node holding primaries of {index!r} is up; already down: "
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
    done = [ledger.run_record(r)["result"] for r in ledger.matching(tgt.env, "restore_index", index=index)]
    return {"target": tgt.name, "restored": done}
