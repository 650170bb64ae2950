"""OpenSearch / Elasticsearch cluster operations over the REST endpoints both share.

Health, shard placement, allocation explain, reroute, allocation filters, snapshot and restore.
Used by chaos actions and probes and by the search playbook, on every target::

    api = SearchAdmin(["https://127.10.50.1:9200", ...], auth=("elastic", password), verify=ca_file)
    api.health()["status"]                      # green / yellow / red
    api.primaries_by_node("content")            # {"search-2": 1} (the twin's: one primary)
    api.holders("content")                      # ["search-2", "search-1", "search-3"]: the kill's order
    api.explain_unassigned()                    # _cluster/allocation/explain, or None when all assigned
    api.snapshot("gameday-fs", "snap-1"); api.restore("gameday-fs", "snap-1", ["content"])

Each request tries the nodes in turn with short timeouts; :class:`SearchUnavailable` when none answer.
"""

from __future__ import annotations

import collections
from typing import Any

import requests

from . import hostguard
from .errors import GamedayError


class SearchUnavailable(GamedayError):
    pass


class SearchAdmin:
    def __init__(self, urls: list[str], *, timeout: float = 10.0, auth: tuple[str, str] | None = None,
                 verify: str | bool | None = None):
        """``auth``: (username, password) for a cluster with security on (ECK's ``elastic`` user);
        targets give it from the environment's ``credentials.search`` (:meth:`Target.search_admin`).
        ``verify``: a CA file for the cluster's certificates (None: ``REQUESTS_CA_BUNDLE`` or the
        system's roots); targets give :meth:`Target.search_verify`."""
        if not urls:
            raise GamedayError("no search endpoints to talk to")
        self.urls = list(urls)
        self.timeout = timeout
        self.session = hostguard.session()  # carries the cluster's credentials: no redirect to another host
        self.session.auth = auth
        self.verify = verify

    def request(self, method: str, path: str, *, ok=(200,), **kwargs: Any) -> Any:
        errors = []
        for url in self.urls:
            try:
                r = self.session.request(method, f"{url}{path}", timeout=(1.0, self.timeout), verify=self.verify,
                                         **kwargs)
            except requests.RequestException as err:
                errors.append(f"{url}: {type(err).__name__}")
                continue
            if r.status_code in ok:
                return r.json() if r.content else None
            # 503 is the cluster's answer (no cluster manager) unless the node is still loading its
            # security index ("OpenSearch Security not initialized", seconds after it starts): then ask another
            if r.status_code >= 500 and (r.status_code != 503 or "Security not initialized" in r.text):
                errors.append(f"{url}: HTTP {r.status_code}")
                continue
            raise GamedayError(f"search {method} {path} answered {r.status_code}: {r.text[:300]}")
        raise SearchUnavailable(f"no search node answered {method} {path} ({'; '.join(errors)})")

    # ---- views --------------------------------------------------------------------------------
    def health(self, index: str | None = None, *, wait_for: str | None = None, timeout_s: int = 0) -> dict[str, Any]:
        params = {}
        if wait_for:
            params = {"wait_for_status": wait_for, "timeout": f"{timeout_s}s"}
        return self.request("GET", f"/_cluster/health{'/' + index if index else ''}", ok=(200, 408), params=params)

    def shards(self, index: str | None = None) -> list[dict[str, Any]]:
        path = f"/_cat/shards/{index}" if index else "/_cat/shards"
        return self.request("GET", path, params={"format": "json", "h": "index,shard,prirep,state,node,docs,unassigned.reason"})

    def primaries_by_node(self, index: str) -> dict[str, int]:
        counts = collections.Counter(s["node"] for s in self.shards(index) if s["prirep"] == "p" and s["node"])
        return dict(counts.most_common())

    def holders(self, index: str) -> list[str]:
        """The nodes holding a copy of ``index``, most primaries first, then most copies, then by name:
        the kill's order of choice. With one primary and a copy on every node (the twin's ``content``)
        the primary's node comes first, then the replicas' (a cluster whose metadata still names a node
        just lost as the primary's: the next choice is a replica's node, not nothing)."""
        primaries: collections.Counter = collections.Counter()
        copies: collections.Counter = collections.Counter()
        for s in self.shards(index):
            if s["node"]:
                copies[s["node"]] += 1
                primaries[s["node"]] += s["prirep"] == "p"
        return sorted(copies, key=lambda n: (-primaries[n], -copies[n], n))

    def unassigned(self) -> list[dict[str, Any]]:
        return [s for s in self.shards() if s["state"] == "UNASSIGNED"]

    def explain_unassigned(self) -> dict[str, Any] | None:
        """Why the first unassigned shard is unassigned, or None when every shard is assigned."""
        try:
            return self.request("POST", "/_cluster/allocation/explain", ok=(200,), json={})
        except GamedayError as err:
            if "400" in str(err):
                return None
            raise

    def index_exists(self, index: str) -> bool:
        for url in self.urls:
            try:
                return self.session.head(f"{url}/{index}", timeout=(1.0, self.timeout),
                                         verify=self.verify).status_code == 200
            except requests.RequestException:
                continue
        raise SearchUnavailable(f"no search node answered HEAD /{index}")

    def count(self, index: str) -> int:
        return int(self.request("GET", f"/{index}/_count")["count"])

    # ---- changes ------------------------------------------------------------------------------
    def set_index_settings(self, index: str, settings: dict[str, Any]) -> None:
        self.request("PUT", f"/{index}/_settings", json={"index": settings})

    def reroute_retry_failed(self) -> None:
        self.request("POST", "/_cluster/reroute", params={"retry_failed": "true"})

    def cancel_shard(self, index: str, shard: int, node: str, allow_primary: bool = True) -> None:
        self.request("POST", "/_cluster/reroute", json={"commands": [
            {"cancel": {"index": index, "shard": shard, "node": node, "allow_primary": allow_primary}}]})

    def delete_index(self, index: str) -> None:
        self.request("DELETE", f"/{index}", ok=(200, 404))

    def snapshot(self, repository: str, name: str, indices: list[str] | None = None) -> dict[str, Any]:
        body = {"indices": ",".join(indices) if indices else "*", "include_global_state": False}
        return self.request("PUT", f"/_snapshot/{repository}/{name}", params={"wait_for_completion": "true"},
                            json=body)

    def snapshots(self, repository: str) -> list[dict[str, Any]]:
        return self.request("GET", f"/_snapshot/{repository}/_all")["snapshots"]

    def delete_snapshot(self, repository: str, name: str) -> None:
        """Delete one snapshot (gone already: nothing to do)."""
        self.request("DELETE", f"/_snapshot/{repository}/{name}", ok=(200, 404))

    def restore(self, repository: str, name: str, indices: list[str]) -> dict[str, Any]:
        return self.request("POST", f"/_snapshot/{repository}/{name}/_restore",
                            params={"wait_for_completion": "true"},
                            json={"indices": ",".join(indices), "include_global_state": False})
