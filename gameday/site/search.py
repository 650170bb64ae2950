"""OpenSearch over plain REST (``requests``): index creation, bulk indexing, fuzzy search.

Used by the web app (search pages), the seed (create + bulk) and the indexer (bulk)::

    client = SearchClient(cfg.search_urls, index=cfg.content_index, auth=cfg.search_auth, verify=cfg.search_verify)
    client.create_index()                       # no-op if it exists
    client.bulk_index(articles)                 # id = article id, version_type=external
    client.bulk_index([{"type": "article.removed", "id": 7, "version": 4}])  # deletes document 7 (v4)
    hits = client.search("apixaban", size=10)   # {"total": 12, "hits": [{id, kind, slug, ...}]}

Each call tries the hosts in turn, starting at a rotating offset, each at most once, with a 0.5 s
connect timeout and a 2 s read timeout (and, if ``budget`` is given, never longer than that in all). A host that failed is skipped and
then probed by one request at a time (every ``PROBE_AFTER`` s) until it answers again, so a dead
or frozen node costs one slow request per second, not one per search. Over https the connect
timeout is 1 s (it includes the TLS handshake). A connection failure, timeout or 5xx on every host raises
:class:`SearchUnavailable`. Bulk indexing uses ``version_type=external`` with the article version,
so replaying an event (or the seed) is idempotent and never overwrites a newer version; those
version conflicts (409) count as success. A removal event (``article.removed``,
:data:`gameday.site.events.REMOVED_TYPE`) deletes the document with its version, external too: a
removal replayed, or one of a document never indexed (404), is a success, and the index remembers the
removal's version for ``index.gc_deletes`` (a day here, OpenSearch's default being 60 s), so a stale
published event arriving within that cannot bring the document back.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from typing import Any, Iterable, Sequence

import requests

from ..errors import GamedayError

__all__ = ["SearchClient", "SearchUnavailable", "SearchError", "SearchRejected", "INDEX_SETTINGS", "REMOVED_TYPE",
           "document"]

CONNECT_TIMEOUT = 0.5
TLS_CONNECT_TIMEOUT = 1.0  # an https connect includes the TLS handshake (slow on a loaded 2-core machine)
READ_TIMEOUT = 2.0
PROBE_AFTER = 1.0  # a host that failed is left alone this long, then probed by one request at a time

INDEX_SETTINGS: dict[str, Any] = {
    "settings": {
        "index": {
            # one primary with a copy on each of the three nodes: a search is one shard-level query on
            # one JVM, not three (benchmarks/search_shards_bench.py: a third of the CPU per search), and a
            # node lost moves no copies (docs/search-shard-layout.md). A small index, as Elastic advises.
            "number_of_shards": 1,
            "number_of_replicas": 2,
            "unassigned.node_left.delayed_timeout": "5s",
            "gc_deletes": "1d",  # how long a deleted document's version refuses older writes
        }
    },
    "mappings": {
        "properties": {
            "title": {"type": "text", "analyzer": "standard"},
            "summary": {"type": "text", "analyzer": "standard"},
            "body": {"type": "text", "analyzer": "standard"},
            "kind": {"type": "keyword"},
            "category": {"type": "keyword"},
            "slug": {"type": "keyword"},
            "version": {"type": "long"},
            "updated_at": {"type": "date"},
        }
    },
}

_DOC_FIELDS = ("kind", "slug", "title", "category", "summary", "body", "version", "updated_at")
_HIT_FIELDS = ["kind", "slug", "title", "category", "summary", "version"]
# Item errors that say the index cannot be written at all (deleted, closed, read-only block): the
# whole batch waits for the layer to come back (SearchUnavailable), never dead-lettered as refused
# events. A lost index once dead-lettered every event the indexer took meanwhile: gone from search
# until a replay, 8 acknowledged canary articles in a disaster game day.
INDEX_GONE = {"index_not_found_exception", "index_closed_exception", "cluster_block_exception"}
REMOVED_TYPE = "article.removed"  # a removal event (the contract: gameday.site.events): delete the document


class SearchUnavailable(GamedayError):
    """No OpenSearch host answered (connection refused, timeout or 5xx on every host)."""


class SearchError(GamedayError):
    """OpenSearch answered with a client error (4xx) or reported per-item bulk failures."""


class SearchRejected(SearchError):
    """A bulk request's items that OpenSearch refused for what they are (a 4xx other than 409/429,
    e.g. a field its mapping cannot parse): retrying them can never succeed. ``rejected`` maps each
    refused document id to why; the other items of the request were applied."""

    def __init__(self, message: str, rejected: dict[str, str]):
        super().__init__(message)
        self.rejected = rejected


def document(article: dict) -> dict:
    """The indexed form of an article or event dict (``updated_at`` as an ISO string)."""
    doc = {key: article.get(key) for key in _DOC_FIELDS}
    updated = doc.get("updated_at")
    if updated is not None and not isinstance(updated, str):
        doc["updated_at"] = updated.isoformat()
    return doc


class SearchClient:
    """A tiny OpenSearch client for one index, over a pooled ``requests.Session`` per thread."""

    def __init__(self, urls: Sequence[str], *, index: str = "content",
                 connect_timeout: float | None = None, read_timeout: float = READ_TIMEOUT,
                 budget: float | None = None, auth: tuple[str, str] | None = None, verify: str | bool = True):
        """``budget`` (seconds) caps one call across all hosts (the web app uses 2.5 s). ``auth``:
        (user, password) for a cluster with security on; ``verify``: a CA file for its certificates
        (``True``: the system's roots; never ``False``). ``connect_timeout`` defaults to
        ``CONNECT_TIMEOUT``, or ``TLS_CONNECT_TIMEOUT`` when a URL is https."""
        if not urls:
            raise ValueError("SearchClient needs at least one URL")
        self.urls = tuple(u.rstrip("/") for u in urls)
        self.index = index
        if connect_timeout is None:
            tls = any(u.startswith("https://") for u in self.urls)
            connect_timeout = TLS_CONNECT_TIMEOUT if tls else CONNECT_TIMEOUT
        self.timeout = (connect_timeout, read_timeout)
        self.budget = budget
        self.auth = auth
        self.verify = verify
        self._start = itertools.count()
        self._lock = threading.Lock()
        self._failed: dict[str, tuple[float, str]] = {}  # url -> (monotonic time of failure, why)
        self._probing: set[str] = set()
        self._local = threading.local()

    def __repr__(self) -> str:
        return f"SearchClient({','.join(self.urls)}, index={self.index!r})"

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.trust_env = False  # never route loopback traffic through an HTTP proxy
            session.auth = self.auth
            session.verify = self.verify
            self._local.session = session
        return session

    def _plan(self) -> tuple[list[str], list[str], str | None]:
        """Hosts to try, in order: a due probe of a failed host first, then healthy hosts.

        A host that failed is skipped until it has rested ``PROBE_AFTER`` s; then exactly one
        request at a time probes it. Returns ``(order, skipped reasons, probed host or None)``.
        """
        n = len(self.urls)
        first = next(self._start) % n
        rotated = [self.urls[(first + i) % n] for i in range(n)]
        now = time.monotonic()
        with self._lock:
            healthy = [u for u in rotated if u not in self._failed]
            probe = next((u for u in rotated if u in self._failed and u not in self._probing
                          and now - self._failed[u][0] >= PROBE_AFTER), None)
            if probe is not None:
                self._probing.add(probe)
            skipped = [f"{u}: {self._failed[u][1]} {now - self._failed[u][0]:.1f}s ago"
                       for u in rotated if u in self._failed and u != probe]
        return ([probe] if probe else []) + healthy, skipped, probe

    def _mark(self, base: str, problem: str | None) -> None:
        with self._lock:
            if problem is None:
                self._failed.pop(base, None)
            else:
                self._failed[base] = (time.monotonic(), problem)

    def request(self, method: str, path: str, *, body: Any = None, data: bytes | None = None,
                params: dict | None = None, ok_statuses: Iterable[int] = ()) -> requests.Response:
        """Send to each host at most once, from a rotating start; return the first non-5xx answer.

        Hosts that failed recently are not retried (except by one probe at a time, see
        :meth:`_plan`), so while search is down requests fail fast instead of each holding a web
        thread for the full timeout. 4xx answers are returned only if listed in ``ok_statuses``;
        otherwise :class:`SearchError` is raised.
        """
        order, problems, probe = self._plan()
        headers = {"Content-Type": "application/x-ndjson" if data is not None else "application/json"}
        payload = data if data is not None else (json.dumps(body).encode() if body is not None else None)
        deadline = None if self.budget is None else time.monotonic() + self.budget
        try:
            for base in order:
                timeout = self.timeout
                if deadline is not None:
                    remaining = deadline - time.monotonic()
                    if remaining < 0.05:
                        problems.append(f"{base}: not tried (time budget of {self.budget:g}s spent)")
                        break
                    timeout = (min(timeout[0], remaining), min(timeout[1], remaining))
                try:
                    resp = self._session().request(method, f"{base}{path}", data=payload, params=params,
                                                   headers=headers, timeout=timeout)
                except requests.Timeout:
                    problem = "timed out"
                except requests.ConnectionError as err:
                    problem = _short(err)
                else:
                    problem = f"HTTP {resp.status_code}" if resp.status_code >= 500 else None
                self._mark(base, problem)
                if problem is not None:
                    problems.append(f"{base}: {problem}")
                    continue
                if resp.status_code >= 400 and resp.status_code not in set(ok_statuses):
                    raise SearchError(f"OpenSearch {method} {path} answered HTTP {resp.status_code}: {resp.text[:300]}")
                return resp
        finally:
            if probe is not None:
                with self._lock:
                    self._probing.discard(probe)
        raise SearchUnavailable(f"search is unavailable ({'; '.join(problems)})")

    def ping(self) -> bool:
        """True if some host answers ``GET /`` (never raises)."""
        try:
            self.request("GET", "/")
        except (SearchUnavailable, SearchError):
            return False
        return True

    def index_exists(self) -> bool:
        return self.request("HEAD", f"/{self.index}", ok_statuses=(404,)).status_code == 200

    def create_index(self) -> bool:
        """Create the index (1 primary, 2 replicas) unless it exists; True if it was created."""
        resp = self.request("PUT", f"/{self.index}", body=INDEX_SETTINGS, ok_statuses=(400,))
        if resp.status_code == 400:
            if "resource_already_exists_exception" in resp.text:
                return False
            raise SearchError(f"cannot create index {self.index}: {resp.text[:300]}")
        return True

    def bulk_index(self, articles: Iterable[dict], *, refresh: bool = False) -> dict:
        """Index articles by id with external versioning, and delete those whose ``type`` is
        ``article.removed`` (a removal event: id and version are all it needs). Returns
        ``{"indexed", "removed", "stale"}`` counts.

        ``stale`` counts version conflicts (the index already holds this or a newer version, or a
        removal of one). ``removed`` counts deletions, a document that was not there included (the
        removal is recorded either way). Raises :class:`SearchUnavailable` if no host answered, an
        item failed for want of capacity (429, 5xx), or the index itself cannot be written
        (:data:`INDEX_GONE`: deleted, closed, blocked): the caller should retry the whole batch (it is
        idempotent). Raises :class:`SearchRejected` naming the ids OpenSearch refused for what they
        are (other 4xx): those never index; the rest of the batch was applied.
        """
        lines: list[str] = []
        for article in articles:
            meta = {"_index": self.index, "_id": str(article["id"]), "version": int(article["version"]),
                    "version_type": "external"}
            if article.get("type") == REMOVED_TYPE:
                lines.append(json.dumps({"delete": meta}))
            else:
                lines.append(json.dumps({"index": meta}))
                lines.append(json.dumps(document(article)))
        if not lines:
            return {"indexed": 0, "removed": 0, "stale": 0}
        params = {"refresh": "true"} if refresh else None
        resp = self.request("POST", "/_bulk", data=("\n".join(lines) + "\n").encode(), params=params)
        result = resp.json()
        counts = {"indexed": 0, "removed": 0, "stale": 0}
        failures: list[str] = []
        missing: list[str] = []  # items refused because the index itself is gone, closed or blocked
        refused: dict[str, str] = {}
        for item in result.get("items", []):
            op, outcome = next(iter(item.items()), ("index", {}))
            status = outcome.get("status", 0)
            if 200 <= status < 300 or (op == "delete" and status == 404 and "error" not in outcome):
                # a delete's 404 without an error: the document was not there (the removal is recorded);
                # with one, e.g. index_not_found_exception, it is a failure like any other
                counts["removed" if op == "delete" else "indexed"] += 1
            elif status == 409:
                counts["stale"] += 1
            else:
                failures.append(f"{outcome.get('_id')}: {status} {json.dumps(outcome.get('error'))[:200]}")
                error = outcome.get("error")
                if isinstance(error, dict) and error.get("type") in INDEX_GONE:
                    missing.append(failures[-1])
                refused[str(outcome.get("_id"))] = f"HTTP {status} {json.dumps(outcome.get('error'))[:300]}"
        if failures:
            if missing:
                raise SearchUnavailable(f"the index is not there to write to ({len(missing)} items, e.g. {missing[0]}): "
                                        "a layer failure, not the events' fault; retry when it is back")
            if any(f.split(": ", 1)[1].startswith(("429", "5")) for f in failures):
                raise SearchUnavailable(f"bulk indexing partly failed ({len(failures)} items), e.g. {failures[0]}")
            raise SearchRejected(f"bulk indexing refused {len(failures)} items, e.g. {failures[0]}", refused)
        return counts

    def search(self, q: str, size: int = 10) -> dict:
        """Exact words over title^3, summary^2 and body; if nothing matches, fuzzy words over title
        and summary (so misspellings such as "sertaline" still match):
        ``{"total", "took_ms", "hits", "fuzzy"}`` (``fuzzy`` is True when the fallback answered).

        Two steps because fuzzy matching is what costs: on the twin it is about three times the
        cluster CPU of the exact query (``benchmarks/sandbox_bench.py``), and most queries are
        spelled right. Fuzziness is also kept off the long body field, for the same reason.
        """
        exact = {"multi_match": {"query": q, "fields": ["title^3", "summary^2", "body"], "operator": "and"}}
        result = self._query(exact, size)
        if result["total"]:
            return {**result, "fuzzy": False}
        fuzzy = {"multi_match": {"query": q, "fields": ["title^3", "summary^2"], "fuzziness": "AUTO",
                                 "prefix_length": 1, "max_expansions": 10, "operator": "and"}}
        retry = self._query(fuzzy, size)
        return {**retry, "took_ms": (result["took_ms"] or 0) + (retry["took_ms"] or 0), "fuzzy": True}

    def _query(self, query: dict, size: int) -> dict:
        body = {"size": size, "_source": _HIT_FIELDS, "track_total_hits": 1000, "query": query}
        result = self.request("POST", f"/{self.index}/_search", body=body).json()
        hits = [{"id": int(h["_id"]), "score": h.get("_score"), **h.get("_source", {})}
                for h in result.get("hits", {}).get("hits", [])]
        total = result.get("hits", {}).get("total", {})
        return {"total": total.get("value", len(hits)) if isinstance(total, dict) else total,
                "took_ms": result.get("took"), "hits": hits}

    def refresh(self) -> None:
        self.request("POST", f"/{self.index}/_refresh")


def _short(err: Exception) -> str:
    text = str(err)
    if "Connection refused" in text:
        return "connection refused"
    return text.splitlines()[0][:160] if text else type(err).__name__
