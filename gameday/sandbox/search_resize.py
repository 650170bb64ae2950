"""A region's search cluster resized without losing a shard: nodes leave one at a time, each only
after its shards moved off and its cluster-manager vote was withdrawn; the indices' replicas fitted
to the nodes that stay, so a one-node standby is green, not yellow; raised back when nodes join.

Used by :func:`gameday.sandbox.region_control.resize` (a standby scaled down after a failback or a
switchover, a standby scaled up before a promotion) and by :func:`gameday.sandbox.regions.up` (the
one-node standby's replicas)::

    plan_shrink(current=3, target=1, floor=1)   # pure: [Leave("search-3", 3, 2, 1), Leave("search-2", 2, 1, 0)]
    shrink(twin, client, target=1, floor=1, deadline=Deadline(300))   # does it, node by node
    fit_replicas(twin, nodes=3)                 # every index back to its designed replicas (at most nodes - 1)

An index whose replicas were lowered has its previous count kept in ``<data>/search-replicas.json``,
so raising them later restores what it had (by design the site's ``content`` has two replicas, a copy
on each of three nodes, and the security plugin's index one). The security plugin's own index is changed only with its admin
certificate; everything else as the twin's search superuser.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from ..deadline import Deadline, wait_until
from ..errors import DeadlineExceeded, GamedayError, UsageError
from ..search_admin import SearchAdmin, SearchUnavailable
from ..site.search import INDEX_SETTINGS
from . import bootstrap
from .client import SandboxClient
from .twin import Twin

WORKLOAD = "search"
SECURITY_INDEX = ".opendistro_security"
# The replicas each index has by design (gameday.site.search.INDEX_SETTINGS and the security index
# pinned by gameday.sandbox.bootstrap): what fit_replicas raises them back to.
DESIGNED = {"content": INDEX_SETTINGS["settings"]["index"]["number_of_replicas"],
            SECURITY_INDEX: bootstrap.SECURITY_INDEX_SETTINGS["index"]["number_of_replicas"]}
RECORD = "search-replicas.json"
EXCLUDE = "cluster.routing.allocation.exclude._name"


@dataclass(frozen=True)
class Leave:
    """One node leaving: ``node`` (``search-<index>``), the cluster's size before and after, and the
    replicas every index may keep once it has gone (at most ``remaining - 1``)."""

    node: str
    index: int
    remaining: int
    replicas: int


def replicas_for(designed: int, nodes: int) -> int:
    """The replicas an index with ``designed`` replicas can have allocated on ``nodes`` nodes."""
    return max(0, min(designed, nodes - 1))


def plan_shrink(*, current: int, target: int, floor: int) -> list[Leave]:
    """The nodes that leave, highest index first (the supervisor stops the highest replicas), each
    with the cluster's size after it. Refused below ``floor`` (the standby shape's nodes) or 1."""
    if target < max(1, floor):
        raise UsageError(f"the search cluster cannot shrink to {target} node(s): its shape needs {max(1, floor)}",
                         hint="a standby keeps at least its shape's search_nodes")
    return [Leave(node=f"search-{i}", index=i, remaining=i - 1, replicas=replicas_for(max(DESIGNED.values()), i - 1))
            for i in range(current, target, -1)]


def replica_changes(settings: dict[str, Any], *, nodes: int, record: dict[str, int]) -> dict[str, int]:
    """Which indices get which replica count to fit ``nodes`` nodes, from ``GET /_all/_settings``:
    an index with more replicas than ``nodes - 1`` is lowered; one with fewer than it was designed
    for (:data:`DESIGNED`, or what ``record`` kept when it was lowered) is raised as far as ``nodes``
    allows. Indices whose replicas are auto-expanded are the cluster's business, left alone."""
    out = {}
    for index, body in settings.items():
        s = ((body or {}).get("settings") or {}).get("index") or {}
        if str(s.get("auto_expand_replicas", "false")).lower() != "false":
            continue
        have = int(s.get("number_of_replicas", 1))
        want = replicas_for(record.get(index, DESIGNED.get(index, have)), nodes)
        if want != have:
            out[index] = want
    return out


def admin(twin: Twin, *, timeout: float = 10.0) -> SearchAdmin:
    """The twin's search cluster as its superuser (TLS verified with the twin's CA)."""
    return SearchAdmin(twin.search_urls(), auth=twin.search_auth(), verify=twin.search_ca(), timeout=timeout)


def _record_file(twin: Twin) -> Path:
    return twin.paths.data / RECORD


def _read_record(twin: Twin) -> dict[str, int]:
    f = _record_file(twin)
    return json.loads(f.read_text()) if f.exists() else {}


