"""Search storage lost: give nodes whose data directory is gone empty storage and start them; when
the whole cluster went, wait for a new cluster to form from nothing and register its snapshot
repository again. The index itself is then restored, replayed and re-indexed by the steps of
:mod:`gameday.recovery.layers.search`, and the run is done when the index matches the database
(:func:`index_matches_database`: count and checksum of ids and versions).

Its findings and steps are part of the search playbook (``search.PART``)::

    storage_findings(ctx)           # [Finding("search.storage-lost", ...), Finding("search.cluster-lost", ...)]
    rebuilt_findings(ctx, api)      # [Finding("search.cluster-lost", ...)]: a new cluster, made from nothing

Where a target's members come back by themselves on new, empty storage (Kubernetes: ECK's pods on new
claims), nothing is "lost" when the playbook looks (``Target.lost_storage`` is []): the nodes have
already formed a new cluster, and the cluster says so itself: no index and no snapshot repository
(:func:`rebuilt_findings`). The same steps follow: wait until every node is in that cluster, register
the repository (``Target.search_snapshot_repository``), restore, replay, match.
"""

from __future__ import annotations

from ... import index_match
from ...errors import GamedayError
from ...search_admin import SearchUnavailable
from ..context import Context
from ..engine import Check, Finding
from .common import members_ready

INDEX = "content"
REPOSITORY = "gameday-fs"
STORAGE_CODE = "search.storage-lost"
CLUSTER_CODE = "search.cluster-lost"


def storage_findings(ctx: Context) -> list[Finding]:
    """Nodes whose storage is gone (``Target.lost_storage``); every node of the layer: the whole
    cluster is lost (no cluster state, no index, no snapshot repository registered)."""
    lost = ctx.target.lost_storage("search")
    if not lost:
        return []
    found = [Finding(STORAGE_CODE, f"{', '.join(lost)} lost {'its' if len(lost) == 1 else 'their'} data directory: "
                                   "a restart alone cannot bring the data back", {"members": lost})]
    members = [m.name for m in ctx.target.view("search").members]
    if set(members) <= set(lost):
        found.append(Finding(CLUSTER_CODE, f"the whole search cluster is lost ({', '.join(members)}): it must be "
                                           "rebuilt from empty nodes and its index restored", {"members": members}))
    return found


def rebuilt_findings(ctx: Context, api) -> list[Finding]:
    """Called when the ``content`` index is missing: if the snapshot repository is not registered
    either, the cluster was made from nothing (every node on empty storage: the whole cluster lost,
    its nodes already back), and it must be rebuilt as a lost one. ``api`` is ``ctx.search()``."""
    answer = api.request("GET", f"/_snapshot/{REPOSITORY}", ok=(200, 404)) or {}
    if REPOSITORY in answer:
        return []
    uuid = (api.request("GET", "/") or {}).get("cluster_uuid", "?")
    return [Finding(CLUSTER_CODE, f"the search cluster was made from nothing: cluster UUID {uuid} has neither the "
                                  f"index {INDEX!r} nor the snapshot repository {REPOSITORY!r} (every node came back "
                                  "on empty storage): it must be restored as a lost cluster", {"cluster_uuid": uuid})]


def restore_node_storage(ctx: Context) -> str:
    """Each node with lost storage: kept stopped, given an empty data directory, then all of them
    started together (they bootstrap a new cluster when none is left, or join the one there is)."""
    lost = ctx.target.lost_storage("search")
    held = {m.name for m in ctx.target.view("search").members if m.held}
    for member in lost:
        if member not in held:
            ctx.target.stop_member(member)  # a crash-looping node: hold it while its storage is made
        ctx.target.restore_member_storage(member)
    for member in lost:
        ctx.target.start_member(member)
    return (f"gave {', '.join(lost)} empty data directories and started them" if lost else
            "no node's storage is left to restore (each is on new, empty storage already)")


def cluster_formed(ctx: Context) -> Check:
    """Every node ready and in one cluster (``number_of_nodes`` equals the layer's members); the
    detail names the cluster's UUID (a new one after the whole cluster was lost)."""
    lost = ctx.target.lost_storage("search")
    if lost:
        return Check(False, f"storage still lost: {', '.join(lost)}")
    ready = members_ready("search")(ctx)
    if not ready.ok:
        return ready
    api = ctx.search()
    health = api.health()
    want = len(ctx.target.view("search").members)
    if int(health.get("number_of_nodes", 0)) != want:
        return Check(False, f"{health.get('number_of_nodes')} of {want} nodes in the cluster")
    uuid = (api.request("GET", "/") or {}).get("cluster_uuid", "?")
    return Check(True, f"cluster {health.get('cluster_name')} formed: {want} nodes, cluster UUID {uuid}")


def register_repository(ctx: Context) -> str:
    """``PUT _snapshot/<repository>`` with the target's repository settings (the snapshots
    themselves survived: they live outside the cluster)."""
    body = ctx.target.search_snapshot_repository()
    ctx.search(30).request("PUT", f"/_snapshot/{REPOSITORY}", json=body)
    return f"registered {REPOSITORY!r} ({body.get('type')} at {body.get('settings', {}).get('location', '?')})"


def repository_readable(ctx: Context) -> Check:
    snaps = ctx.search(30).snapshots(REPOSITORY)
    good = [s["snapshot"] for s in snaps if s.get("state") == "SUCCESS"]
    return Check(True, f"{REPOSITORY!r} lists {len(snaps)} snapshots ({len(good)} successful"
                       + (f", latest {good[-1]})" if good else ")"))


def index_matches_database(ctx: Context) -> Check:
    """The index matches the database as of the moment this step began (see :mod:`gameday.index_match`):
    the same count of articles and the same SHA-256 over their (id, version). The cut is the
    database's "now" in its content's time zone (the schema's ``now_sql``: ``UTC_TIMESTAMP(6)`` for
    WordPress's ``post_modified_gmt``), so it never runs ahead of the rows it compares."""
    schema = ctx.target.content_schema()
    if ctx.state.match_cut is None or ctx.state.match_cut[0] is not ctx.deadline:
        now = ctx.db_query(f"SELECT {schema.now_sql}")[0][0]
        ctx.state.match_cut = (ctx.deadline, index_match.cut_ms(now))
    cut = ctx.state.match_cut[1]
    try:
        api = ctx.search(30)
        api.request("POST", f"/{INDEX}/_refresh")
        index = index_match.index_versions(api, INDEX, cut)
    except (SearchUnavailable, GamedayError) as err:
        return Check(False, f"index {INDEX!r} not readable: {err}")
    db = index_match.db_versions(ctx.db_query, cut, schema)
    match = index_match.compare(db, index, cut=cut.isoformat(timespec="milliseconds"))
    return Check(match.ok, match.describe())