def _set_replicas(twin: Twin, api: SearchAdmin, index: str, n: int) -> None:
    if index != SECURITY_INDEX:
        api.set_index_settings(index, {"number_of_replicas": n})
        return
    body = {"index": {"number_of_replicas": n}}
    from . import tls  # only the plugin's admin (a client certificate) may change its own index
    f = tls.files(twin)
    errors = []
    for url in twin.search_urls():
        try:
            r = requests.put(f"{url}/{index}/_settings", json=body, timeout=(1, 30), verify=twin.search_ca(),
                             cert=(str(f.search_admin_cert), str(f.search_admin_key)))
        except requests.RequestException as err:
            errors.append(f"{url}: {type(err).__name__}")
            continue
        if r.status_code == 200:
            return
        errors.append(f"{url}: HTTP {r.status_code} {r.text[:200]}")
    raise GamedayError(f"{twin.name}: setting {index}'s replicas to {n} failed ({'; '.join(errors)})",
                       hint=f"gameday sandbox --name {twin.name} status; the nodes' logs say why")


def fit_replicas(twin: Twin, *, nodes: int, api: SearchAdmin | None = None) -> dict[str, int]:
    """Give every index the replicas ``nodes`` nodes can hold (lowered, or raised back to its design);
    the counts lowered are kept in the twin's data, raised back later. Returns ``{index: replicas}`` changed."""
    api = api or admin(twin)
    settings = api.request("GET", "/_all/_settings", params={
        "expand_wildcards": "all",
        "filter_path": "*.settings.index.number_of_replicas,*.settings.index.auto_expand_replicas"}) or {}
    record = _read_record(twin)
    changes = replica_changes(settings, nodes=nodes, record=record)
    for index, n in changes.items():
        have = int(settings[index]["settings"]["index"].get("number_of_replicas", 1))
        if n < have:
            record.setdefault(index, have)
        _set_replicas(twin, api, index, n)
    record = {i: n for i, n in record.items() if replicas_for(n, nodes) < n}  # still short of its design
    f = _record_file(twin)
    if record:
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(json.dumps(record))
    elif f.exists():
        f.unlink()
    return changes


def _wait_green(api: SearchAdmin, *, nodes: int, deadline: Deadline, what: str) -> None:
    seen: dict[str, Any] = {}

    def green() -> bool:
        try:
            seen.update(api.health())
        except SearchUnavailable as err:
            seen["error"] = str(err)
            return False
        return (seen.get("status") == "green" and seen.get("number_of_nodes") == nodes
                and not seen.get("relocating_shards") and not seen.get("initializing_shards"))
    try:
        wait_until(green, timeout=deadline.remaining(), interval=0.5, what=what)
    except DeadlineExceeded as err:
        last = {k: seen.get(k) for k in ("status", "number_of_nodes", "relocating_shards", "initializing_shards",
                                         "unassigned_shards", "error") if k in seen}
        raise DeadlineExceeded(f"{err.message} (last seen: {last})", hint=err.hint) from None


def _shards_on(api: SearchAdmin, node: str) -> int:
    return sum(1 for s in api.shards() if s.get("node") and s["node"].split(" ")[0] == node)


def shrink(twin: Twin, client: SandboxClient, *, target: int, floor: int, deadline: Deadline) -> dict[str, Any]:
    """Shrink the running search workload to ``target`` nodes, one node at a time (:func:`plan_shrink`):
    replicas fitted to the nodes that stay, the node's shards moved off (allocation exclude), its
    cluster-manager vote withdrawn (voting config exclusion), then the node stopped and the cluster
    green on the nodes left. The exclusions are cleared afterwards, even on a failure, so a node that
    joins later takes shards and a vote again. Returns ``{"left": [{node, seconds, replicas}], "seconds"}``."""
    current = {w["name"]: w["replicas"] for w in client.status()["workloads"]}[WORKLOAD]
    steps = plan_shrink(current=current, target=target, floor=floor)
    api = admin(twin)
    started = time.monotonic()
    left = []
    try:
        for step in steps:
            at = time.monotonic()
            changed = fit_replicas(twin, nodes=step.remaining, api=api)
            api.request("PUT", "/_cluster/settings", json={"persistent": {EXCLUDE: step.node}})
            wait_until(lambda s=step: _shards_on(api, s.node) == 0, timeout=deadline.remaining(), interval=0.5,
                       what=f"{twin.name}'s {step.node} to hand its shards to the other nodes")
            _wait_green(api, nodes=step.remaining + 1, deadline=deadline,
                        what=f"{twin.name}'s search cluster green without {step.node}'s shards")
            api.request("POST", "/_cluster/voting_config_exclusions", params={"node_names": step.node})
            client.scale(WORKLOAD, step.remaining)
            client.wait_stopped(step.node, timeout=max(1.0, deadline.remaining()))
            _wait_green(api, nodes=step.remaining, deadline=deadline,
                        what=f"{twin.name}'s search cluster green on {step.remaining} node(s) after {step.node} left")
            api.request("DELETE", "/_cluster/voting_config_exclusions")
            left.append({"node": step.node, "seconds": round(time.monotonic() - at, 2), "replicas": changed})
    finally:
        if steps:
            api.request("PUT", "/_cluster/settings", json={"persistent": {EXCLUDE: None}})
            api.request("DELETE", "/_cluster/voting_config_exclusions", params={"wait_for_removal": "false"})
    return {"left": left, "seconds": round(time.monotonic() - started, 2)}
